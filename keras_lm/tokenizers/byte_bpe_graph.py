"""The in-graph form of `ByteBPETokenizer`: tensorflow-text's
`regex_split` and a vectorised BPE merge loop over lookup tables that the
`tf.Module` owns, so they are saved with an export and restored with it."""

import tensorflow as tf

from keras_lm.tokenizers.base import import_tensorflow_text
from keras_lm.tokenizers.byte_bpe import bytes_to_unicode
from keras_lm.tokenizers.special_tokens import literal_pattern, rows_or_single

#: Unicode's White_Space (what `\s` means to GPT-2's regex); RE2's `\s` is
#: ASCII only.
_SPACE = r"\t\n\x{0B}\f\r\x{85}\p{Z}"
#: GPT-2's pre-tokenizer regex without its look-ahead alternative (see
#: `_GraphByteBPE.encode` for how whitespace runs are cut first).
_PRETOKEN = (rf"'s|'t|'re|'ve|'m|'ll|'d| ?\p{{L}}+| ?\p{{N}}+"
             rf"| ?[^{_SPACE}\p{{L}}\p{{N}}]+|[{_SPACE}]+")
_RUNS = rf"[{_SPACE}]+"
#: Marks where Llama 3's and Qwen2's ``\s+(?!\S)`` ends: before the last
#: character of a whitespace run that a non-space character follows (a
#: noncharacter, which text does not hold; it is removed from the words).
_MARK = "\U0010FFFF"
_MARK_RE = r"\x{10FFFF}"
#: Their Split regex in RE2, which has no look-ahead: ``\s+(?!\S)`` is
#: ``\s+`` up to the mark, and the other alternatives step over the mark
#: where the original would go on (newlines after punctuation, ``\s*``).
_SPLIT = (rf"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{{L}}\p{{N}}{_MARK_RE}]?\p{{L}}+"
          rf"|DIGITS| ?[^{_SPACE}\p{{L}}\p{{N}}{_MARK_RE}]+[\r\n{_MARK_RE}]*"
          rf"|[{_SPACE}{_MARK_RE}]*[\r\n]+|[{_SPACE}]+{_MARK_RE}|[{_SPACE}]+")
SPLITS = {"llama3": _SPLIT.replace("DIGITS", r"\p{N}{1,3}"),
          "qwen2": _SPLIT.replace("DIGITS", r"\p{N}")}


class GraphByteBPE(tf.Module):
    """The in-graph twin of `ByteBPETokenizer` (tensorflow-text + tables).

    Every table is a `tf.lookup.StaticHashTable` or a `tf.Variable` owned by
    this module, so `tf.saved_model.save` writes them and `load` restores them.
    """

    def __init__(self, vocabulary, merges, surface, added_tokens=(),
                 pre_tokenizer="gpt2", normalizer=None, ignore_merges=False):
        super().__init__()
        import_tensorflow_text("byte-level BPE")
        self.pre_tokenizer, self.normalizer = pre_tokenizer, normalizer
        self.ignore_merges = ignore_merges
        self.added_pattern = literal_pattern(added_tokens)
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
        """Ids of `strings` (no `prefix_ids`), as a ragged [batch, (ids)]."""
        text = import_tensorflow_text("byte-level BPE")
        if self.normalizer:
            strings = text.normalize_utf8(strings, self.normalizer)
        if not self.added_pattern:
            return self._encode_text(strings)
        pieces = text.regex_split(strings, self.added_pattern,
                                  keep_delim_regex_pattern=self.added_pattern)
        flat = pieces.flat_values
        is_added = tf.strings.regex_full_match(flat, self.added_pattern)
        ids = rows_or_single(self._encode_text(flat), is_added,
                              self.token_to_id.lookup(flat))
        return pieces.with_flat_values(ids).merge_dims(1, 2)

    def _encode_text(self, strings):
        """Ids of text without added tokens: pre-tokenized, then BPE."""
        text = import_tensorflow_text("byte-level BPE")
        if self.pre_tokenizer in SPLITS:
            words = self._split_words(strings)
        elif self.pre_tokenizer == "digits":  # each digit apart first
            pieces = text.regex_split(strings, r"\p{N}",
                                      keep_delim_regex_pattern=r"\p{N}")
            words = pieces.with_flat_values(
                self._gpt2_words(pieces.flat_values)).merge_dims(1, 2)
        else:
            words = self._gpt2_words(strings)
        return words.with_flat_values(
            self._word_ids(words.flat_values)).merge_dims(1, 2)

    def _gpt2_words(self, strings):
        """GPT-2's pre-tokens, [batch, (words)]."""
        text = import_tensorflow_text("byte-level BPE")
        segments = self._segments(strings)  # [batch, (segments)]
        words = text.regex_split(segments.flat_values, _PRETOKEN,
                                 keep_delim_regex_pattern=_PRETOKEN)
        return segments.with_flat_values(words).merge_dims(1, 2)

    def _split_words(self, strings):
        """Llama 3's or Qwen2's pre-tokens, [batch, (words)] (see `_SPLIT`)."""
        text = import_tensorflow_text("byte-level BPE")
        marked = tf.strings.regex_replace(
            strings, rf"([{_SPACE}]+)([{_SPACE}])([^{_SPACE}])",
            rf"\1{_MARK}\2\3")
        pattern = SPLITS[self.pre_tokenizer]
        words = text.regex_split(marked, pattern,
                                 keep_delim_regex_pattern=pattern)
        words = tf.strings.regex_replace(words, _MARK_RE, "")
        return tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)

    def _word_ids(self, words):
        """BPE ids of each pre-token, [words, (ids)]."""
        symbols = self.byte_to_char.lookup(
            tf.strings.bytes_split(words))  # [words, (bytes)]
        ids = self.token_to_id.lookup(self._merge(symbols))
        if self.ignore_merges:  # a word in the vocabulary is its own token
            whole = self.token_to_id.lookup(
                tf.strings.reduce_join(symbols, axis=-1))
            ids = rows_or_single(ids, whole >= 0, whole)
        return ids

    def decode(self, ids):
        ids = tf.cast(ids, tf.int32)
        size = tf.shape(self.surface, out_type=tf.int32)[0] - 1
        ids = tf.where((ids < 0) | (ids >= size), size, ids)
        data = tf.strings.reduce_join(tf.gather(self.surface, ids), axis=-1)
        return tf.strings.unicode_transcode(data, "UTF-8", "UTF-8",
                                            errors="replace")
