"""tf.distribute: MirroredStrategy over two logical CPUs trains like one
device with the same global batch; bad strategy setups fail fast."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from keras_lm.errors import KerasLMError
from keras_lm.training.distribute import check_global_batch, make_strategy


@pytest.mark.slow
def test_mirrored_matches_default_for_every_family(tmp_path, corpus_file):
    script = Path(__file__).with_name("distributed_check.py")
    result = subprocess.run(
        [sys.executable, str(script), corpus_file, str(tmp_path)],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results["replicas"] == 2
    for family in ("gru", "lstm", "transformer"):
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
