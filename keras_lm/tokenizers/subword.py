"""Subword tokenizer: WordPiece over space-marked words, with byte fallback.

Training (`SubwordTokenizer.from_text`) uses keras-hub's
`compute_word_piece_vocabulary` (the tensorflow-text WordPiece learner); no
trainer lives here. The text is first split into *words* that keep their
whitespace, so decoding can put it back:

* a word is an optional single leading space followed by a run of word
  characters (anything but whitespace and punctuation/symbols), or an optional
  leading space followed by one punctuation/symbol character;
* a run of two or more spaces (indentation) is a word of its own;
* every other character (a newline, a tab, a lone space before one of them)
  is a word of its own;
* spaces are written as ``"▁"`` (U+2581), as in SentencePiece, so
  ``"Hello, world!\\n"`` becomes ``["Hello", ",", "▁world", "!", "\\n"]``.

Each word is then split greedily into the longest vocabulary pieces (WordPiece,
``##`` marks a piece that continues a word). A word that WordPiece cannot
cover -- it has a character the training text lacked (emoji, another script),
is longer than `MAX_BYTES_PER_WORD` bytes, or contains ``"▁"`` itself -- is
encoded as its UTF-8 bytes, one of 256 byte tokens each (byte fallback), so
no text ever maps to the unknown id. At encoding time word characters that are
not in the vocabulary are split off into words of their own first, so one
unseen character costs its own bytes only.

Decoding concatenates the pieces (dropping ``##``, turning ``▁`` back into a
space, joining byte tokens into UTF-8), so ``decode(encode(text)) == text``
for every valid Unicode string: the round trip is exact. Invalid UTF-8 --
byte tokens a model generates that do not form a character, or lone
surrogates in a Python string -- decodes to U+FFFD.

The in-graph form needs tensorflow-text's ops: a process that loads an export
with this tokenizer must ``import tensorflow_text`` first.
"""

import re

import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers.base import (PAD, UNK, Tokenizer,
                                      import_tensorflow_text,
                                      register_tokenizer)
from keras_lm.tokenizers.word import (char_class, is_punctuation,
                                      punctuation_class, whitespace_class)

SPACE = "\u2581"
SUFFIX = "##"
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
RESERVED = [PAD, UNK] + BYTE_TOKENS
FIRST_BYTE_ID = 2
DEFAULT_VOCAB_SIZE = 2000
MIN_VOCAB_SIZE = len(RESERVED) + 42
#: Words longer than this (in UTF-8 bytes) fall back to bytes.
MAX_BYTES_PER_WORD = 100
_HAS_SPACE = f"(?s).*{SPACE}.*"


def _training_words(text):
    """Splits training text into words (see module doc), spaces as `▁`."""
    pattern = re.compile(
        f"(?s) ?[^{punctuation_class()}{whitespace_class()}\n]+|"
        f" ?[{punctuation_class()}]|  +|.")
    return [_mark_space(w) for w in pattern.findall(text)]


def _mark_space(word):
    return word.replace(" ", SPACE)


@register_tokenizer
class SubwordTokenizer(Tokenizer):
    """WordPiece subwords learned from a corpus, with exact round trips.

    `vocabulary` is the full list of pieces, id = position: `<pad>`, `<unk>`,
    the 256 byte tokens, then the learned pieces (`"▁the"`, `"##ing"`, ...).
    See the module docstring for the splitting and decoding rules.

    Example:

    >>> tokenizer = SubwordTokenizer.from_text("low lower lowest " * 50, 300)
    >>> tokenizer.decode(tokenizer.encode("lowest lows 🙂"))
    'lowest lows 🙂'
    """

    kind = "subword"

    def __init__(self, vocabulary):
        self.vocabulary = list(vocabulary)
        if self.vocabulary[:len(RESERVED)] != RESERVED:
            raise KerasLMError("a subword vocabulary must start with <pad>, "
                               "<unk> and the 256 byte tokens")
        self._ids = {piece: i for i, piece in enumerate(self.vocabulary)}
        self._surface = [_surface(i, piece)
                         for i, piece in enumerate(self.vocabulary)]
        # Word characters WordPiece can place anywhere in a word; the others
        # are split off into words of their own when encoding.
        self._known = {c for c in (p for p in self.vocabulary if len(p) == 1)
                       if SUFFIX + c in self._ids and not c.isspace()
                       and not is_punctuation(c) and c != SPACE}
        self._pattern = _encode_pattern(self._known)
        self._compiled = re.compile(self._pattern)
        self._cache = {}

    @classmethod
    def from_text(cls, text, vocab_size=None):
        """Learns about `vocab_size` pieces (all ids included) from `text`.

        The learner stops near, and never above, the requested size; the
        vocabulary can come out smaller on a small text.
        """
        vocab_size = DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size
        if vocab_size < MIN_VOCAB_SIZE:
            raise KerasLMError(
                f"vocab_size must be at least {MIN_VOCAB_SIZE} for the "
                f"subword tokenizer (258 ids are padding, unknown and byte "
                f"tokens), got {vocab_size}")
        words = _training_words(text)
        if not words:
            raise KerasLMError("cannot learn a subword vocabulary from empty "
                               "text")
        import keras_hub  # slow to import; only needed for training

        data = tf.data.Dataset.from_tensor_slices(words).batch(65536)
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            data, vocab_size, split=False, suffix_indicator=SUFFIX,
            reserved_tokens=RESERVED)
        if SPACE not in vocabulary:
            vocabulary.append(SPACE)
        return cls(vocabulary)

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def _word_ids(self, word):
        ids = self._cache.get(word)
        if ids is None:
            ids = _wordpiece(_mark_space(word), self._ids)
            if ids is None or SPACE in word:
                ids = [FIRST_BYTE_ID + b for b in
                       word.encode("utf-8", "surrogatepass")]
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for word in self._compiled.findall(text):
            ids.extend(self._word_ids(word))
        return ids

    def decode(self, ids):
        size, surface = len(self._surface), self._surface
        data = b"".join(surface[i] for i in ids if 0 <= i < size)
        return data.decode("utf-8", errors="replace")

    def get_config(self):
        return {"vocabulary": self.vocabulary}

    def graph_module(self):
        return _SubwordGraphTokenizer(self.vocabulary, self._pattern,
                                      self._surface, self.unk_id)


def _surface(i, piece):
    """The bytes that id `i` (string `piece`) decodes to."""
    if i < FIRST_BYTE_ID:
        return b""
    if i < FIRST_BYTE_ID + 256:
        return bytes([i - FIRST_BYTE_ID])
    if piece.startswith(SUFFIX):
        piece = piece[len(SUFFIX):]
    return piece.replace(SPACE, " ").encode("utf-8")


def _encode_pattern(known):
    """Python-`re` and RE2 regex whose matches are the words of a text."""
    known = char_class(known)
    word = f" ?[{known}]+|" if known else ""
    return (f"(?s){word} ?[^{known}{whitespace_class()}\n]|  +|.")


def _wordpiece(word, vocab):
    """Greedy longest-match-first WordPiece ids, or None if it fails.

    The same algorithm as tensorflow-text's `FastWordpieceTokenizer`.
    """
    if len(word.encode("utf-8", "surrogatepass")) > MAX_BYTES_PER_WORD:
        return None
    ids, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else SUFFIX + word[start:end]
            if piece in vocab:
                ids.append(vocab[piece])
                start = end
                break
        else:
            return None
    return ids


class _SubwordGraphTokenizer(tf.Module):
    """The in-graph twin of `SubwordTokenizer` (tensorflow-text ops)."""

    def __init__(self, vocabulary, pattern, surface, unk_id):
        super().__init__()
        text = import_tensorflow_text("subword")
        self.pattern = pattern
        self.unk_id = unk_id
        self.wordpiece = text.FastWordpieceTokenizer(
            vocab=list(vocabulary), suffix_indicator=SUFFIX,
            max_bytes_per_word=MAX_BYTES_PER_WORD, token_out_type=tf.int32,
            unknown_token=UNK, no_pretokenization=True)
        self.surface = tf.Variable(list(surface), dtype=tf.string,
                                   trainable=False)

    def encode(self, strings):
        text = import_tensorflow_text("subword")
        words = text.regex_split(strings, self.pattern,
                                 keep_delim_regex_pattern=self.pattern)
        flat = words.flat_values
        marked = tf.strings.regex_replace(flat, " ", SPACE)
        pieces = self.wordpiece.tokenize(marked)  # [words, (pieces)]
        fallback = (tf.reduce_any(pieces == self.unk_id, axis=1)
                    | tf.strings.regex_full_match(flat, _HAS_SPACE))
        raw = tf.strings.bytes_split(flat)  # [words, (bytes)]
        byte_values = tf.reshape(tf.io.decode_raw(raw.flat_values, tf.uint8),
                                 [-1])
        byte_ids = raw.with_flat_values(
            tf.cast(byte_values, tf.int32) + FIRST_BYTE_ID)
        count = tf.shape(flat, out_type=tf.int64)[0]
        index = tf.range(count)
        chosen = tf.gather(tf.concat([pieces, byte_ids], axis=0),
                           tf.where(fallback, index + count, index))
        return words.with_flat_values(chosen).merge_dims(1, 2)

    def decode(self, ids):
        ids = tf.cast(ids, tf.int32)
        size = tf.shape(self.surface, out_type=tf.int32)[0]
        ids = tf.where((ids < 0) | (ids >= size), self.unk_id, ids)
        data = tf.strings.reduce_join(tf.gather(self.surface, ids), axis=-1)
        return tf.strings.unicode_transcode(data, "UTF-8", "UTF-8",
                                            errors="replace")
