"""Training with `model.fit`: one trainer for every task, its config,
callbacks, metrics, optimizers and strategies."""

import importlib

from keras_lm.training.config import TrainingConfig
from keras_lm.training.trainer import TrainingData, fit

__all__ = ["TrainingConfig", "TrainingData", "fit", "finetune", "train"]


def __getattr__(name):
    # `train` and `finetune` create and resume run directories, so they
    # live with the run-directory schema in `keras_lm.runs`; these are the
    # names they had before (kept for existing code, imported on use).
    if name in ("train", "finetune"):
        return getattr(importlib.import_module("keras_lm.runs"), name)
    raise AttributeError(f"module 'keras_lm.training' has no attribute "
                         f"{name!r}")
