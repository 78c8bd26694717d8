"""Language-model metrics: perplexity and bits per character."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_lm")
class BitsPerCharacter(keras.metrics.Mean):
    """Mean cross-entropy in bits per character of text.

    `chars_per_token` converts per-token loss to per-character loss (it is 1
    for a character tokenizer; a word tokenizer covers several characters).

    Example:

    >>> metric = BitsPerCharacter()
    >>> metric.update_state([[0]], [[[0.0, 0.0]]])   # uniform over 2: 1 bit
    >>> round(float(metric.result()), 4)
    1.0
    """

    def __init__(self, chars_per_token=1.0, name="bits_per_character", **kwargs):
        super().__init__(name=name, **kwargs)
        self.chars_per_token = float(chars_per_token)

    def update_state(self, y_true, y_pred, sample_weight=None):
        nats = keras.losses.sparse_categorical_crossentropy(
            y_true, ops.cast(y_pred, "float32"), from_logits=True)
        bits = nats / (math.log(2.0) * self.chars_per_token)
        return super().update_state(bits, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "chars_per_token": self.chars_per_token}


def language_model_metrics(chars_per_token=1.0):
    """The metrics every LM is compiled with: perplexity and bits/char."""
    import keras_hub

    return [keras_hub.metrics.Perplexity(from_logits=True, name="perplexity"),
            BitsPerCharacter(chars_per_token)]
