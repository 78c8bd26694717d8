"""Tokenizers behind one interface (`Tokenizer`), each with an in-graph form."""

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers.base import Tokenizer, load_tokenizer, register_tokenizer
from keras_lm.tokenizers.char import CharTokenizer

__all__ = ["Tokenizer", "CharTokenizer", "load_tokenizer", "make_tokenizer",
           "register_tokenizer"]


def make_tokenizer(kind, text, vocab_size=None):
    """Builds a tokenizer of `kind` from training `text`."""
    if kind == "char":
        return CharTokenizer.from_text(text)
    raise KerasLMError(f"unknown tokenizer {kind!r}; known: char")
