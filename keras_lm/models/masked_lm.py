"""BERT's masked language model: a `TransformerEncoder` and the MLM head.

The head is BERT's: `Dense(d_model)`, GELU, LayerNorm, then logits from the
token embedding matrix itself (weight tying) plus a bias per token.

    BERT (Hugging Face)                     MaskedLanguageModel
    bert.*                                  encoder (see TransformerEncoder)
    cls.predictions.transform.dense         mlm_dense
    cls.predictions.transform.LayerNorm     mlm_norm
    cls.predictions.decoder (tied), bias    encoder.token_embedding, mlm_bias

Given mask positions, the head runs at those positions only, as in BERT's
pre-training: `(batch, k, vocab)` logits instead of `(batch, time, vocab)`.
"""

import keras
from keras import ops

from keras_lm.layers.transformer_block import normal_initializer
from keras_lm.models.transformer_encoder import (TransformerEncoder,
                                                 default_padding_mask,
                                                 l2_normalize,
                                                 pool_hidden_states)


def unpack_inputs(inputs):
    """`(token_ids, segment_ids, padding_mask, mask_positions)` of a tensor
    of token ids or a dict with "token_ids" and optionally the others."""
    if not isinstance(inputs, dict):
        return inputs, None, None, None
    return (inputs["token_ids"], inputs.get("segment_ids"),
            inputs.get("padding_mask"), inputs.get("mask_positions"))


def gather_positions(hidden, positions):
    """`hidden[b, positions[b, j]]`: `(batch, time, d)`, `(batch, k)` ->
    `(batch, k, d)`."""
    positions = ops.cast(positions, "int32")[:, :, None]
    shape = ops.shape(hidden)
    positions = ops.broadcast_to(
        positions, (shape[0], ops.shape(positions)[1], shape[2]))
    return ops.take_along_axis(hidden, positions, axis=1)


@keras.saving.register_keras_serializable(package="keras_lm")
class MaskedLanguageModel(keras.Model):
    """A BERT-style encoder with a masked-token prediction head.

    Takes the same arguments as `TransformerEncoder` (which it holds as
    `self.encoder`), except that `norm_first` defaults to True: trained
    from scratch, the pre-LayerNorm layout is the stabler one (an imported
    BERT says False). The head's GELU follows `gelu_approximate`.

    Args:
        vocab_size, max_sequence_length, type_vocab_size, num_layers,
        num_heads, d_model, mlp_dim, dropout, layer_norm_epsilon,
        gelu_approximate, norm_first, pad_id: as for `TransformerEncoder`.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: int token ids `(batch, time)`, giving float32 logits
            `(batch, time, vocab_size)`; or a dict with "token_ids" and
            "mask_positions" `(batch, k)` (and optionally "segment_ids",
            "padding_mask"), giving float32 logits `(batch, k, vocab_size)`
            at those positions.
        training: enables the dropouts.

    Example:

    >>> import numpy as np
    >>> model = MaskedLanguageModel(vocab_size=50, max_sequence_length=16,
    ...                             num_layers=1, num_heads=2, d_model=8)
    >>> ids = np.array([[2, 7, 4, 9, 3, 0]])   # 4 is the masked token
    >>> tuple(model(ids).shape)
    (1, 6, 50)
    >>> logits = model({"token_ids": ids, "mask_positions": np.array([[2]])})
    >>> tuple(logits.shape)
    (1, 1, 50)
    >>> tuple(model.embed(ids).shape)
    (1, 8)
    """

    def __init__(self, vocab_size, max_sequence_length=512, type_vocab_size=2,
                 num_layers=2, num_heads=4, d_model=128, mlp_dim=None,
                 dropout=0.1, layer_norm_epsilon=1e-12,
                 gelu_approximate=False, norm_first=True, pad_id=0,
                 **kwargs):
        super().__init__(**kwargs)
        # === Layers ===
        self.encoder = TransformerEncoder(
            vocab_size, max_sequence_length=max_sequence_length,
            type_vocab_size=type_vocab_size, num_layers=num_layers,
            num_heads=num_heads, d_model=d_model, mlp_dim=mlp_dim,
            dropout=dropout, layer_norm_epsilon=layer_norm_epsilon,
            gelu_approximate=gelu_approximate, norm_first=norm_first,
            pad_id=pad_id, name="encoder", dtype=self.dtype_policy)
        self.mlm_dense = keras.layers.Dense(
            d_model, kernel_initializer=normal_initializer(),
            name="mlm_dense", dtype=self.dtype_policy)
        self.mlm_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="mlm_norm",
            dtype=self.dtype_policy)
        # === Config ===
        self.vocab_size = vocab_size
        self.d_model = d_model

    def build(self, input_shape=None):
        self.encoder.build()
        hidden_shape = (None, None, self.d_model)
        self.mlm_dense.build(hidden_shape)
        self.mlm_norm.build(hidden_shape)
        self.mlm_bias = self.add_weight(shape=(self.vocab_size,),
                                        initializer="zeros", name="mlm_bias")
        self.built = True

    def project(self, hidden):
        """The MLM head: hidden states -> float32 logits over the vocabulary."""
        x = ops.gelu(self.mlm_dense(hidden),
                     approximate=self.encoder.gelu_approximate)
        x = self.mlm_norm(x)
        embeddings = ops.cast(self.encoder.token_embedding.embeddings, x.dtype)
        logits = ops.matmul(x, ops.transpose(embeddings))
        return ops.cast(logits, "float32") + ops.cast(self.mlm_bias, "float32")

    def call(self, inputs, training=False):
        token_ids, segment_ids, padding_mask, positions = unpack_inputs(inputs)
        hidden = self.encoder(token_ids, segment_ids=segment_ids,
                              padding_mask=padding_mask, training=training)
        if positions is not None:
            hidden = gather_positions(hidden, positions)
        return self.project(hidden)

    def embed(self, token_ids, pooling="mean", normalize=False,
              segment_ids=None, padding_mask=None):
        """One float32 vector `(batch, d_model)` per sequence: the encoder's
        hidden states pooled ("mean" over real tokens, or "cls", the first),
        scaled to unit length if `normalize`."""
        if padding_mask is None:
            padding_mask = default_padding_mask(token_ids,
                                                self.encoder.pad_id)
        hidden = self.encoder(token_ids, segment_ids=segment_ids,
                              padding_mask=padding_mask)
        pooled = pool_hidden_states(hidden, padding_mask, pooling)
        return l2_normalize(pooled) if normalize else pooled

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            return (tuple(input_shape["mask_positions"])
                    + (self.vocab_size,))
        return tuple(input_shape) + (self.vocab_size,)

    def get_config(self):
        config = super().get_config()
        encoder_config = self.encoder.get_config()
        config.update({key: encoder_config[key] for key in (
            "vocab_size", "max_sequence_length", "type_vocab_size",
            "num_layers", "num_heads", "d_model", "mlp_dim", "dropout",
            "layer_norm_epsilon", "gelu_approximate", "norm_first",
            "pad_id")})
        return config
