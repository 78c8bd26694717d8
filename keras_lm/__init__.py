"""keras-lm: classic and modern language models in plain Keras 3.

`import keras_lm` registers with Keras every class a `.keras` file of ours
may name (the models, their layers, and the metrics and optimizers in a
saved compile config), so `keras.saving.load_model("runs/x/model.keras")`
works with `safe_mode` on. The other subpackages (`keras_lm.generation`,
...) and `keras_lm.export`, `keras_lm.pipeline` load on first use.
TensorFlow is imported here quietly (see `keras_lm.tf_import`).

Example:

>>> import keras_lm
>>> model = keras_lm.models.GRUGenerator(vocab_size=65)
"""

import importlib
import os
import sys

__version__ = "0.1.0"

_SUBMODULES = ("checkpoints", "data", "evaluation", "generation", "layers",
               "models", "runs", "tokenizers", "training")
_FUNCTIONS = {
    "export": ("keras_lm.serving", "export"),
    "export_run": ("keras_lm.runs", "export_run"),
    "KerasLMError": ("keras_lm.errors", "KerasLMError"),
    "pipeline": ("keras_lm.pipelines", "pipeline"),
}

# Every module defining a `keras.saving.register_keras_serializable` class;
# tests/test_keras_files.py checks the list is complete.
_SERIALIZABLE_MODULES = (
    "keras_lm.layers",
    "keras_lm.models",
    "keras_lm.training.metrics",     # BitsPerCharacter, MaskedTokenAccuracy
    "keras_lm.training.optimizers",  # DenseGradientAdam(W), multi-replica
)


# Defined before the imports below, so a module they import may already use
# `keras_lm.KerasLMError` or `from keras_lm import export`.
def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_lm.{name}")
    if name in _FUNCTIONS:
        module, attribute = _FUNCTIONS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'keras_lm' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_SUBMODULES, *_FUNCTIONS})


def _quiet_command_line():
    """`keras-lm ...` (or `python -m keras_lm ...`) prints only keras-lm's
    own lines: TensorFlow's C++ runtime reads TF_CPP_MIN_LOG_LEVEL once,
    when it loads, which is in this very import, so the command line's
    default (3; TensorFlow's errors reach it as exceptions) is set here. A
    library user's environment is left alone."""
    program = os.path.basename((getattr(sys, "argv", None) or [""])[0])
    if program in ("keras-lm", "-m"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _register_serializables():
    """Imports TensorFlow (quietly, the first time) and every module that
    registers a class with Keras."""
    if "tensorflow" not in sys.modules:
        from keras_lm.tf_import import import_tensorflow_quietly

        import_tensorflow_quietly()
    for module in _SERIALIZABLE_MODULES:
        importlib.import_module(module)


_quiet_command_line()
_register_serializables()
