"""tf.distribute: MirroredStrategy over two logical CPUs trains like one
device with the same global batch; bad strategy setups fail fast."""

import json
import os
import runpy
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Started
from keras_lm.errors import KerasLMError
from keras_lm.training.distribute import check_global_batch, make_strategy


@pytest.fixture(scope="module")
def mirrored_check(tmp_path_factory, corpus_file):
    """distributed_check.py (every family, default and mirrored, in a fresh
    process with two logical CPUs), started when first asked for and read
    by the test after it: the multi-worker test asks for it first, so the
    two slow checks (each mostly one busy thread) overlap."""
    script = Path(__file__).with_name("distributed_check.py")
    started = Started([sys.executable, str(script), corpus_file,
                       str(tmp_path_factory.mktemp("mirrored"))])
    yield started
    started.stop()


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_local_workers_train_like_one_process(tmp_path, corpus_file,
                                                  capsys, monkeypatch,
                                                  mirrored_check):
    # mirrored_check: only started here, to run meanwhile (its test follows)
    # Two worker processes on loopback ports, each with its own TF_CONFIG
    # and run directory, split every global batch of 8 between them.
    script = str(Path(__file__).with_name("multi_worker_check.py"))
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers},
                     "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, script, corpus_file, str(tmp_path / f"w{index}"),
             "multi_worker"],
            env={**os.environ, "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    # The one-process reference needs no process of its own (the default
    # strategy may start after the runtime): the same script runs here,
    # while the workers train.
    monkeypatch.setattr(sys, "argv", [script, corpus_file,
                                      str(tmp_path / "single"), "default"])
    monkeypatch.delenv("TF_CONFIG", raising=False)
    capsys.readouterr()
    try:
        runpy.run_path(script, run_name="__main__")
    except BaseException:
        for process in processes:
            process.kill()
        raise
    single_out = capsys.readouterr().out
    outputs = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=600)
        finally:
            process.kill()
        assert process.returncode == 0, stderr[-3000:]
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    expected = json.loads(single_out.strip().splitlines()[-1])
    assert outputs[0] == outputs[1]  # synchronous: both hold the same model
    assert outputs[0]["replicas"] == 2 and expected["replicas"] == 1
    for key in ("loss", "val_loss"):
        assert outputs[0][key] == pytest.approx(expected[key], rel=5e-3), key


@pytest.mark.slow
def test_mirrored_matches_default_for_every_family(mirrored_check):
    result = mirrored_check.result(timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results["replicas"] == 2
    for family in ("gru", "lstm", "transformer", "seq2seq"):
        default, mirrored = results[f"{family}/default"], results[
            f"{family}/mirrored"]
        # Tolerance: the mirrored step runs without XLA and sums gradients
        # across replicas in another order; Adam's first steps amplify those
        # last-digit differences a little. A wrong batch split or a missing
        # all-reduce moves the loss by far more than 0.5%.
        for key in ("loss", "val_loss"):
            assert mirrored[key] == pytest.approx(default[key], rel=5e-3), (
                family, key)


def test_tpu_without_a_tpu_fails_fast(monkeypatch):
    for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KerasLMError, match="no TPU found"):
        make_strategy("tpu")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(KerasLMError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(KerasLMError, match="TF_CONFIG must be JSON"):
        make_strategy("multi_worker")


def test_global_batch_must_split_across_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

    check_global_batch(TwoReplicas(), 8)
    with pytest.raises(KerasLMError, match="does not split across 2"):
        check_global_batch(TwoReplicas(), 7)
    with pytest.raises(KerasLMError, match="one replica"):
        check_global_batch(TwoReplicas(), 8, stateful=True)
    with pytest.raises(KerasLMError, match="unknown strategy"):
        make_strategy("horovod")
