"""Multi-head self-attention with a causal mask and a key/value cache.

`keras.layers.MultiHeadAttention` cannot serve a decoder one token at a time:
it keeps no key/value cache, and its `use_causal_mask` aligns the mask to the
top-left corner, so a single query scored against a longer key sequence would
see only the first key. This layer takes the query's position explicitly
(`index`), so a step at position `index` attends over keys `0..index`.

The classic PyTorch teaching example divides the scores by `sqrt(d_model)`;
the right scale (that of "Attention Is All You Need") is `1 / sqrt(head_dim)`.
"""

import functools
import math

import keras
from keras import ops

from keras_lm.errors import KerasLMError
from keras_lm.layers.rotary_embedding import (apply_rotary,
                                              check_rope_scaling,
                                              inverse_frequencies)

#: Added to masked scores (in float32, before the softmax): it zeroes a
#: probability, and being finite, a row whose keys are all masked yields a
#: uniform average instead of NaNs.
MASKED = -1e9
#: Decoding reads the cache in blocks of this many positions (see
#: `_attend_one_query`).
_DECODE_BLOCK = 64


def _keys_and_values(cache, length=None):
    """`(keys, values)`, each `(batch, heads, positions, head_dim)`, of a
    stacked cache or a `(keys, values)` pair; the first `length` positions
    only if given."""
    if isinstance(cache, (list, tuple)):
        keys, values = cache
    else:
        keys, values = cache[:, 0], cache[:, 1]
    if length is not None:
        keys, values = keys[:, :, :length], values[:, :, :length]
    return keys, values


@keras.saving.register_keras_serializable(package="keras_lm")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Scaled dot-product self-attention over `num_heads` heads.

    Queries, keys and values are `Dense` projections of the input, split
    into heads of `head_dim = d_model // num_heads`; the heads are merged
    again and projected by a last `Dense(d_model)`. With the defaults every
    projection kernel has shape `(d_model, d_model)`, so fused checkpoints
    (GPT-2's `c_attn` is `(d_model, 3 * d_model)`) split straight into them.

    Grouped-query attention (Llama 2 70B, Llama 3, Qwen2, Mistral): with
    `num_kv_heads < num_heads` the keys and values have `num_kv_heads` heads
    each, shared by `num_heads // num_kv_heads` query heads (query head `h`
    reads key/value head `h // group`, as in transformers' `repeat_kv`), and
    the cache holds only the key/value heads.

    Args:
        d_model: width of the input and output.
        num_heads: number of query heads; must divide `d_model`.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        kernel_initializer: initializer of the four projection kernels.
        num_kv_heads: key/value heads (None: `num_heads`); must divide
            `num_heads`.
        rope_theta: None for no rotary embedding (positions come from
            elsewhere, e.g. GPT-2's learned embedding); otherwise the RoPE
            base, applied to queries and keys (`keras_lm.layers.
            rotary_embedding`).
        rope_scaling: a `config.json`-style `rope_scaling` dict, or None.
        qkv_bias: biases in the query, key and value projections (None:
            `use_bias`); Qwen2 has them without an output bias.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments (`call`, a full pass):
        x: `(batch, time, d_model)`.
        padding_mask: optional boolean `(batch, time)`, True for real tokens;
            padded positions are never attended to.
        causal: if True (the default) position `i` attends to `0..i` only.
        training: enables the attention dropout.

    Decoding runs `call_with_cache` against a key/value cache instead.

    Example:

    >>> import numpy as np
    >>> layer = MultiHeadSelfAttention(d_model=16, num_heads=4)
    >>> x = np.random.rand(2, 5, 16).astype("float32")
    >>> full = layer(x)
    >>> tuple(full.shape)
    (2, 5, 16)
    >>> cache = layer.initial_cache(batch_size=2, max_length=8)
    >>> tuple(cache.shape)
    (2, 2, 4, 8, 4)
    >>> steps = []
    >>> for i in range(5):
    ...     out, cache = layer.call_with_cache(x[:, i:i + 1], cache, i)
    ...     steps.append(out)
    >>> np.allclose(ops.concatenate(steps, axis=1), full, atol=1e-5)
    True
    """

    def __init__(self, d_model, num_heads, dropout=0.0, use_bias=True,
                 kernel_initializer="glorot_uniform", num_kv_heads=None,
                 rope_theta=None, rope_scaling=None, qkv_bias=None, **kwargs):
        super().__init__(**kwargs)
        if num_heads <= 0 or d_model % num_heads:
            raise KerasLMError(
                f"num_heads={num_heads} does not divide d_model={d_model}; "
                f"choose num_heads so that d_model % num_heads == 0")
        num_kv_heads = num_kv_heads or num_heads
        if num_kv_heads <= 0 or num_heads % num_kv_heads:
            raise KerasLMError(
                f"num_kv_heads={num_kv_heads} does not divide num_heads="
                f"{num_heads}; choose num_kv_heads so that num_heads % "
                "num_kv_heads == 0")
        check_rope_scaling(rope_scaling)
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.use_bias = use_bias
        self.qkv_bias = use_bias if qkv_bias is None else qkv_bias
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self._frequencies = (None if rope_theta is None else
                             inverse_frequencies(self.head_dim, rope_theta,
                                                 rope_scaling))

        def projection(name, units, bias):
            return keras.layers.Dense(
                units, use_bias=bias, name=name,
                kernel_initializer=keras.initializers.get(
                    keras.initializers.serialize(self.kernel_initializer)),
                dtype=self.dtype_policy)

        kv_width = num_kv_heads * self.head_dim
        self.query_dense = projection("query", d_model, self.qkv_bias)
        self.key_dense = projection("key", kv_width, self.qkv_bias)
        self.value_dense = projection("value", kv_width, self.qkv_bias)
        self.output_dense = projection("output", d_model, use_bias)
        self.dropout_layer = keras.layers.Dropout(dropout,
                                                  dtype=self.dtype_policy)

    def build(self, input_shape):
        for dense in (self.query_dense, self.key_dense, self.value_dense):
            dense.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.d_model,))
        self.built = True

    # -- heads ------------------------------------------------------------
    @property
    def group_size(self):
        """Query heads per key/value head (1 without grouped queries)."""
        return self.num_heads // self.num_kv_heads

    def _split_heads(self, x, heads=None):
        """(batch, time, heads * head_dim) -> (batch, heads, time, head_dim)."""
        batch, time = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, time, heads or self.num_heads,
                            self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _merge_heads(self, x):
        """(batch, heads, time, head_dim) -> (batch, time, d_model)."""
        x = ops.transpose(x, (0, 2, 1, 3))
        batch, time = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (batch, time, self.d_model))

    def _project_qkv(self, x, start=0):
        """Queries, keys and values, split into heads; with RoPE, queries
        and keys rotated for the positions `start..start + time - 1`."""
        query = self._split_heads(self.query_dense(x))
        key = self._split_heads(self.key_dense(x), self.num_kv_heads)
        value = self._split_heads(self.value_dense(x), self.num_kv_heads)
        if self._frequencies is not None:
            positions = start + ops.arange(ops.shape(x)[1], dtype="int32")
            query = apply_rotary(query, positions, self._frequencies)
            key = apply_rotary(key, positions, self._frequencies)
        return query, key, value

    def _attend(self, query, key, value, mask, training):
        """softmax(q k^T / sqrt(head_dim)) v with boolean `mask` (True = keep).

        `query` has `num_heads` heads, `key` and `value` `num_kv_heads`.
        `mask` broadcasts to the scores `(batch, heads, q_time, k_time)`.
        The query heads of a group are stacked along time, so one matmul per
        key/value head scores them all, without copying keys per group.
        """
        batch, _, time, _ = ops.shape(query)
        groups, kv_heads = self.group_size, self.num_kv_heads
        query = query * ops.cast(1.0 / math.sqrt(self.head_dim), query.dtype)
        if groups > 1:
            query = ops.reshape(query, (batch, kv_heads, groups * time,
                                        self.head_dim))
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
        # The softmax runs in float32, also under a mixed precision policy.
        scores = ops.cast(scores, "float32")
        if groups > 1:
            scores = ops.reshape(scores, (batch, self.num_heads, time, -1))
        if mask is not None:
            scores = ops.where(mask, scores, MASKED)
        weights = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
        weights = self.dropout_layer(weights, training=training)
        if groups > 1:
            weights = ops.reshape(weights, (batch, kv_heads, groups * time, -1))
        attended = ops.matmul(weights, value)
        if groups > 1:
            attended = ops.reshape(attended, (batch, self.num_heads, time,
                                              self.head_dim))
        return self._merge_heads(attended)

    # -- full pass --------------------------------------------------------
    def call(self, x, padding_mask=None, causal=True, training=False):
        query, key, value = self._project_qkv(x)
        mask = None
        if causal:
            time = ops.shape(x)[1]
            positions = ops.arange(time)
            mask = positions[:, None] >= positions[None, :]  # (q, k)
            mask = mask[None, None]
        if padding_mask is not None:
            keep_keys = ops.cast(padding_mask, "bool")[:, None, None, :]
            mask = keep_keys if mask is None else ops.logical_and(mask,
                                                                  keep_keys)
        return self.output_dense(
            self._attend(query, key, value, mask, training))

    # -- incremental decoding ---------------------------------------------
    def initial_cache(self, batch_size, max_length, dtype=None):
        """Zeros of shape `(batch, 2, num_kv_heads, max_length, head_dim)`.

        Index 0 of axis 1 holds the keys, index 1 the values, already split
        into heads; position `p` of a sequence lives at `[:, :, :, p]`.
        """
        return ops.zeros(
            (batch_size, 2, self.num_kv_heads, max_length, self.head_dim),
            dtype=dtype or self.compute_dtype)

    def call_with_cache(self, x, cache, index, training=False):
        """Attends from `x` at positions `index..index+t-1` over the cache.

        Args:
            x: `(batch, t, d_model)`, the new tokens' hidden states.
            cache: `(batch, 2, num_kv_heads, max_length, head_dim)` (see
                `initial_cache`), or a `(key, value)` pair of
                `(batch, num_kv_heads, max_length, head_dim)` tensors.
            index: int or scalar int32 tensor, the position of `x[:, 0]`.
                Requires `index + t <= max_length`.
            training: as for `call`.

        Returns:
            `(output, new_cache)`: output `(batch, t, d_model)` and the cache,
            in the layout it came in, with the new keys/values written at
            `index..index+t-1` (`slice_update`, in place under XLA). Query
            `i` attends over cache positions `0..index + i`.
        """
        index = ops.cast(index, "int32")
        query, key, value = self._project_qkv(x, start=index)
        zero = ops.zeros((), "int32")
        if isinstance(cache, (list, tuple)):
            key_cache, value_cache = cache
            start = [zero, zero, index, zero]
            key_cache = ops.slice_update(
                key_cache, start, ops.cast(key, key_cache.dtype))
            value_cache = ops.slice_update(
                value_cache, start, ops.cast(value, value_cache.dtype))
            new_cache = (key_cache, value_cache)
        else:
            update = ops.stack([key, value], axis=1)
            new_cache = ops.slice_update(
                cache, [zero, zero, zero, index, zero],
                ops.cast(update, cache.dtype))

        if x.shape[1] == 1 and not training:
            output = self._attend_one_query(query, new_cache, index)
        else:
            key_cache, value_cache = _keys_and_values(new_cache)
            max_length = ops.shape(key_cache)[2]
            query_positions = index + ops.arange(ops.shape(x)[1],
                                                 dtype="int32")
            key_positions = ops.arange(max_length, dtype="int32")
            mask = key_positions[None, :] <= query_positions[:, None]
            output = self._attend(
                query, ops.cast(key_cache, query.dtype),
                ops.cast(value_cache, query.dtype), mask[None, None],
                training)
        return self.output_dense(output), new_cache

    def _attend_one_query(self, query, cache, index):
        """The decoding step: one query per row at position `index`.

        Only the filled part of the cache is read: positions are grouped in
        blocks of `_DECODE_BLOCK`, and a `switch` picks the branch that reads
        the first `index // _DECODE_BLOCK + 1` blocks (each branch has a static
        length, as XLA needs). A step's cost thus grows with its position,
        not with the buffer: at batch 32 the cache reads dominate the step.
        The whole cache goes into the switch, and each branch slices it: a
        slice taken outside would be copied out at every layer and step.
        """
        max_length = _keys_and_values(cache)[0].shape[2]
        if max_length is None or max_length <= _DECODE_BLOCK:
            return self._attend_prefix(query, cache, index, length=max_length)
        lengths = [*range(_DECODE_BLOCK, max_length, _DECODE_BLOCK),
                   max_length]
        branches = [functools.partial(self._attend_prefix, length=length)
                    for length in lengths]
        return ops.switch(index // _DECODE_BLOCK, branches, query, cache,
                          index)

    def _attend_prefix(self, query, cache, index, length):
        """Attention of one query over cache positions `0..index`, reading
        the first `length` (> index) positions of the cache.

        Written as a broadcast multiply and a sum rather than `_attend`'s two
        matmuls: XLA on the CPU runs those as `batch * heads` tiny
        matrix-vector products after copying the keys and values out of the
        stacked cache, while the reductions read them in place in one fused
        loop (1.5x faster at batch 32). Computes in float32.
        """
        key_cache, value_cache = _keys_and_values(cache, length)
        query = ops.cast(query, "float32") * (1.0 / math.sqrt(self.head_dim))
        # (batch, kv_heads, group, 1, dim): a group's query heads together.
        query = ops.reshape(query, (-1, self.num_kv_heads, self.group_size,
                                    1, self.head_dim))
        keys = ops.cast(key_cache, "float32")[:, :, None]  # (b, kv, 1, k, d)
        scores = ops.sum(query * keys, axis=-1)  # (batch, kv, group, keys)
        key_positions = ops.arange(ops.shape(keys)[3], dtype="int32")
        scores = ops.where(key_positions <= index, scores, MASKED)
        weights = ops.softmax(scores, axis=-1)[..., None]  # (b, kv, g, k, 1)
        values = ops.cast(value_cache, "float32")[:, :, None]
        attended = ops.sum(weights * values, axis=3, keepdims=True)
        attended = ops.reshape(attended, (-1, self.num_heads, 1,
                                          self.head_dim))
        return self._merge_heads(ops.cast(attended, self.compute_dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            d_model=self.d_model,
            num_heads=self.num_heads,
            dropout=self.dropout,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(
                self.kernel_initializer),
            num_kv_heads=self.num_kv_heads,
            rope_theta=self.rope_theta,
            rope_scaling=self.rope_scaling,
            qkv_bias=self.qkv_bias,
        )
        return config
