"""Training with `model.fit`: callbacks, metrics, schedules, run directories."""

from keras_lm.training.trainer import TrainingConfig, train

__all__ = ["TrainingConfig", "train"]
