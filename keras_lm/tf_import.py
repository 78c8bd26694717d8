"""Importing TensorFlow without its native start-up logging.

TensorFlow's C++ runtime writes INFO lines (oneDNN, CUDA probing) straight
to file descriptor 2 while it is imported, before TF_CPP_MIN_LOG_LEVEL or
Python's logging could take effect. `import_tensorflow_quietly` imports it
with file descriptor 2 pointed at the null device for the duration of the
import only: nothing about the user's logging changes afterwards (no
environment variable is set). Set TF_CPP_MIN_LOG_LEVEL=0 to see the lines.
"""

import os
import sys


def import_tensorflow_quietly(probe_devices=False):
    """Imports TensorFlow with its native start-up logging silenced.

    With `probe_devices` the devices are listed too (their probing logs as
    well); MultiWorkerMirroredStrategy must be created before the runtime
    starts, so a multi-worker run skips the probe. Does nothing when
    TF_CPP_MIN_LOG_LEVEL is "0" (import normally, with every line).
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        if probe_devices:
            tf.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
