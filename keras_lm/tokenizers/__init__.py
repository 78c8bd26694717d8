"""Tokenizers behind one interface (`Tokenizer`), each with an in-graph form."""

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers.base import Tokenizer, load_tokenizer, register_tokenizer
from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer
from keras_lm.tokenizers.char import CharTokenizer
from keras_lm.tokenizers.sentencepiece_model import SentencePieceTokenizer
from keras_lm.tokenizers.subword import SubwordTokenizer
from keras_lm.tokenizers.targets import TargetSpecials, target_specials
from keras_lm.tokenizers.word import WordTokenizer
from keras_lm.tokenizers.wordpiece import WordPieceTokenizer

__all__ = ["Tokenizer", "ByteBPETokenizer", "CharTokenizer", "SentencePieceTokenizer",
           "SubwordTokenizer", "TargetSpecials",
           "WordPieceTokenizer", "WordTokenizer", "load_tokenizer", "make_tokenizer",
           "register_tokenizer", "target_specials"]

TOKENIZER_KINDS = ("char", "word", "subword")


def make_tokenizer(kind, text, vocab_size=None):
    """Builds a tokenizer of `kind` ("char", "word", "subword") from `text`.

    `vocab_size` is the total number of ids (reserved ones included) for the
    word and subword tokenizers; `None` takes their default. The character
    tokenizer always uses every character of `text` and ignores it.

    >>> make_tokenizer("char", "abc").vocab_size
    5
    """
    if kind == "char":
        return CharTokenizer.from_text(text)
    if kind == "word":
        return WordTokenizer.from_text(text, vocab_size)
    if kind == "subword":
        return SubwordTokenizer.from_text(text, vocab_size)
    raise KerasLMError(f"unknown tokenizer {kind!r}; known: "
                       f"{', '.join(TOKENIZER_KINDS)}")
