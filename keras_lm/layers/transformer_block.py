"""One Transformer block: self-attention and an MLP, each in a residual.

The same block serves the GPT-style decoder (`TransformerLM`: pre-LayerNorm,
causal) and the BERT-style encoder (`TransformerEncoder`: post-LayerNorm,
bidirectional, padding masked):

    norm_first=True  (GPT-2)           norm_first=False  (BERT)
    x = x + drop(attn(ln_1(x)))        x = ln_1(x + drop(attn(x)))
    x = x + drop(mlp(ln_2(x)))         x = ln_2(x + drop(mlp(x)))

Its sublayers are named after GPT-2's (`ln_1`, `attention`, `ln_2`,
`mlp_fc`, `mlp_proj`), so checkpoints map onto them one to one.

The Llama layout is a set of options of the same block: `norm="rms"`
(RMSNorm), `activation="swiglu"` (`mlp_proj(silu(mlp_gate(x)) * mlp_fc(x))`,
Llama's `down(silu(gate(x)) * up(x))`), and the attention's rotary
embedding and grouped-query options (`MultiHeadSelfAttention`).
"""

import keras
from keras import ops

from keras_lm.errors import check_choice
from keras_lm.layers.multi_head_self_attention import MultiHeadSelfAttention

#: Normalisation layers and MLP activations a block can have.
NORMS = ("layer", "rms")
ACTIVATIONS = ("gelu", "swiglu")


def normal_initializer(stddev=0.02):
    """GPT-2's and BERT's initialisation: N(0, 0.02) for kernels and
    embeddings."""
    return keras.initializers.RandomNormal(stddev=stddev)


def normalization(norm, epsilon, use_bias, name, dtype):
    """A LayerNorm (`norm="layer"`) or an RMSNorm (`"rms"`, never a bias)."""
    if norm == "rms":
        return keras.layers.RMSNormalization(epsilon=epsilon, name=name,
                                             dtype=dtype)
    return keras.layers.LayerNormalization(epsilon=epsilon, center=use_bias,
                                           name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="keras_lm")
class TransformerBlock(keras.layers.Layer):
    """One Transformer block, pre- or post-LayerNorm (see the module).

    Args:
        d_model: width of the residual stream.
        num_heads: attention heads; must divide `d_model`.
        mlp_dim: width of the MLP's hidden layer.
        dropout: rate of the attention-weight and residual dropouts.
        layer_norm_epsilon: epsilon of both LayerNorms.
        gelu_approximate: use the tanh approximation of GELU (as GPT-2 does;
            BERT uses the exact erf form).
        use_bias: biases in the Dense layers and LayerNorms.
        norm_first: True for pre-LayerNorm (GPT-2), False for
            post-LayerNorm (BERT).
        norm: "layer" (LayerNorm) or "rms" (RMSNorm, Llama's; no bias).
        activation: "gelu" (a two-layer GELU MLP) or "swiglu" (Llama's
            gated MLP, with a third kernel `mlp_gate`).
        attention_options: further `MultiHeadSelfAttention` arguments
            (`num_kv_heads`, `rope_theta`, `rope_scaling`, `qkv_bias`).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        x: `(batch, time, d_model)`.
        padding_mask: optional boolean `(batch, time)`, True for real
            tokens; padded keys are never attended to.
        causal: if True (the default) position `i` attends to `0..i` only.
        training: enables the dropouts.

    Example:

    >>> import numpy as np
    >>> block = TransformerBlock(d_model=16, num_heads=4, mlp_dim=32,
    ...                          norm_first=False)
    >>> x = np.random.rand(2, 5, 16).astype("float32")
    >>> mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    >>> tuple(block(x, padding_mask=mask, causal=False).shape)
    (2, 5, 16)
    """

    def __init__(self, d_model, num_heads, mlp_dim, dropout=0.0,
                 layer_norm_epsilon=1e-5, gelu_approximate=True,
                 use_bias=True, norm_first=True, norm="layer",
                 activation="gelu", attention_options=None, **kwargs):
        super().__init__(**kwargs)
        check_choice("norm", norm, NORMS)
        check_choice("activation", activation, ACTIVATIONS)
        self.d_model = d_model
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.gelu_approximate = gelu_approximate
        self.use_bias = use_bias
        self.norm_first = norm_first
        self.norm = norm
        self.activation = activation
        self.attention_options = dict(attention_options or {})

        def layer_norm(name):
            return normalization(norm, layer_norm_epsilon, use_bias, name,
                                 self.dtype_policy)

        def dense(units, name):
            return keras.layers.Dense(
                units, use_bias=use_bias, name=name,
                kernel_initializer=normal_initializer(),
                dtype=self.dtype_policy)

        self.ln_1 = layer_norm("ln_1")
        self.attention = MultiHeadSelfAttention(
            d_model, num_heads, dropout=dropout, use_bias=use_bias,
            kernel_initializer=normal_initializer(), name="attention",
            dtype=self.dtype_policy, **self.attention_options)
        self.ln_2 = layer_norm("ln_2")
        self.mlp_gate = (dense(mlp_dim, "mlp_gate")
                         if activation == "swiglu" else None)
        self.mlp_fc = dense(mlp_dim, "mlp_fc")
        self.mlp_proj = dense(d_model, "mlp_proj")
        self.dropout_layer = keras.layers.Dropout(dropout,
                                                  dtype=self.dtype_policy)

    def build(self, input_shape):
        self.ln_1.build(input_shape)
        self.attention.build(input_shape)
        self.ln_2.build(input_shape)
        self.mlp_fc.build(input_shape)
        if self.mlp_gate is not None:
            self.mlp_gate.build(input_shape)
        self.mlp_proj.build(tuple(input_shape[:-1]) + (self.mlp_dim,))
        self.built = True

    def mlp(self, x, training=False):
        if self.mlp_gate is not None:
            x = ops.silu(self.mlp_gate(x)) * self.mlp_fc(x)
        else:
            x = ops.gelu(self.mlp_fc(x), approximate=self.gelu_approximate)
        return self.dropout_layer(self.mlp_proj(x), training=training)

    def residuals(self, x, attend, training=False):
        """The two residual branches around `attend(normed_or_raw_x)`."""
        if self.norm_first:
            x = x + self.dropout_layer(attend(self.ln_1(x)), training=training)
            return x + self.mlp(self.ln_2(x), training=training)
        x = self.ln_1(x + self.dropout_layer(attend(x), training=training))
        return self.ln_2(x + self.mlp(x, training=training))

    def call(self, x, padding_mask=None, causal=True, training=False):
        return self.residuals(
            x, lambda h: self.attention(h, padding_mask=padding_mask,
                                        causal=causal, training=training),
            training=training)

    def call_with_cache(self, x, cache, index):
        """`call` for the tokens at `index..`, with this block's KV cache
        (causal decoding, no dropout)."""
        new_cache = []

        def attend(h):
            attended, block_cache = self.attention.call_with_cache(
                h, cache, index)
            new_cache.append(block_cache)
            return attended

        return self.residuals(x, attend), new_cache[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            d_model=self.d_model,
            num_heads=self.num_heads,
            mlp_dim=self.mlp_dim,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            gelu_approximate=self.gelu_approximate,
            use_bias=self.use_bias,
            norm_first=self.norm_first,
            norm=self.norm,
            activation=self.activation,
            attention_options=self.attention_options,
        )
        return config
