"""Adam and AdamW that hand dense gradients to `tf.distribute`.

A tied embedding gets two gradients, a sparse one from the lookup and a
dense one from the output projection; TensorFlow sums them into an
`IndexedSlices` whose row count depends on the tokens each replica saw, and
MirroredStrategy's all-reduce then fails on mismatched shapes. Densifying
first makes every replica reduce the same `(vocab, dim)` tensor.
"""

import keras
import tensorflow as tf


def _densify(grads):
    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
            for g in grads]


@keras.saving.register_keras_serializable(package="keras_lm")
class DenseGradientAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` for multi-replica training of tied models."""

    def apply(self, grads, trainable_variables=None):
        return super().apply(_densify(grads), trainable_variables)


@keras.saving.register_keras_serializable(package="keras_lm")
class DenseGradientAdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` for multi-replica training of tied models."""

    def apply(self, grads, trainable_variables=None):
        return super().apply(_densify(grads), trainable_variables)


def adam_classes(replicas=1):
    """`(Adam, AdamW)`: Keras' own on one replica, the dense-gradient ones
    across several."""
    if replicas > 1:
        return DenseGradientAdam, DenseGradientAdamW
    return keras.optimizers.Adam, keras.optimizers.AdamW
