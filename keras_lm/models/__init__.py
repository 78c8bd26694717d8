"""The language models of keras-lm (subclassed `keras.Model`s)."""

from keras_lm.models.causal_lm import CausalLM
from keras_lm.models.gru_generator import GRUGenerator
from keras_lm.models.recurrent_lm import RecurrentLM

#: The families `keras-lm train FAMILY` knows, by command-line name.
FAMILIES = {
    "gru": GRUGenerator,
}

__all__ = ["CausalLM", "FAMILIES", "GRUGenerator", "RecurrentLM"]
