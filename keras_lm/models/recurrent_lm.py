"""Embedding -> stacked RNN -> Dense: the shared body of the GRU and LSTM LMs.

The two teaching examples (TensorFlow's "RNNModel" GRU text generator and the
"Embedding -> LSTM -> Dense" language model) differ only in the recurrent
cell, so they share this class and override `rnn_layer_class`.
"""

import keras
from keras import ops

from keras_lm.errors import check_counts, check_dropout
from keras_lm.models.causal_lm import CausalLM


class RecurrentLM(CausalLM):
    """A stacked-RNN language model; see `GRUGenerator`, `LSTMLanguageModel`.

    Args:
        vocab_size: number of token ids.
        embedding_dim: width of the token embedding.
        rnn_units: width of every recurrent layer.
        num_layers: how many recurrent layers are stacked.
        dropout: dropout rate between layers (and before the output layer).
        stateful: carry the recurrent state from one batch to the next
            (truncated back-propagation through time). Needs a fixed batch
            size and data laid out as contiguous streams; see
            `keras_lm.data.language_model_dataset(..., stateful=True)`.
    """

    rnn_layer_class = None

    def __init__(self, vocab_size, embedding_dim=256, rnn_units=1024,
                 num_layers=1, dropout=0.0, stateful=False, **kwargs):
        check_counts(vocab_size=vocab_size, embedding_dim=embedding_dim,
                     rnn_units=rnn_units, num_layers=num_layers)
        check_dropout(dropout)
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.rnn_units = rnn_units
        self.num_layers = num_layers
        self.dropout = dropout
        self.stateful = stateful
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim,
                                                name="embedding")
        self.rnn_layers = [
            self.rnn_layer_class(rnn_units, return_sequences=True,
                                 stateful=stateful, name=f"rnn_{i}")
            for i in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.output_layer = self.make_output_layer()

    def make_output_layer(self):
        return keras.layers.Dense(self.vocab_size, name="logits")

    def project(self, hidden):
        """Hidden states -> float32 logits over the vocabulary."""
        return ops.cast(self.output_layer(hidden), "float32")

    def call(self, token_ids, training=False):
        x = self.embedding(token_ids)
        for rnn in self.rnn_layers:
            x = self.dropout_layer(rnn(x, training=training), training=training)
        return self.project(x)

    def reset_rnn_states(self):
        """Zeroes the carried state of every stateful layer.

        (Keras 3 models have no `reset_states()`; each RNN layer has
        `reset_state()`.)
        """
        for rnn in self.rnn_layers:
            if rnn.stateful and rnn.built:
                rnn.reset_state()

    # The cache is one list of state tensors per layer (`[h]` for a GRU,
    # `[h, c]` for an LSTM), carried as tensors rather than layer variables.
    def initial_cache(self, batch_size, max_length):
        del max_length  # the state summarises any prefix
        sizes = self.rnn_layers[0].cell.state_size
        sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
        return [[ops.zeros((batch_size, size), self.compute_dtype)
                 for size in sizes] for _ in self.rnn_layers]

    def decode_step(self, token_ids, cache, index, context=()):
        del index, context
        x = self.embedding(token_ids)
        new_cache = []
        for rnn, states in zip(self.rnn_layers, cache):
            x, states = rnn.cell(x, list(states))
            new_cache.append(list(states) if isinstance(states, (list, tuple))
                             else [states])
        return self.project(x), new_cache

    def prefill(self, token_ids, cache, start, feed, context=()):
        """Carries the state through the positions of `token_ids`
        `(batch, chunk)` that `feed` `(chunk,)` marks, with one call of each
        recurrent layer (its masked steps keep the state); returns the new
        cache."""
        del start, context
        x = self.embedding(token_ids)
        mask = ops.broadcast_to(feed[None, :], ops.shape(token_ids))
        new_cache = []
        for rnn, states in zip(self.rnn_layers, cache):
            # `inner_loop` is the layer's loop without its own state
            # handling: a stateful layer's carried training state is left
            # alone, and the final states come back.
            _, x, states = rnn.inner_loop(x, list(states), mask)
            new_cache.append(list(states))
        return new_cache

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            embedding_dim=self.embedding_dim,
            rnn_units=self.rnn_units,
            num_layers=self.num_layers,
            dropout=self.dropout,
            stateful=self.stateful,
        )
        return config
