"""keras-lm: classic and modern language models in plain Keras 3.

Subpackages load on first use (`keras_lm.models`, `keras_lm.generation`,
...), so `import keras_lm` itself is instant and the command line can quiet
TensorFlow's start-up logging before TensorFlow is imported.

Example:

>>> import keras_lm
>>> model = keras_lm.models.GRUGenerator(vocab_size=65)
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("checkpoints", "data", "evaluation", "generation", "layers",
               "models", "runs", "tokenizers", "training")
_FUNCTIONS = {
    "export": ("keras_lm.serving", "export"),
    "export_run": ("keras_lm.serving", "export_run"),
    "KerasLMError": ("keras_lm.errors", "KerasLMError"),
    "pipeline": ("keras_lm.pipelines", "pipeline"),
}


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_lm.{name}")
    if name in _FUNCTIONS:
        module, attribute = _FUNCTIONS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'keras_lm' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES, *_FUNCTIONS])
