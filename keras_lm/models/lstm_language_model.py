"""The stacked LSTM language model ("Embedding -> LSTM -> Dense")."""

import keras
from keras import ops

from keras_lm.errors import KerasLMError
from keras_lm.models.recurrent_lm import RecurrentLM


@keras.saving.register_keras_serializable(package="keras_lm")
class LSTMLanguageModel(RecurrentLM):
    """Embedding -> `num_layers` stacked LSTMs -> Dense, logits out.

    The teaching example takes `num_layers` and silently builds one layer;
    this one builds them all. With `tie_embeddings=True` the output layer
    reuses the input embedding matrix (Press & Wolf, 2017), which needs
    `rnn_units == embedding_dim`; a bias is still learned.

    Example:

    >>> import numpy as np
    >>> model = LSTMLanguageModel(vocab_size=100, embedding_dim=32,
    ...                           rnn_units=32, num_layers=2,
    ...                           tie_embeddings=True)
    >>> tuple(model(np.zeros((2, 5), "int32")).shape)
    (2, 5, 100)
    """

    rnn_layer_class = keras.layers.LSTM

    def __init__(self, vocab_size, embedding_dim=256, rnn_units=512,
                 num_layers=2, dropout=0.0, stateful=False,
                 tie_embeddings=False, **kwargs):
        if tie_embeddings and rnn_units != embedding_dim:
            raise KerasLMError(
                f"tied embeddings need rnn_units == embedding_dim (got "
                f"{rnn_units} and {embedding_dim}); change one or untie")
        self.tie_embeddings = tie_embeddings
        super().__init__(vocab_size, embedding_dim, rnn_units, num_layers,
                         dropout, stateful, **kwargs)

    def make_output_layer(self):
        if not self.tie_embeddings:
            return super().make_output_layer()
        return TiedOutputBias(self.vocab_size, name="logits_bias")

    def project(self, hidden):
        if not self.tie_embeddings:
            return super().project(hidden)
        logits = ops.matmul(hidden, ops.transpose(self.embedding.embeddings))
        return ops.cast(self.output_layer(logits), "float32")

    def get_config(self):
        return {**super().get_config(), "tie_embeddings": self.tie_embeddings}


@keras.saving.register_keras_serializable(package="keras_lm")
class TiedOutputBias(keras.layers.Layer):
    """Adds a learned per-token bias to logits from a tied embedding."""

    def __init__(self, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.vocab_size,),
                                    initializer="zeros", name="bias")

    def call(self, logits):
        return logits + ops.cast(self.bias, logits.dtype)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size}
