"""One line describing the machine a benchmark ran on."""

import os
import platform


def describe_machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tensorflow as tf

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
            f", TensorFlow {tf.__version__}")


#: The /proc/cpuinfo flags that decide how fast dense float32/bf16/int8
#: matrix products run on a CPU ("amx" matches every amx_* flag).
RELEVANT_CPU_FLAGS = ("fma", "avx2", "avx512f", "avx512_bf16", "avx512_vnni",
                      "avx_vnni", "amx")


def cpu_flags(wanted=RELEVANT_CPU_FLAGS):
    """The flags of `wanted` this CPU has, in `wanted` order, from
    /proc/cpuinfo ("amx" expands to the amx_* flags present); [] where
    /proc/cpuinfo is missing."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return []
    found = []
    for flag in wanted:
        if flag in flags:
            found.append(flag)
        elif flag == "amx":
            found.extend(sorted(f for f in flags if f.startswith("amx")))
    return found


def memory_bandwidth(gigabytes=1.0, tries=3):
    """This machine's memory bandwidth in GB/s (1e9 bytes/s), best of
    `tries`, measured with NumPy on a `gigabytes` float32 array (far larger
    than any cache). Returns `{"read": ..., "copy": ...}`: "read" is a
    `sum` over the array (bytes read / seconds; one thread), "copy" a
    `np.copyto` into a second array (bytes read + written / seconds).
    """
    import time

    import numpy as np

    n = int(gigabytes * 1e9) // 4
    a = np.ones(n, dtype=np.float32)
    b = np.empty_like(a)  # touched by the first copy, not timed apart
    np.copyto(b, a)
    best = {"read": 0.0, "copy": 0.0}
    for _ in range(tries):
        start = time.perf_counter()
        a.sum()
        best["read"] = max(best["read"],
                           a.nbytes / (time.perf_counter() - start) / 1e9)
        start = time.perf_counter()
        np.copyto(b, a)
        best["copy"] = max(best["copy"],
                           2 * a.nbytes / (time.perf_counter() - start) / 1e9)
    return best
