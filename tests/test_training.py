"""Training with model.fit: loss falls, runs resume exactly after SIGKILL."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time

import h5py
import keras
import numpy as np
import pytest

from conftest import TINY_GRU_FLAGS
from keras_lm.cli import main
from keras_lm.models import TransformerLM
from keras_lm.presets import PRESETS, get_preset
from keras_lm.registry import family
from keras_lm.runs import RunDirectory, finetune, load_run
from keras_lm.training import TrainingConfig, train
from keras_lm.training.optimizers import make_optimizer


def test_loss_goes_down_and_the_run_directory_is_complete(trained_run):
    run = RunDirectory(trained_run)
    with open(run.history_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert float(rows[1]["val_loss"]) < float(rows[0]["val_loss"])
    assert {"perplexity", "bits_per_character"} <= set(rows[0])
    for name in ("best.weights.h5", "last.weights.h5", "best.json"):
        assert os.path.isfile(os.path.join(run.checkpoints, name))
    assert os.listdir(os.path.join(run.logs_dir, "train"))  # TensorBoard
    assert os.path.isfile(run.model_path)
    assert run.read_config()["finished"] is True
    assert not os.path.exists(run.backup_dir)  # removed once training ends


def test_stateful_training_learns(tmp_path, corpus_file, capsys):
    history = train(
        "gru", str(tmp_path / "stateful"), data=corpus_file,
        model_config=dict(embedding_dim=16, rnn_units=32, stateful=True),
        training=TrainingConfig(stateful=True, batch_size=8, seq_len=32,
                                epochs=2, steps_per_epoch=40,
                                learning_rate=5e-3, train_step="tensorflow"),
        verbose=0)
    assert ("train step: TensorFlow kernels (no XLA), as asked"
            in capsys.readouterr().err)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model, _, _ = load_run(str(tmp_path / "stateful"))
    assert not model.stateful  # generation uses the stateless twin


def test_a_finished_run_is_never_retrained_or_damaged(trained_run,
                                                     corpus_file, capsys):
    # In-process (`keras-lm` as a module is tested in test_cli.py): each
    # fresh process would cost a TensorFlow import.
    before = open(os.path.join(trained_run, "config.json")).read()
    weights = open(os.path.join(trained_run, "checkpoints",
                                "best.weights.h5"), "rb").read()
    args = ["train", "gru", "--data", corpus_file, "--out", trained_run,
            "--steps-per-epoch", "30", *TINY_GRU_FLAGS]
    capsys.readouterr()
    assert main([*args, "--epochs", "2"]) == 0
    assert "already trained" in capsys.readouterr().out
    assert main([*args, "--epochs", "3"]) == 2
    assert "different training config" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--tokenizer", "word"]) == 2
    assert "different tokenizer config" in capsys.readouterr().err
    assert open(os.path.join(trained_run, "config.json")).read() == before
    assert open(os.path.join(trained_run, "checkpoints", "best.weights.h5"),
                "rb").read() == weights


def test_finetune_without_a_training_config_reuses_the_source_runs(
        trained_run, corpus_file, tmp_path):
    out = tmp_path / "tuned"
    finetune(trained_run, str(out), data=corpus_file, verbose=0)
    source, tuned = (RunDirectory(p).read_config() for p in (trained_run, out))
    assert tuned["training"] == source["training"]
    assert tuned["finetuned_from"].startswith(trained_run)


def test_a_resumed_run_says_so_on_its_first_line(tmp_path, corpus_file,
                                                 capsys):
    class KilledInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    run_dir = str(tmp_path / "run")
    kwargs = dict(data=corpus_file,
                  model_config={"embedding_dim": 8, "rnn_units": 16},
                  training=TrainingConfig(batch_size=8, seq_len=16, epochs=2,
                                          steps_per_epoch=3,
                                          validation_steps=1))
    with pytest.raises(KeyboardInterrupt):
        train("gru", run_dir, verbose=0, callbacks=[KilledInSecondEpoch()],
              **kwargs)
    capsys.readouterr()
    train("gru", run_dir, verbose=2, **kwargs)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "resuming from epoch 2 of 2, batch 0"


def test_a_kill_after_the_last_epoch_resumes_at_the_end(tmp_path, corpus_file,
                                                       monkeypatch):
    """Between the last epoch and the run being marked finished, the backup
    is kept: a rerun completes the run without training anything again."""
    from keras_lm import runs

    run_dir = str(tmp_path / "run")
    kwargs = dict(data=corpus_file, verbose=0,
                  model_config={"embedding_dim": 8, "rnn_units": 16},
                  training=TrainingConfig(batch_size=8, seq_len=16, epochs=2,
                                          steps_per_epoch=3,
                                          validation_steps=1))

    def killed(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(runs, "save_keras_model", killed)
        with pytest.raises(KeyboardInterrupt):
            train("gru", run_dir, **kwargs)
    run = RunDirectory(run_dir)
    assert not run.read_config().get("finished")
    assert os.path.exists(run.backup_dir)
    history = train("gru", run_dir, **kwargs)
    assert history.epoch == []  # nothing trained again
    with open(run.history_path) as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    assert run.read_config()["finished"]
    assert os.path.isfile(run.model_path)
    assert not os.path.exists(run.backup_dir)


def test_a_relative_data_path_is_recorded_absolute(tmp_path, corpus_file,
                                                   monkeypatch):
    """So `evaluate` (which rereads the run's data) works from anywhere."""
    import shutil

    shutil.copy(corpus_file, tmp_path / "text.txt")
    monkeypatch.chdir(tmp_path)
    train("gru", "run", data="text.txt", verbose=0,
          model_config={"embedding_dim": 8, "rnn_units": 16},
          training=TrainingConfig(batch_size=8, seq_len=16, epochs=1,
                                  steps_per_epoch=2, validation_steps=1))
    config = RunDirectory("run").read_config()
    assert config["data"]["source"] == str(tmp_path / "text.txt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert RunDirectory("../run").load().evaluate(max_batches=1)["tokens"] > 0


def weights_of(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return arrays


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(
        tmp_path, corpus_file):
    args = ["train", "gru", "--data", corpus_file, "--epochs", "4",
            "--steps-per-epoch", "60", "--seed", "3", *TINY_GRU_FLAGS]
    # Only the killed run needs a process of its own (to be SIGKILLed); the
    # uninterrupted reference trains in this one meanwhile, and a thread
    # kills the other process once it is into its second epoch.
    resumed = tmp_path / "resumed"
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_lm", *args, "--out", str(resumed)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metadata = resumed / "backup" / "training_metadata.json"
    killed = {}

    def kill_in_the_second_epoch():
        deadline = time.time() + 300
        while (not metadata.exists() and process.poll() is None
               and time.time() < deadline):
            time.sleep(0.05)
        time.sleep(0.5)  # well into the second epoch
        killed["while_training"] = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait()

    killer = threading.Thread(target=kill_in_the_second_epoch)
    killer.start()
    try:
        reference = tmp_path / "reference"
        assert main([*args, "--out", str(reference)]) == 0
    finally:
        killer.join()
    assert killed["while_training"], \
        "training ended before it could be killed"

    # Nothing the killed run wrote is torn: every checkpoint still loads.
    completed = json.loads(metadata.read_text())["epoch"]
    assert 1 <= completed < 4
    for path in [resumed / "checkpoints" / "last.weights.h5",
                 resumed / "checkpoints" / "best.weights.h5",
                 resumed / "backup" / f"epoch-{completed}.weights.h5"]:
        assert weights_of(path)

    assert main([*args, "--out", str(resumed)]) == 0
    with open(resumed / "history.csv") as f:
        epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
    # It resumed rather than restarted: every epoch has a history row (one may
    # appear twice if the kill came between its row and its backup).
    assert epochs[-1] == 3 and set(epochs) == {0, 1, 2, 3}
    assert epochs.count(0) == 1

    expected = weights_of(reference / "checkpoints" / "last.weights.h5")
    actual = weights_of(resumed / "checkpoints" / "last.weights.h5")
    assert expected.keys() == actual.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], atol=1e-5,
                                   err_msg=name)


def test_weight_decay_spares_biases_and_layer_norms():
    keras.utils.set_random_seed(0)
    model = TransformerLM(vocab_size=11, max_sequence_length=8, num_layers=1,
                          num_heads=2, d_model=8, output_bias=True)
    model.build((None, None))
    optimizer = make_optimizer(
        TrainingConfig(weight_decay=0.5, learning_rate=0.1), 10, model=model)
    before = {v.path: np.array(v) for v in model.trainable_variables}
    # Zero gradients: Adam's step is zero, so only the decay moves weights.
    optimizer.apply([np.zeros(v.shape, "float32")
                     for v in model.trainable_variables],
                    model.trainable_variables)
    moved = {v.path for v in model.trainable_variables
             if not np.allclose(np.array(v), before[v.path])}
    matrices = {v.path for v in model.trainable_variables
                if len(v.shape) == 2}
    assert moved == matrices  # kernels and embeddings only
    assert any("embedding" in path for path in moved)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_beta_1_reaches_adam_and_adamw(weight_decay):
    optimizer = make_optimizer(
        TrainingConfig(weight_decay=weight_decay, beta_1=0.7), 10)
    assert optimizer.beta_1 == 0.7
    assert isinstance(optimizer, keras.optimizers.AdamW) == bool(weight_decay)


def test_ema_momentum_reaches_the_optimizer():
    assert not make_optimizer(TrainingConfig(), 10).use_ema
    optimizer = make_optimizer(TrainingConfig(ema_momentum=0.95), 10)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.95


EMA_RUN = dict(model_config={"embedding_dim": 8, "rnn_units": 16},
               training=TrainingConfig(batch_size=8, seq_len=16, epochs=3,
                                       steps_per_epoch=6, validation_steps=2,
                                       learning_rate=1e-2, ema_momentum=0.8),
               verbose=0)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory, corpus_file):
    """EMA_RUN trained in one go: (run directory, its fit history)."""
    run_dir = str(tmp_path_factory.mktemp("ema") / "ema")
    return run_dir, train("gru", run_dir, data=corpus_file, **EMA_RUN)


def test_with_ema_validation_and_checkpoints_see_the_averaged_weights(
        ema_run):
    """`fit` ends with the average in the model; the checkpoints hold that
    same average (not the raw weights), and so val_loss measured it."""
    run_dir, history = ema_run
    last, _, _ = load_run(run_dir, which="last")
    for expected, actual in zip(history.model.get_weights(),
                                last.get_weights()):
        np.testing.assert_allclose(actual, expected, atol=1e-7)
    # The best checkpoint scores what validation said it would.
    assert RunDirectory(run_dir).load().evaluate(max_batches=2)["loss"] == pytest.approx(
        min(history.history["val_loss"]), abs=1e-5)


def test_with_ema_a_resumed_run_matches_an_uninterrupted_one(
        tmp_path, corpus_file, ema_run):
    """The backup holds the raw weights (and the average, in the optimizer),
    so training continues from exactly where it stopped."""
    class KilledInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 3:
                raise KeyboardInterrupt

    reference, _ = ema_run  # the same settings, uninterrupted
    resumed = str(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        train("gru", resumed, data=corpus_file,
              callbacks=[KilledInSecondEpoch()], **EMA_RUN)
    train("gru", resumed, data=corpus_file, **EMA_RUN)
    for expected, actual in zip(load_run(reference)[0].get_weights(),
                                load_run(resumed)[0].get_weights()):
        np.testing.assert_allclose(actual, expected, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_recipe(name):
    preset = get_preset(name, PRESETS[name]["family"])
    TrainingConfig(**preset["training"]).check()
    # What the task derives from the data, filled in as a run would.
    derived = {"vocab_size": 65, "stateful": False, "pad_id": 0,
               "num_classes": 2}
    chosen = family(preset["family"])
    model = chosen.model_class.from_config(
        {**preset["model"], **{k: derived[k] for k in chosen.derived}})
    assert isinstance(model, keras.Model)


def test_epochs_are_whole_executions(tmp_path, corpus_file):
    """Keras runs whole executions: 10 steps at 4 per execution would train
    12 an epoch, so it is refused; one pass is rounded down instead."""
    from keras_lm.errors import KerasLMError
    from keras_lm.training.config import epoch_steps

    with pytest.raises(KerasLMError, match="not a multiple"):
        train("gru", str(tmp_path / "run"), data=corpus_file, verbose=0,
              model_config={"embedding_dim": 8, "rnn_units": 16},
              training=TrainingConfig(batch_size=8, seq_len=16,
                                      steps_per_epoch=10,
                                      steps_per_execution=4))
    assert not (tmp_path / "run").exists()
    assert epoch_steps(None, 10, 4) == 8
    assert epoch_steps(12, 10, 4) == 12
    with pytest.raises(KerasLMError, match="fewer than"):
        epoch_steps(None, 3, 4)


def test_a_time_budget_reports_train_steps_not_calls():
    from keras_lm.training.callbacks import TimeBudget

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=4)
    budget = TimeBudget(minutes=0)  # spent at once: stops after one call
    model.fit(np.ones((64, 2)), np.ones((64, 1)), batch_size=4, epochs=2,
              callbacks=[budget], verbose=0)
    assert budget.stopped_at_step == 4
