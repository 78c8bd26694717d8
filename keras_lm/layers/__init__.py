"""Reusable Keras layers of keras-lm."""

from keras_lm.layers.multi_head_self_attention import MultiHeadSelfAttention

__all__ = ["MultiHeadSelfAttention"]
