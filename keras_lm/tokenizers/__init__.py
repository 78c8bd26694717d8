"""Tokenizers behind one interface (`Tokenizer`), each with an in-graph form."""

from keras_lm.tokenizers.base import Tokenizer, load_tokenizer, register_tokenizer
from keras_lm.tokenizers.char import CharTokenizer

__all__ = ["Tokenizer", "CharTokenizer", "load_tokenizer", "register_tokenizer"]
