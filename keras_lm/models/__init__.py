"""The language models of keras-lm (subclassed `keras.Model`s)."""

from keras_lm.models.causal_lm import CausalLM
from keras_lm.models.gru_generator import GRUGenerator
from keras_lm.models.lstm_language_model import LSTMLanguageModel
from keras_lm.models.masked_lm import MaskedLanguageModel
from keras_lm.models.recurrent_encoder import RecurrentEncoder
from keras_lm.models.recurrent_lm import RecurrentLM
from keras_lm.models.seq2seq import Seq2Seq
from keras_lm.models.text_classifier import TextClassifier
from keras_lm.models.transformer_encoder import TransformerEncoder
from keras_lm.models.transformer_lm import TransformerLM

__all__ = ["CausalLM", "GRUGenerator", "LSTMLanguageModel",
           "MaskedLanguageModel", "RecurrentEncoder", "RecurrentLM",
           "Seq2Seq", "TextClassifier", "TransformerEncoder", "TransformerLM"]
