"""Choosing the train step's kernels (`--train-step`): XLA or TensorFlow's."""

import pytest

from keras_lm.errors import KerasLMError
from keras_lm.training import train_step
from keras_lm.training.train_step import choose_train_step


@pytest.fixture
def cpu_only(monkeypatch):
    monkeypatch.setattr(train_step.tf.config, "list_logical_devices",
                        lambda kind: [])
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)


def test_auto_picks_xla_on_an_avx512_cpu_and_says_why(cpu_only, monkeypatch):
    monkeypatch.setattr(train_step, "cpu_has_avx512", lambda: True)
    assert choose_train_step() == (True, "XLA (auto: CPU with AVX-512)")


def test_auto_without_avx512_takes_the_measured_path(cpu_only, monkeypatch):
    monkeypatch.setattr(train_step, "cpu_has_avx512", lambda: False)
    jit, described = choose_train_step()
    assert jit == (train_step.AUTO_WITHOUT_AVX512 == "xla")
    assert described.endswith("(auto: CPU without AVX-512)")


def test_an_isa_cap_counts_as_the_machines(cpu_only, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    assert not train_step.cpu_has_avx512()
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not train_step.cpu_has_avx512()


def test_tasks_and_replicas_that_xla_does_not_suit_get_tensorflow(cpu_only):
    assert choose_train_step("auto", task_uses_xla=False)[0] is False
    assert choose_train_step("auto", several_replicas=True)[0] is False
    # an explicit choice wins over the task's preference
    assert choose_train_step("xla", task_uses_xla=False)[0] is True


def test_bad_choices_are_one_line_errors():
    with pytest.raises(KerasLMError, match="unknown train step 'jit'"):
        choose_train_step("jit")
    with pytest.raises(KerasLMError, match="several replicas"):
        choose_train_step("xla", several_replicas=True)
