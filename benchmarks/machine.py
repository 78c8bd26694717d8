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
