"""SavedModels of the bidirectional encoders: raw strings in, labels,
probabilities, embeddings or filled masks out.

A classifier run exports

    serving_default(text: string[batch]) -> {"label": string[batch],
                                             "probabilities": float[batch, classes]}
    embed(text: string[batch]) -> {"embedding": float[batch, features]}

and a masked-LM (encoder) run

    fill_mask(text: string[batch]) -> {"token_str": string[batch, k],
                                       "score": float[batch, k],
                                       "sequence": string[batch, k]}
    embed(text) -> {"embedding"}

where `fill_mask` ranks the `k` likeliest tokens for the first "[MASK]" of
each text. The graph holds the WordPiece tokenizer (tensorflow-text ops:
`import tensorflow_text` before loading), the packing of `[CLS] tokens
[SEP]` rows (longer texts are truncated to the model's context) and the
weights, as plain variables, so `tf.saved_model.load`, `saved_model_cli`
and TF Serving run it without keras-lm:

    import tensorflow as tf, tensorflow_text  # registers the WordPiece ops
    loaded = tf.saved_model.load("saved_models/sentiment")
    loaded.signatures["serving_default"](text=tf.constant(["a fine film"]))
"""

import functools
import json
import os

import keras
import tensorflow as tf

from keras_lm.data.encoder_inputs import pack_graph
from keras_lm.io_utils import atomic_directory
from keras_lm.serving import is_saved_model, serving_weights

_TEXT = tf.TensorSpec([None], tf.string, name="text")
MASK_TOKEN = "[MASK]"
INFO_FILE = "keras_lm_encoder.json"


def _stateless_call(model, weights, method, *args, **kwargs):
    """`method` of `model` reading `weights` instead of its variables (which
    the SavedModel does not keep: see `keras_lm.serving.serving_weights`)."""
    with keras.StatelessScope(state_mapping=list(zip(model.weights,
                                                     weights))):
        return getattr(model, method)(*args, **kwargs)


class EncoderModule(tf.Module):
    """The parts every encoder export has: tokenizer, packing, weights and
    the `embed` signature."""

    def __init__(self, task):
        super().__init__()
        model = task.require_model()
        tokenizer = task.tokenizer
        # A partial is not trackable: the Keras variables stay out of the
        # SavedModel, `serving_weights` go in.
        self._call = functools.partial(_stateless_call, model)
        self.serving_weights = serving_weights(model)
        self.tokenizer = tokenizer.graph_module()
        self._ids = dict(cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
                         pad_id=tokenizer.pad_id, max_length=task.max_length)
        self._mask_id = tokenizer.mask_id

    def _weights(self):
        return [tf.convert_to_tensor(w) for w in self.serving_weights]

    def _rows(self, text):
        """Packed `[CLS] tokens [SEP]` rows of `text`, a literal "[MASK]"
        kept as the mask token; empty texts fail."""
        parts = tf.strings.split(text, sep=MASK_TOKEN)
        ids = self.tokenizer.encode(parts.flat_values)
        masks = tf.fill([ids.nrows(), 1], tf.constant(self._mask_id, ids.dtype))
        with_masks = tf.concat([ids, tf.RaggedTensor.from_tensor(masks)], 1)
        ragged = tf.RaggedTensor.from_row_lengths(
            with_masks, parts.row_lengths()).merge_dims(1, 2)[:, :-1]
        check = tf.debugging.assert_positive(
            ragged.row_lengths(), message="every text must be non-empty")
        with tf.control_dependencies([check]):
            return pack_graph(ragged, **self._ids)

    @tf.function(input_signature=[_TEXT])
    def embed(self, text):
        embedding = self._call(self._weights(), "embed", self._rows(text))
        return {"embedding": tf.cast(embedding, tf.float32)}


class ClassifierModule(EncoderModule):
    """`serving_default`: a label and class probabilities per text."""

    def __init__(self, task):
        super().__init__(task)
        self._labels = tf.constant(task.label_names)

    @tf.function(input_signature=[_TEXT])
    def serving_default(self, text):
        logits = self._call(self._weights(), "__call__", self._rows(text))
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return {"label": tf.gather(self._labels,
                                   tf.argmax(probabilities, axis=-1)),
                "probabilities": probabilities}


class FillMaskModule(EncoderModule):
    """`fill_mask`: the `top_k` tokens for each text's first [MASK]."""

    def __init__(self, task, top_k):
        super().__init__(task)
        self._vocabulary = tf.constant(
            [task.tokenizer.id_to_token(i)
             for i in range(task.tokenizer.vocab_size)])
        self._top_k = int(top_k)

    @tf.function(input_signature=[_TEXT])
    def fill_mask(self, text):
        rows = self._rows(text)
        is_mask = tf.cast(rows == self._mask_id, tf.int32)
        check = tf.debugging.assert_positive(
            tf.reduce_sum(is_mask, axis=1),
            message="every text needs a [MASK] within the model's context")
        with tf.control_dependencies([check]):
            first = tf.argmax(is_mask, axis=1, output_type=tf.int32)
        logits = self._call(self._weights(), "__call__", {
            "token_ids": rows, "mask_positions": first[:, None]})[:, 0]
        scores, ids = tf.math.top_k(
            tf.nn.softmax(tf.cast(logits, tf.float32)), self._top_k)
        tokens = tf.gather(self._vocabulary, ids)
        return {"token_str": tokens, "score": scores,
                "sequence": _filled(text, tokens)}


def _filled(text, tokens):
    """Each text (batch) with its first [MASK] replaced by each of its
    tokens (batch, k); a "##" continuation joins the word before it."""
    parts = tf.strings.split(text, sep=MASK_TOKEN, maxsplit=1).to_tensor("")
    before, after = (tf.broadcast_to(side, tf.shape(tokens))
                     for side in (parts[:, :1], parts[:, 1:2]))
    continues = tf.strings.regex_full_match(tokens, "##.+")
    word = tf.strings.regex_replace(tokens, "^##", "")
    before = tf.where(continues, tf.strings.regex_replace(before, r"\s+$", ""),
                      before)
    return tf.strings.join([before, word, after])


def _write(module, path, signatures, info):
    with atomic_directory(path, is_saved_model, "SavedModel") as tmp:
        tf.saved_model.save(module, tmp, signatures=signatures)
        # The whole folder appears atomically, so a plain write suffices.
        with open(os.path.join(tmp, INFO_FILE), "w") as f:
            json.dump({**info, "needs_tensorflow_text": True}, f, indent=2)
    return os.path.abspath(path)


def export_classifier(task, path):
    """Writes a classifier run's SavedModel (`serving_default`, `embed`)
    to `path`, atomically. Returns the absolute path.

    >>> RunDirectory("runs/sentiment").load().export("saved_models/s")  # doctest: +SKIP
    """
    module = ClassifierModule(task)
    return _write(module, path, {
        "serving_default": module.serving_default.get_concrete_function(),
        "embed": module.embed.get_concrete_function()}, {
        "family": task.family.name, "label_names": task.label_names,
        "max_length": task.max_length})


def export_encoder(task, path, top_k=5):
    """Writes a masked-LM run's SavedModel (`fill_mask` ranking `top_k`
    tokens, and `embed`) to `path`, atomically."""
    module = FillMaskModule(task, top_k)
    signatures = {"fill_mask": module.fill_mask.get_concrete_function(),
                  "embed": module.embed.get_concrete_function()}
    signatures["serving_default"] = signatures["fill_mask"]
    return _write(module, path, signatures, {
        "family": task.family.name, "top_k": int(top_k),
        "max_length": task.max_length})


def load_encoder_export(path, signature):
    """Loads a SavedModel that `export_classifier`/`export_encoder` wrote
    and returns its `signature` ("serving_default", "embed", "fill_mask");
    one line when the folder has no such signature."""
    from keras_lm.errors import KerasLMError
    from keras_lm.tokenizers.base import import_tensorflow_text

    import_tensorflow_text("WordPiece")  # registers its ops
    loaded = tf.saved_model.load(path)
    if signature not in loaded.signatures or (
            signature == "serving_default" and "embed" not in
            loaded.signatures):
        raise KerasLMError(f"{path} is a SavedModel without a {signature!r} "
                           "signature of an encoder; export a classifier or "
                           "encoder run with `keras-lm export`")
    return loaded.signatures[signature]


def run_export(signature, texts):
    """`signature` on `texts`, its outputs as NumPy; a failed in-graph
    check (an empty text, say) becomes a one-line `KerasLMError`."""
    from keras_lm.errors import KerasLMError, graph_check_message

    try:
        outputs = signature(text=tf.constant(list(texts)))
    except tf.errors.InvalidArgumentError as e:
        raise KerasLMError(graph_check_message(e)) from None
    return {name: value.numpy() for name, value in outputs.items()}
