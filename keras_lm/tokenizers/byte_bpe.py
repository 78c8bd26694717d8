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

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import decode_utf8, read_json
from keras_lm.tokenizers.base import Tokenizer, register_tokenizer
from keras_lm.tokenizers.tokenizer_json import (GPT2_PRE_TOKENIZER,
                                                graph_pre_tokenizer,
                                                tokenizer_json_config)

END_OF_TEXT = "<|endoftext|>"
VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"


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
        config = tokenizer_json_config(path)
        return cls(**config, end_of_text=end_of_text or END_OF_TEXT)

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
        from keras_lm.tokenizers.byte_bpe_graph import GraphByteBPE

        return GraphByteBPE(self.vocabulary, self.merges, self._surface,
                             added_tokens=self.added_tokens,
                             pre_tokenizer=graph_pre_tokenizer(self.pre_tokenizer),
                             normalizer=self.normalizer,
                             ignore_merges=self.ignore_merges)

    def __getstate__(self):  # the Rust backend does not pickle; rebuild it
        state = dict(self.__dict__)
        state["_backend"] = None
        return state
