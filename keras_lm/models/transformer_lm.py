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

The Llama layout (Llama, Qwen2, Mistral, SmolLM2) is the same model with
other options: rotary position embeddings instead of learned ones
(`rope_theta`, `rope_scaling`), RMSNorm (`norm="rms"`), a SwiGLU MLP
(`activation="swiglu"`), grouped-query attention (`num_kv_heads`), no
biases (`use_bias=False`, or Qwen2's `qkv_bias=True`) and an untied output
head (`tie_embeddings=False`). `keras_lm.checkpoints.llama` maps those
checkpoints onto it.

The blocks are `keras_lm.layers.TransformerBlock`s (pre-LayerNorm, causal),
re-exported here, where they used to live.
"""

from typing import Literal

import keras
from keras import ops

from keras_lm.errors import KerasLMError, check_counts, check_dropout
from keras_lm.layers.transformer_block import (TransformerBlock,
                                               normal_initializer,
                                               normalization)
from keras_lm.models.causal_lm import CausalLM

__all__ = ["TransformerBlock", "TransformerLM"]


#: What `kv_cache_dtype` accepts (None: the compute dtype).
CACHE_DTYPES = ("float32", "float16", "bfloat16")


def check_cache_dtype(dtype):
    """`dtype` if it is None or one of `CACHE_DTYPES`, else a one-line
    error."""
    if dtype is not None and dtype not in CACHE_DTYPES:
        raise KerasLMError(f"kv_cache_dtype={dtype!r} is not a cache dtype; "
                           f"choose one of: {', '.join(CACHE_DTYPES)}")
    return dtype


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
        norm: "layer" (LayerNorm) or "rms" (RMSNorm).
        activation: "gelu" or "swiglu" (Llama's gated MLP).
        num_kv_heads: key/value heads of grouped-query attention (None:
            `num_heads`).
        rope_theta: None for learned position embeddings (GPT-2); a number
            for rotary embeddings with that base (Llama: 10000 or 500000).
        rope_scaling: a `config.json` `rope_scaling` dict ("linear" or
            "llama3"), or None.
        qkv_bias: biases in the query, key and value projections (None:
            `use_bias`; Qwen2: True with `use_bias=False`).
        tie_embeddings: logits from the token embedding matrix (GPT-2,
            SmolLM2) or, if False, from a separate `lm_head` kernel.
        kv_cache_dtype: the dtype of the key/value cache while decoding
            (None: the compute dtype). "float16" halves the bytes a step
            reads; attention still computes in float32.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`, ...).

    Example:

    >>> import numpy as np, keras_lm
    >>> model = TransformerLM(vocab_size=67, max_sequence_length=32,
    ...                       num_layers=2, num_heads=2, d_model=16)
    >>> tuple(model(np.zeros((2, 10), "int32")).shape)
    (2, 10, 67)
    >>> keras_lm.generation.generate_ids(model, [[5, 6]], [2], 4).shape
    TensorShape([1, 4])

    A small Llama-style model (rotary, RMSNorm, SwiGLU, 2 key/value heads):

    >>> llama = TransformerLM(vocab_size=67, max_sequence_length=32,
    ...                       num_layers=2, num_heads=4, d_model=16,
    ...                       norm="rms", activation="swiglu",
    ...                       num_kv_heads=2, rope_theta=10000.0,
    ...                       use_bias=False, tie_embeddings=False)
    >>> tuple(llama(np.zeros((2, 10), "int32")).shape)
    (2, 10, 67)
    """

    #: `keras_lm.generation.quantize_for_decoding` can make a bfloat16 copy.
    decodes_in_bfloat16 = True

    def __init__(self, vocab_size, max_sequence_length=256, num_layers=4,
                 num_heads=4, d_model=128, mlp_dim=None, dropout=0.0,
                 layer_norm_epsilon=1e-5, gelu_approximate=True,
                 use_bias=True, output_bias=False,
                 norm: Literal["layer", "rms"] = "layer",
                 activation: Literal["gelu", "swiglu"] = "gelu",
                 num_kv_heads=None, rope_theta=None,
                 rope_scaling=None, qkv_bias=None, tie_embeddings=True,
                 kv_cache_dtype=None, **kwargs):
        super().__init__(**kwargs)
        check_counts(vocab_size=vocab_size,
                     max_sequence_length=max_sequence_length,
                     num_layers=num_layers, num_heads=num_heads,
                     d_model=d_model, mlp_dim=mlp_dim,
                     num_kv_heads=num_kv_heads)
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
        self.norm = norm
        self.activation = activation
        self.num_kv_heads = num_kv_heads or num_heads
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        self.qkv_bias = use_bias if qkv_bias is None else qkv_bias
        self.tie_embeddings = tie_embeddings
        self.kv_cache_dtype = check_cache_dtype(kv_cache_dtype)
        attention_options = dict(
            num_kv_heads=self.num_kv_heads, rope_theta=rope_theta,
            rope_scaling=rope_scaling, qkv_bias=self.qkv_bias)

        self.token_embedding = keras.layers.Embedding(
            vocab_size, d_model, embeddings_initializer=normal_initializer(),
            name="token_embedding", dtype=self.dtype_policy)
        self.position_embedding = None
        if rope_theta is None:
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
                norm=norm, activation=activation,
                attention_options=attention_options,
                name=f"block_{i}", dtype=self.dtype_policy)
            for i in range(num_layers)
        ]
        self.ln_f = normalization(norm, layer_norm_epsilon, use_bias, "ln_f",
                                  self.dtype_policy)
        self.lm_head = None
        if not tie_embeddings:
            self.lm_head = keras.layers.Dense(
                vocab_size, use_bias=False, name="lm_head",
                kernel_initializer=normal_initializer(),
                dtype=self.dtype_policy)

    def build(self, input_shape=None):
        hidden_shape = (None, None, self.d_model)
        self.token_embedding.build()
        if self.position_embedding is not None:
            self.position_embedding.build()
        for block in self.blocks:
            block.build(hidden_shape)
        self.ln_f.build(hidden_shape)
        if self.lm_head is not None:
            self.lm_head.build(hidden_shape)
        self.logits_bias = None
        if self.output_bias:
            self.logits_bias = self.add_weight(
                shape=(self.vocab_size,), initializer="zeros",
                name="logits_bias")
        self.built = True

    def embed(self, token_ids, positions):
        """Token plus position embeddings; `positions` broadcasts to ids.
        (With rotary embeddings the attention applies the positions.)"""
        x = self.token_embedding(token_ids)
        if self.position_embedding is None:
            return x
        return x + self.position_embedding(positions)

    def project(self, hidden):
        """Final norm, then float32 logits from the tied embedding (or the
        untied `lm_head`)."""
        hidden = self.ln_f(hidden)
        if self.lm_head is not None:
            kernel = ops.cast(self.lm_head.kernel, hidden.dtype)
        else:
            kernel = ops.transpose(
                ops.cast(self.token_embedding.embeddings, hidden.dtype))
        logits = ops.cast(ops.matmul(hidden, kernel), "float32")
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
    # (batch, 2, num_kv_heads, max_length, head_dim): keys at [:, 0], values at
    # [:, 1], position p at [:, :, :, p] (see MultiHeadSelfAttention).
    def initial_cache(self, batch_size, max_length):
        if (isinstance(max_length, int)
                and max_length > self.max_sequence_length):
            raise KerasLMError(
                f"cache max_length={max_length} exceeds the model's "
                f"max_sequence_length={self.max_sequence_length}")
        if not self.built:  # create the weights before any compiled loop
            self.build()
        return [block.attention.initial_cache(batch_size, max_length,
                                              dtype=self.kv_cache_dtype)
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
            norm=self.norm,
            activation=self.activation,
            num_kv_heads=self.num_kv_heads,
            rope_theta=self.rope_theta,
            rope_scaling=self.rope_scaling,
            qkv_bias=self.qkv_bias,
            tie_embeddings=self.tie_embeddings,
            kv_cache_dtype=self.kv_cache_dtype,
        )
        return config
