"""GPT-2's byte-level BPE tokenizer, from `vocab.json` and `merges.txt`.

Text is split into pre-tokens by GPT-2's regex

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

each pre-token's UTF-8 bytes are written as GPT-2's 256 printable stand-in
characters (`"Ġ"` for a space, ...), and BPE merges them by the rank of the
merge rules. Every byte is a token, so any text encodes (no unknown token) and
``decode(encode(text)) == text`` exactly, for every valid Unicode string.

Two implementations, tested to agree id for id:

* Python (`encode`): the Hugging Face `tokenizers` library (the Rust backend
  of `transformers.GPT2TokenizerFast`, a dependency of keras-hub) with GPT-2's
  byte-level pre-tokenizer.
* In the graph (`graph_module()`): tensorflow-text's `regex_split` and a
  vectorised BPE merge loop over lookup tables that the `tf.Module` owns, so
  they are saved with an export and restored with it.

keras-hub's `BytePairTokenizer` is not used for the graph form: its lookup
tables are not tracked for export (keras-hub issue #2015), its regex
emulation deletes the character "६" (U+096C) from the input and splits
trailing whitespace differently from GPT-2, and its Python path uses Llama 3's
split pattern (digits in groups of three). The pre-tokenizer here needs no
look-ahead and no marker character: a whitespace run followed by a
non-space character gives its last character to the next segment first, which
is exactly what GPT-2's ``\\s+(?!\\S)`` does.

GPT-2 has no padding or unknown token. `pad_id` and `unk_id` are both the id
of ``<|endoftext|>`` (50256 in GPT-2); byte-level BPE never produces an
unknown id, and ``<|endoftext|>`` written literally in text is encoded as
ordinary text (like keras-hub's GPT-2 tokenizer; `GPT2TokenizerFast` would map
it to 50256), so neither appears in encoded text. `decode` keeps
``<|endoftext|>`` visible (as `GPT2TokenizerFast.decode` does): a model that
generates it marks the end of a document. A vocabulary without
``<|endoftext|>`` gets `pad_id = unk_id = -1`.

The in-graph form needs tensorflow-text's ops: a process that loads an export
with this tokenizer must ``import tensorflow_text`` first.
"""

import functools
import os

import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import decode_utf8, read_json
from keras_lm.tokenizers.base import (Tokenizer, import_tensorflow_text,
                                      register_tokenizer)

END_OF_TEXT = "<|endoftext|>"
VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"

#: Unicode's White_Space (what `\s` means to GPT-2's regex); RE2's `\s` is
#: ASCII only.
_SPACE = r"\t\n\x{0B}\f\r\x{85}\p{Z}"
#: GPT-2's pre-tokenizer regex without its look-ahead alternative (see
#: `_GraphByteBPE.encode` for how whitespace runs are cut first).
_PRETOKEN = (rf"'s|'t|'re|'ve|'m|'ll|'d| ?\p{{L}}+| ?\p{{N}}+"
             rf"| ?[^{_SPACE}\p{{L}}\p{{N}}]+|[{_SPACE}]+")
_RUNS = rf"[{_SPACE}]+"


@functools.lru_cache(maxsize=None)
def bytes_to_unicode():
    """GPT-2's map from each byte value to its printable stand-in character."""
    printable = (list(range(ord("!"), ord("~") + 1))
                 + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def read_vocab_and_merges(directory=None, vocab_path=None, merges_path=None):
    """Reads GPT-2's `vocab.json` and `merges.txt` (from `directory`).

    Returns `(vocabulary, merges)`: a dict token -> id and a list of
    ``"left right"`` rules, highest priority first (the `#version` header
    and blank lines dropped).
    """
    vocab_path = vocab_path or os.path.join(directory, VOCAB_FILE)
    merges_path = merges_path or os.path.join(directory, MERGES_FILE)
    for path, what in ((vocab_path, "vocabulary"), (merges_path, "merge rules")):
        if not os.path.isfile(path):
            raise KerasLMError(
                f"{path} not found: a byte-level BPE tokenizer needs GPT-2's "
                f"{what} file ({os.path.basename(path)}) next to the "
                "checkpoint")
    vocabulary = read_json(vocab_path)
    if not isinstance(vocabulary, dict):
        raise KerasLMError(f"{vocab_path} must map tokens to ids (a JSON "
                           "object)")
    with open(merges_path, "rb") as f:
        merges = decode_utf8(f.read(), merges_path).splitlines()
    merges = [m for m in merges if m.strip() and not m.startswith("#version")]
    return vocabulary, merges


@register_tokenizer
class ByteBPETokenizer(Tokenizer):
    """GPT-2's byte-level BPE behind the `Tokenizer` interface.

    Args:
        vocabulary: dict token -> id (GPT-2's `vocab.json`); ids must be
            0..n-1 and every one of the 256 byte characters must be present.
        merges: list of ``"left right"`` merge rules, highest priority first
            (GPT-2's `merges.txt` without its `#version` line).

    See the module docstring for the pre-tokenizer, `pad_id`/`unk_id` and the
    round trip.

    Example:

    >>> tokenizer = ByteBPETokenizer.from_files("gpt2")  # doctest: +SKIP
    >>> tokenizer.encode("Hello world")                  # doctest: +SKIP
    [15496, 995]
    """

    kind = "byte_bpe"

    def __init__(self, vocabulary, merges):
        self.vocabulary = {str(k): int(v) for k, v in vocabulary.items()}
        self.merges = [str(m) for m in merges]
        self._check()
        self.pad_id = self.unk_id = self.vocabulary.get(END_OF_TEXT, -1)
        self.end_of_text_id = self.vocabulary.get(END_OF_TEXT)
        byte_chars = bytes_to_unicode()
        unicode_bytes = {c: bytes([b]) for b, c in byte_chars.items()}
        self._surface = [b""] * len(self.vocabulary)
        for token, i in self.vocabulary.items():
            if all(c in unicode_bytes for c in token):
                self._surface[i] = b"".join(unicode_bytes[c] for c in token)
            else:  # an added token written as itself
                self._surface[i] = token.encode("utf-8")
        self._backend = None

    def _check(self):
        ids = sorted(self.vocabulary.values())
        if ids != list(range(len(ids))):
            raise KerasLMError("a byte-level BPE vocabulary must use the ids "
                               f"0..{len(ids) - 1} once each")
        missing = [c for c in bytes_to_unicode().values()
                   if c not in self.vocabulary]
        if missing:
            raise KerasLMError(
                f"the vocabulary lacks {len(missing)} of the 256 byte tokens "
                f"(e.g. {missing[0]!r}); it is not a byte-level BPE vocabulary")
        for rule in self.merges:
            parts = rule.split(" ")
            if len(parts) != 2:
                raise KerasLMError(f"merge rule {rule!r} is not two tokens "
                                   "separated by one space")
            for token in (*parts, "".join(parts)):
                if token not in self.vocabulary:
                    raise KerasLMError(f"merge rule {rule!r} uses {token!r}, "
                                       "which is not in the vocabulary")

    @classmethod
    def from_files(cls, directory=None, vocab_path=None, merges_path=None):
        """Reads `vocab.json` and `merges.txt` (a Hugging Face GPT-2 folder)."""
        return cls(*read_vocab_and_merges(directory, vocab_path, merges_path))

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def _tokenizer(self):
        if self._backend is None:
            from tokenizers import Tokenizer as RustTokenizer
            from tokenizers import models, pre_tokenizers

            backend = RustTokenizer(models.BPE(
                vocab=self.vocabulary,
                merges=[tuple(m.split(" ")) for m in self.merges]))
            backend.pre_tokenizer = pre_tokenizers.ByteLevel(
                add_prefix_space=False, use_regex=True)
            self._backend = backend
        return self._backend

    def encode(self, text):
        return self._tokenizer().encode(text, add_special_tokens=False).ids

    def decode(self, ids):
        size, surface = len(self._surface), self._surface
        data = b"".join(surface[i] for i in ids if 0 <= i < size)
        return data.decode("utf-8", errors="replace")

    def token_ids_of(self, text):
        """A whole token's text (``<|endoftext|>``) is that token."""
        if text in self.vocabulary:
            return [self.vocabulary[text]]
        return self.encode(text)

    def count_unknown(self, text):
        return 0  # (byte-level BPE encodes every text; -1 is no id)

    def get_config(self):
        return {"vocabulary": self.vocabulary, "merges": self.merges}

    def graph_module(self):
        return _GraphByteBPE(self.vocabulary, self.merges, self._surface)

    def __getstate__(self):  # the Rust backend does not pickle; rebuild it
        state = dict(self.__dict__)
        state["_backend"] = None
        return state


class _GraphByteBPE(tf.Module):
    """The in-graph twin of `ByteBPETokenizer` (tensorflow-text + tables).

    Every table is a `tf.lookup.StaticHashTable` or a `tf.Variable` owned by
    this module, so `tf.saved_model.save` writes them and `load` restores them.
    """

    def __init__(self, vocabulary, merges, surface):
        super().__init__()
        import_tensorflow_text("byte-level BPE")
        byte_chars = bytes_to_unicode()
        self.byte_to_char = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant([bytes([b]) for b in range(256)]),
                tf.constant([byte_chars[b] for b in range(256)])),
            default_value="")
        tokens = list(vocabulary)
        self.token_to_id = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(tokens),
                tf.constant([vocabulary[t] for t in tokens], tf.int32)),
            default_value=-1)
        self.no_merge = len(merges) + 1
        self.merge_rank = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(merges) or [" "], tf.string),
                tf.range(max(len(merges), 1), dtype=tf.int32)
                if merges else tf.constant([self.no_merge], tf.int32)),
            default_value=self.no_merge)
        # One extra "" at the end, where out-of-range ids are sent.
        self.surface = tf.Variable(list(surface) + [b""], dtype=tf.string,
                                   trainable=False)

    def _segments(self, strings):
        """Cuts text so that GPT-2's regex needs no look-ahead in a segment.

        A whitespace run followed by a non-space character gives that
        character's segment its last whitespace character, which is what
        ``\\s+(?!\\S)`` does; every other piece is its own segment.
        """
        text = import_tensorflow_text("byte-level BPE")
        runs = text.regex_split(strings, _RUNS, keep_delim_regex_pattern=_RUNS)
        flat = runs.flat_values
        count = tf.shape(flat, out_type=tf.int64)[0]
        position = tf.range(count) - tf.gather(runs.row_starts(),
                                               runs.value_rowids())
        has_next = position < tf.gather(runs.row_lengths() - 1,
                                        runs.value_rowids())
        is_space = tf.strings.regex_full_match(flat, _RUNS)
        cut = is_space & has_next
        chars = tf.strings.length(flat, unit="UTF8_CHAR")
        head_chars = tf.maximum(chars - 1, 0)
        head = tf.strings.substr(flat, tf.zeros_like(chars), head_chars,
                                 unit="UTF8_CHAR")
        last = tf.strings.substr(flat, head_chars, tf.ones_like(chars),
                                 unit="UTF8_CHAR")
        given = tf.where(cut, last, "")
        received = tf.concat([[""], given[:-1]], axis=0)
        pieces = tf.where(cut, head, tf.strings.join([received, flat]))
        return runs.with_flat_values(pieces)

    def _merge(self, symbols):
        """BPE: merges the lowest-ranked adjacent pair of every word, repeatedly.

        `symbols` is a ragged `[words, (symbols)]` string tensor. One step
        merges the first occurrence of each word's best pair; merge rules are
        learned in order, so a pair involving a fresh token always ranks below
        the pair that made it and the result is that of GPT-2's BPE.
        """
        no_merge = self.no_merge

        def step(values, lengths, _):
            words = tf.RaggedTensor.from_row_lengths(values, lengths)
            pairs = tf.strings.join([words[:, :-1], words[:, 1:]],
                                    separator=" ")
            ranks = self.merge_rank.lookup(pairs).to_tensor(no_merge)
            ranks = tf.concat(
                [ranks, tf.fill([tf.shape(ranks)[0], 1], no_merge)], axis=1)
            best = tf.argmin(ranks, axis=1, output_type=tf.int64)
            active = tf.reduce_min(ranks, axis=1) < no_merge
            rows = tf.where(active)[:, 0]
            left = tf.gather(words.row_starts(), rows) + tf.gather(best, rows)
            merged = tf.strings.join([tf.gather(values, left),
                                      tf.gather(values, left + 1)])
            values = tf.tensor_scatter_nd_update(values, left[:, None], merged)
            keep = tf.tensor_scatter_nd_update(
                tf.ones_like(values, tf.bool), left[:, None] + 1,
                tf.zeros_like(left, tf.bool))
            values = tf.boolean_mask(values, keep)
            lengths = lengths - tf.cast(active, lengths.dtype)
            return values, lengths, tf.reduce_any(active)

        values, lengths, _ = tf.while_loop(
            lambda values, lengths, again: again, step,
            (symbols.flat_values, symbols.row_lengths(), tf.constant(True)),
            shape_invariants=(tf.TensorShape([None]), tf.TensorShape([None]),
                              tf.TensorShape([])))
        return tf.RaggedTensor.from_row_lengths(values, lengths)

    def encode(self, strings):
        text = import_tensorflow_text("byte-level BPE")
        segments = self._segments(strings)  # [batch, (segments)]
        words = text.regex_split(segments.flat_values, _PRETOKEN,
                                 keep_delim_regex_pattern=_PRETOKEN)
        symbols = self.byte_to_char.lookup(
            tf.strings.bytes_split(words.flat_values))  # [words, (bytes)]
        ids = self.token_to_id.lookup(self._merge(symbols))
        per_segment = words.with_flat_values(ids).merge_dims(1, 2)
        return segments.with_flat_values(per_segment).merge_dims(1, 2)

    def decode(self, ids):
        ids = tf.cast(ids, tf.int32)
        size = tf.shape(self.surface, out_type=tf.int32)[0] - 1
        ids = tf.where((ids < 0) | (ids >= size), size, ids)
        data = tf.strings.reduce_join(tf.gather(self.surface, ids), axis=-1)
        return tf.strings.unicode_transcode(data, "UTF-8", "UTF-8",
                                            errors="replace")
