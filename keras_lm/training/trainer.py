"""The one trainer: drives any task's model through `model.fit`.

A task (`keras_lm.tasks`) hands the trainer a `TrainingData` (its pipelines,
metrics and a batch to build the model on) and a model to build; the
trainer brings what every family shares: the strategy scope, the seed,
(Adam)W with warm-up and cosine decay, XLA, the run directory's callbacks
(checkpoints, TensorBoard, history, early stopping, EMA, crash-safe backup)
and the exact resume.

Running it again on an interrupted run directory resumes it: the
`CrashSafeBackupAndRestore` backup restores weights, optimizer and epoch, and
the task's pipeline restarts at exactly the batch the interrupted run would
have read next, so the resumed run ends with the same weights as an
uninterrupted one. (Early stopping is the exception: Keras' `EarlyStopping`
forgets its patience count across a restart, so a resumed run may stop an
epoch or two later than an uninterrupted one would have.)
"""

import dataclasses
import math
import sys
import typing

import keras
import tensorflow as tf

from keras_lm.io_utils import load_weights_checked
from keras_lm.training import callbacks as run_callbacks
from keras_lm.training.config import TrainingConfig, epoch_steps
from keras_lm.training.distribute import check_global_batch, make_strategy
from keras_lm.training.metrics import language_model_metrics
from keras_lm.training.train_step import choose_train_step
from keras_lm.training.optimizers import make_optimizer


@dataclasses.dataclass
class TrainingData:
    """What a task gives the trainer.

    Attributes:
        train: `train(start_batch, num_batches)` -> the training
            `tf.data.Dataset` from global batch `start_batch` on (resume).
        validation: the validation dataset (already cut to its batches).
        batches_per_pass: training batches in one pass over the data.
        example: model inputs of one batch, to build the model on.
        metrics: the Keras metrics to compile with.
        callbacks: `callbacks(steps_per_epoch)` -> callbacks that must run
            before the crash backup (a stateful RNN's stream resets).
    """

    train: typing.Callable
    validation: object
    batches_per_pass: int
    example: object
    metrics: list
    callbacks: typing.Callable = lambda steps: []


def use_xla(strategy=None):
    """XLA for the train step, except across several CPU/GPU replicas.

    Keras' "auto" leaves XLA off on the CPU, so it is set explicitly. A
    mirrored multi-device step cannot be one XLA program (each replica's
    variables live on its own device); TPUStrategy compiles with XLA anyway.
    """
    strategy = strategy or tf.distribute.get_strategy()
    return strategy.num_replicas_in_sync == 1


def compile_model(model, training, total_steps, loss=None, metrics=None,
                  jit_compile=True):
    """Compiles `model` as the trainer does: `make_optimizer`'s (Adam)W
    with the warm-up/decay schedule over `total_steps` and
    `training.steps_per_execution`. `loss` and `metrics` default to a
    language model's (cross-entropy on logits, perplexity, bits/char).

    Example (a model built under a strategy's scope, e.g. on a TPU):

    >>> compile_model(model, TrainingConfig(), total_steps=1000)  # doctest: +SKIP
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    model.compile(
        optimizer=make_optimizer(training, total_steps, replicas, model),
        loss=loss or keras.losses.SparseCategoricalCrossentropy(
            from_logits=True),
        metrics=language_model_metrics() if metrics is None else metrics,
        jit_compile=jit_compile,
        steps_per_execution=training.steps_per_call())


def fit(task, run, training, *, strategy=None, callbacks=(), verbose="auto",
        init_weights=None, prepare=None):
    """Trains `task`'s model into the run directory `run`.

    Args:
        task: a `keras_lm.tasks.Task`: `training_data(training)`,
            `build_model()`, `loss()`, `jit_compile` and `config`.
        run: a `keras_lm.runs.RunDirectory`; `run.create(task)` writes a
            new run's config and tokenizers once the model compiled, and
            `run.finish(model, config)` marks it done.
        training: a `TrainingConfig`.
        strategy: a `tf.distribute.Strategy` or a name from
            `keras_lm.training.distribute.STRATEGIES`; each global batch of
            `training.batch_size` is split across its replicas.
        callbacks: extra Keras callbacks for `fit`.
        init_weights: a weights file to start from (fine-tuning).
        prepare: called with the built model before it is compiled (to
            freeze layers, say).

    Returns:
        The `keras.callbacks.History` of `fit`; the trained model is left
        in `task.model`.
    """
    strategy = make_strategy(strategy)
    check_global_batch(strategy, training.batch_size, training.stateful)
    data = task.training_data(training)
    steps = epoch_steps(training.steps_per_epoch, data.batches_per_pass,
                        training.steps_per_call())
    keras.utils.set_random_seed(training.seed)
    with strategy.scope():
        model = task.build_model()
        model(data.example)  # build: BackupAndRestore needs the weights
        if init_weights:
            load_weights_checked(model, init_weights)
        task.prepare_model(model)
        if prepare is not None:
            prepare(model)
        jit_compile, described = choose_train_step(
            training.train_step, task.jit_compile, not use_xla(strategy))
        print(f"keras-lm: train step: {described}", file=sys.stderr)
        compile_model(model, training, steps * training.epochs, task.loss(),
                      data.metrics, jit_compile)
    run.create(task)
    initial_epoch = run_callbacks.read_backup_epoch(run.backup_dir)
    history = model.fit(
        data.train(initial_epoch * steps,
                   (training.epochs - initial_epoch) * steps),
        epochs=training.epochs, steps_per_epoch=steps,
        validation_data=data.validation, verbose=verbose, shuffle=False,
        callbacks=run_callbacks.run_callbacks(
            run, training.early_stopping_patience,
            extra=[run_callbacks.ReseedEachEpoch(training.seed), *callbacks],
            before_backup=data.callbacks(steps)))
    run.finish(model, task.config)
    task.model = model
    return history


def describe_history(history):
    """The last epoch's metrics as `name=value` pairs, for printing."""
    if not history.history:
        return ""
    last = {k: v[-1] for k, v in history.history.items()}
    return "  ".join(f"{k}={v:.4f}" for k, v in sorted(last.items())
                     if isinstance(v, float) and math.isfinite(v))


__all__ = ["TrainingConfig", "TrainingData", "compile_model",
           "describe_history", "fit", "use_xla"]
