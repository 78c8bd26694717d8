"""A text classifier: a Transformer or bidirectional RNN encoder, pooled.

    backbone="transformer"   TransformerEncoder (BERT's layout)
    backbone="lstm"/"gru"    RecurrentEncoder (embedding + bidirectional RNN)

    pooling="cls"   transformer: BERT's pooler, Dense(d_model, tanh) on the
                    first ([CLS]) hidden state; RNN: the final forward and
                    backward states, concatenated
    pooling="mean"  the mean hidden state over the real (unpadded) tokens

then dropout and `Dense(num_classes)`: float32 logits `(batch, num_classes)`.

    BERT (Hugging Face)          TextClassifier
    bert.*                       encoder (see TransformerEncoder)
    bert.pooler.dense            pooler
    classifier                   classifier

Fine-tuning a pretrained encoder: build both models, then
`classifier.encoder.set_weights(masked_lm.encoder.get_weights())` (their
encoder arguments must agree); `freeze_backbone()` trains the head only.
"""

import typing

import keras
from keras import ops

from keras_lm.errors import KerasLMError, check_counts
from keras_lm.layers.transformer_block import normal_initializer
from keras_lm.models.masked_lm import unpack_inputs
from keras_lm.models.recurrent_encoder import CELLS, RecurrentEncoder
from keras_lm.models.transformer_encoder import (TransformerEncoder,
                                                 check_pooling,
                                                 default_padding_mask,
                                                 l2_normalize,
                                                 pool_hidden_states)

#: The backbones `TextClassifier` knows.
BACKBONES = ("transformer", *CELLS)


@keras.saving.register_keras_serializable(package="keras_lm")
class TextClassifier(keras.Model):
    """Sequence classification over a Transformer or RNN encoder.

    Args:
        num_classes: number of classes (logits per sequence), at least 2.
        vocab_size: number of token ids.
        backbone: "transformer", "lstm" or "gru".
        pooling: "mean" or "cls" (see the module docstring). From scratch,
            mean pooling over a pre-LayerNorm encoder (the defaults) learns
            in a few hundred steps where BERT's [CLS] over post-LayerNorm
            stalls at chance; an imported BERT sets its own ("cls", post).
        max_sequence_length: the Transformer's context (learned positions).
        num_layers: Transformer blocks, or stacked RNN layers.
        num_heads: attention heads per block; must divide `d_model`.
        d_model: the Transformer's width; the RNNs' embedding width.
        mlp_dim: hidden width of each block's MLP; `4 * d_model` if None.
        layer_norm_epsilon: epsilon of every LayerNorm (BERT: 1e-12).
        gelu_approximate: the tanh form of GELU instead of the exact erf.
        norm_first: pre-LayerNorm blocks (False: BERT's post-LayerNorm).
        type_vocab_size: number of segment ids (BERT: 2).
        rnn_units: units per direction of the RNN backbones (`d_model` if
            None); unused by the Transformer.
        dropout: the encoder's dropout rate, and the head's.
        pad_id: the padding token, masked everywhere.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: int token ids `(batch, time)`, or a dict with "token_ids"
            and optionally "segment_ids" and "padding_mask".
        training: enables the dropouts.

    Example:

    >>> import numpy as np
    >>> model = TextClassifier(num_classes=3, vocab_size=50, num_layers=1,
    ...                        num_heads=2, d_model=8)
    >>> ids = np.array([[2, 7, 9, 3, 0, 0]])
    >>> tuple(model(ids).shape)
    (1, 3)
    >>> lstm = TextClassifier(num_classes=2, vocab_size=50, backbone="lstm",
    ...                       pooling="mean", d_model=8, rnn_units=4)
    >>> tuple(lstm.embed(ids).shape)
    (1, 8)
    """

    def __init__(self, num_classes, vocab_size,
                 backbone: typing.Literal["transformer", "lstm",
                                          "gru"] = "transformer",
                 pooling: typing.Literal["mean", "cls"] = "mean",
                 max_sequence_length=128, num_layers=2,
                 num_heads=4, d_model=128, mlp_dim=None, rnn_units=None,
                 dropout=0.1, layer_norm_epsilon=1e-12,
                 gelu_approximate=False, norm_first=True, type_vocab_size=2,
                 pad_id=0, **kwargs):
        super().__init__(**kwargs)
        check_counts(num_classes=num_classes)
        if num_classes < 2:
            raise KerasLMError(f"num_classes must be at least 2, got "
                               f"{num_classes}")
        if backbone not in BACKBONES:
            raise KerasLMError(f"backbone must be one of "
                               f"{', '.join(BACKBONES)}, got {backbone!r}")
        check_pooling(pooling)
        # === Config ===
        self.num_classes = num_classes
        self.backbone = backbone
        self.pooling = pooling
        self.rnn_units = rnn_units
        self.dropout = dropout
        self.pad_id = pad_id
        # The Transformer's arguments, recorded whatever the backbone.
        self.transformer_config = dict(
            vocab_size=vocab_size, max_sequence_length=max_sequence_length,
            type_vocab_size=type_vocab_size, num_layers=num_layers,
            num_heads=num_heads, d_model=d_model, mlp_dim=mlp_dim,
            dropout=dropout, layer_norm_epsilon=layer_norm_epsilon,
            gelu_approximate=gelu_approximate, norm_first=norm_first,
            pad_id=pad_id)

        # === Layers ===
        if backbone == "transformer":
            self.encoder = TransformerEncoder(
                **self.transformer_config, name="encoder",
                dtype=self.dtype_policy)
            self.features = d_model
        else:
            self.encoder = RecurrentEncoder(
                vocab_size, d_model=d_model, rnn_units=rnn_units,
                num_layers=num_layers, cell=backbone, dropout=dropout,
                pad_id=pad_id, name="encoder", dtype=self.dtype_policy)
            self.features = self.encoder.output_dim
        self.pooler = None
        if backbone == "transformer" and pooling == "cls":
            self.pooler = keras.layers.Dense(
                d_model, activation="tanh", name="pooler",
                kernel_initializer=normal_initializer(),
                dtype=self.dtype_policy)
        self.head_dropout = keras.layers.Dropout(dropout,
                                                 dtype=self.dtype_policy)
        self.classifier = keras.layers.Dense(
            num_classes, kernel_initializer=normal_initializer(),
            name="classifier", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.encoder.build()
        if self.pooler is not None:
            self.pooler.build((None, self.features))
        self.classifier.build((None, self.features))
        self.built = True

    def freeze_backbone(self, frozen=True):
        """Stops (or, `frozen=False`, resumes) training the encoder, so only
        the head learns. Compile the model afterwards."""
        self.encoder.trainable = not frozen

    def pooled_features(self, inputs, pooling=None, training=False):
        """`(batch, features)`: what the classifier's Dense layer reads when
        `pooling` is None (the model's own); see `embed`."""
        token_ids, segment_ids, padding_mask, _ = unpack_inputs(inputs)
        pooling = pooling or self.pooling
        check_pooling(pooling)
        if padding_mask is None:
            padding_mask = default_padding_mask(token_ids, self.pad_id)
        if self.backbone == "transformer":
            hidden = self.encoder(token_ids, segment_ids=segment_ids,
                                  padding_mask=padding_mask,
                                  training=training)
            pooled = pool_hidden_states(hidden, padding_mask, pooling)
            if pooling == "cls" and self.pooler is not None:
                pooled = ops.cast(self.pooler(pooled), "float32")
            return pooled
        hidden, final = self.encoder(token_ids, padding_mask=padding_mask,
                                     training=training, return_state=True)
        if pooling == "cls":
            return ops.cast(final, "float32")
        return pool_hidden_states(hidden, padding_mask, "mean")

    def call(self, inputs, training=False):
        pooled = self.pooled_features(inputs, training=training)
        pooled = self.head_dropout(pooled, training=training)
        return ops.cast(self.classifier(pooled), "float32")

    def embed(self, token_ids, pooling=None, normalize=False):
        """One float32 vector per sequence, `(batch, features)`: the pooled
        features (`pooling` None: the model's own, as the classifier sees
        them; "cls" includes BERT's pooler when the model has one), scaled
        to unit length if `normalize`."""
        pooled = self.pooled_features(token_ids, pooling=pooling)
        return l2_normalize(pooled) if normalize else pooled

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["token_ids"]
        return (input_shape[0], self.num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            backbone=self.backbone,
            pooling=self.pooling,
            rnn_units=self.rnn_units,
            **self.transformer_config,
        )
        return config
