"""Which kernels run the train step: one XLA program, or TensorFlow's own
kernels (oneDNN on the CPU), chosen per machine.

    keras-lm train transformer --train-step auto   # the default; printed
    keras-lm train transformer --train-step tensorflow

`auto` takes the path measured fastest for the machine it runs on (figures
in benchmarks/README.md, "Choosing the train-step path"):

- XLA on GPUs and TPUs, and on CPUs with AVX-512, where the nanoGPT-size
  Transformer trains about 1.2x faster with XLA than without;
- on a CPU without AVX-512, `AUTO_WITHOUT_AVX512` (measured with the ISA
  capped to AVX2: XLA's `--xla_cpu_max_isa=AVX2`, `ONEDNN_MAX_CPU_ISA=AVX2`);
- TensorFlow's kernels where XLA cannot run the step (a mirrored step over
  several replicas) or where a task measured them faster (`jit_compile =
  False`: the encoders, Seq2Seq).

An ISA cap set in those two variables counts as the machine's: a capped
AVX-512 CPU is treated as one without.
"""

import os
import re

import tensorflow as tf

from keras_lm.errors import KerasLMError

#: The values of `--train-step`.
PATHS = ("auto", "xla", "tensorflow")
#: What `auto` takes on a CPU without AVX-512 (see the module docstring).
AUTO_WITHOUT_AVX512 = "xla"

_NAMES = {"xla": "XLA", "tensorflow": "TensorFlow kernels (no XLA)"}


def cpu_has_avx512():
    """Whether the CPU has AVX-512 and neither XLA's nor oneDNN's ISA cap
    (`XLA_FLAGS=--xla_cpu_max_isa=...`, `ONEDNN_MAX_CPU_ISA`) rules it
    out."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        flags = []
    capped = re.search(r"--xla_cpu_max_isa=(\w+)",
                       os.environ.get("XLA_FLAGS", ""))
    caps = [capped.group(1) if capped else "",
            os.environ.get("ONEDNN_MAX_CPU_ISA", "")]
    if any(cap and "512" not in cap.upper() for cap in caps):
        return False
    return "avx512f" in flags


def choose_train_step(requested="auto", task_uses_xla=True,
                      several_replicas=False):
    """`(jit_compile, description)` of the train step for `requested`
    (one of `PATHS`); the description says what was chosen and why.

    >>> choose_train_step("tensorflow")
    (False, 'TensorFlow kernels (no XLA), as asked')
    """
    if requested not in PATHS:
        raise KerasLMError(f"unknown train step {requested!r}; choose one "
                           f"of: {', '.join(PATHS)}")
    if requested != "auto":
        if requested == "xla" and several_replicas:
            raise KerasLMError("train_step 'xla' cannot compile one step "
                               "across several replicas; use auto or "
                               "tensorflow")
        return requested == "xla", f"{_NAMES[requested]}, as asked"
    if several_replicas:
        path, why = "tensorflow", "several replicas"
    elif not task_uses_xla:
        path, why = "tensorflow", "measured faster for this task"
    elif tf.config.list_logical_devices("GPU") or \
            tf.config.list_logical_devices("TPU"):
        path, why = "xla", "accelerator"
    elif cpu_has_avx512():
        path, why = "xla", "CPU with AVX-512"
    else:
        path, why = AUTO_WITHOUT_AVX512, "CPU without AVX-512"
    return path == "xla", f"{_NAMES[path]} (auto: {why})"
