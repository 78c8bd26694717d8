"""Run directories: everything a trained model needs, in one folder.

    RUN_DIR/
      config.json          the schema below
      tokenizer.json       the tokenizer(s), where the task keeps them
                           (a Seq2Seq run: source_tokenizer/, target_tokenizer/)
      checkpoints/         best.weights.h5, last.weights.h5, best.json
      backup/              CrashSafeBackupAndRestore state while training runs
      logs/                TensorBoard event files
      history.csv          one row of metrics per epoch
      model.keras          the finished model (written when training ends)

config.json:

    {"keras_lm_version": "0.1.0",
     "model": {"family": "gru", "config": {...constructor arguments}},
     "tokenizer": {"kind": "char", ...},   # the task's tokenizer settings
     "data": {"source": ..., ...},         # the task's data settings
     "training": {...TrainingConfig},
     "finetuned_from": "...",              # fine-tuned runs only
     "data_stats": {...},                  # what the task read, if it counts
     "finished": true}                     # once model.keras is written

`train()` creates or resumes a run, `RunDirectory(path).load()` gives back
its task with the model loaded; `generate`, `evaluate`, `export`,
`finetune` and a resumed `train` need nothing but this folder.
"""

import dataclasses
import json
import os
import shutil

import keras_lm.tasks  # noqa: F401 (registers the built-in families)
from keras_lm.data.text_sources import recorded_source
from keras_lm.errors import KerasLMError, a_run
from keras_lm.io_utils import (free_or_recognised, read_json,
                               save_keras_model, write_text_atomically)
from keras_lm.registry import family as find_family
from keras_lm.training.callbacks import read_backup_epoch
from keras_lm.training.config import TrainingConfig
from keras_lm.training.trainer import fit

CONFIG_FILE = "config.json"
SECTIONS = ("model", "tokenizer", "data", "training")


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
                               "directory; pass a new or empty output "
                               "folder")
        return self

    def read_config(self):
        self.require()
        return read_json(self.config_path, required=SECTIONS)

    def family(self):
        """The model family recorded in config.json ("gru", "seq2seq", ...),
        or None without a readable one. Reads the JSON only, so the CLI can
        route a run directory before importing TensorFlow."""
        try:
            with open(self.config_path, encoding="utf-8") as f:
                return json.load(f)["model"]["family"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def task_class(self):
        """The `Task` subclass of the recorded family."""
        return find_family(self.read_config()["model"]["family"]).task_class

    def write_config(self, config):
        os.makedirs(self.path, exist_ok=True)
        write_text_atomically(self.config_path, json.dumps(config, indent=2))

    def create(self, task):
        """Writes a new run's tokenizers and config (nothing if it exists)."""
        if not self.exists():
            os.makedirs(self.path, exist_ok=True)
            task.save_tokenizers(self.path)
            self.write_config(task.config)

    def finish(self, model, config):
        """Writes model.keras, marks config.json finished, then deletes the
        training backup (in that order, so a kill at any point leaves a run
        that either resumes at its last epoch or is complete)."""
        save_keras_model(model, self.model_path)
        self.write_config({**config, "finished": True})
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    def weights_path(self, which="best"):
        """The checkpoint to load: `which`, else `best`, else `last`, else
        None."""
        for name in (which, "best", "last"):
            path = os.path.join(self.checkpoints, f"{name}.weights.h5")
            if os.path.isfile(path):
                return path
        return None

    def load_task(self):
        """The run's task with its tokenizers, without a model."""
        config = self.read_config()
        task_class = find_family(config["model"]["family"]).task_class
        return task_class(config, task_class.load_tokenizers(self.path))

    def load(self, which="best", **model_options):
        """The run's task with its `which` checkpoint loaded (`best`, else
        `last`); `model_options` go to the task's `load_model` (a language
        model takes `stateful` and `batch_size`).

        Example:

        >>> task = RunDirectory("runs/gru").load()      # doctest: +SKIP
        >>> task.predict_text("ROMEO:", 50)              # doctest: +SKIP
        """
        task = self.load_task()
        weights = self.weights_path(which)
        if weights is None:
            raise KerasLMError(f"{self.path} has no checkpoint yet; train it "
                               "first")
        return task.load_model(weights, **model_options)


# --- The schema ---------------------------------------------------------


def constructor_defaults(model_class):
    """`{argument: default}` of a model class's constructor (what a run
    records for the arguments not given, so config.json says them all)."""
    import inspect

    return {name: p.default for name, p in
            inspect.signature(model_class.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def new_run_config(family, model_config, sections, training):
    """The config.json of a new run; `sections` holds the task's "data" and
    "tokenizer", `training` is a `TrainingConfig`; the model config is the
    constructor's defaults updated with `model_config`."""
    from keras_lm import __version__

    model_config = {**constructor_defaults(find_family(family).model_class),
                    **model_config}
    return {"keras_lm_version": __version__,
            "model": {"family": family, "config": model_config},
            "tokenizer": sections["tokenizer"], "data": sections["data"],
            "training": dataclasses.asdict(training)}


def check_same_run(saved, new, run_dir):
    """A resumed run must be the same run: a one-line error naming the first
    section of config.json (`saved`) that the new settings (`new`) change.

    Only what both say is compared: the model settings given anew (others
    keep their saved values) and the training fields the saved run knew
    (runs written before a field was added resume with its default).
    """
    saved_data = dict(saved["data"])
    if "source" in saved_data:  # older runs recorded relative paths
        saved_data["source"] = recorded_source(saved_data["source"])
    comparable = {
        "model": (saved["model"]["config"], {**saved["model"]["config"],
                                             **new["model"]["config"]}),
        # (a task may add what it derived from the data, label names say)
        "data": ({k: saved_data.get(k) for k in new["data"]}, new["data"]),
        "tokenizer": (saved["tokenizer"], new["tokenizer"]),
        "training": (saved["training"], {k: new["training"].get(k)
                                         for k in saved["training"]}),
    }
    for section, (old, wanted) in comparable.items():
        if old != wanted:
            raise KerasLMError(
                f"{run_dir} holds a run with a different {section} config; "
                "resume it with the same settings, or pass a new output "
                "folder")


def training_config(task_class, training=None):
    """`training` (a `TrainingConfig`, a dict or None) with the task's
    defaults for what it leaves unset, checked."""
    if isinstance(training, TrainingConfig):
        return training.check()
    return TrainingConfig.from_dict(training or {},
                                    **task_class.TRAINING_DEFAULTS).check()


def task_options(task_class, data, options):
    """The task's `Options` from `data` (its source) and keyword options,
    with a one-line error for one it does not have."""
    try:
        return task_class.Options(source=data, **options)
    except TypeError:
        known = [f.name for f in dataclasses.fields(task_class.Options)]
        unknown = sorted(set(options) - set(known))
        raise KerasLMError(f"{task_class.__name__} has no option "
                           f"{', '.join(unknown)}; known: "
                           f"{', '.join(known)}") from None


# --- Training -----------------------------------------------------------


def train(family, run_dir, *, data=None, model_config=None, training=None,
          data_dir=None, verbose="auto", init_from=None,
          freeze_embeddings=False, tokenizers=None, callbacks=(),
          strategy=None, **options):
    """Trains a model of `family` ("gru", "seq2seq", ...) into `run_dir`.

    Args:
        family: a registered family (`keras_lm.registry.families()`).
        run_dir: the run directory; an interrupted one is resumed (it says
            so first: "resuming from epoch 2 of 3, batch 0").
        data: the data source (the task's `Options.source`).
        model_config: constructor arguments of the model (vocabulary sizes
            are filled in by the task).
        training: a `TrainingConfig` (or a dict of its fields); the task's
            defaults for what is unset.
        data_dir: tfds data directory.
        init_from: a weights file to start from (fine-tuning).
        freeze_embeddings: with `init_from`, keep the embedding fixed.
        tokenizers: `{name: Tokenizer}` to use instead of learning new ones.
        callbacks: extra Keras callbacks for `fit`.
        strategy: a `tf.distribute.Strategy` or a name from
            `keras_lm.training.distribute.STRATEGIES`.
        **options: the task's other options (`tokenizer="word"`,
            `vocab_size=8000`; a Seq2Seq run's `max_source_length`, ...).

    Returns:
        The `keras.callbacks.History` of this call's `fit`, or None when
        `run_dir` already holds this very run, finished (nothing to do).

    Example:

    >>> train("gru", "runs/demo", training=TrainingConfig(
    ...     epochs=1, steps_per_epoch=5, batch_size=8))   # doctest: +SKIP
    """
    task_class = find_family(family).task_class
    training = training_config(task_class, training)
    sections = task_class.sections(task_options(task_class, data, options),
                                   training)
    run = RunDirectory(run_dir).require_trainable()
    config = new_run_config(family, model_config or {}, sections, training)
    if init_from:
        config["finetuned_from"] = os.path.abspath(init_from)
    if run.exists():
        if run.family() != family:
            raise KerasLMError(f"{run.path} holds a {run.family()} run, not "
                               f"a {family} one; pass a new output folder")
        saved = run.read_config()
        given = {"family": family, "config": model_config or {}}
        check_same_run(saved, {**config, "model": given}, run.path)
        if saved.get("finished"):
            return None  # the same command again: nothing left to do
        epoch = read_backup_epoch(run.backup_dir)
        if verbose:
            print(f"resuming from epoch {epoch + 1} of {training.epochs}, "
                  "batch 0")
        task = task_class(saved, task_class.load_tokenizers(run.path))
    else:
        task = task_class.create(config, data_dir, tokenizers, verbose)
    freeze = task.freeze_embeddings if freeze_embeddings else None
    return fit(task, run, training, strategy=strategy, callbacks=callbacks,
               verbose=verbose, init_weights=init_from, prepare=freeze)


def finetune(source_run, out, *, data, training=None, freeze_embeddings=False,
             max_unknown_fraction=0.005, data_dir=None, verbose="auto",
             strategy=None):
    """Continues training `source_run` on new text, into a new run `out`.

    The new run keeps the source's model config and tokenizer; text that the
    tokenizer cannot represent (more than `max_unknown_fraction` unknown
    tokens) is refused rather than silently changing the vocabulary. The
    source run directory is only read. `training` defaults to the source
    run's own training config (for an imported GPT-2, a fine-tuning recipe).

    Example:

    >>> finetune("runs/pretrained", "runs/shakespeare",
    ...          data="shakespeare.txt")   # doctest: +SKIP
    """
    source = RunDirectory(source_run).require()
    if os.path.abspath(out) == source.path:
        raise KerasLMError("the output folder must differ from the source "
                           "run directory (fine-tuning never modifies it)")
    weights = source.weights_path()
    if weights is None:
        raise KerasLMError(f"{source.path} has no checkpoint to fine-tune")
    if data is None:
        raise KerasLMError("fine-tuning needs new data")
    task = source.load_task()
    training = training or task.training()
    if not hasattr(task, "unknown_fraction"):
        raise KerasLMError(f"{source.path} is {a_run(task.family.name)}; "
                           "fine-tuning continues language models")
    text = task.corpus(data_dir, source=data).train
    unknown = task.unknown_fraction(text)
    if unknown > max_unknown_fraction:
        raise KerasLMError(
            f"{unknown:.1%} of the new text's tokens are unknown to the "
            f"{task.tokenizer.kind} tokenizer of {source.path}; it cannot "
            "represent this text (train a new run instead)")
    model_config = dict(task.model_config)
    model_config.pop("vocab_size")
    return train(task.family.name, out, data=data, model_config=model_config,
                 training=training, data_dir=data_dir, verbose=verbose,
                 init_from=weights, freeze_embeddings=freeze_embeddings,
                 tokenizers=task.tokenizers, strategy=strategy,
                 tokenizer=task.tokenizer.kind,
                 vocab_size=task.config["tokenizer"].get("vocab_size"))


def write_imported_run(run_dir, load, overwrite=False):
    """Writes a converted checkpoint as the finished run directory
    `run_dir`, whole or not at all; returns its absolute path.

    `load()` returns `(model, tokenizer, config)` (`config` from
    `new_run_config`); it runs once `run_dir` is known to be free, or with
    `overwrite` an earlier run directory (never someone else's folder).
    """
    from keras_lm.io_utils import atomic_directory, save_keras_model

    run_dir = os.path.abspath(run_dir)
    replaces = (lambda path: RunDirectory(path).exists()) if overwrite \
        else None
    with atomic_directory(run_dir, replaces, "keras-lm run directory") as tmp:
        model, tokenizer, config = load()
        config["finished"] = True
        run = RunDirectory(tmp)
        os.makedirs(run.checkpoints)
        tokenizer.save(tmp)
        best = os.path.join(run.checkpoints, "best.weights.h5")
        model.save_weights(best)
        last = os.path.join(run.checkpoints, "last.weights.h5")
        try:  # the same weights: a hard link where the file system can
            os.link(best, last)
        except OSError:
            shutil.copyfile(best, last)
        save_keras_model(model, run.model_path)
        run.write_config(config)
    return run_dir


def load_run(path, which="best", stateful=False, batch_size=1):
    """`(model, tokenizer, config)` of a language-model run directory (the
    older form of `RunDirectory(path).load()`).

    Example:

    >>> model, tokenizer, config = load_run("runs/gru")   # doctest: +SKIP
    """
    run = RunDirectory(path).require()
    if "tokenizer" not in run.task_class().TOKENIZER_DIRS:
        raise KerasLMError(f"{run.path} is {a_run(run.family())}, not a "
                           "language model; use RunDirectory(path).load()")
    task = run.load(which, stateful=stateful, batch_size=batch_size)
    return task.model, task.tokenizer, task.config


def export_run(run_dir, path=None, **options):
    """Exports the best checkpoint of a run directory to `path` (default
    `saved_models/<run directory name>`); `options` go to its task's
    `export` (sampling defaults, beam width, ...)."""
    from keras_lm.serving import default_export_path

    return RunDirectory(run_dir).load().export(
        path or default_export_path(run_dir), **options)
