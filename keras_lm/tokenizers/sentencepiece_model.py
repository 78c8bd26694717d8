"""Llama-family SentencePiece tokenizers (TinyLlama, Llama 2, Mistral v0.1),
from the `tokenizer.model` (a serialized SentencePiece ModelProto) that their
Hugging Face checkpoints ship.

The ids are transformers 5's (its `LlamaTokenizer` of that file and
tokenizer_config.json): special tokens in the text (``<s>``, ``</s>``, added
tokens) are matched literally, longest first, as their one id; SentencePiece
encodes the rest (spaces as ``▁``), with the "dummy prefix" ``▁`` placed as
transformers' `Metaspace` does: before a piece of text that does not start
with a space, at the start of the text only (``"legacy": false``, the
default; `prefix_space` "first"), after special tokens too (``"legacy":
true``; "always"), or never (``"add_prefix_space": false``). So ``" x"`` is
``▁x`` (SentencePiece itself gives ``▁▁x``). `encode` adds no ``<s>``;
`encode_prompt` does (`prefix_ids`). ``add_eos_token`` is ignored.

`decode` is transformers' ``decode(ids, skip_special_tokens=False)``: ``▁``
is a space, special tokens their text, a run of byte pieces (``<0xE2>``) its
UTF-8 text or, if invalid (a cut-off character), U+FFFD per byte; one
leading space (the dummy prefix) is dropped: ``decode(encode(" x")) == "x"``.

SentencePiece runs as tensorflow-text's `SentencepieceTokenizer` (its proto,
with SentencePiece's own dummy prefix off, a graph constant) in Python
(eagerly) and in `graph_module()`; the special-token split, the prefix and
`decode` are written in Python and in TensorFlow ops, and tested to agree.
Loading an export with this tokenizer needs ``import tensorflow_text``.
"""

import base64
import itertools
import os
import re

import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import read_json
from keras_lm.tokenizers.base import (Tokenizer, import_tensorflow_text,
                                      register_tokenizer)
from keras_lm.tokenizers.special_tokens import literal_pattern, rows_or_single

MODEL_FILE = "tokenizer.model"
PREFIX_SCHEMES = ("first", "always", "never")
_NOTHING = r"[^\x00-\x{10FFFF}]"  # (an RE2 pattern that matches nothing)
_UNKNOWN, _BYTE = 2, 6  # SentencePiece.Type
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def _varint(data, at):
    value = shift = 0
    while at < len(data) and shift < 64:
        value |= (data[at] & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if data[at - 1] < 0x80:
            return value, at
    raise ValueError("a number runs past the end")


def _fields(data):
    """`(number, value, raw bytes)` of each field of a protobuf message."""
    at = 0
    while at < len(data):
        start = at
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire in (1, 2, 5):
            size, at = ((8, at) if wire == 1 else (4, at) if wire == 5
                        else _varint(data, at))
            value, at = data[at:at + size], at + size
        else:
            raise ValueError(f"wire type {wire} at byte {start}")
        if number == 0 or at > len(data):
            raise ValueError(f"a field at byte {start} is cut off")
        yield number, value, data[start:at]


def read_model_proto(proto, what="the SentencePiece model"):
    """The parts of a serialized ModelProto this tokenizer uses (pieces,
    their types, pad id, dummy prefix) and `encoder_proto`: the model with
    SentencePiece's dummy prefix off. A one-line `KerasLMError` if it is
    not a Llama-style SentencePiece model."""
    model = {"pieces": [], "types": [], "pad_id": -1}
    normalizer = None
    try:
        for number, value, _ in _fields(proto):
            sub = {n: v for n, v, _ in _fields(value)} if number < 4 else {}
            if number == 1:  # a piece: its text, its type (NORMAL, BYTE, ...)
                model["pieces"].append(sub.get(1, b"").decode("utf-8"))
                model["types"].append(sub.get(3, 1))
            elif number == 2:  # the trainer spec: its pad_id (-1: 2**64 - 1)
                pad = sub.get(43, -1)
                model["pad_id"] = pad - (1 << 64) if pad >> 63 else pad
            elif number == 3:
                normalizer = sub
    except (ValueError, TypeError, AttributeError) as e:
        raise KerasLMError(f"{what} is not a SentencePiece model ({e}); is "
                           "the file damaged or a Git LFS pointer?") from None
    if not model["pieces"] or normalizer is None:
        raise KerasLMError(f"{what} is not a SentencePiece model (it has no "
                           "pieces or no normalizer); is the file damaged?")
    if normalizer.get(4, 1):
        raise KerasLMError(f"{what} removes extra whitespace (a T5-style "
                           "model); only Llama-style SentencePiece models "
                           "import")
    model["add_dummy_prefix"] = bool(normalizer.get(3, 1))
    # A second normalizer_spec (field 3) is merged into the first, as
    # protobuf does: add_dummy_prefix (its field 3) = false.
    model["encoder_proto"] = proto + b"\x1a\x02\x18\x00"
    return model


def _run_text(run):
    """The text of a run of pieces' bytes; for a run of byte pieces, what
    transformers' ByteFallback decoder gives (U+FFFD per byte if invalid)."""
    data = b"".join(run)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd" * len(data)


@register_tokenizer
class SentencePieceTokenizer(Tokenizer):
    """A Llama-family `tokenizer.model` behind the `Tokenizer` interface.

    `model_proto`: the serialized ModelProto (bytes, or base64 text);
    `special_tokens`: dict text -> id (or texts of pieces) matched literally;
    `prefix_ids`: what `encode_prompt` puts first (``[bos]``);
    `end_of_text`: where generation stops (``"</s>"``); `prefix_space`:
    "first", "always" or "never" (see the module docstring); `pad_token`:
    the padding text (None: the model's pad id, else its unknown id).

    >>> tokenizer = SentencePieceTokenizer.from_folder("TinyLlama/")  # doctest: +SKIP
    >>> tokenizer.encode_prompt("Hello")                              # doctest: +SKIP
    [1, 15043]
    """

    kind = "sentencepiece"

    def __init__(self, model_proto, special_tokens=(), prefix_ids=(),
                 end_of_text=None, extra_stop_ids=(), prefix_space="first",
                 pad_token=None):
        if isinstance(model_proto, str):  # (get_config's base64)
            try:
                model_proto = base64.b64decode(model_proto, validate=True)
            except ValueError:  # (binascii.Error)
                raise KerasLMError("model_proto is not base64 text") from None
        self.model_proto = bytes(model_proto)
        model = read_model_proto(self.model_proto)
        self.pieces = model["pieces"]
        self._encoder_proto = model["encoder_proto"]
        self._piece_ids = {p: i for i, p in reversed(list(enumerate(
            self.pieces)))}
        self.special_tokens = {str(t): int(i) for t, i in (
            special_tokens.items() if isinstance(special_tokens, dict) else
            ((t, self._token_id(t, "special token")) for t in special_tokens))}
        if prefix_space not in PREFIX_SCHEMES:
            raise KerasLMError(f"prefix_space {prefix_space!r} is unknown")
        self.prefix_space, self.pad_token = prefix_space, pad_token
        self.prefix_ids = [int(i) for i in prefix_ids]
        self.end_of_text = end_of_text
        self.extra_stop_ids = [int(i) for i in extra_stop_ids]
        types = model["types"]
        self.unk_id = types.index(_UNKNOWN) if _UNKNOWN in types else -1
        self.end_of_text_id = (None if end_of_text is None else
                               self._token_id(end_of_text, "end of text"))
        model_pad = model["pad_id"] if model["pad_id"] < len(types) else -1
        self.pad_id = (self._token_id(pad_token, "pad token") if pad_token
                       else model_pad if model_pad >= 0
                       else self.unk_id if self.unk_id >= 0
                       else -1 if self.end_of_text_id is None
                       else self.end_of_text_id)
        for name, ids in (("prefix id", self.prefix_ids),
                          ("stop id", self.extra_stop_ids)):
            bad = [i for i in ids if not 0 <= i < self.vocab_size]
            if bad:
                raise KerasLMError(f"{name} {bad[0]} is not in the vocabulary "
                                   f"of {self.vocab_size} tokens")
        # What each id decodes to: (bytes, whether it is a byte piece).
        self._surface = [(b"", False)] * self.vocab_size
        for i, (piece, kind) in enumerate(zip(self.pieces, types)):
            byte = _BYTE_PIECE.fullmatch(piece) if kind == _BYTE else None
            self._surface[i] = ((bytes([int(byte.group(1), 16)]), True) if byte
                                else (piece.replace("\u2581", " ").encode(),
                                      False))
        for token, i in self.special_tokens.items():
            self._surface[i] = (token.encode(), False)
        self.special_pattern = literal_pattern(self.special_tokens)
        self._special_re = (re.compile(f"({self.special_pattern})")
                            if self.special_tokens else None)
        self._encoder = None

    def _token_id(self, text, what):
        ids = getattr(self, "special_tokens", {})
        if text not in ids and text not in self._piece_ids:
            raise KerasLMError(f"{what} {text!r} is not a token of the "
                               "SentencePiece model")
        return ids[text] if text in ids else self._piece_ids[text]

    @classmethod
    def from_folder(cls, path):
        """Reads a Hugging Face folder's `tokenizer.model`, and its
        tokenizer_config.json and special_tokens_map.json if present: the
        ``added_tokens_decoder`` and bos/eos/unk/pad tokens are matched
        literally, ``<s>`` starts prompts when ``add_bos_token`` (default
        true), ``eos_token`` ends text, ``legacy`` and ``add_prefix_space``
        place the dummy prefix."""
        model_path = os.path.join(path, MODEL_FILE)
        if not os.path.isfile(model_path):
            raise KerasLMError(f"{model_path} not found: a SentencePiece "
                               "tokenizer needs the checkpoint's "
                               f"{MODEL_FILE}")
        try:
            with open(model_path, "rb") as f:
                proto = f.read()
        except OSError as e:
            raise KerasLMError(f"cannot read {model_path}: {e}") from None
        model = read_model_proto(proto, model_path)
        files = [os.path.join(path, name) for name in (
            "tokenizer_config.json", "special_tokens_map.json")]
        config, token_map = (read_json(f) if os.path.isfile(f) else {}
                             for f in files)
        if not isinstance(config, dict) or not isinstance(token_map, dict):
            raise KerasLMError(f"{path}: its tokenizer_config.json and "
                               "special_tokens_map.json must be JSON objects")

        def text_of(name):
            value = config.get(name) or token_map.get(name)
            value = value.get("content") if isinstance(value, dict) else value
            return value if isinstance(value, str) and value else None

        specials = {}
        for key, token in (config.get("added_tokens_decoder") or {}).items():
            if any(token.get(k) for k in ("lstrip", "rstrip", "single_word")):
                raise KerasLMError(f"{files[0]}: added token "
                                   f"{token.get('content')!r} strips spaces "
                                   "or matches whole words, which is not "
                                   "supported")
            specials[token["content"]] = int(key)
        pieces = {p: i for i, p in reversed(list(enumerate(model["pieces"])))}
        for name in ("bos_token", "eos_token", "unk_token", "pad_token"):
            text = text_of(name)
            if text in pieces and text not in specials:
                specials[text] = pieces[text]
            elif text not in specials and name != "pad_token" and text:
                raise KerasLMError(f"{files[0]}: {name} {text!r} is not a "
                                   f"token of {model_path}")
        bos, pad = text_of("bos_token"), text_of("pad_token")
        add_prefix = config.get("add_prefix_space")
        if add_prefix is None:  # (then the model's own)
            add_prefix = model["add_dummy_prefix"]
        return cls(proto, special_tokens=specials,
                   prefix_ids=([specials[bos]] if bos and
                               config.get("add_bos_token", True) else []),
                   end_of_text=text_of("eos_token"),
                   prefix_space=("never" if not add_prefix else "always"
                                 if config.get("legacy", False) else "first"),
                   pad_token=pad if pad in specials else None)

    @property
    def vocab_size(self):
        ends = [i + 1 for i in self.special_tokens.values()]
        return max([len(self.pieces), *ends])

    def encode(self, text):
        parts = self._special_re.split(text) if self._special_re else [text]
        chunks, offset = [], 0
        for k, part in enumerate(parts):
            if k % 2:  # (re.split puts the matched specials at odd places)
                chunks.append(self.special_tokens[part])
            elif part:
                prefix = self.prefix_space == "always" or (
                    self.prefix_space == "first" and offset == 0)
                chunks.append(" " + part if prefix and not part.startswith(
                    (" ", "\u2581")) else part)
            offset += len(part)
        texts = [c for c in chunks if isinstance(c, str)]
        if texts and self._encoder is None:
            self._encoder = import_tensorflow_text(
                "SentencePiece").SentencepieceTokenizer(self._encoder_proto)
        encoded = iter(self._encoder.tokenize(texts).to_list() if texts
                       else [])
        return [int(i) for chunk in chunks for i in (
            next(encoded) if isinstance(chunk, str) else [chunk])]

    def decode(self, ids):
        size = len(self._surface)
        pieces = [self._surface[i] for i in ids if 0 <= i < size]
        text = "".join(_run_text(data for data, _ in run) for _, run in
                       itertools.groupby(pieces, key=lambda piece: piece[1]))
        if self.prefix_space != "never" and text.startswith(" "):
            text = text[1:]
        return text

    def token_ids_of(self, text):
        """A special token, or a whole piece (spaces written as ``▁`` or
        not; one byte as its byte piece), is that one id."""
        if text in self.special_tokens:
            return [self.special_tokens[text]]
        piece = text.replace(" ", "\u2581")
        if piece in self._piece_ids:
            return [self._piece_ids[piece]]
        data = text.encode("utf-8")
        if len(data) == 1 and f"<0x{data[0]:02X}>" in self._piece_ids:
            return [self._piece_ids[f"<0x{data[0]:02X}>"]]
        return self.encode(text)

    def get_config(self):
        return {"model_proto": base64.b64encode(self.model_proto).decode(),
                "special_tokens": self.special_tokens,
                "prefix_ids": self.prefix_ids, "end_of_text": self.end_of_text,
                "extra_stop_ids": self.extra_stop_ids,
                "prefix_space": self.prefix_space, "pad_token": self.pad_token}

    def graph_module(self):
        return GraphSentencePiece(self._encoder_proto, self.special_tokens,
                                  self.prefix_space, self._surface)

    def __getstate__(self):  # the TensorFlow resource does not pickle
        state = dict(self.__dict__)
        state["_encoder"] = None
        return state


class GraphSentencePiece(tf.Module):
    """The in-graph `SentencePieceTokenizer`: tensorflow-text ops, and
    tables this module owns (saved with an export, restored with it)."""

    def __init__(self, encoder_proto, special_tokens, prefix_space, surface):
        super().__init__()
        self.sentencepiece = import_tensorflow_text(
            "SentencePiece").SentencepieceTokenizer(encoder_proto)
        self.prefix_space = prefix_space
        self.special_pattern = literal_pattern(special_tokens) or _NOTHING
        tokens = list(special_tokens) or [""]
        self.special_ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tokens, tf.constant(
                [special_tokens.get(t, -1) for t in tokens], tf.int32)), -1)
        self.surface = tf.Variable([s for s, _ in surface], dtype=tf.string,
                                   trainable=False)
        self.is_byte = tf.Variable([b for _, b in surface], dtype=tf.bool,
                                   trainable=False)

    def encode(self, strings):
        """Ids of `strings` (no ``<s>``), as a ragged [batch, (ids)]."""
        tf_text = import_tensorflow_text("SentencePiece")
        pieces, starts, _ = tf_text.regex_split_with_offsets(
            strings, self.special_pattern,
            keep_delim_regex_pattern=self.special_pattern)
        flat = pieces.flat_values
        is_special = tf.strings.regex_full_match(flat, self.special_pattern)
        prefix = (tf.strings.length(flat) > 0) & ~is_special & (
            ~tf.strings.regex_full_match(flat, "(?s)[ \u2581].*"))
        if self.prefix_space == "first":
            prefix &= starts.flat_values == 0
        text = flat
        if self.prefix_space != "never":
            text = tf.where(prefix, tf.strings.join([" ", flat]), flat)
        ids = rows_or_single(self.sentencepiece.tokenize(text),
                              is_special, self.special_ids.lookup(flat))
        return pieces.with_flat_values(ids).merge_dims(1, 2)

    def decode(self, ids):
        """Text of `ids` (a [batch, n] tensor or a ragged [batch, (n)];
        ids out of range, such as -1 padding, are dropped)."""
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids))
        ids = tf.cast(ids, tf.int32)
        size = tf.shape(self.surface, out_type=tf.int32)[0]
        ids = tf.ragged.boolean_mask(ids, (ids >= 0) & (ids < size))
        flat, rows = ids.flat_values, ids.value_rowids()
        is_byte = tf.gather(self.is_byte, flat)
        # A byte piece right after a byte piece of its row joins its run.
        joins = is_byte & tf.concat([[False], is_byte], 0)[:-1] & (
            rows == tf.concat([tf.constant([-1], rows.dtype), rows], 0)[:-1])
        group = tf.cumsum(tf.cast(~joins, tf.int32)) - 1
        count = tf.reduce_sum(tf.cast(~joins, tf.int32))
        groups = tf.strings.unsorted_segment_join(
            tf.gather(self.surface, flat), group, count)
        valid = tf.strings.unicode_transcode(
            groups, "UTF-8", "UTF-8", errors="replace") == groups
        data = tf.strings.bytes_split(groups)
        replaced = tf.strings.reduce_join(data.with_flat_values(
            tf.fill(tf.shape(data.flat_values), "\ufffd")), axis=-1)
        groups = tf.where(tf.boolean_mask(is_byte, ~joins) & ~valid,
                          replaced, groups)
        texts = tf.strings.unsorted_segment_join(
            groups, tf.boolean_mask(rows, ~joins), ids.nrows())
        if self.prefix_space == "never":
            return texts
        return tf.strings.regex_replace(texts, "^ ", "", replace_global=False)
