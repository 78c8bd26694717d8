"""BERT's WordPiece tokenizer, in step with Hugging Face `BertTokenizerFast`.

Encoding follows BERT (and the `tokenizers` library behind
`BertTokenizerFast`) step by step:

1. *Clean*: drop control and format characters (Unicode categories ``Cc``,
   ``Cf``, ``Co``, ``Cs`` -- so ``"\\x00"`` and the zero-width space
   ``"\\u200b"`` vanish) and U+FFFD, but keep ``"\\t"``, ``"\\n"``, ``"\\r"``,
   which are whitespace.
2. *Strip accents* (``strip_accents``, by default the same as ``lowercase``):
   NFD, then drop the non-spacing marks (``Mn``): ``"café"`` -> ``"cafe"``.
   The text stays decomposed, so Hangul syllables become Jamo, as in BERT.
3. *Lowercase* (``lowercase``): character by character, so a final ``"Σ"``
   becomes ``"σ"`` (not ``"ς"``), as in BERT.
4. *Split* into words at whitespace (dropped) and around every punctuation
   character (kept as a word of its own): the ASCII ones
   ``!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~`` -- so ``$ ^ ` _`` too -- and Unicode
   category ``P*`` (``« » — ‘ ’``; but not symbols such as ``€ ©``). With
   ``split_on_cjk`` every CJK ideograph (BERT's "Chinese character" blocks)
   is a word of its own; kana and Hangul are not split.
5. *WordPiece*: greedy longest match first, continuation pieces start with
   ``"##"``; a word that cannot be covered, or longer than
   ``max_chars_per_word`` characters (after steps 1-3), is one ``[UNK]``.

One implementation serves both sides: `graph_module()` builds these steps
from TensorFlow and tensorflow-text ops (RE2 regexes, `normalize_utf8`,
`FastWordpieceTokenizer`), and the Python `encode`/`encode_batch` run that
module eagerly (compiled once per tokenizer), so the two always agree.
`encode` returns word pieces only: add ``[CLS]``/``[SEP]`` yourself.

Known differences from `BertTokenizerFast` (pinned by tests/test_wordpiece.py):

* Unicode tables: `tokenizers` classifies characters with the tables of its
  `unicode_categories` crate (Unicode 9), TensorFlow with RE2's and ICU's
  (newer). A character whose category changed since Unicode 9 -- e.g. a format
  character added later, such as the Egyptian hieroglyph joiner U+13430, or a
  newer punctuation mark such as U+2E4F -- is treated by the newer table here.
  Unassigned code points are kept by both.
* A vocabulary with a duplicated token is refused (the Hugging Face loader
  silently keeps the last id).

Decoding is BERT's: the pieces joined by spaces, ``" ##"`` removed, and
``[PAD]``, ``[CLS]``, ``[SEP]`` dropped (``[UNK]`` and ``[MASK]`` stay). It is
not an exact round trip: case, accents and the spacing around punctuation are
lost. Unlike `BertTokenizerFast.decode` it does not "clean up tokenization
spaces" (``"cafe ,"`` stays, where Hugging Face gives ``"cafe,"``).

The in-graph form needs tensorflow-text's ops: a process that loads an export
with this tokenizer must ``import tensorflow_text`` first.
"""

import os

import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers.base import (Tokenizer, import_tensorflow_text,
                                      register_tokenizer)

PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: Reserved first, in this order, by `WordPieceTokenizer.from_text`.
SPECIAL_TOKENS = [PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, SEP_TOKEN, MASK_TOKEN]
#: Dropped by `decode`.
DECODE_DROPPED = (PAD_TOKEN, CLS_TOKEN, SEP_TOKEN)
SUFFIX = "##"
DEFAULT_VOCAB_SIZE = 8000
#: Texts per graph call in `encode_batch`.
BATCH = 4096

# BERT's `_is_chinese_char` blocks: CJK Unified Ideographs, extensions A-F,
# compatibility ideographs and their supplement.
CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF),
              (0x2A700, 0x2B73F), (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF),
              (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
# RE2 patterns (the graph has no Python `re`).
_CONTROL = (r"[\x{0}-\x{8}\x{b}\x{c}\x{e}-\x{1f}\x{7f}-\x{9f}"
            r"\p{Cf}\p{Co}\p{Cs}\x{fffd}]")
_WHITESPACE = r"[\t\n\r\p{Z}]"
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
_CJK = "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in CJK_RANGES) + "]"


def split_words(strings, lowercase=True, strip_accents=None,
                split_on_cjk=True):
    """BERT's normalisation and word split (steps 1-4 of the module doc).

    Takes a 1-D string tensor, returns a `tf.RaggedTensor` of words
    `(batch, (words))`. TensorFlow and tensorflow-text ops only.

    >>> split_words(tf.constant(["Héllo, wörld!"])).to_list()
    [[b'hello', b',', b'world', b'!']]
    """
    text = import_tensorflow_text("wordpiece")
    strip_accents = lowercase if strip_accents is None else strip_accents
    strings = tf.strings.regex_replace(strings, _CONTROL, "")
    if strip_accents:
        strings = text.normalize_utf8(strings, "NFD")
        strings = tf.strings.regex_replace(strings, r"\p{Mn}", "")
    if lowercase:
        # ICU lowercases a word-final capital sigma to "ς"; BERT maps every
        # character on its own, so "Σ" -> "σ" always.
        strings = tf.strings.regex_replace(strings, "\u03a3", "\u03c3")
        strings = tf.strings.lower(strings, encoding="utf-8")
    keep = f"{_PUNCTUATION}|{_CJK}" if split_on_cjk else _PUNCTUATION
    return text.regex_split(strings, f"{_WHITESPACE}+|{keep}", keep)


@register_tokenizer
class WordPieceTokenizer(Tokenizer):
    """BERT's WordPiece tokenizer over a `vocab.txt`-style vocabulary.

    See the module docstring for the rules and the (few) differences from
    Hugging Face's `BertTokenizerFast`.

    Args:
        vocabulary: list of tokens, id = position; must hold ``[UNK]``.
            Continuation pieces start with ``"##"``.
        lowercase: lowercase the text (BERT's ``do_lower_case``).
        strip_accents: drop accents (NFD, then no ``Mn`` marks); `None`
            follows `lowercase`, as in BERT.
        split_on_cjk: make every CJK ideograph a word of its own.
        max_chars_per_word: longer words become one ``[UNK]``.

    Example:

    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat",
    ...          "sat", "s", "##at", "##s", "!"]
    >>> tokenizer = WordPieceTokenizer(vocab)
    >>> tokenizer.encode("The cats sat!")
    [5, 6, 10, 7, 11]
    >>> tokenizer.decode([2, 5, 6, 10, 7, 11, 3, 0])
    'the cats sat !'
    >>> tokenizer.encode_batch(["Sat.", ""])
    [[7, 1], []]
    """

    kind = "wordpiece"

    def __init__(self, vocabulary, lowercase=True, strip_accents=None,
                 split_on_cjk=True, max_chars_per_word=100):
        self.vocabulary = [str(token) for token in vocabulary]
        self.lowercase = bool(lowercase)
        self.strip_accents = (None if strip_accents is None
                              else bool(strip_accents))
        self.split_on_cjk = bool(split_on_cjk)
        self.max_chars_per_word = int(max_chars_per_word)
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}
        _check_vocabulary(self.vocabulary, self._ids, "the vocabulary")
        if self.max_chars_per_word < 1:
            raise KerasLMError("max_chars_per_word must be at least 1, got "
                               f"{max_chars_per_word}")
        self._dropped = {self._ids[t] for t in DECODE_DROPPED
                         if t in self._ids}
        self._encoder = None

    @classmethod
    def from_vocab_file(cls, path, lowercase=True, strip_accents=None,
                        split_on_cjk=True):
        """Reads BERT's ``vocab.txt``: one token a line, id = line number.

        The settings are those of the checkpoint's `tokenizer_config.json`:
        ``do_lower_case``, ``strip_accents``, ``tokenize_chinese_chars``.
        """
        if not os.path.isfile(path):
            raise KerasLMError(f"WordPiece vocabulary file {path} does not "
                               "exist")
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and not lines[-1]:
            lines.pop()
        vocabulary = [line.rstrip() for line in lines]
        _check_vocabulary(vocabulary, set(vocabulary), path)
        return cls(vocabulary, lowercase=lowercase,
                   strip_accents=strip_accents, split_on_cjk=split_on_cjk)

    @classmethod
    def from_text(cls, text, vocab_size=DEFAULT_VOCAB_SIZE, lowercase=True):
        """Learns about `vocab_size` ids from `text` (a string or a list).

        Uses keras-hub's `compute_word_piece_vocabulary` (tf-text's
        learner) on the words of `split_words`. It takes its time (about
        3 s for 300 sentences, 30 s for 10,000 on a 2-core CPU) but is
        deterministic: Hugging Face `tokenizers`' trainer, 100x faster,
        breaks ties by hash order, so the same text gave other
        vocabularies from one call to the next. The five special tokens
        come first (``[PAD]`` = 0, ``[UNK]`` = 1, ``[CLS]`` = 2, ``[SEP]`` =
        3, ``[MASK]`` = 4). The vocabulary never exceeds `vocab_size` and
        can come out smaller on a small text (pieces seen fewer than 10
        times are left out).
        """
        if vocab_size <= len(SPECIAL_TOKENS):
            raise KerasLMError(
                f"vocab_size must be more than {len(SPECIAL_TOKENS)} (the "
                f"special tokens), got {vocab_size}")
        texts = [text] if isinstance(text, str) else list(text)
        words = split_words(tf.constant(texts, tf.string), lowercase)
        words = words.flat_values
        if words.shape[0] == 0:
            raise KerasLMError("cannot learn a WordPiece vocabulary from "
                               "empty text")
        import keras_hub  # slow to import; only needed for training

        data = tf.data.Dataset.from_tensor_slices(words).batch(65536)
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            data, vocab_size, split=False, suffix_indicator=SUFFIX,
            reserved_tokens=SPECIAL_TOKENS)
        # The learner adds the bare joiner "##", which never matches a word.
        return cls([t for t in vocabulary if t != SUFFIX],
                   lowercase=lowercase)

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def _special(self, token):
        if token not in self._ids:
            raise KerasLMError(f"this WordPiece vocabulary has no {token} "
                               "token; add it to the vocabulary")
        return self._ids[token]

    pad_id = property(lambda self: self._special(PAD_TOKEN))
    unk_id = property(lambda self: self._special(UNK_TOKEN))
    cls_id = property(lambda self: self._special(CLS_TOKEN))
    sep_id = property(lambda self: self._special(SEP_TOKEN))
    mask_id = property(lambda self: self._special(MASK_TOKEN))

    @property
    def special_ids(self):
        """The ids of the special tokens the vocabulary has."""
        return {self._ids[t] for t in SPECIAL_TOKENS if t in self._ids}

    def token_to_id(self, token):
        """The id of `token`, or `unk_id` when the vocabulary lacks it."""
        return self._ids.get(token, self.unk_id)

    def id_to_token(self, i):
        """The token of id `i`."""
        if not 0 <= int(i) < len(self.vocabulary):
            raise KerasLMError(f"token id {i} is outside the vocabulary "
                               f"(0..{len(self.vocabulary) - 1})")
        return self.vocabulary[int(i)]

    def encode(self, text):
        return self.encode_batch([text])[0]

    def encode_batch(self, texts):
        """`encode` over a list of texts, in a few graph calls."""
        texts = list(texts)
        if self._encoder is None:
            self._encoder = tf.function(
                self.graph_module().encode, reduce_retracing=True,
                input_signature=[tf.TensorSpec([None], tf.string)])
        ids = []
        for start in range(0, len(texts), BATCH):
            batch = tf.constant(texts[start:start + BATCH], tf.string)
            ids.extend(self._encoder(batch).to_list())
        return ids

    def decode(self, ids):
        size = len(self.vocabulary)
        tokens = [self.vocabulary[i] if 0 <= i < size else UNK_TOKEN
                  for i in map(int, ids) if i not in self._dropped]
        return " ".join(tokens).replace(" " + SUFFIX, "")

    def get_config(self):
        return {"vocabulary": self.vocabulary, "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "split_on_cjk": self.split_on_cjk,
                "max_chars_per_word": self.max_chars_per_word}

    def graph_module(self):
        return _WordPieceGraphTokenizer(self)

    def __getstate__(self):  # a tf.function does not pickle; rebuild it
        state = dict(self.__dict__)
        state["_encoder"] = None
        return state


def _check_vocabulary(vocabulary, ids, where):
    """One-line errors for an empty vocabulary, no [UNK] or a duplicate."""
    if not vocabulary:
        raise KerasLMError(f"{where} is empty; a WordPiece vocabulary has "
                           "one token a line")
    if UNK_TOKEN not in ids:
        raise KerasLMError(f"{where} has no {UNK_TOKEN} token; add it (BERT "
                           "vocabularies list [PAD], [UNK], [CLS], [SEP], "
                           "[MASK])")
    if len(ids) != len(vocabulary):
        seen = set()
        duplicate = next(t for t in vocabulary if t in seen or seen.add(t))
        raise KerasLMError(f"{where} lists the token {duplicate!r} twice; "
                           "every token needs one id")


class _WordPieceGraphTokenizer(tf.Module):
    """The in-graph form of a `WordPieceTokenizer` (tensorflow-text ops)."""

    def __init__(self, tokenizer):
        super().__init__()
        text = import_tensorflow_text("wordpiece")
        self.lowercase = tokenizer.lowercase
        self.strip_accents = tokenizer.strip_accents
        self.split_on_cjk = tokenizer.split_on_cjk
        self.max_chars_per_word = tokenizer.max_chars_per_word
        self.unk_id = tokenizer.unk_id
        # A word of at most `max_chars_per_word` characters has at most four
        # times as many UTF-8 bytes; longer words are caught by length below.
        self.wordpiece = text.FastWordpieceTokenizer(
            vocab=tokenizer.vocabulary, suffix_indicator=SUFFIX,
            max_bytes_per_word=4 * self.max_chars_per_word,
            token_out_type=tf.int32, unknown_token=UNK_TOKEN,
            no_pretokenization=True)
        self.tokens = tf.Variable(tokenizer.vocabulary, dtype=tf.string,
                                  trainable=False)
        keep = [t not in DECODE_DROPPED for t in tokenizer.vocabulary]
        self.keep = tf.Variable(keep, dtype=tf.bool, trainable=False)

    def encode(self, strings):
        """`(batch,)` strings -> int32 `tf.RaggedTensor` `(batch, None)`."""
        words = split_words(strings, self.lowercase, self.strip_accents,
                            self.split_on_cjk)
        flat = words.flat_values
        pieces = self.wordpiece.tokenize(flat)  # (words, (pieces))
        too_long = (tf.strings.length(flat, unit="UTF8_CHAR")
                    > self.max_chars_per_word)
        count = tf.shape(flat, out_type=tf.int64)[0]
        unknown = tf.RaggedTensor.from_tensor(
            tf.fill([count, 1], tf.constant(self.unk_id, tf.int32)))
        index = tf.range(count)
        chosen = tf.gather(tf.concat([pieces, unknown], axis=0),
                           tf.where(too_long, index + count, index))
        return words.with_flat_values(chosen).merge_dims(1, 2)

    def decode(self, ids):
        """int ids `(batch, time)`, dense or ragged -> `(batch,)` strings."""
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids))
        ids = tf.cast(ids, tf.int32)
        size = tf.shape(self.tokens, out_type=tf.int32)[0]
        ids = tf.ragged.map_flat_values(
            lambda i: tf.where((i < 0) | (i >= size), self.unk_id, i), ids)
        ids = tf.ragged.boolean_mask(
            ids, tf.ragged.map_flat_values(tf.gather, self.keep, ids))
        text = tf.strings.reduce_join(tf.gather(self.tokens, ids), axis=-1,
                                      separator=" ")
        return tf.strings.regex_replace(text, " " + SUFFIX, "")
