"""A BERT-style bidirectional Transformer encoder (the backbone).

Token, learned position and segment embeddings are summed, layer-normalised
(BERT's embedding LayerNorm) and passed through `num_layers`
`TransformerBlock`s that attend in both directions, never to padding. The
output is one hidden state per token, `(batch, time, d_model)`; heads on top
of it live in `MaskedLanguageModel` and `TextClassifier`.

    BERT (Hugging Face)                     TransformerEncoder
    embeddings.word/position/token_type     token/position/segment_embedding
    embeddings.LayerNorm                    embedding_norm
    encoder.layer.{i}.attention.self.*      blocks[i].attention.{query,...}
    ...attention.output.dense               blocks[i].attention.output
    ...attention.output.LayerNorm           blocks[i].ln_1
    ...intermediate.dense, output.dense     blocks[i].mlp_fc, mlp_proj
    ...output.LayerNorm                     blocks[i].ln_2

`norm_first=True` gives a pre-LayerNorm encoder instead, with a final
LayerNorm (`final_norm`) after the last block, as pre-LN models need.

`pool_hidden_states` (masked mean, or the first token) turns hidden states
into one vector per sequence; every encoder-side model pools with it.
"""

import keras
from keras import ops

from keras_lm.errors import KerasLMError, check_counts, check_dropout
from keras_lm.layers.transformer_block import (TransformerBlock,
                                               normal_initializer)

#: The pooling modes `pool_hidden_states` knows.
POOLINGS = ("cls", "mean")


def check_pooling(pooling):
    if pooling not in POOLINGS:
        raise KerasLMError(f"pooling must be one of {', '.join(POOLINGS)}, "
                           f"got {pooling!r}")


def default_padding_mask(token_ids, pad_id):
    """`token_ids != pad_id` (all True when `pad_id` is None)."""
    if pad_id is None:
        return ops.ones(ops.shape(token_ids), "bool")
    return ops.not_equal(token_ids, pad_id)


def pool_hidden_states(hidden, padding_mask, pooling="mean"):
    """One float32 vector per sequence from `(batch, time, features)`.

    "mean" averages the hidden states of the real tokens (`padding_mask`
    True), so padding never changes it; "cls" takes the first position
    (BERT's [CLS] token).

    >>> import numpy as np
    >>> hidden = np.arange(12, dtype="float32").reshape(1, 3, 4)
    >>> mask = np.array([[True, True, False]])
    >>> ops.convert_to_numpy(pool_hidden_states(hidden, mask, "mean")).tolist()
    [[2.0, 3.0, 4.0, 5.0]]
    """
    check_pooling(pooling)
    hidden = ops.cast(hidden, "float32")
    if pooling == "cls":
        return hidden[:, 0]
    weights = ops.cast(padding_mask, "float32")[:, :, None]
    total = ops.sum(hidden * weights, axis=1)
    return total / ops.maximum(ops.sum(weights, axis=1), 1.0)


def l2_normalize(x, epsilon=1e-12):
    """Each row of `x` scaled to unit Euclidean length."""
    return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True),
                                    epsilon))


@keras.saving.register_keras_serializable(package="keras_lm")
class TransformerEncoder(keras.Model):
    """A BERT-style bidirectional Transformer encoder; hidden states out.

    BERT base is `vocab_size=30522, num_layers=12, num_heads=12,
    d_model=768`; the defaults give a small model.

    Args:
        vocab_size: number of token ids.
        max_sequence_length: number of learned positions, the longest input.
        type_vocab_size: number of segment ids (BERT's token types).
        num_layers: number of Transformer blocks.
        num_heads: attention heads per block; must divide `d_model`.
        d_model: width of the embeddings and hidden states.
        mlp_dim: hidden width of each block's MLP; `4 * d_model` if None.
        dropout: rate of the embedding, attention and residual dropouts.
        layer_norm_epsilon: epsilon of every LayerNorm (BERT's 1e-12).
        gelu_approximate: True for the tanh form of GELU, False for the exact
            erf form (BERT's).
        norm_first: False for post-LayerNorm blocks (BERT), True for
            pre-LayerNorm blocks plus a final LayerNorm.
        pad_id: the padding token; positions holding it are masked unless
            `padding_mask` is passed. None: nothing is padding.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        token_ids: int `(batch, time)`, `time <= max_sequence_length`.
        segment_ids: int `(batch, time)`; zeros if None.
        padding_mask: boolean `(batch, time)`, True for real tokens;
            `token_ids != pad_id` if None.
        training: enables the dropouts.

    Example:

    >>> import numpy as np
    >>> encoder = TransformerEncoder(vocab_size=50, max_sequence_length=16,
    ...                              num_layers=1, num_heads=2, d_model=8)
    >>> tuple(encoder(np.array([[2, 7, 9, 3, 0, 0]])).shape)
    (1, 6, 8)
    """

    def __init__(self, vocab_size, max_sequence_length=512, type_vocab_size=2,
                 num_layers=2, num_heads=4, d_model=128, mlp_dim=None,
                 dropout=0.1, layer_norm_epsilon=1e-12,
                 gelu_approximate=False, norm_first=False, pad_id=0,
                 **kwargs):
        super().__init__(**kwargs)
        check_counts(vocab_size=vocab_size,
                     max_sequence_length=max_sequence_length,
                     type_vocab_size=type_vocab_size, num_layers=num_layers,
                     num_heads=num_heads, d_model=d_model, mlp_dim=mlp_dim)
        check_dropout(dropout)
        # === Config ===
        self.vocab_size = vocab_size
        self.max_sequence_length = max_sequence_length
        self.type_vocab_size = type_vocab_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.d_model = d_model
        self.mlp_dim = mlp_dim or 4 * d_model
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.gelu_approximate = gelu_approximate
        self.norm_first = norm_first
        self.pad_id = pad_id

        # === Layers ===
        def embedding(rows, name):
            return keras.layers.Embedding(
                rows, d_model, embeddings_initializer=normal_initializer(),
                name=name, dtype=self.dtype_policy)

        def layer_norm(name):
            return keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, name=name,
                dtype=self.dtype_policy)

        self.token_embedding = embedding(vocab_size, "token_embedding")
        self.position_embedding = embedding(max_sequence_length,
                                            "position_embedding")
        self.segment_embedding = embedding(type_vocab_size,
                                           "segment_embedding")
        self.embedding_norm = layer_norm("embedding_norm")
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy)
        self.blocks = [
            TransformerBlock(
                d_model, num_heads, self.mlp_dim, dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                gelu_approximate=gelu_approximate, norm_first=norm_first,
                name=f"block_{i}", dtype=self.dtype_policy)
            for i in range(num_layers)
        ]
        self.final_norm = layer_norm("final_norm") if norm_first else None

    def build(self, input_shape=None):
        hidden_shape = (None, None, self.d_model)
        for layer in (self.token_embedding, self.position_embedding,
                      self.segment_embedding):
            layer.build()
        self.embedding_norm.build(hidden_shape)
        for block in self.blocks:
            block.build(hidden_shape)
        if self.final_norm is not None:
            self.final_norm.build(hidden_shape)
        self.built = True

    def check_length(self, token_ids):
        length = token_ids.shape[1]
        if length is not None and length > self.max_sequence_length:
            raise KerasLMError(
                f"input has {length} tokens but the encoder takes at most "
                f"max_sequence_length={self.max_sequence_length}; truncate "
                f"the input")

    def embed_tokens(self, token_ids, segment_ids=None):
        """Token + position + segment embeddings, before the LayerNorm."""
        positions = ops.arange(ops.shape(token_ids)[1])[None, :]
        if segment_ids is None:
            segment_ids = ops.zeros_like(token_ids)
        return (self.token_embedding(token_ids)
                + self.position_embedding(positions)
                + self.segment_embedding(segment_ids))

    def call(self, token_ids, segment_ids=None, padding_mask=None,
             training=False):
        self.check_length(token_ids)
        if padding_mask is None:
            padding_mask = default_padding_mask(token_ids, self.pad_id)
        x = self.embedding_norm(self.embed_tokens(token_ids, segment_ids))
        x = self.embedding_dropout(x, training=training)
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, causal=False,
                      training=training)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.d_model,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            max_sequence_length=self.max_sequence_length,
            type_vocab_size=self.type_vocab_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            d_model=self.d_model,
            mlp_dim=self.mlp_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            gelu_approximate=self.gelu_approximate,
            norm_first=self.norm_first,
            pad_id=self.pad_id,
        )
        return config
