"""The tokenizer interface every model, the CLI and the export share.

A tokenizer turns text into integer ids and back, twice over: in Python
(`encode`/`decode`, for data pipelines and the command line) and in the
TensorFlow graph (`graph_module()`, a `tf.Module` whose lookup tables travel
inside an exported SavedModel so that it takes and returns raw strings).
It saves to and loads from a run directory as one JSON file.
"""

import json
import os

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import read_json, write_text_atomically

TOKENIZER_FILE = "tokenizer.json"
#: The texts of ids 0 and 1 (`pad_id`, `unk_id`) of our own tokenizers.
PAD, UNK = "<pad>", "<unk>"

_registry = {}


def register_tokenizer(cls):
    """Class decorator: makes `cls` loadable by its `kind` name."""
    _registry[cls.kind] = cls
    return cls


class Tokenizer:
    """Base class. Subclasses set `kind` and implement the abstract methods."""

    #: Short name used on the command line (`--tokenizer char`) and on disk.
    kind = None
    pad_id = 0
    unk_id = 1
    #: The id that ends a text (GPT-2's <|endoftext|>), where generation
    #: stops by default; None when the tokenizer has none.
    end_of_text_id = None
    #: Further ids where generation stops by default (a chat model's end of
    #: turn, the ids of a checkpoint's generation_config.json).
    extra_stop_ids = ()
    #: Ids every prompt starts with (a Llama checkpoint's <s>/<|begin_of_text|>
    #: from its tokenizer.json post-processor); `encode` never adds them.
    prefix_ids = ()

    @property
    def vocab_size(self):
        raise NotImplementedError

    def encode(self, text):
        """Returns the ids of `text` as a list of ints."""
        raise NotImplementedError

    def encode_prompt(self, text):
        """The ids a model is prompted with: `prefix_ids`, then `encode`."""
        return list(self.prefix_ids) + self.encode(text)

    def decode(self, ids):
        """Returns the text of `ids` (padding dropped, except where padding
        is a real token: GPT-2's byte-level BPE pads with <|endoftext|>)."""
        raise NotImplementedError

    def graph_module(self):
        """Returns a `tf.Module` with `encode(strings) -> tf.RaggedTensor`
        (int32 ids) and `decode(ids) -> strings`, made of TensorFlow ops only.
        """
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def default_stop_ids(self):
        """The ids generation stops at unless told otherwise: the end of
        text, then `extra_stop_ids`."""
        ids = [] if self.end_of_text_id is None else [self.end_of_text_id]
        return ids + [i for i in self.extra_stop_ids if i not in ids]

    def stop_id(self, text):
        """The one id that the stop string `text` is, or a one-line error:
        generation stops at single tokens, so a stop string must be one."""
        ids = self.token_ids_of(text)
        what = f"stop string {text!r}"
        if not ids:
            raise KerasLMError(f"{what} is empty; give at least one character")
        if self.count_unknown(text):
            raise KerasLMError(f"{what} cannot be encoded by this {self.kind} "
                               "tokenizer (it reads as <unk>); give text "
                               "the tokenizer knows")
        if len(ids) > 1:
            raise KerasLMError(f"{what} is {len(ids)} tokens for this "
                               f"{self.kind} tokenizer; a stop string must "
                               "be one token")
        return ids[0]

    def token_ids_of(self, text):
        """The ids of `text` as a stop string: `encode(text)` by default."""
        return self.encode(text)

    def count_unknown(self, text):
        """How many ids of `text` are the unknown token."""
        return sum(1 for i in self.encode(text) if i == self.unk_id)

    def save(self, directory):
        """Writes `tokenizer.json` into `directory`."""
        write_text_atomically(
            os.path.join(directory, TOKENIZER_FILE),
            json.dumps({"kind": self.kind, "config": self.get_config()},
                       ensure_ascii=False))


def load_tokenizer(directory):
    """Loads the tokenizer that `Tokenizer.save` wrote into `directory`."""
    path = os.path.join(directory, TOKENIZER_FILE)
    if not os.path.isfile(path):
        raise KerasLMError(f"{directory} has no {TOKENIZER_FILE}; "
                           "is it a keras-lm run directory?")
    saved = read_json(path, required=("kind", "config"))
    if saved["kind"] not in _registry:
        raise KerasLMError(f"unknown tokenizer kind {saved['kind']!r} in "
                           f"{path}; known: {', '.join(sorted(_registry))}")
    return _registry[saved["kind"]].from_config(saved["config"])


def import_tensorflow_text(what):
    """Imports tensorflow-text for the tokenizer `what`, or says to install
    it in one line."""
    try:
        import tensorflow_text
    except ImportError as e:  # pragma: no cover - a dependency of keras-lm
        raise KerasLMError(f"the {what} tokenizer needs tensorflow-text; "
                           "pip install tensorflow-text") from e
    return tensorflow_text
