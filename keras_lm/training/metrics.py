"""Training metrics: perplexity, bits per character, masked token accuracy.

A `.keras` file stores its compile config, so the metric classes here are
registered with Keras (`import keras_lm` registers them) and a saved model
loads without evaluation code.
"""

import math

import keras
from keras import ops



@keras.saving.register_keras_serializable(package="keras_lm")
class BitsPerCharacter(keras.metrics.Mean):
    """Mean cross-entropy in bits per character of text.

    `chars_per_token` converts per-token loss to per-character loss (it is 1
    for a character tokenizer; a word tokenizer covers several characters).

    Example:

    >>> import numpy as np
    >>> metric = BitsPerCharacter()
    >>> metric.update_state(np.zeros((1, 1)), np.zeros((1, 1, 2)))  # 1 bit
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


# Registered as "keras_lm>MaskedTokenAccuracy", the name files saved while it
# lived in keras_lm.evaluation.translation_metrics give it: they still load.
@keras.saving.register_keras_serializable(package="keras_lm")
class MaskedTokenAccuracy(keras.metrics.Metric):
    """Accuracy of argmax(`y_pred`) over the positions where `y_true` is
    not padding, counted over batches (hits and real tokens, so long and
    short batches weigh by their tokens)."""

    def __init__(self, pad_id=0, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.hits = self.add_variable(shape=(), initializer="zeros",
                                      name="hits")
        self.tokens = self.add_variable(shape=(), initializer="zeros",
                                        name="tokens")

    def update_state(self, y_true, y_pred, sample_weight=None):
        del sample_weight  # padding is the only weighting
        y_true = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        mask = ops.cast(ops.not_equal(y_true, self.pad_id), "float32")
        hits = ops.cast(ops.equal(predicted, y_true), "float32") * mask
        self.hits.assign_add(ops.sum(hits))
        self.tokens.assign_add(ops.sum(mask))

    def result(self):
        return self.hits / ops.maximum(self.tokens, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.tokens.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
