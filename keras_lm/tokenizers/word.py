"""Word-level tokenizer: words, punctuation and newlines, one id each.

Splitting rule (the same regular expression in Python and in the graph):

* a *word* is a maximal run of characters that are neither whitespace nor
  punctuation/symbols;
* every punctuation or symbol character (Unicode general category ``P*`` or
  ``S*``, except connector punctuation such as ``_``, which stays inside
  words) is a token of its own;
* every newline ``"\\n"`` is a token of its own, so paragraphs survive;
* all other whitespace only separates tokens and is dropped.

So ``"Hello, world!\\n"`` gives ``["Hello", ",", "world", "!", "\\n"]`` and
``"don't"`` gives ``["don", "'", "t"]``. Case is kept.

Decoding joins the tokens with single spaces and then tidies up with a few
fixed rules (no space before closing punctuation such as ``.,;:!?)]}``, none
after opening brackets, none around newlines, paired straight quotes hug their
contents, English contractions such as ``don't`` are rejoined). It is not an
exact round trip: runs of spaces, tabs and the spacing around punctuation are
normalised, and a word outside the vocabulary decodes as ``<unk>``.
"""

import collections
import functools
import re
import unicodedata

import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers.base import PAD, UNK, Tokenizer, register_tokenizer

DEFAULT_VOCAB_SIZE = 10000

# Characters above this code point are never whitespace, punctuation or
# symbols in any Unicode version Python ships (planes 2+ hold ideographs,
# tags and private use), so the tables below stop here.
_TABLE_LIMIT = 0x20000


def _ranges(predicate):
    """Returns the code point ranges `[(first, last), ...]` of `predicate`."""
    out, start = [], None
    for cp in range(_TABLE_LIMIT):
        if predicate(chr(cp)):
            if start is None:
                start = cp
            last = cp
        elif start is not None:
            out.append((start, last))
            start = None
    if start is not None:
        out.append((start, last))
    return out


def _escape(c):
    # Both Python's `re` and RE2 read a backslash before ASCII punctuation as
    # the literal character, and non-ASCII characters literally.
    return "\\" + c if ord(c) < 128 and not c.isalnum() else c


def char_class(chars_or_ranges):
    """A regex character class body that Python `re` and RE2 read alike.

    Takes a set of characters or a list of `(first, last)` code point ranges.
    """
    if not isinstance(chars_or_ranges, list):
        cps = sorted(ord(c) for c in chars_or_ranges)
        chars_or_ranges = []
        for cp in cps:
            if chars_or_ranges and chars_or_ranges[-1][1] == cp - 1:
                chars_or_ranges[-1] = (chars_or_ranges[-1][0], cp)
            else:
                chars_or_ranges.append((cp, cp))
    parts = []
    for first, last in chars_or_ranges:
        parts.append(_escape(chr(first)) if first == last else
                     _escape(chr(first)) + "-" + _escape(chr(last)))
    return "".join(parts)


def is_punctuation(c):
    """Punctuation or symbol, but not `_`-like connectors or whitespace."""
    category = unicodedata.category(c)
    return category[0] in "PS" and category != "Pc" and not c.isspace()


@functools.lru_cache(maxsize=None)
def punctuation_class():
    """Class body of `is_punctuation` characters (built once, ~50 ms)."""
    return char_class(_ranges(is_punctuation))


@functools.lru_cache(maxsize=None)
def whitespace_class():
    """Class body of whitespace other than newline (Python's `str.isspace`)."""
    return char_class(_ranges(lambda c: c.isspace() and c != "\n"))


@functools.lru_cache(maxsize=None)
def _split_pattern():
    return re.compile(f"[{punctuation_class()}\n]|"
                      f"[^{punctuation_class()}{whitespace_class()}\n]+")


def split_words(text):
    """Splits `text` into the word tokenizer's tokens (see module doc)."""
    return _split_pattern().findall(text)


def _category_chars(*categories):
    return {chr(cp) for first, last in
            _ranges(lambda c: unicodedata.category(c) in categories)
            for cp in range(first, last + 1)}


@functools.lru_cache(maxsize=None)
def _decode_rules():
    """`(pattern, replacement)` pairs applied in order to the joined tokens.

    The input is `" " + " ".join(tokens) + " "`: every token has a space on
    each side, so a rule can see whole tokens (punctuation tokens are one
    character; word tokens never contain punctuation or spaces). Only simple
    RE2-compatible syntax is used, so Python's `re.sub` and
    `tf.strings.regex_replace` give the same string.
    """
    closing = set(".,;:!?%)]}'…。，、！？；：") | _category_chars("Pe", "Pf")
    opening = set("¿¡") | _category_chars("Ps", "Pi")
    return (
        # don ' t -> don't, it ' s -> it's (straight or typographic apostrophe)
        (" (['\u2019]) ((?i:s|t|re|ve|ll|d|m)) ", r"\1\2 "),
        # " quoted words " -> "quoted words"; the same for single quotes. A
        # tab (never inside a token) marks the opening quote so that the
        # closing-punctuation rule leaves the space before it alone.
        (' " ([^"]*?) " ', ' \t"\\1" '),
        (" ' ([^']*?) ' ", " \t'\\1' "),
        (f" ([{char_class(closing)}])", r"\1"),
        (f"([{char_class(opening)}]) ", r"\1"),
        (" ?\n ?", "\n"),
        ("^ | $|\t", ""),
    )


def detokenize(tokens):
    """Joins word tokens into text with the rules of `_decode_rules`."""
    text = " " + " ".join(tokens) + " "
    for pattern, replacement in _decode_rules():
        text = re.sub(pattern, replacement, text)
    return text


@register_tokenizer
class WordTokenizer(Tokenizer):
    """Maps the most frequent words and punctuation of a corpus to ids.

    Ids 0 and 1 are padding and the unknown word; the other ids are the
    `vocab_size - 2` most frequent tokens of the training text (ties broken
    by first occurrence). See the module docstring for the splitting and
    joining rules.

    Example:

    >>> tokenizer = WordTokenizer.from_text("Hello, world! Hello again.")
    >>> tokenizer.decode(tokenizer.encode("Hello, world!"))
    'Hello, world!'
    >>> tokenizer.encode("goodbye") == [tokenizer.unk_id]
    True
    """

    kind = "word"

    def __init__(self, tokens):
        self.tokens = list(tokens)
        self._ids = {t: i + 2 for i, t in enumerate(self.tokens)}
        self._id_to_text = [PAD, UNK] + self.tokens

    @classmethod
    def from_text(cls, text, vocab_size=None):
        """Builds the vocabulary of `text`: at most `vocab_size` ids in all."""
        vocab_size = DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size
        if vocab_size < 3:
            raise KerasLMError(f"vocab_size must be at least 3 for the word "
                               f"tokenizer, got {vocab_size}")
        counts = collections.Counter(split_words(text))
        return cls(t for t, _ in counts.most_common(vocab_size - 2))

    @property
    def vocab_size(self):
        return len(self.tokens) + 2

    def encode(self, text):
        ids = self._ids
        return [ids.get(t, self.unk_id) for t in split_words(text)]

    def decode(self, ids):
        size, text = len(self._id_to_text), self._id_to_text
        return detokenize(text[i] if 0 <= i < size else UNK
                          for i in ids if i != self.pad_id)

    def get_config(self):
        return {"tokens": self.tokens}

    def graph_module(self):
        return _WordGraphTokenizer(self.tokens, self.pad_id, self.unk_id)


class _WordGraphTokenizer(tf.Module):
    """The in-graph twin of `WordTokenizer`: regexes, a split and a table.

    Needs TensorFlow only (no tensorflow_text).
    """

    def __init__(self, tokens, pad_id, unk_id):
        super().__init__()
        self.pad_id, self.unk_id = pad_id, unk_id
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(tokens), tf.string),
                tf.range(2, len(tokens) + 2, dtype=tf.int32)),
            default_value=unk_id)
        self.id_to_text = tf.Variable([PAD, UNK] + list(tokens),
                                      dtype=tf.string, trainable=False)
        self._whitespace = f"[{whitespace_class()}]"
        self._isolate = f"([{punctuation_class()}\n])"
        self._rules = _decode_rules()

    def encode(self, strings):
        # Whitespace -> " ", punctuation/newline -> " x ", split on " " and
        # drop the empty pieces: the same tokens as `split_words`.
        strings = tf.strings.regex_replace(strings, self._whitespace, " ")
        strings = tf.strings.regex_replace(strings, self._isolate, r" \1 ")
        words = tf.strings.split(strings, sep=" ")
        words = tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)
        return self.table.lookup(words)

    def decode(self, ids):
        ids = tf.cast(ids, tf.int32)
        size = tf.shape(self.id_to_text, out_type=tf.int32)[0]
        ids = tf.where((ids < 0) | (ids >= size), self.unk_id, ids)
        ids = tf.ragged.boolean_mask(ids, ids != self.pad_id)
        text = tf.strings.reduce_join(tf.gather(self.id_to_text, ids),
                                      axis=-1, separator=" ")
        text = " " + text + " "
        for pattern, replacement in self._rules:
            text = tf.strings.regex_replace(text, pattern, replacement)
        return text
