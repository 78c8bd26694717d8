"""The optimizer every task trains with: (Adam)W with warm-up and cosine
decay, and the Adam variants that hand dense gradients to `tf.distribute`.

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


def learning_rate_schedule(config, total_steps):
    """Linear warm-up to `learning_rate`, then cosine decay to
    `learning_rate * final_learning_rate_ratio` (a ratio of 1 keeps it
    constant)."""
    decay_steps = max(total_steps - config.warmup_steps, 1)
    if config.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=decay_steps,
            alpha=config.final_learning_rate_ratio,
            warmup_target=config.learning_rate,
            warmup_steps=config.warmup_steps)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps,
        alpha=config.final_learning_rate_ratio)


def make_optimizer(config, total_steps, replicas=1, model=None):
    """Adam, or AdamW when `weight_decay` is set, with the LR schedule.

    Both take `config.beta_1`; AdamW takes nanoGPT's beta2 of 0.99, Adam
    keeps Keras' 0.999 (the recurrent models' long-standing default). With
    `config.ema_momentum` both keep a moving average of the weights
    (`use_ema`), which `fit` copies into the model when it ends.

    AdamW decays only the matrices (kernels and embeddings), not biases or
    LayerNorm scales and offsets, as GPT-2 and nanoGPT do: decaying a
    LayerNorm scale towards zero fights the normalisation (on nanoGPT's
    tiny Shakespeare run it cost 0.015 in validation loss, see
    benchmarks/README.md). The 1-D variables of `model` (once built) are
    excluded, and any variable named like a bias or a LayerNorm parameter.

    Across several replicas the variants that all-reduce dense gradients are
    used.
    """
    schedule = learning_rate_schedule(config, total_steps)
    adam, adamw = adam_classes(replicas)
    common = dict(beta_1=config.beta_1, clipnorm=config.clipnorm,
                  use_ema=bool(config.ema_momentum),
                  ema_momentum=config.ema_momentum or 0.99)
    if not config.weight_decay:
        return adam(schedule, **common)
    optimizer = adamw(schedule, weight_decay=config.weight_decay, beta_2=0.99,
                      **common)
    vectors = [v for v in (model.trainable_variables if model else [])
               if len(v.shape) < 2]
    optimizer.exclude_from_weight_decay(
        var_list=vectors, var_names=["bias", "gamma", "beta"])
    return optimizer
