"""`tf.distribute` strategies by name: default, mirrored, multi_worker, tpu.

    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = ...; model.compile(...)
    model.fit(dataset_with_the_global_batch)

Keras splits each global batch across the replicas. Errors that would
otherwise hang or fail deep inside TensorFlow (no TPU, no TF_CONFIG, a batch
that does not split evenly) are one-line `KerasLMError`s.
"""

import glob
import json
import os

import tensorflow as tf

from keras_lm.errors import KerasLMError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

_strategies = {}


def _tpu_visible():
    return bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR")
                or glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


def tpu_strategy():
    """The Colab/Cloud TPU strategy: resolve, connect, initialise, wrap."""
    if not _tpu_visible():
        raise KerasLMError(
            "strategy tpu: no TPU found (no TPU_NAME or COLAB_TPU_ADDR, no "
            "/dev/accel*); switch the runtime to a TPU or use the default strategy")
    tpu = os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or "local"
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` with the `reduce` that Keras 3 expects.

    Keras 3's `fit` calls `strategy.reduce` on a whole `(x, y)` batch before
    its first step, and on every scalar metric with `axis=0` after each
    step. `MirroredStrategy` maps `reduce` over a structure; the collective
    implementation behind this strategy does not ("Attempt to convert a
    value (PerReplica...)"), and reducing a scalar along axis 0 fails. Here
    each value is reduced on its own, and a scalar across workers only.
    """

    def reduce(self, reduce_op, value, axis):
        return tf.nest.map_structure(
            lambda v: self._reduce_one(reduce_op, v, axis), value)

    def _reduce_one(self, reduce_op, value, axis):
        local = self.experimental_local_results(value)[0]
        if axis is not None and local.shape.rank == 0:
            axis = None  # a scalar per replica: combine the replicas only
        return super().reduce(reduce_op, value, axis)


def multi_worker_strategy():
    """MultiWorkerMirroredStrategy configured from the TF_CONFIG variable."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise KerasLMError("strategy multi_worker needs the TF_CONFIG "
                           "environment variable (cluster and task) on every "
                           "worker")
    try:
        config = json.loads(raw)
        config["cluster"]["worker"], config["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise KerasLMError("TF_CONFIG must be JSON with cluster.worker and "
                           "task.index, e.g. {\"cluster\": {\"worker\": "
                           "[\"localhost:12345\", ...]}, \"task\": {\"type\": "
                           "\"worker\", \"index\": 0}}")
    return _MultiWorkerMirroredStrategy()


def make_strategy(name="default"):
    """Returns the `tf.distribute.Strategy` called `name`.

    Example:

    >>> make_strategy("default").num_replicas_in_sync
    1
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # One per process: a second MirroredStrategy reuses the first one's
        # collective-op instance keys, and its all-reduces then mix shapes.
        if "mirrored" not in _strategies:
            _strategies["mirrored"] = tf.distribute.MirroredStrategy()
        return _strategies["mirrored"]
    if name == "multi_worker":
        return multi_worker_strategy()
    if name == "tpu":
        return tpu_strategy()
    raise KerasLMError(f"unknown strategy {name!r}; known: "
                       f"{', '.join(STRATEGIES)}")


def check_global_batch(strategy, batch_size, stateful=False):
    """The global batch must split evenly; stateful RNNs need one replica."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise KerasLMError(
            f"batch_size {batch_size} does not split across {replicas} "
            f"replicas; use a multiple of {replicas}")
    if stateful and replicas > 1:
        raise KerasLMError("stateful training carries state per stream and "
                           f"runs on one replica, not {replicas}; drop "
                           "stateful or use the default strategy")
