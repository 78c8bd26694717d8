"""`TrainingConfig`: how any task is trained, and how many steps an epoch is."""

import dataclasses
import typing

from keras_lm.errors import INT32_MAX, KerasLMError, check_counts, check_int, \
    check_real


@dataclasses.dataclass
class TrainingConfig:
    """How to train. A task may change a default (`TRAINING_DEFAULTS`) and
    ignores the fields it has no use for (`UNUSED_TRAINING_FIELDS`)."""

    #: Tokens per training example (language models).
    seq_len: int = 100
    #: Examples per batch (the global batch, split across replicas).
    batch_size: int = 64
    epochs: int = 10
    #: Batches per epoch; None means one pass over the training data.
    steps_per_epoch: int | None = None
    #: Validation batches per epoch (None: all of the validation data).
    validation_steps: int | None = 50
    #: Peak learning rate (reached after the warm-up).
    learning_rate: float = 2e-3
    #: Steps of linear warm-up from 0 to learning_rate.
    warmup_steps: int = 0
    #: Cosine decay ends at learning_rate * final_learning_rate_ratio.
    final_learning_rate_ratio: float = 0.1
    #: AdamW's decoupled weight decay (0: plain Adam).
    weight_decay: float = 0.0
    #: Adam's first-moment decay. Below Keras' 0.9 the update follows the
    #: latest gradients more closely: on nanoGPT's 2000-step tiny Shakespeare
    #: run 0.7 is worth about 0.02 in validation loss (benchmarks/README.md).
    beta_1: float = 0.9
    #: Validate, checkpoint and end with an exponential moving average of
    #: the weights at this momentum (0: off; 0.99 gained 0.005-0.009 in
    #: validation loss on nanoGPT's 2000-step run). Training itself and the
    #: crash backup keep the raw weights (see `callbacks.AveragedWeights`).
    ema_momentum: float = 0.0
    clipnorm: float = 1.0
    #: Carry an RNN's state across batches (truncated BPTT over streams).
    stateful: bool = False
    #: Seeds the initial weights and the order of the training data.
    seed: int = 0
    #: Epochs without a better val_loss before training stops.
    early_stopping_patience: int = 5
    #: Train steps per call into the compiled function.
    steps_per_execution: int = 1
    validation_fraction: float = 0.1
    #: Start each training window at a uniformly random position instead of
    #: on a shuffled grid (see `keras_lm.data.language_model_dataset`).
    random_offsets: bool = False
    #: The train step's kernels: one XLA program, TensorFlow's own (oneDNN
    #: on the CPU), or auto, the one measured fastest on this kind of
    #: machine (see `keras_lm.training.train_step`); printed at the start.
    train_step: typing.Literal["auto", "xla", "tensorflow"] = "auto"

    def steps_per_call(self):
        """Train steps per call into the compiled function: one for a
        stateful RNN, whose streams are reset from Python between batches."""
        return 1 if self.stateful else self.steps_per_execution

    def check(self):
        """One-line errors for out-of-range fields (NaN included); returns
        self."""
        check_counts(**{name: getattr(self, name) for name in (
            "seq_len", "batch_size", "epochs", "steps_per_epoch",
            "validation_steps", "steps_per_execution")})
        for name in ("warmup_steps", "early_stopping_patience"):
            check_int(name, getattr(self, name), 0)
        check_int("seed", self.seed, -INT32_MAX - 1)
        check_real("learning_rate", self.learning_rate, 0.0, open_low=True)
        for name in ("beta_1", "ema_momentum"):
            check_real(name, getattr(self, name), 0.0, 1.0, open_high=True)
        for name in ("weight_decay", "clipnorm", "final_learning_rate_ratio"):
            check_real(name, getattr(self, name) or 0.0, 0.0)
        return self

    @classmethod
    def from_dict(cls, fields, **defaults):
        """A config from a saved `training` section; fields it lacks (added
        since it was written) take `defaults`, then the class defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**defaults, **{k: v for k, v in fields.items()
                                     if k in known}})


def epoch_steps(steps_per_epoch, batches_per_pass, steps_per_execution):
    """Train steps per epoch: `steps_per_epoch`, or one pass over the data
    rounded down to whole executions of `steps_per_execution` steps.

    Keras always runs whole executions, so 200 steps an epoch at 16 per
    execution would train 208, and the epochs, the learning-rate schedule and
    a resumed run's place in the data would drift from those planned.

    >>> epoch_steps(None, 100, 16)
    96
    """
    if steps_per_epoch:
        if steps_per_epoch % steps_per_execution:
            raise KerasLMError(
                f"steps_per_epoch {steps_per_epoch} is not a multiple of "
                f"steps_per_execution {steps_per_execution} (Keras runs "
                "whole executions); make it one")
        return steps_per_epoch
    steps = batches_per_pass - batches_per_pass % steps_per_execution
    if not steps:
        raise KerasLMError(
            f"one pass over the training data is {batches_per_pass} "
            f"batches, fewer than steps_per_execution "
            f"{steps_per_execution}; lower it")
    return steps
