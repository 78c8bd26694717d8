"""Where training text comes from: tfds, local files, or an embedded default.

`load_text_corpus(source)` returns a `TextCorpus` with separate training and
validation text:

- `None` or `"default"`: the English documentation text that ships inside
  every CPython (`pydoc_data.topics`, about 465 KB), so the quick start needs
  no network and no download.
- a path to a `.txt` file, or a folder of them (read in sorted order).
- anything else: a TensorFlow Datasets name such as `"tiny_shakespeare"`,
  loaded with the real tfds builder (downloads into `data_dir`).

Files and the default are split by position: the last
`validation_fraction` of the text is validation, so no training window ever
overlaps a validation window. tfds corpora keep their own splits.
"""

import dataclasses
import os

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import decode_utf8

DEFAULT_SOURCE = "default"


@dataclasses.dataclass
class TextCorpus:
    """Training and validation text, and a name saying where they came from."""

    name: str
    train: str
    validation: str


def split_text(text, validation_fraction):
    """Splits `text` at one position: [train | validation]."""
    if not 0.0 < validation_fraction < 1.0:
        raise KerasLMError(
            f"validation fraction must be in (0, 1), got {validation_fraction}")
    cut = int(len(text) * (1.0 - validation_fraction))
    return text[:cut], text[cut:]


def default_text():
    """The embedded default corpus: CPython's pydoc topics, in a fixed order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def read_text_file(path):
    """Reads a UTF-8 text file, refusing binary, non-UTF-8 and empty files."""
    with open(path, "rb") as f:
        raw = f.read()
    if b"\x00" in raw[:65536]:
        raise KerasLMError(f"{path} looks like a binary file (it has NUL "
                           "bytes); pass a UTF-8 text file")
    text = decode_utf8(raw, path)
    if not text.strip():
        raise KerasLMError(f"{path} is empty; pass a file with text in it")
    return text


def read_text_path(path):
    """Reads a `.txt` file, or every `.txt` file below a folder."""
    if os.path.isfile(path):
        return read_text_file(path)
    files = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(path)
        for name in names
        if name.endswith(".txt")
    )
    if not files:
        raise KerasLMError(f"{path} has no .txt files; pass a text file or "
                           "a folder of .txt files")
    return "\n\n".join(read_text_file(f) for f in files)


def recorded_source(source):
    """`source` as a run's config.json records it: an existing file or
    folder as an absolute path (so evaluation works from any working
    directory), anything else (a tfds name, None) as given."""
    if source is None:
        return None
    source = os.fspath(source)
    return os.path.abspath(source) if os.path.exists(source) else source


def _looks_like_path(source):
    return os.sep in source or source.endswith(".txt") or source.startswith(".")


def _first_line(error, width=200):
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:width] if text else ''}"


def prepared_tfds_builder(name, data_dir, unknown):
    """The tfds builder of `name`, downloaded and prepared. An unknown name
    raises `unknown` (a message), with tfds's reason; a failed download or
    preparation (network, checksum, disk) says which, in one line."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError) as e:
        raise KerasLMError(f"{unknown} ({_first_line(e, 160)})") from None
    try:
        builder.download_and_prepare()
    except Exception as e:
        raise KerasLMError(f"could not download/prepare tfds dataset "
                           f"{name!r}: {_first_line(e)}") from None
    return builder


def load_tfds_text(name, data_dir=None):
    """Loads a text corpus from TensorFlow Datasets by name.

    Returns `(train_text, validation_text)`, each split's examples joined by
    blank lines. The text feature is `"text"`, or the only string feature.
    """
    builder = prepared_tfds_builder(
        name, data_dir, f"{name!r} is neither a file nor a TensorFlow "
                        "Datasets name (try tiny_shakespeare, or a path)")
    splits = builder.info.splits
    validation = next((s for s in ("validation", "test") if s in splits), None)
    if "train" not in splits or validation is None:
        raise KerasLMError(f"tfds dataset {name!r} needs a train split and a "
                           "validation or test split")
    key = _text_feature(builder.info.features, name)
    return (_join_split(builder, "train", key),
            _join_split(builder, validation, key))


def _text_feature(features, name):
    import tensorflow_datasets as tfds

    text_keys = [k for k, v in features.items()
                 if isinstance(v, tfds.features.Text)]
    if "text" in text_keys:
        return "text"
    if len(text_keys) == 1:
        return text_keys[0]
    raise KerasLMError(f"tfds dataset {name!r} has no single text feature "
                       f"(found {text_keys}); use a text corpus")


def _join_split(builder, split, key):
    dataset = builder.as_dataset(split=split)
    return "\n\n".join(example[key].decode("utf-8")
                       for example in dataset.as_numpy_iterator())


def load_text_corpus(source=None, validation_fraction=0.1, data_dir=None):
    """Loads training and validation text from `source`.

    Example:

    >>> corpus = load_text_corpus()          # the embedded default
    >>> len(corpus.train) > 400_000
    True
    """
    source = source or DEFAULT_SOURCE
    if source == DEFAULT_SOURCE:
        text = default_text()
    elif os.path.exists(source):
        text = read_text_path(source)
    elif _looks_like_path(source):
        raise KerasLMError(f"{source} does not exist; pass an existing .txt "
                           "file, a folder of them, or a tfds name")
    else:
        train, validation = load_tfds_text(source, data_dir=data_dir)
        return TextCorpus(source, train, validation)
    train, validation = split_text(text, validation_fraction)
    return TextCorpus(source, train, validation)
