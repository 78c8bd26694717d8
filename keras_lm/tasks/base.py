"""`Task`: one kind of job (causal language modelling, sequence to
sequence, ...) over any model family that fits it.

A task owns everything between a run directory and a Keras model: its
options (data source, tokenizer, length caps: a dataclass whose fields are
also the CLI's flags), its tokenizer(s), how a data source becomes a
`tf.data` pipeline, its loss and metrics, its evaluation and its export.
The trainer (`keras_lm.training.fit`), the loader (`RunDirectory.load`),
`keras-lm evaluate`/`export` and the CLI only call these methods, so a new
family is a model file and, where no existing task fits, a task.

The life of a task:

    task = TaskClass.create(config, data_dir)   # a new run: learns tokenizers
    task = TaskClass(config, tokenizers)        # a saved run
    fit(task, run, training)                    # -> task.model
    task.evaluate(...), task.export(path, ...), task.predict_text(texts)
"""

import os

import numpy as np

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import load_weights_checked
from keras_lm.registry import family


class Task:
    """Base class of the tasks; subclasses fill in the hooks below.

    Attributes:
        config: the run's whole config.json (see `keras_lm.runs`).
        tokenizers: `{name: Tokenizer}` (`TOKENIZER_DIRS` names them).
        model: the Keras model, once built or loaded (None before).
    """

    #: The task's options: a dataclass whose fields are `keras-lm train`
    #: flags (`source` is `--data`); `sections` turns it into config.json's
    #: "data" and "tokenizer".
    Options = None
    #: `{name: subfolder}` where each tokenizer is saved ("" = the run
    #: directory itself).
    TOKENIZER_DIRS = {"tokenizer": ""}
    #: `TrainingConfig` defaults that differ for this task.
    TRAINING_DEFAULTS = {}
    #: `TrainingConfig` fields this task has no use for (no CLI flag).
    UNUSED_TRAINING_FIELDS = ()
    #: Compile the train step with XLA.
    jit_compile = True

    def __init__(self, config, tokenizers, model=None):
        self.config = config
        self.tokenizers = dict(tokenizers)
        self.model = model

    # --- Describing and creating runs -------------------------------------

    @classmethod
    def sections(cls, options, training):
        """config.json's `{"data": ..., "tokenizer": ...}` for `options` (an
        `Options`), before any data is read."""
        raise NotImplementedError

    @classmethod
    def create(cls, config, data_dir=None, tokenizers=None, verbose=0):
        """A task for a new run: reads the data, learns the tokenizers
        (unless `tokenizers` are given) and fills in the model config's
        derived sizes. `config` comes from `keras_lm.runs.new_run_config`."""
        raise NotImplementedError

    @property
    def family(self):
        return family(self.config["model"]["family"])

    @property
    def model_config(self):
        return self.config["model"]["config"]

    def training(self):
        """The run's `TrainingConfig`."""
        from keras_lm.training.config import TrainingConfig

        return TrainingConfig.from_dict(self.config["training"],
                                        **self.TRAINING_DEFAULTS)

    # --- Tokenizers --------------------------------------------------------

    @classmethod
    def load_tokenizers(cls, path):
        from keras_lm.tokenizers import load_tokenizer

        return {name: load_tokenizer(os.path.join(path, folder))
                for name, folder in cls.TOKENIZER_DIRS.items()}

    def save_tokenizers(self, path):
        for name, folder in self.TOKENIZER_DIRS.items():
            os.makedirs(os.path.join(path, folder), exist_ok=True)
            self.tokenizers[name].save(os.path.join(path, folder))

    # --- The model ---------------------------------------------------------

    def build_model(self, **overrides):
        """A new, unbuilt model of the run's family and config."""
        config = {**self.model_config, **overrides}
        return self.family.model_class.from_config(config)

    def example_inputs(self, batch_size=1):
        """Model inputs of `batch_size` rows, to build a model on."""
        return np.ones((batch_size, 2), np.int32)

    def load_model(self, weights, batch_size=1, **overrides):
        """Builds the model (on a batch of `batch_size`), loads `weights` (a
        checkpoint file) and keeps it in `self.model`."""
        self.check_vocabulary()
        model = self.build_model(**overrides)
        model(self.example_inputs(batch_size))
        load_weights_checked(model, weights)
        self.model = model
        return self

    def prepare_model(self, model):
        """Called by the trainer once a new or resumed model is built,
        before it compiles: load pre-trained parts, freeze layers."""

    def check_vocabulary(self):
        """A one-line error when the model's vocabulary sizes do not match
        the tokenizers (a hand-edited or mixed-up run)."""

    def require_model(self):
        if self.model is None:
            raise KerasLMError("this task has no model yet; train it or load "
                               "a run directory with RunDirectory(...).load()")
        return self.model

    # --- Training, evaluation, export (subclasses) -------------------------

    def training_data(self, training):
        """A `keras_lm.training.TrainingData` for `training`."""
        raise NotImplementedError

    def loss(self):
        raise NotImplementedError

    def evaluate(self, data=None, **options):
        """Scores the model on held-out data; returns a dict."""
        raise NotImplementedError

    def export(self, path, **options):
        """Writes a string-in, string-out SavedModel to `path`."""
        raise NotImplementedError

    def predict_text(self, texts, **options):
        """The model's output text for each input text."""
        raise NotImplementedError

    def describe_data(self):
        """A line about the data read, printed before training (or "")."""
        return ""
