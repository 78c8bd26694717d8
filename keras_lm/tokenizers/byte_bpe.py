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
import json
import os
import re

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
#: GPT-2's pre-tokenizer, as tokenizer.json writes it.
GPT2_PRE_TOKENIZER = {"type": "ByteLevel", "add_prefix_space": False,
                      "trim_offsets": True, "use_regex": True}
#: SmolLM2's: every digit alone, then GPT-2's.
DIGITS = {"type": "Digits", "individual_digits": True}


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


def _is_gpt2_byte_level(pre):
    return (isinstance(pre, dict) and pre.get("type") == "ByteLevel"
            and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False))


def _describe(pre):
    if isinstance(pre, dict) and pre.get("type") == "Sequence":
        return "Sequence of " + ", ".join(
            str(p.get("type")) for p in pre.get("pretokenizers", []))
    return str(pre.get("type")) if isinstance(pre, dict) else repr(pre)


def graph_pre_tokenizer(pre):
    """Whether the in-graph tokenizer splits digits first (True) or not
    (False) for tokenizer.json pre-tokenizer `pre`; a one-line error for a
    pre-tokenizer that has no in-graph form here."""
    if _is_gpt2_byte_level(pre):
        return False
    parts = pre.get("pretokenizers", []) if isinstance(pre, dict) else []
    if (pre.get("type") == "Sequence" and len(parts) == 2
            and {k: parts[0].get(k) for k in DIGITS} == DIGITS
            and _is_gpt2_byte_level(parts[1])):
        return True
    raise KerasLMError(
        f"this tokenizer's pre-tokenizer ({_describe(pre)}) has no in-graph "
        "form in keras-lm (supported: GPT-2's ByteLevel, alone or after "
        "Digits as in SmolLM2); it tokenizes in Python, but cannot be "
        "exported")


def template_prefix(post_processor, path):
    """The ids a tokenizer.json post-processor puts before a single text:
    the special tokens ahead of "A" in a `TemplateProcessing`."""
    if not post_processor:
        return []
    processors = (post_processor.get("processors", [])
                  if post_processor.get("type") == "Sequence"
                  else [post_processor])
    for processor in processors:
        kind = processor.get("type")
        if kind == "ByteLevel":
            continue
        if kind != "TemplateProcessing":
            raise KerasLMError(f"{path}: post-processor {kind!r} is not "
                               "supported (byte-level BPE checkpoints use "
                               "ByteLevel or TemplateProcessing)")
        prefix = []
        for item in processor.get("single", []):
            if "Sequence" in item:
                return prefix
            token = item["SpecialToken"]["id"]
            prefix += processor["special_tokens"][token]["ids"]
        raise KerasLMError(f"{path}: its TemplateProcessing has no text "
                           "(\"A\") in its single template")
    return []


def tokenizer_json_config(path, end_of_text=None):
    """`ByteBPETokenizer` arguments from a Hugging Face tokenizer.json."""
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} not found: a byte-level BPE checkpoint "
                           "needs its tokenizer.json")
    data = read_json(path, required=("model",))
    model = data["model"] if isinstance(data["model"], dict) else {}
    kind = model.get("type")
    if kind != "BPE" or model.get("byte_fallback"):
        what = ("a SentencePiece-style BPE (byte_fallback)" if kind == "BPE"
                else f"a {kind} model")
        raise KerasLMError(f"{path} holds {what}; only byte-level BPE "
                           "tokenizers (GPT-2, SmolLM2, Qwen2, Llama 3) "
                           "import")
    pre = data.get("pre_tokenizer")
    uses_byte_level = _is_gpt2_byte_level(pre) or any(
        p.get("type") == "ByteLevel" for p in (pre or {}).get(
            "pretokenizers", []))
    if not uses_byte_level:
        raise KerasLMError(f"{path} has no ByteLevel pre-tokenizer "
                           f"({_describe(pre)}); it is not a byte-level BPE")
    normalizer = data.get("normalizer")
    if normalizer is not None:
        if normalizer.get("type") != "NFC":
            raise KerasLMError(f"{path}: normalizer {_describe(normalizer)} "
                               "is not supported (none or NFC)")
        normalizer = "NFC"
    vocabulary = dict(model.get("vocab") or {})
    added = data.get("added_tokens") or []
    for token in added:
        if any(token.get(flag) for flag in ("lstrip", "rstrip",
                                            "single_word")):
            raise KerasLMError(f"{path}: added token {token['content']!r} "
                               "strips spaces or matches whole words, which "
                               "is not supported")
        vocabulary[token["content"]] = token["id"]
    merges = []
    for rule in model.get("merges") or []:
        if not isinstance(rule, str):
            if len(rule) != 2 or any(" " in part for part in rule):
                raise KerasLMError(f"{path}: merge rule {rule!r} is not two "
                                   "tokens without spaces")
            rule = " ".join(rule)
        merges.append(rule)
    return {"vocabulary": vocabulary, "merges": merges,
            "added_tokens": [token["content"] for token in added],
            "pre_tokenizer": pre, "normalizer": normalizer,
            "ignore_merges": bool(model.get("ignore_merges")),
            "prefix_ids": template_prefix(data.get("post_processor"), path),
            "end_of_text": end_of_text or END_OF_TEXT}


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

    def __init__(self, vocabulary, merges, added_tokens=(),
                 pre_tokenizer=None, normalizer=None, ignore_merges=False,
                 prefix_ids=(), end_of_text=END_OF_TEXT, extra_stop_ids=()):
        self.vocabulary = {str(k): int(v) for k, v in vocabulary.items()}
        self.merges = [str(m) for m in merges]
        self.added_tokens = [str(t) for t in added_tokens]
        self.pre_tokenizer = pre_tokenizer or GPT2_PRE_TOKENIZER
        self.normalizer = normalizer
        self.ignore_merges = bool(ignore_merges)
        self.prefix_ids = [int(i) for i in prefix_ids]
        self.end_of_text = end_of_text
        self.extra_stop_ids = [int(i) for i in extra_stop_ids]
        self._check()
        self.end_of_text_id = self.vocabulary.get(end_of_text)
        self.pad_id = self.unk_id = (-1 if self.end_of_text_id is None
                                     else self.end_of_text_id)
        byte_chars = bytes_to_unicode()
        unicode_bytes = {c: bytes([b]) for b, c in byte_chars.items()}
        self._surface = [b""] * len(self.vocabulary)
        literal = set(self.added_tokens)
        for token, i in self.vocabulary.items():
            if token not in literal and all(c in unicode_bytes for c in token):
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
        missing = [t for t in self.added_tokens if t not in self.vocabulary]
        if missing:
            raise KerasLMError(f"added token {missing[0]!r} is not in the "
                               "vocabulary")
        for name, ids in (("prefix id", self.prefix_ids),
                          ("stop id", self.extra_stop_ids)):
            bad = [i for i in ids if not 0 <= i < len(self.vocabulary)]
            if bad:
                raise KerasLMError(f"{name} {bad[0]} is not in the "
                                   f"vocabulary of {len(self.vocabulary)} "
                                   "tokens")
        if self.normalizer not in (None, "NFC"):
            raise KerasLMError(f"normalizer {self.normalizer!r} is not "
                               "supported; byte-level BPE takes none or NFC")
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

    @classmethod
    def from_tokenizer_json(cls, path, end_of_text=None):
        """Reads a Hugging Face `tokenizer.json` (a file, or a folder with
        one) of a byte-level BPE: SmolLM2, Qwen2, Llama 3, GPT-2.

        Added tokens (``<|im_start|>``) are matched literally, as
        transformers does; a `TemplateProcessing` post-processor's leading
        special tokens (Llama's ``<s>``) become `prefix_ids`. `end_of_text`
        is the token generation stops at (tokenizer_config.json's
        eos_token; GPT-2's ``<|endoftext|>`` when None).

        >>> ByteBPETokenizer.from_tokenizer_json("SmolLM2-135M/")  # doctest: +SKIP
        """
        return cls(**tokenizer_json_config(path, end_of_text))

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def _tokenizer(self):
        """The `tokenizers` library's tokenizer of this configuration."""
        if self._backend is None:
            from tokenizers import Tokenizer as RustTokenizer

            added = [{"id": self.vocabulary[t], "content": t,
                      "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}
                     for t in self.added_tokens]
            self._backend = RustTokenizer.from_str(json.dumps({
                "version": "1.0", "truncation": None, "padding": None,
                "added_tokens": added,
                "normalizer": (None if self.normalizer is None
                               else {"type": self.normalizer}),
                "pre_tokenizer": self.pre_tokenizer, "post_processor": None,
                "decoder": None,
                "model": {"type": "BPE", "dropout": None, "unk_token": None,
                          "continuing_subword_prefix": None,
                          "end_of_word_suffix": None, "fuse_unk": False,
                          "byte_fallback": False,
                          "ignore_merges": self.ignore_merges,
                          "vocab": self.vocabulary,
                          "merges": [m.split(" ") for m in self.merges]}}))
        return self._backend

    def encode(self, text):
        return self._tokenizer().encode(text, add_special_tokens=False).ids

    def decode(self, ids):
        size, surface = len(self._surface), self._surface
        data = b"".join(surface[i] for i in ids if 0 <= i < size)
        return data.decode("utf-8", errors="replace")

    def token_ids_of(self, text):
        """A whole token's text (``<|endoftext|>``, ``<|im_end|>``) is that
        token."""
        if text in self.vocabulary:
            return [self.vocabulary[text]]
        return self.encode(text)

    def count_unknown(self, text):
        return 0  # (byte-level BPE encodes every text; -1 is no id)

    def get_config(self):
        config = {"vocabulary": self.vocabulary, "merges": self.merges}
        extra = {"added_tokens": self.added_tokens,
                 "pre_tokenizer": (None if self.pre_tokenizer
                                   == GPT2_PRE_TOKENIZER
                                   else self.pre_tokenizer),
                 "normalizer": self.normalizer,
                 "ignore_merges": self.ignore_merges,
                 "prefix_ids": self.prefix_ids,
                 "end_of_text": (None if self.end_of_text == END_OF_TEXT
                                 else self.end_of_text),
                 "extra_stop_ids": self.extra_stop_ids}
        # (Only what differs from GPT-2, so older run directories still
        # read and GPT-2's stays two keys.)
        config.update({k: v for k, v in extra.items() if v})
        return config

    def graph_module(self):
        return _GraphByteBPE(self.vocabulary, self.merges, self._surface,
                             added_tokens=self.added_tokens,
                             digits=graph_pre_tokenizer(self.pre_tokenizer),
                             normalizer=self.normalizer,
                             ignore_merges=self.ignore_merges)

    def __getstate__(self):  # the Rust backend does not pickle; rebuild it
        state = dict(self.__dict__)
        state["_backend"] = None
        return state


class _GraphByteBPE(tf.Module):
    """The in-graph twin of `ByteBPETokenizer` (tensorflow-text + tables).

    Every table is a `tf.lookup.StaticHashTable` or a `tf.Variable` owned by
    this module, so `tf.saved_model.save` writes them and `load` restores them.
    """

    def __init__(self, vocabulary, merges, surface, added_tokens=(),
                 digits=False, normalizer=None, ignore_merges=False):
        super().__init__()
        import_tensorflow_text("byte-level BPE")
        self.digits, self.normalizer = digits, normalizer
        self.ignore_merges = ignore_merges
        # Longest first: at one position, RE2 takes the first alternative,
        # so this matches leftmost-longest, like the tokenizers library.
        self.added_pattern = "|".join(
            re.escape(t) for t in sorted(added_tokens, key=len, reverse=True))
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
        ids = _rows_or_single(self._encode_text(flat), is_added,
                              self.token_to_id.lookup(flat))
        return pieces.with_flat_values(ids).merge_dims(1, 2)

    def _encode_text(self, strings):
        """Ids of text without added tokens: (digits apart,) GPT-2's BPE."""
        if not self.digits:
            return self._byte_level(strings)
        text = import_tensorflow_text("byte-level BPE")
        pieces = text.regex_split(strings, r"\p{N}",
                                  keep_delim_regex_pattern=r"\p{N}")
        ids = self._byte_level(pieces.flat_values)
        return pieces.with_flat_values(ids).merge_dims(1, 2)

    def _byte_level(self, strings):
        text = import_tensorflow_text("byte-level BPE")
        segments = self._segments(strings)  # [batch, (segments)]
        words = text.regex_split(segments.flat_values, _PRETOKEN,
                                 keep_delim_regex_pattern=_PRETOKEN)
        symbols = self.byte_to_char.lookup(
            tf.strings.bytes_split(words.flat_values))  # [words, (bytes)]
        ids = self.token_to_id.lookup(self._merge(symbols))
        if self.ignore_merges:  # a word in the vocabulary is its own token
            whole = self.token_to_id.lookup(
                tf.strings.reduce_join(symbols, axis=-1))
            ids = _rows_or_single(ids, whole >= 0, whole)
        per_segment = words.with_flat_values(ids).merge_dims(1, 2)
        return segments.with_flat_values(per_segment).merge_dims(1, 2)

    def decode(self, ids):
        ids = tf.cast(ids, tf.int32)
        size = tf.shape(self.surface, out_type=tf.int32)[0] - 1
        ids = tf.where((ids < 0) | (ids >= size), size, ids)
        data = tf.strings.reduce_join(tf.gather(self.surface, ids), axis=-1)
        return tf.strings.unicode_transcode(data, "UTF-8", "UTF-8",
                                            errors="replace")


def _rows_or_single(rows, use_single, single_ids):
    """Ragged `rows`, except that row i is `[single_ids[i]]` where
    `use_single[i]`."""
    keep = tf.gather(tf.logical_not(use_single), rows.value_rowids())
    body = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(rows.flat_values, keep),
        tf.where(use_single, tf.zeros_like(rows.row_lengths()),
                 rows.row_lengths()))
    single = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(single_ids, use_single),
        tf.cast(use_single, body.row_splits.dtype))
    return tf.concat([body, single], axis=1)
