"""A bidirectional LSTM/GRU encoder: the recurrent backbone of `TextClassifier`.

Token embedding, then `num_layers` `Bidirectional` LSTM or GRU layers, each
reading the sequence forwards and backwards and concatenating the two:
hidden states `(batch, time, 2 * rnn_units)`. The padding mask reaches every
recurrent layer, so padded steps leave the states untouched: a sequence's
outputs and final states do not depend on how much padding follows it.
"""

import keras
from keras import ops

from keras_lm.errors import KerasLMError, check_counts, check_dropout
from keras_lm.models.transformer_encoder import default_padding_mask

#: Recurrent cells by name.
CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


@keras.saving.register_keras_serializable(package="keras_lm")
class RecurrentEncoder(keras.Model):
    """Embedding + a stack of bidirectional LSTM/GRU layers.

    Args:
        vocab_size: number of token ids.
        d_model: width of the token embedding.
        rnn_units: units of each direction of each layer; `d_model` if None.
            The output width is `2 * rnn_units` (`output_dim`).
        num_layers: how many bidirectional layers are stacked.
        cell: "lstm" or "gru".
        dropout: dropout rate after the embedding and after each layer.
        pad_id: the padding token, masked unless `padding_mask` is passed.
            None: nothing is padding.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        token_ids: int `(batch, time)`.
        padding_mask: boolean `(batch, time)`, True for real tokens;
            `token_ids != pad_id` if None.
        training: enables the dropouts.
        return_state: also return the final states: the last layer's
            forward state after the last real token concatenated with its
            backward state after the first token, `(batch, 2 * rnn_units)`.

    Example:

    >>> import numpy as np
    >>> encoder = RecurrentEncoder(vocab_size=50, d_model=8, cell="gru")
    >>> hidden, final = encoder(np.array([[5, 6, 7, 0]]), return_state=True)
    >>> tuple(hidden.shape), tuple(final.shape)
    ((1, 4, 16), (1, 16))
    """

    def __init__(self, vocab_size, d_model=128, rnn_units=None, num_layers=1,
                 cell="lstm", dropout=0.1, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        check_counts(vocab_size=vocab_size, d_model=d_model,
                     rnn_units=rnn_units, num_layers=num_layers)
        check_dropout(dropout)
        if cell not in CELLS:
            raise KerasLMError(f"cell must be one of {', '.join(CELLS)}, got "
                               f"{cell!r}")
        # === Config ===
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.rnn_units = rnn_units or d_model
        self.num_layers = num_layers
        self.cell = cell
        self.dropout = dropout
        self.pad_id = pad_id

        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocab_size, d_model, name="token_embedding",
            dtype=self.dtype_policy)
        self.rnn_layers = [
            keras.layers.Bidirectional(
                CELLS[cell](self.rnn_units, return_sequences=True,
                            return_state=True, dtype=self.dtype_policy),
                name=f"bidirectional_{i}", dtype=self.dtype_policy)
            for i in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout,
                                                  dtype=self.dtype_policy)

    @property
    def output_dim(self):
        """Width of the hidden states and of the final states."""
        return 2 * self.rnn_units

    def build(self, input_shape=None):
        self.token_embedding.build()
        width = self.d_model
        for rnn in self.rnn_layers:
            rnn.build((None, None, width))
            width = self.output_dim
        self.built = True

    def call(self, token_ids, padding_mask=None, training=False,
             return_state=False):
        if padding_mask is None:
            padding_mask = default_padding_mask(token_ids, self.pad_id)
        padding_mask = ops.cast(padding_mask, "bool")
        x = self.dropout_layer(self.token_embedding(token_ids),
                               training=training)
        for rnn in self.rnn_layers:
            x, *states = rnn(x, mask=padding_mask, training=training)
            x = self.dropout_layer(x, training=training)
        if not return_state:
            return x
        # states: forward then backward, each [h] (GRU) or [h, c] (LSTM).
        final = ops.concatenate([states[0], states[len(states) // 2]],
                                axis=-1)
        return x, final

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            d_model=self.d_model,
            rnn_units=self.rnn_units,
            num_layers=self.num_layers,
            cell=self.cell,
            dropout=self.dropout,
            pad_id=self.pad_id,
        )
        return config
