"""The SavedModel of a seq2seq `Translator`: raw strings in, translations
out (source tokenizer, encoder, in-graph beam search and target
detokenizer in one graph)."""

import functools
import json
import os

import tensorflow as tf

from keras_lm.generation.beam_search import best_sequences, check_decoding
from keras_lm.io_utils import atomic_directory
from keras_lm.serving import is_saved_model, serving_weights
from keras_lm.tokenizers import target_specials

_TEXT = tf.TensorSpec([None], tf.string, name="text")
_ALPHA = tf.TensorSpec([], tf.float32, name="length_penalty")


class TranslatorModule(tf.Module):
    """A `tf.Module` that translates raw strings: source tokenizer, encoder,
    in-graph beam search (XLA) and target detokenizer in one graph."""

    def __init__(self, translator, max_length, beam_width=4,
                 length_penalty=0.6):
        super().__init__()
        model = translator.model
        # As in TextGenerator: the partial keeps the Keras variables out.
        self._search = functools.partial(
            best_sequences, model, beam_width=int(beam_width),
            max_length=int(max_length))
        self.serving_weights = serving_weights(model)
        self.source_tokenizer = translator.source_tokenizer.graph_module()
        self.target_tokenizer = translator.target_tokenizer.graph_module()
        specials = target_specials(translator.target_tokenizer)
        self._target_vocab = specials.tokenizer_vocab_size
        self._end_id = specials.end_id
        self._max_source_length = int(translator.max_source_length)
        self._length_penalty = float(length_penalty)

    def _translate(self, text, length_penalty):
        ragged = self.source_tokenizer.encode(text)
        check = tf.debugging.assert_positive(
            ragged.row_lengths(), message="every text must be non-empty")
        with tf.control_dependencies([check]):
            # Documented truncation: longer sources keep their first tokens.
            ids = tf.cast(ragged.to_tensor(
                default_value=0, shape=[None, self._max_source_length]),
                tf.int32)
        best = self._search(ids, length_penalty=length_penalty, weights=[
            tf.convert_to_tensor(w) for w in self.serving_weights])
        # Drop END, whatever follows it, and any non-tokenizer id.
        ended = tf.cumsum(tf.cast(best == self._end_id, tf.int32), axis=1) > 0
        best = tf.where(ended | (best >= self._target_vocab), 0, best)
        return {"translation": self.target_tokenizer.decode(best)}

    @tf.function(input_signature=[_TEXT])
    def serving_default(self, text):
        return self._translate(text, tf.constant(self._length_penalty))

    @tf.function(input_signature=[_TEXT, _ALPHA])
    def translate(self, text, length_penalty):
        return self._translate(text, length_penalty)


def export_translator(translator, path, beam_width=4, length_penalty=0.6,
                      max_length=None):
    """Writes a SavedModel of a `Translator` to `path`, atomically.

    Signatures: `serving_default(text)` and `translate(text,
    length_penalty)`, each returning `{"translation": tf.string}`;
    `beam_width` and `max_length` are fixed at export. Sources longer than
    the run's `max_source_length` tokens are truncated to it; empty ones
    fail. A subword export needs `import tensorflow_text` before loading.

    Example:

    >>> RunDirectory("runs/dates").load().export("saved_models/dates")  # doctest: +SKIP
    >>> loaded = tf.saved_model.load("saved_models/dates")           # doctest: +SKIP
    >>> loaded.signatures["serving_default"](text=tf.constant(["3 May 2001"]))  # doctest: +SKIP
    {'translation': <tf.Tensor: ... [b'2001-05-03']>}
    """
    check_decoding(beam_width, max_length, length_penalty)
    max_length = max_length or translator.max_target_length + 1
    kinds = (translator.source_tokenizer.kind,
             translator.target_tokenizer.kind)
    info = {"family": "seq2seq", "beam_width": int(beam_width),
            "length_penalty": float(length_penalty),
            "max_length": int(max_length),
            "max_source_length": translator.max_source_length,
            "source_tokenizer": kinds[0], "target_tokenizer": kinds[1],
            "needs_tensorflow_text": "subword" in kinds}
    with atomic_directory(path, is_saved_model, "SavedModel") as tmp:
        module = TranslatorModule(translator, max_length, beam_width,
                                  length_penalty)
        tf.saved_model.save(module, tmp, signatures={
            "serving_default": module.serving_default.get_concrete_function(),
            "translate": module.translate.get_concrete_function()})
        # The whole folder appears atomically, so a plain write suffices.
        with open(os.path.join(tmp, "keras_lm_translator.json"), "w") as f:
            json.dump(info, f, indent=2)
    return os.path.abspath(path)
