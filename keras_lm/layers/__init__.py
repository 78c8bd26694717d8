"""Reusable Keras layers of keras-lm."""

from keras_lm.layers.multi_head_self_attention import MultiHeadSelfAttention
from keras_lm.layers.transformer_block import TransformerBlock

__all__ = ["MultiHeadSelfAttention", "TransformerBlock"]
