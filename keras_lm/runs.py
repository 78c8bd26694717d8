"""Run directories: everything a trained model needs, in one folder.

    RUN_DIR/
      config.json          model family and config, data source, training
      tokenizer.json       the tokenizer, so prompts encode as in training
      checkpoints/         best.weights.h5, last.weights.h5, best.json
      backup/              BackupAndRestore state while training runs
      logs/                TensorBoard event files
      history.csv          one row of metrics per epoch
      model.keras          the finished model (written when training ends)

`generate`, `evaluate`, `export`, `finetune` and a resumed `train` need
nothing but this folder.
"""

import json
import os
import shutil

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import (atomic_path, free_or_recognised, read_json,
                               write_text_atomically)

CONFIG_FILE = "config.json"
SEQ2SEQ_RUN = ("this is a seq2seq run: use `keras-lm translate`, `evaluate` "
               "or `export` on it")


def model_families():
    """Maps the CLI name of each model family to its class."""
    from keras_lm import models

    return dict(models.FAMILIES)


class RunDirectory:
    """Paths and config of one run directory."""

    def __init__(self, path):
        self.path = os.path.abspath(path)

    config_path = property(lambda self: os.path.join(self.path, CONFIG_FILE))
    checkpoints = property(lambda self: os.path.join(self.path, "checkpoints"))
    backup_dir = property(lambda self: os.path.join(self.path, "backup"))
    logs_dir = property(lambda self: os.path.join(self.path, "logs"))
    history_path = property(lambda self: os.path.join(self.path, "history.csv"))
    model_path = property(lambda self: os.path.join(self.path, "model.keras"))

    def exists(self):
        return os.path.isfile(self.config_path)

    def require(self):
        """Raises a one-line error unless this is a keras-lm run directory."""
        if not os.path.isdir(self.path):
            problem = ("is a file" if os.path.exists(self.path)
                       else "does not exist")
            raise KerasLMError(f"{self.path} {problem}; pass a run "
                               "directory written by `keras-lm train`")
        if not self.exists():
            raise KerasLMError(f"{self.path} is not a keras-lm run directory "
                               f"(no {CONFIG_FILE}); pass one written by "
                               "`keras-lm train`")
        return self

    def require_trainable(self):
        """A one-line error unless training can write here: the path is new,
        an empty folder, or a run directory (which is then resumed)."""
        if not free_or_recognised(self.path, lambda _: self.exists()):
            raise KerasLMError(f"{self.path} exists and is not a run "
                               "directory; pass an empty or new --out")
        return self

    def require_language_model(self):
        """`require`, and a one-line error for a seq2seq run, which the
        language-model commands cannot use."""
        self.require()
        if self.family() == "seq2seq":
            raise KerasLMError(f"{self.path}: {SEQ2SEQ_RUN}")
        return self

    def read_config(self):
        self.require()
        return read_json(self.config_path,
                         required=("model", "tokenizer", "data", "training"))

    def family(self):
        """The model family recorded in config.json ("gru", "seq2seq", ...),
        or None without a readable one. Reads the JSON only, so the CLI can
        route a run directory before importing TensorFlow."""
        try:
            with open(self.config_path, encoding="utf-8") as f:
                return json.load(f)["model"]["family"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_config(self, config):
        os.makedirs(self.path, exist_ok=True)
        write_text_atomically(self.config_path, json.dumps(config, indent=2))

    def finish(self, model, config):
        """Writes model.keras, marks config.json finished, then deletes the
        training backup (in that order, so a kill at any point leaves a run
        that either resumes at its last epoch or is complete)."""
        save_keras_model(model, self.model_path)
        self.write_config({**config, "finished": True})
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    def tokenizer(self):
        from keras_lm.tokenizers import load_tokenizer

        return load_tokenizer(self.path)

    def weights_path(self, which="best"):
        """The checkpoint to load: `best`, else `last`, else None."""
        for name in (which, "best", "last"):
            path = os.path.join(self.checkpoints, f"{name}.weights.h5")
            if os.path.isfile(path):
                return path
        return None


def check_same_run(saved, new, run_dir):
    """A resumed run must be the same run: a one-line error naming the first
    section of config.json (`saved`) that the new flags (`new`) change."""
    for section in ("model", "data", "tokenizer", "training"):
        if saved.get(section) != new.get(section):
            raise KerasLMError(
                f"{run_dir} holds a run with a different {section} config; "
                "resume it with the same flags, or pass a new --out")


def build_model(model_config, stateful=None):
    """Instantiates a model from the `{"family", "config"}` of config.json.

    `stateful=False` gives the stateless twin of a stateful RNN (same
    weights), which is what generation, export and evaluation use.
    """
    families = model_families()
    family = model_config["family"]
    if family == "seq2seq":
        raise KerasLMError(SEQ2SEQ_RUN)
    if family not in families:
        raise KerasLMError(f"unknown model family {family!r}; known: "
                           f"{', '.join(sorted(families))}")
    config = dict(model_config["config"])
    if stateful is not None and "stateful" in config:
        config["stateful"] = stateful
    return families[family].from_config(config)


def build_by_calling(model, batch_size=1, length=2):
    """Creates the variables of `model` by calling it once on zeros."""
    import numpy as np

    model(np.zeros((batch_size, length), dtype="int32"))
    return model


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


def load_run(path, which="best", stateful=False, batch_size=1):
    """Loads `(model, tokenizer, config)` from a run directory.

    Example:

    >>> model, tokenizer, config = load_run("runs/gru")   # doctest: +SKIP
    """
    run = RunDirectory(path).require_language_model()
    config = run.read_config()
    tokenizer = run.tokenizer()
    model = build_model(config["model"], stateful=stateful)
    vocab_size = model.get_config().get("vocab_size")
    if vocab_size is not None and vocab_size != tokenizer.vocab_size:
        raise KerasLMError(
            f"{path}: the model's vocabulary ({vocab_size}) does not match "
            f"its tokenizer ({tokenizer.vocab_size}); the run is inconsistent")
    build_by_calling(model, batch_size=batch_size)
    weights = run.weights_path(which)
    if weights is None:
        raise KerasLMError(f"{path} has no checkpoint yet; train it first "
                           f"(`keras-lm train ... --out {path}`)")
    load_weights_checked(model, weights)
    return model, tokenizer, config


def save_keras_model(model, path):
    """Saves `model` as a `.keras` file atomically."""
    import keras

    with atomic_path(path) as tmp:
        keras.saving.save_model(model, tmp)
