"""A GPT-style decoder-only Transformer language model.

Token and learned position embeddings, `num_layers` pre-LayerNorm blocks
(causal self-attention and a GELU MLP, each inside a residual connection), a
final LayerNorm, and logits from the token embedding matrix itself (weight
tying), as in GPT-2 and karpathy/nanoGPT.

The weights are laid out so that a GPT-2 checkpoint maps onto them one to one:

    GPT-2 (Hugging Face)           TransformerLM
    wte, wpe                       token_embedding, position_embedding
    h.{i}.ln_1, h.{i}.ln_2         blocks[i].ln_1, blocks[i].ln_2
    h.{i}.attn.c_attn (d, 3d)      blocks[i].attention.{query,key,value}
                                   (split the fused kernel along its last axis)
    h.{i}.attn.c_proj (d, d)       blocks[i].attention.output
    h.{i}.mlp.c_fc, c_proj         blocks[i].mlp_fc, blocks[i].mlp_proj
    ln_f                           ln_f

GPT-2's `Conv1D` weights are stored `(in, out)`, like Keras `Dense` kernels,
so no transposes are needed. GPT-2 has no output bias (`output_bias=False`).

The blocks are `keras_lm.layers.TransformerBlock`s (pre-LayerNorm, causal),
re-exported here, where they used to live.
"""

import keras
from keras import ops

from keras_lm.errors import KerasLMError, check_counts, check_dropout
from keras_lm.layers.transformer_block import (TransformerBlock,
                                               normal_initializer)
from keras_lm.models.causal_lm import CausalLM

__all__ = ["TransformerBlock", "TransformerLM"]


@keras.saving.register_keras_serializable(package="keras_lm")
class TransformerLM(CausalLM):
    """A GPT-2-style decoder-only Transformer; next-token logits out.

    This model maps token ids of shape `(batch, time)` (any `time` up to
    `max_sequence_length`) to float32 logits of shape
    `(batch, time, vocab_size)`. Position `t` only sees tokens `0..t`. For
    generation it implements the `CausalLM` cache protocol with a key/value
    cache, so each new token costs one attention over the cached keys rather
    than a pass over the whole prefix; `keras_lm.generation.generate_ids`
    runs it inside one XLA-compiled loop.

    The default arguments give a small model; GPT-2 small is
    `vocab_size=50257, max_sequence_length=1024, num_layers=12,
    num_heads=12, d_model=768`.

    Args:
        vocab_size: number of token ids.
        max_sequence_length: the context length, i.e. the number of learned
            positions; the longest input (prompt plus generated tokens).
        num_layers: number of Transformer blocks.
        num_heads: attention heads per block; must divide `d_model`.
        d_model: width of the embeddings and the residual stream.
        mlp_dim: hidden width of each block's MLP; `4 * d_model` if None.
        dropout: rate of the embedding, attention and residual dropouts.
        layer_norm_epsilon: epsilon of every LayerNorm.
        gelu_approximate: True for the tanh approximation of GELU (GPT-2's),
            False for the exact erf form.
        use_bias: biases in the Dense layers and the LayerNorms (nanoGPT's
            `bias` flag).
        output_bias: add a learned bias to the tied output projection
            (GPT-2 has none).
        **kwargs: base `keras.Model` arguments (`name`, `dtype`, ...).

    Example:

    >>> import numpy as np, keras_lm
    >>> model = TransformerLM(vocab_size=67, max_sequence_length=32,
    ...                       num_layers=2, num_heads=2, d_model=16)
    >>> tuple(model(np.zeros((2, 10), "int32")).shape)
    (2, 10, 67)
    >>> keras_lm.generation.generate_ids(model, [[5, 6]], [2], 4).shape
    TensorShape([1, 4])
    """

    #: `keras_lm.generation.quantize_for_decoding` can make a bfloat16 copy.
    decodes_in_bfloat16 = True

    def __init__(self, vocab_size, max_sequence_length=256, num_layers=4,
                 num_heads=4, d_model=128, mlp_dim=None, dropout=0.0,
                 layer_norm_epsilon=1e-5, gelu_approximate=True,
                 use_bias=True, output_bias=False, **kwargs):
        super().__init__(**kwargs)
        check_counts(vocab_size=vocab_size,
                     max_sequence_length=max_sequence_length,
                     num_layers=num_layers, num_heads=num_heads,
                     d_model=d_model, mlp_dim=mlp_dim)
        check_dropout(dropout)  # (each block's attention checks num_heads)
        self.vocab_size = vocab_size
        self.max_sequence_length = max_sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.d_model = d_model
        self.mlp_dim = mlp_dim or 4 * d_model
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.gelu_approximate = gelu_approximate
        self.use_bias = use_bias
        self.output_bias = output_bias

        self.token_embedding = keras.layers.Embedding(
            vocab_size, d_model, embeddings_initializer=normal_initializer(),
            name="token_embedding", dtype=self.dtype_policy)
        self.position_embedding = keras.layers.Embedding(
            max_sequence_length, d_model,
            embeddings_initializer=normal_initializer(),
            name="position_embedding", dtype=self.dtype_policy)
        self.embedding_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy)
        self.blocks = [
            TransformerBlock(
                d_model, num_heads, self.mlp_dim, dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                gelu_approximate=gelu_approximate, use_bias=use_bias,
                name=f"block_{i}", dtype=self.dtype_policy)
            for i in range(num_layers)
        ]
        self.ln_f = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, center=use_bias, name="ln_f",
            dtype=self.dtype_policy)

    def build(self, input_shape=None):
        hidden_shape = (None, None, self.d_model)
        self.token_embedding.build()
        self.position_embedding.build()
        for block in self.blocks:
            block.build(hidden_shape)
        self.ln_f.build(hidden_shape)
        self.logits_bias = None
        if self.output_bias:
            self.logits_bias = self.add_weight(
                shape=(self.vocab_size,), initializer="zeros",
                name="logits_bias")
        self.built = True

    def embed(self, token_ids, positions):
        """Token plus position embeddings; `positions` broadcasts to ids."""
        return (self.token_embedding(token_ids)
                + self.position_embedding(positions))

    def project(self, hidden):
        """Final LayerNorm, then float32 logits from the tied embedding."""
        hidden = self.ln_f(hidden)
        embeddings = ops.cast(self.token_embedding.embeddings, hidden.dtype)
        logits = ops.cast(ops.matmul(hidden, ops.transpose(embeddings)),
                          "float32")
        if self.logits_bias is not None:
            logits = logits + ops.cast(self.logits_bias, "float32")
        return logits

    def call(self, token_ids, training=False):
        length = token_ids.shape[1]
        if length is not None and length > self.max_sequence_length:
            raise KerasLMError(
                f"input has {length} tokens but the model's context is "
                f"max_sequence_length={self.max_sequence_length}; "
                f"truncate or window the input")
        positions = ops.arange(ops.shape(token_ids)[1])[None, :]
        x = self.embedding_dropout(self.embed(token_ids, positions),
                                   training=training)
        for block in self.blocks:
            x = block(x, training=training)
        return self.project(x)

    # The cache is a list with one tensor per block, each of shape
    # (batch, 2, num_heads, max_length, head_dim): keys at [:, 0], values at
    # [:, 1], position p at [:, :, :, p] (see MultiHeadSelfAttention).
    def initial_cache(self, batch_size, max_length):
        if (isinstance(max_length, int)
                and max_length > self.max_sequence_length):
            raise KerasLMError(
                f"cache max_length={max_length} exceeds the model's "
                f"max_sequence_length={self.max_sequence_length}")
        if not self.built:  # create the weights before any compiled loop
            self.build()
        return [block.attention.initial_cache(batch_size, max_length)
                for block in self.blocks]

    def decode_step(self, token_ids, cache, index, context=()):
        del context  # nothing but the prompt conditions a language model
        if not self.built:
            self.build()
        index = ops.cast(index, "int32")
        x = self.embed(token_ids[:, None], ops.reshape(index, (1, 1)))
        new_cache = []
        for block, block_cache in zip(self.blocks, cache):
            x, block_cache = block.call_with_cache(x, block_cache, index)
            new_cache.append(block_cache)
        return self.project(x)[:, 0], new_cache

    def prefill(self, token_ids, cache, start, feed, context=()):
        """Writes the keys and values of `token_ids` `(batch, chunk)`, at
        positions `start..`, into the cache in one causal pass; returns the
        cache. Every position is written: those `feed` leaves out hold
        either the same entries again or ones a decode step overwrites
        before reading (the protocol in `keras_lm.generation.protocol`)."""
        del feed, context
        start = ops.cast(start, "int32")
        positions = start + ops.arange(ops.shape(token_ids)[1], dtype="int32")
        x = self.embed(token_ids, positions[None, :])
        new_cache = []
        for block, block_cache in zip(self.blocks, cache):
            x, block_cache = block.call_with_cache(x, block_cache, start)
            new_cache.append(block_cache)
        return new_cache  # (no logits: the first decode step makes them)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.vocab_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            max_sequence_length=self.max_sequence_length,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            d_model=self.d_model,
            mlp_dim=self.mlp_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            gelu_approximate=self.gelu_approximate,
            use_bias=self.use_bias,
            output_bias=self.output_bias,
        )
        return config
