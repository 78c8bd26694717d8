"""Callbacks that make training resumable and its checkpoints crash-safe."""

import json
import math
import os
import time

import keras
import numpy as np

from keras_lm.io_utils import (atomic_path, load_weights_checked, read_json,
                               write_text_atomically)

BACKUP_METADATA = "training_metadata.json"


def read_backup_epoch(backup_dir):
    """The epoch a resumed run starts from (0 if there is no backup)."""
    path = os.path.join(backup_dir, BACKUP_METADATA)
    if not os.path.isfile(path):
        return 0
    return read_json(path, required=("epoch",))["epoch"]


class CrashSafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose backups survive a SIGKILL.

    The stock callback overwrites `latest.weights.h5` in place and then the
    metadata, so a kill at the wrong moment leaves a torn file or weights
    from one epoch with the epoch number of another. Here each backup writes
    a new weights file under a temporary name, renames it into place, and
    only then atomically switches the metadata to point at it.
    Weights include the optimizer state, so a resumed run continues exactly.
    """

    def __init__(self, backup_dir):
        # Kept when training ends: `RunDirectory.finish` deletes it only once
        # the run is marked finished, so a kill in between resumes at the end
        # rather than starting again from epoch 0.
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)

    def _save_model(self):
        name = f"epoch-{self._current_epoch}.weights.h5"
        with atomic_path(os.path.join(self.backup_dir, name)) as tmp:
            self.model.save_weights(tmp)
        metadata = {"epoch": self._current_epoch, "weights": name}
        write_text_atomically(
            os.path.join(self.backup_dir, BACKUP_METADATA), json.dumps(metadata))
        for stale in os.listdir(self.backup_dir):
            if stale.startswith("epoch-") and stale != name:
                os.remove(os.path.join(self.backup_dir, stale))

    def _load_model(self):
        path = os.path.join(self.backup_dir, BACKUP_METADATA)
        if not os.path.isfile(path):
            return
        metadata = read_json(path, required=("epoch", "weights"))
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        load_weights_checked(self.model, os.path.join(self.backup_dir,
                                                      metadata["weights"]))
        self.model._initial_epoch = metadata["epoch"]


class RunCheckpoints(keras.callbacks.Callback):
    """Keeps `last.weights.h5` and `best.weights.h5` in `directory`.

    Both are written atomically, so an interrupted run never leaves a torn
    checkpoint, and the best score is stored beside them (`best.json`) so a
    resumed run keeps comparing against it.
    """

    def __init__(self, directory, monitor="val_loss"):
        super().__init__()
        self.directory = directory
        self.monitor = monitor
        self._best_path = os.path.join(directory, "best.json")

    def _best_so_far(self):
        if not os.path.isfile(self._best_path):
            return math.inf
        return read_json(self._best_path, required=("value",))["value"]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        os.makedirs(self.directory, exist_ok=True)
        with atomic_path(os.path.join(self.directory, "last.weights.h5")) as tmp:
            self.model.save_weights(tmp)
        value = logs.get(self.monitor, logs.get("loss"))
        if value is not None and float(value) < self._best_so_far():
            with atomic_path(os.path.join(self.directory,
                                          "best.weights.h5")) as tmp:
                self.model.save_weights(tmp)
            write_text_atomically(self._best_path, json.dumps(
                {"epoch": epoch + 1, "monitor": self.monitor,
                 "value": float(value)}))


class ResetStatesAtStreamStart(keras.callbacks.Callback):
    """Resets a stateful RNN wherever its streams start over.

    That is at every epoch start, before validation (which reads other
    streams), and whenever training wraps around to the start of the streams
    within an epoch. Keras itself never resets RNN state between epochs.
    """

    def __init__(self, batches_per_pass, steps_per_epoch):
        super().__init__()
        self.batches_per_pass = batches_per_pass
        self.steps_per_epoch = steps_per_epoch
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self.model.reset_rnn_states()

    def on_train_batch_begin(self, batch, logs=None):
        global_batch = self._epoch * self.steps_per_epoch + batch
        if batch and global_batch % self.batches_per_pass == 0:
            self.model.reset_rnn_states()

    def on_test_begin(self, logs=None):
        self.model.reset_rnn_states()


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `minutes` of wall time have passed;
    `stopped_at_step` is then the optimizer's step count (train steps, also
    when Keras runs several per call: `steps_per_execution`)."""

    def __init__(self, minutes):
        super().__init__()
        self.seconds = minutes * 60.0
        self.stopped_at_step = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self._start > self.seconds:
            self.model.stop_training = True
            self.stopped_at_step = int(self.model.optimizer.iterations)


class AveragedWeights:
    """Puts an optimizer's moving average of the weights (Keras' `use_ema`)
    into the model for validation and checkpoints, and the raw weights back
    for training.

    Keras keeps the average beside the weights and copies it into the model
    only when `fit` ends. Within `fit`, `UseAverage` (first in the callback
    list) puts it in before validation and the epoch-end callbacks, so
    `val_loss`, early stopping and the best/last checkpoints all see the
    averaged model; `UseRaw` (just before the crash backup) restores the raw
    weights exactly, so the backup holds what training continues from and a
    resumed run matches an uninterrupted one. (Keras' `SwapEMAWeights` swaps
    by adding and subtracting, which is not exact.) Nothing happens for an
    optimizer without `use_ema`.
    """

    def __init__(self):
        self._raw = None  # [(variable, raw value)] while the average is in

    def use_average(self, model):
        optimizer = getattr(model.optimizer, "inner_optimizer",
                            model.optimizer)  # a LossScaleOptimizer's
        if self._raw is not None or not getattr(optimizer, "use_ema", False):
            return
        pairs = [(variable, average) for variable, average in zip(
            optimizer._trainable_variables,
            optimizer._model_variables_moving_average) if average is not None]
        self._raw = [(variable, keras.ops.convert_to_numpy(variable))
                     for variable, _ in pairs]
        for variable, average in pairs:
            variable.assign(average)

    def use_raw(self):
        for variable, value in self._raw or ():
            variable.assign(value)
        self._raw = None


class UseAverage(keras.callbacks.Callback):
    """The average in, for validation and the epoch-end callbacks."""

    def __init__(self, averaged):
        super().__init__()
        self.averaged = averaged

    def on_test_begin(self, logs=None):
        self.averaged.use_average(self.model)

    def on_epoch_end(self, epoch, logs=None):
        self.averaged.use_average(self.model)


class UseRaw(keras.callbacks.Callback):
    """The raw weights back, for the backup and the next epoch."""

    def __init__(self, averaged):
        super().__init__()
        self.averaged = averaged

    def on_epoch_end(self, epoch, logs=None):
        self.averaged.use_raw()


class ReseedEachEpoch(keras.callbacks.Callback):
    """Sets every random stream of the model (dropout's seed generators) to
    a state made of `seed` and the epoch, as each epoch begins.

    Keras saves no seed-generator state with the weights, so without this a
    resumed run would draw other dropout masks than the uninterrupted run
    and end with other weights; with it, an epoch's masks depend only on
    the seed and the epoch.
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        streams = [v for v in self.model.variables
                   if v.name == "seed_generator_state"]
        for i, state in enumerate(streams):
            value = np.array([self.seed * 1_000_003 + i, epoch << 20],
                             np.int64) % 2**31
            state.assign(value.astype(state.dtype))


def run_callbacks(run, patience, extra=(), before_backup=()):
    """The callbacks of a training run into `run` (a `RunDirectory`).

    `extra` come first, then the best/last checkpoints, TensorBoard, the
    history CSV, early stopping on `val_loss`, `before_backup`, and the
    crash-safe backup last: once it records an epoch as done, that epoch's
    checkpoints and history row are already written. A kill just before it
    only repeats the epoch (its history row then appears twice). With an
    optimizer that averages the weights, all but the backup see the average
    (see `AveragedWeights`).
    """
    averaged = AveragedWeights()
    return [
        UseAverage(averaged),
        *extra,
        RunCheckpoints(run.checkpoints),
        keras.callbacks.TensorBoard(run.logs_dir, update_freq="epoch"),
        keras.callbacks.CSVLogger(run.history_path, append=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
        *before_backup,
        UseRaw(averaged),
        CrashSafeBackupAndRestore(run.backup_dir),
    ]
