"""The stateful GRU character generator (TensorFlow's text-generation model)."""

import keras

from keras_lm.models.recurrent_lm import RecurrentLM


@keras.saving.register_keras_serializable(package="keras_lm")
class GRUGenerator(RecurrentLM):
    """Embedding -> GRU x `num_layers` -> Dense, next-token logits out.

    The model of TensorFlow's "Text generation with an RNN" tutorial, with
    stacking, dropout, a correct stateful mode and a compiled sampling loop.

    Example:

    >>> import numpy as np, keras_lm
    >>> model = GRUGenerator(vocab_size=67, embedding_dim=32, rnn_units=64)
    >>> tuple(model(np.zeros((2, 10), "int32")).shape)
    (2, 10, 67)
    >>> keras_lm.generation.generate_ids(model, [[5, 6]], [2], 4).shape
    TensorShape([1, 4])
    """

    rnn_layer_class = keras.layers.GRU
