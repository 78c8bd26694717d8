"""An LSTM encoder-decoder with optional attention (translation, summaries).

Architecture (Luong et al. 2015 layout, with the score function selectable):

    source ids -> Embedding -> LSTM encoder (optionally bidirectional)
        -> encoder outputs (the attention memory) and final (h, c)
    decoder input ids -> Embedding -> LSTM decoder, initialised from the
        encoder's final (h, c) (a bidirectional encoder's forward and backward
        states are concatenated and projected to `units`)
    decoder outputs attend over the encoder outputs:
        "additive" (Bahdanau): score = v . tanh(W_k enc + W_q dec)
        "dot" (Luong):         score = dec . enc (enc projected to `units`
                               first when the encoder is bidirectional)
        "none":                no attention; the decoder state alone
    [context; decoder output] -> Dense(units, tanh) -> Dense(vocab) logits.

Attention is applied *after* the decoder LSTM (no input feeding), so teacher
forcing runs the decoder over the whole target in one LSTM call, and step
decoding (`decode_step`) with the same cell gives exactly the same logits.

Padding (id 0) is masked on both sides: the encoder LSTM skips padded
source positions (so its final state is the state after the last real
token) and attention gives them zero weight, so the logits do not depend on
how much padding a source has. The decoder LSTM is masked too; the loss
should ignore padded targets (`ignore_class=0`, see `masked_loss`).

Inference follows the decoder protocol (`keras_lm.generation.protocol`):
the encoder runs once (`start_decoding`), then `decode_step` advances the
decoder one token at a time, its `[h, c]` carried as tensors.
"""

import keras
from keras import ops

from keras_lm.errors import KerasLMError
from keras_lm.layers.multi_head_self_attention import MASKED

ATTENTION_KINDS = ("none", "additive", "dot")



@keras.saving.register_keras_serializable(package="keras_lm")
class Seq2Seq(keras.Model):
    """LSTM encoder-decoder; `call((source_ids, decoder_input_ids))` returns
    float32 logits of shape `(batch, target_length, target_vocab_size)`.

    Args:
        source_vocab_size: number of source token ids (0 is padding).
        target_vocab_size: number of target ids, START and END included.
        embedding_dim: width of both (learned) embeddings.
        units: width of the encoder and decoder LSTMs (each direction of a
            bidirectional encoder has `units`).
        attention: "additive" (Bahdanau), "dot" (Luong) or "none".
        bidirectional: run the encoder both ways.
        dropout: dropout rate on embeddings and before the output layer.
        start_id, end_id: target ids that start and end a target; by default
            `target_vocab_size - 2` and `target_vocab_size - 1`, the scheme of
            `keras_lm.tokenizers.TargetSpecials`.

    Example:

    >>> model = Seq2Seq(20, 12, embedding_dim=8, units=16)
    >>> logits = model((ops.ones((2, 5), "int32"), ops.ones((2, 7), "int32")))
    >>> tuple(logits.shape)
    (2, 7, 12)
    """

    def __init__(self, source_vocab_size, target_vocab_size, embedding_dim=128,
                 units=256, attention="additive", bidirectional=False,
                 dropout=0.0, start_id=None, end_id=None, **kwargs):
        super().__init__(**kwargs)
        if attention not in ATTENTION_KINDS:
            raise KerasLMError(f"unknown attention {attention!r}; choose one "
                               f"of {', '.join(ATTENTION_KINDS)}")
        if target_vocab_size < 3:
            raise KerasLMError("target vocabulary must hold padding, START "
                               "and END (size >= 3)")
        self.source_vocab_size = int(source_vocab_size)
        self.target_vocab_size = int(target_vocab_size)
        self.embedding_dim = int(embedding_dim)
        self.units = int(units)
        self.attention = attention
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.start_id = int(target_vocab_size - 2 if start_id is None
                            else start_id)
        self.end_id = int(target_vocab_size - 1 if end_id is None else end_id)

        self.source_embedding = keras.layers.Embedding(
            source_vocab_size, embedding_dim, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(
            target_vocab_size, embedding_dim, name="target_embedding")
        encoder_lstm = keras.layers.LSTM(units, return_sequences=True,
                                         return_state=True, name="encoder_lstm")
        if self.bidirectional:
            self.encoder = keras.layers.Bidirectional(encoder_lstm,
                                                      name="encoder")
            self.bridge_h = keras.layers.Dense(units, activation="tanh",
                                               name="bridge_h")
            self.bridge_c = keras.layers.Dense(units, name="bridge_c")
        else:
            self.encoder = encoder_lstm
        self.decoder_lstm = keras.layers.LSTM(
            units, return_sequences=True, return_state=True,
            name="decoder_lstm")
        self.key_projection = None
        if attention == "additive":
            self.key_projection = keras.layers.Dense(
                units, use_bias=False, name="attention_keys")
            self.query_projection = keras.layers.Dense(
                units, use_bias=False, name="attention_query")
            self.attention_score = keras.layers.Dense(
                1, use_bias=False, name="attention_score")
        elif attention == "dot" and self.bidirectional:
            self.key_projection = keras.layers.Dense(
                units, use_bias=False, name="attention_keys")
        if attention != "none":
            self.attention_output = keras.layers.Dense(
                units, activation="tanh", name="attention_output")
        self.dropout_layer = keras.layers.Dropout(dropout)
        self.output_layer = keras.layers.Dense(target_vocab_size,
                                               name="logits")

    # -- encoder ------------------------------------------------------------

    def encode(self, source_ids, training=False):
        """Runs the encoder once.

        Returns `(memory, state)`: `memory = (values, keys, source_mask)` with
        values `(batch, S, units or 2*units)`, keys `(batch, S, units or
        value width)` and a bool mask `(batch, S)`; `state = [h, c]`, each
        `(batch, units)`, the decoder's initial state.
        """
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        source_mask = ops.not_equal(source_ids, 0)
        x = self.dropout_layer(self.source_embedding(source_ids),
                               training=training)
        if self.bidirectional:
            values, fh, fc, bh, bc = self.encoder(x, mask=source_mask,
                                                  training=training)
            h = self.bridge_h(ops.concatenate([fh, bh], axis=-1))
            c = self.bridge_c(ops.concatenate([fc, bc], axis=-1))
        else:
            values, h, c = self.encoder(x, mask=source_mask, training=training)
        keys = values if self.key_projection is None else \
            self.key_projection(values)
        return (values, keys, source_mask), [h, c]

    # -- attention and output -----------------------------------------------

    def _attend(self, queries, memory):
        """queries (batch, T, units) -> context (batch, T, D), weights
        (batch, T, S) that sum to 1 over the real source positions."""
        values, keys, source_mask = memory
        if self.attention == "additive":
            hidden = ops.tanh(ops.expand_dims(keys, 1) + ops.expand_dims(
                self.query_projection(queries), 2))
            scores = ops.squeeze(self.attention_score(hidden), -1)
        else:
            scores = ops.einsum("btu,bsu->bts", queries, keys)
        scores = ops.cast(scores, "float32")
        scores = ops.where(ops.expand_dims(source_mask, 1), scores, MASKED)
        weights = ops.softmax(scores, axis=-1)
        context = ops.einsum("bts,bsd->btd",
                             ops.cast(weights, values.dtype), values)
        return context, weights

    def _project(self, decoder_outputs, memory, training=False):
        """Decoder outputs (batch, T, units) -> (float32 logits, weights)."""
        if self.attention == "none":
            hidden, weights = decoder_outputs, None
        else:
            context, weights = self._attend(decoder_outputs, memory)
            hidden = self.attention_output(
                ops.concatenate([context, decoder_outputs], axis=-1))
        hidden = self.dropout_layer(hidden, training=training)
        return ops.cast(self.output_layer(hidden), "float32"), weights

    # -- teacher forcing ----------------------------------------------------

    def _forward(self, inputs, training=False):
        source_ids, decoder_input_ids = inputs
        memory, state = self.encode(source_ids, training=training)
        decoder_input_ids = ops.convert_to_tensor(decoder_input_ids, "int32")
        y = self.dropout_layer(self.target_embedding(decoder_input_ids),
                               training=training)
        outputs, _, _ = self.decoder_lstm(
            y, initial_state=state, mask=ops.not_equal(decoder_input_ids, 0),
            training=training)
        return self._project(outputs, memory, training=training)

    def call(self, inputs, training=False):
        logits, _ = self._forward(inputs, training=training)
        return logits

    def attention_weights(self, inputs):
        """Teacher-forced attention weights `(batch, T, S)` for
        `(source_ids, decoder_input_ids)`; each row sums to 1 over the real
        (non-padding) source positions. For a heatmap of what the model
        itself generates, use `keras_lm.generation.greedy_decode(...,
        return_attention=True)`.
        """
        if self.attention == "none":
            raise KerasLMError("this model has no attention (attention="
                               "'none'); train with additive or dot")
        _, weights = self._forward(inputs, training=False)
        return weights

    # -- step decoding (keras_lm.generation.protocol) -------------------------

    #: Targets have no length limit of their own.
    max_sequence_length = None

    @property
    def decoding_start_id(self):
        return self.start_id

    @property
    def decoding_end_id(self):
        return self.end_id

    @property
    def decoding_banned_ids(self):
        """Padding and START are inputs only; decoding never produces them."""
        return (0, self.start_id)

    def start_decoding(self, inputs, batch_size, max_length):
        """Runs the encoder over `inputs` (the source ids); returns
        `(memory, state)` as `encode` does. `batch_size` and `max_length`
        are implied by the sources and the LSTM state."""
        del batch_size, max_length
        return self.encode(inputs)

    def decode_step(self, token_ids, state, index, context):
        """Feeds one target token per row (START first); `state` is `[h,
        c]`, `context` the memory, and the LSTM state carries `index`."""
        del index
        x = self.target_embedding(ops.convert_to_tensor(token_ids, "int32"))
        output, new_state = self.decoder_lstm.cell(x, list(state))
        logits, _ = self._project(ops.expand_dims(output, 1), context)
        return logits[:, 0, :], list(new_state)

    # -- serialization ------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            source_vocab_size=self.source_vocab_size,
            target_vocab_size=self.target_vocab_size,
            embedding_dim=self.embedding_dim,
            units=self.units,
            attention=self.attention,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            start_id=self.start_id,
            end_id=self.end_id,
        )
        return config


def masked_loss():
    """Sparse cross-entropy on logits that ignores padded targets (id 0)."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                      ignore_class=0)
