"""The language models of keras-lm (subclassed `keras.Model`s)."""

from keras_lm.models.causal_lm import CausalLM
from keras_lm.models.gru_generator import GRUGenerator
from keras_lm.models.recurrent_lm import RecurrentLM

__all__ = ["CausalLM", "GRUGenerator", "RecurrentLM"]
