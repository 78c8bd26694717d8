"""Crash-safe file writing (a file or folder appears whole or not at all),
and reading JSON and UTF-8 text with one-line errors."""

import contextlib
import json
import os
import shutil
import tempfile

from keras_lm.errors import KerasLMError


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it over `path` on success.

    The temporary name keeps `path`'s suffix (Keras checks `.weights.h5` and
    `.keras`), and the rename is atomic on POSIX, so a process killed mid-write
    leaves the previous file intact.

    Example:

    >>> with atomic_path("/tmp/x.txt") as tmp:
    ...     _ = open(tmp, "w").write("done")
    """
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + name, dir=directory)
    os.close(fd)
    os.remove(tmp)  # writers such as h5py want to create the file themselves
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def free_or_recognised(path, recognised=None):
    """Whether a writer may take `path`: nothing is there, an empty folder,
    or a folder `recognised(path)` says is its own earlier output."""
    if not os.path.exists(path):
        return True
    return os.path.isdir(path) and (
        not os.listdir(path) or bool(recognised and recognised(path)))


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_directory(path, replaces=None, what="folder"):
    """Yields a temporary folder; moves it to `path` once it is complete.

    `path` may be absent or an empty folder; an existing folder is replaced
    only if `replaces(path)` says it is an earlier one of these (a previous
    export, say), and only after the new folder is fully written, so an
    interrupted writer never leaves a folder at `path` that looks complete
    but is not. Anything else at `path` (a file, someone's folder) is a
    one-line error naming `what` would have been written, before any work.
    """
    path = os.path.abspath(path)
    if not free_or_recognised(path, replaces):
        raise KerasLMError(f"{path} already exists and is not a previous "
                           f"{what}; pass a new or empty folder (it is never "
                           "overwritten)")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(path)}-", dir=parent)
    # mkdtemp makes the folder owner-only; give it the permissions a plain
    # mkdir would, so that e.g. a TF Serving user can read an export.
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".old-{os.path.basename(path)}-",
                                   dir=parent)
            os.replace(path, os.path.join(old, "previous"))
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomically(path, text):
    """Writes `text` (UTF-8) to `path` through `atomic_path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def read_json(path, required=()):
    """Loads a UTF-8 JSON file; bad JSON, or an object without one of the
    `required` top-level keys, is a one-line `KerasLMError`."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise KerasLMError(f"{path} is not valid JSON: "
                           f"{str(e).splitlines()[0]}")
    missing = [key for key in required
               if not isinstance(value, dict) or key not in value]
    if missing:
        raise KerasLMError(f"{path} has no {missing[0]!r} entry; it is "
                           "damaged or was not written by keras-lm")
    return value


def decode_utf8(raw, path):
    """`raw` bytes as text (a UTF-8 byte-order mark dropped), or a one-line
    error naming `path` if they are not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise KerasLMError(f"{path} is not valid UTF-8 (byte {e.start}); "
                           "convert it with iconv or pass another file")


def load_weights_checked(model, path):
    """`model.load_weights` with a one-line error when the file is damaged
    or its shapes do not match."""
    try:
        model.load_weights(path)
    except OSError as e:  # h5py: truncated, empty, not HDF5
        raise KerasLMError(
            f"checkpoint {path} is damaged or not a weights file "
            f"({str(e).splitlines()[0][:120]}); retrain, or use the other "
            "checkpoint (best/last)") from None
    except (ValueError, KeyError) as e:
        raise KerasLMError(
            f"checkpoint {path} does not fit this model (different vocabulary "
            f"or sizes?): {str(e).splitlines()[0][:200]}")


def save_keras_model(model, path):
    """Saves `model` as a `.keras` file atomically."""
    import keras

    with atomic_path(path) as tmp:
        keras.saving.save_model(model, tmp)
