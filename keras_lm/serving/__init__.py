"""SavedModel export (`keras_lm.export`) and running what it wrote: raw
strings in, generated strings out.

(The module is not called `export`: importing a submodule of that name would
replace the `keras_lm.export` function with the module.)

The exported graph holds the tokenizer's lookup tables, the model weights
and the compiled sampling loop, so TF Serving, `saved_model_cli` or
`tf.saved_model.load` run it with TensorFlow alone:

    loaded = tf.saved_model.load("saved_models/gru")
    loaded.signatures["serving_default"](prompt=tf.constant(["ROMEO:"]))
    # {"text": [b"ROMEO: ..."], "completion": [b" ..."]}
    loaded.signatures["generate"](
        prompt=tf.constant(["ROMEO:"]), max_new_tokens=tf.constant(100),
        temperature=tf.constant(0.8), top_k=tf.constant(0),
        top_p=tf.constant(0.95), seed=tf.constant(7),
        beam_width=tf.constant(1), length_penalty=tf.constant(0.0),
        stop=tf.constant(["\n\n"]))

Each row ends at its first stop token, left out of the text: the
tokenizer's end of text (GPT-2's <|endoftext|>) always, and the one-token
stop strings `stop` (the export's own by default, in `serving_default`).

The recurrent state or KV cache lives in the loop's tensors, never in
variables, so calls do not leak into each other and the same seed always
gives the same text.
"""

import functools
import json
import os

import tensorflow as tf

from keras_lm.errors import KerasLMError, graph_check_message
from keras_lm.generation.loop import compiled_decode_loop, generate_ids
from keras_lm.generation.protocol import is_stop
from keras_lm.io_utils import atomic_directory

DEFAULT_EXPORT_ROOT = "saved_models"

_PROMPT = tf.TensorSpec([None], tf.string, name="prompt")
_SCALARS = [
    tf.TensorSpec([], tf.int32, name="max_new_tokens"),
    tf.TensorSpec([], tf.float32, name="temperature"),
    tf.TensorSpec([], tf.int32, name="top_k"),
    tf.TensorSpec([], tf.float32, name="top_p"),
    tf.TensorSpec([], tf.int32, name="seed"),
    tf.TensorSpec([], tf.int32, name="beam_width"),
    tf.TensorSpec([], tf.float32, name="length_penalty"),
]
_STOP = tf.TensorSpec([None], tf.string, name="stop")


def serving_weights(model):
    """Copies of `model.weights` as plain `tf.Variable`s with unique names,
    for an export to save and its compiled program to read in place of the
    Keras variables: TF1-style sessions (saved_model_cli, TF Serving) cannot
    restore Keras 3 variables, whose names repeat across layers."""
    return [tf.Variable(w.value, trainable=False, name=f"weight_{i}")
            for i, w in enumerate(model.weights)]


class TextGenerator(tf.Module):
    """A `tf.Module` wrapping a `CausalLM` and its tokenizer's graph form."""

    def __init__(self, model, tokenizer, max_new_tokens=200, temperature=1.0,
                 top_k=0, top_p=1.0, seed=0, beam_width=1,
                 length_penalty=0.0, stop=(), chat_stop_ids=()):
        super().__init__()
        # A partial is not a trackable, so the Keras model's own variables
        # stay out of the SavedModel; `serving_weights` are what is saved.
        self._generate_ids = functools.partial(
            generate_ids, model, decode_loop=compiled_decode_loop(model))
        self.serving_weights = serving_weights(model)
        self.tokenizer = tokenizer.graph_module()
        self._defaults = (max_new_tokens, temperature, top_k, top_p, seed,
                          beam_width, length_penalty)
        self._stop = [stop] if isinstance(stop, str) else list(stop)
        for text in self._stop:
            tokenizer.stop_id(text)  # one-line error for a bad one, now
        self._end_ids = tokenizer.default_stop_ids()
        self._prefix_ids = list(tokenizer.prefix_ids)
        self._chat_stop_ids = list(chat_stop_ids)

    def _stop_ids(self, stop, chat):
        """The end-of-text id and the ids of the stop strings `stop` (and
        the end of turn, when `chat`)."""
        def encode():
            ragged = self.tokenizer.encode(stop)
            check = tf.debugging.assert_equal(
                ragged.row_lengths(), tf.ones_like(ragged.row_lengths()),
                message="each stop string must be one token of the tokenizer")
            with tf.control_dependencies([check]):
                return tf.cast(ragged.flat_values, tf.int32)

        # (Not every graph tokenizer takes an empty batch.)
        ids = tf.cond(tf.size(stop) > 0, encode,
                      lambda: tf.zeros([0], tf.int32))
        end_ids = tf.constant(self._end_ids, tf.int32, [len(self._end_ids)])
        turn = tf.constant(self._chat_stop_ids, tf.int32,
                           [len(self._chat_stop_ids)])
        turn = tf.boolean_mask(turn, tf.fill(tf.shape(turn), chat))
        return tf.concat([end_ids, turn, ids], axis=0)

    def _encode_prompts(self, prompt, chat):
        """Prompt ids as the Python side makes them: `prefix_ids` (unless
        `chat`: a rendered conversation writes its own <s>, as transformers'
        apply_chat_template does), then the text's ids."""
        ragged = self.tokenizer.encode(prompt)
        if not self._prefix_ids:
            return ragged
        kept = tf.where(chat, 0, len(self._prefix_ids))
        prefix = tf.tile(
            tf.constant([self._prefix_ids], ragged.dtype)[:, :kept],
            [tf.shape(prompt)[0], 1])
        return tf.concat([tf.RaggedTensor.from_tensor(prefix), ragged],
                         axis=1)

    # Every signature calls this one function, so the loop is traced (and
    # saved) once however many signatures an export has.
    @tf.function(input_signature=[_PROMPT] + _SCALARS + [
        _STOP, tf.TensorSpec([], tf.bool, name="chat")])
    def _generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed,
                  beam_width, length_penalty, stop, chat):
        checks = [
            tf.debugging.assert_positive(
                max_new_tokens, message="max_new_tokens must be >= 1"),
            tf.debugging.assert_non_negative(
                temperature, message="temperature must be >= 0 (0 = greedy)"),
            tf.debugging.assert_non_negative(
                top_k, message="top_k must be >= 0 (0 keeps all)"),
            tf.debugging.assert_positive(
                top_p, message="top_p must be in (0, 1]"),
            tf.debugging.assert_less_equal(
                top_p, 1.0, message="top_p must be in (0, 1]"),
            tf.debugging.assert_positive(
                beam_width, message="beam_width must be >= 1 (1 samples)"),
        ]
        ragged = self._encode_prompts(prompt, chat)
        lengths = tf.cast(ragged.row_lengths(), tf.int32)
        checks.append(tf.debugging.assert_positive(
            lengths, message="every prompt must be non-empty"))
        with tf.control_dependencies(checks):
            # generate_ids rounds its buffer up to BUCKET tokens, so prompt
            # lengths map onto few compiled programs.
            ids = ragged.to_tensor()
            stop_ids = self._stop_ids(stop, chat)
            new_ids = self._generate_ids(
                ids, lengths, max_new_tokens, temperature, top_k, top_p, seed,
                weights=self.serving_weights, beam_width=beam_width,
                length_penalty=length_penalty, stop_token_ids=stop_ids)
        # Each row up to (not including) its first stop id.
        stopped = tf.cumsum(tf.cast(is_stop(new_ids, stop_ids), tf.int32),
                            axis=1)
        kept = tf.reduce_sum(tf.cast(stopped == 0, tf.int32), axis=1)
        new_ids = tf.RaggedTensor.from_tensor(new_ids, lengths=kept)
        completion = self._completion(prompt, ragged, new_ids)
        return {"text": tf.strings.join([prompt, completion]),
                "completion": completion}

    def _completion(self, prompt, prompt_ids, new_ids):
        """In-graph `keras_lm.generation.text.completion_text`."""
        before = self.tokenizer.decode(prompt_ids)  # ragged: no padding
        both = self.tokenizer.decode(tf.concat([prompt_ids, new_ids], axis=1))
        start = tf.strings.length(before)
        extends = tf.strings.substr(both, tf.zeros_like(start), start) == before
        to_end = tf.fill(tf.shape(start), -1)
        rest = tf.where(extends, tf.strings.substr(both, start, to_end),
                        self.tokenizer.decode(new_ids))

        def ends_in_space(text):
            return tf.strings.regex_full_match(text, r"(?s).*\s")

        drop_space = (ends_in_space(prompt) & ~ends_in_space(before)
                      & tf.strings.regex_full_match(rest, r"(?s) .*"))
        return tf.where(drop_space,
                        tf.strings.substr(rest, tf.ones_like(start), to_end),
                        rest)

    @tf.function(input_signature=[_PROMPT])
    def serving_default(self, prompt):
        defaults = [tf.constant(v, s.dtype)
                    for v, s in zip(self._defaults, _SCALARS)]
        stop = tf.constant(self._stop, tf.string, [len(self._stop)])
        return self._generate(prompt, *defaults, stop, False)

    @tf.function(input_signature=[_PROMPT] + _SCALARS + [_STOP])
    def generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed,
                 beam_width, length_penalty, stop):
        return self._generate(prompt, max_new_tokens, temperature, top_k,
                              top_p, seed, beam_width, length_penalty, stop,
                              False)

    @tf.function(input_signature=[_PROMPT] + _SCALARS + [_STOP])
    def chat(self, prompt, max_new_tokens, temperature, top_k, top_p, seed,
             beam_width, length_penalty, stop):
        """`generate` for conversations rendered by the chat template: no
        `prefix_ids` are added, and each reply also ends at the end of
        turn."""
        return self._generate(prompt, max_new_tokens, temperature, top_k,
                              top_p, seed, beam_width, length_penalty, stop,
                              True)


def export(model, tokenizer, path, chat_template=None, **defaults):
    """Writes a SavedModel of `model` + `tokenizer` to `path`, atomically.

    With a `chat_template` (a `ChatTemplate`), the export also has a `chat`
    signature (the inputs of `generate`; its prompt is a conversation
    rendered by the template, and replies end at the template's end of turn)
    and holds the template in `assets/chat_template.json`
    (`keras_lm.generation.chat.chat_asset`), for a server to render with.

    `path` must be new, an empty folder or an earlier SavedModel (which is
    replaced); anything else there is refused, never overwritten.

    `defaults` (max_new_tokens, temperature, top_k, top_p, seed,
    beam_width, length_penalty, stop) set what `serving_default` uses;
    `generate` takes them as inputs (a beam width above 1 runs beam search, which
    ignores the sampling knobs).

    Example:

    >>> model, tokenizer, _ = keras_lm.runs.load_run("runs/gru")  # doctest: +SKIP
    >>> keras_lm.export(model, tokenizer, "saved_models/gru")      # doctest: +SKIP
    """
    end_of_turn = chat_template and chat_template.end_of_turn()
    chat_stop_ids = [tokenizer.stop_id(end_of_turn)] if end_of_turn else []
    with atomic_directory(path, is_saved_model, "SavedModel") as tmp:
        module = TextGenerator(model, tokenizer, chat_stop_ids=chat_stop_ids,
                               **defaults)
        signatures = {
            "serving_default": module.serving_default.get_concrete_function(),
            "generate": module.generate.get_concrete_function(),
        }
        if chat_template is not None:
            signatures["chat"] = module.chat.get_concrete_function()
        tf.saved_model.save(module, tmp, signatures=signatures)
        if chat_template is not None:
            from keras_lm.generation.chat import CHAT_ASSET, chat_asset

            # The whole folder appears atomically, so a plain write suffices.
            os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
            with open(os.path.join(tmp, CHAT_ASSET), "w",
                      encoding="utf-8") as f:
                json.dump(chat_asset(chat_template), f,
                          ensure_ascii=False, indent=1)
    return os.path.abspath(path)


def default_export_path(run_dir):
    """`saved_models/<run directory name>`, where exports land by default."""
    return os.path.join(DEFAULT_EXPORT_ROOT,
                        os.path.basename(os.path.normpath(run_dir)))


def is_saved_model(path):
    """Whether the folder `path` holds a SavedModel."""
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def load_export(path):
    """Loads a SavedModel written by `export`, with the tensorflow-text ops
    that subword and byte-level BPE tokenizers need."""
    from keras_lm.tokenizers.base import import_tensorflow_text

    import_tensorflow_text("subword or byte-level BPE")  # registers their ops
    loaded = tf.saved_model.load(path)
    if "translate" in loaded.signatures:
        raise KerasLMError(f"{path} is a translator export: call its "
                           "'translate' signature, or run `keras-lm "
                           "translate` on the run directory")
    if "generate" not in loaded.signatures:
        raise KerasLMError(f"{path} is a SavedModel without a 'generate' "
                           "signature; give a language-model export from "
                           "`keras-lm export`")
    return loaded


def generate_with_export(loaded, prompts, max_new_tokens=200, temperature=1.0,
                         top_k=0, top_p=1.0, seed=0, beam_width=1,
                         length_penalty=0.0, stop=(), signature="generate"):
    """Each prompt plus its completion, from `load_export`'s `generate` (or
    `chat`, for prompts that a chat template rendered).

    A failed check inside the graph (e.g. a prompt longer than the context)
    becomes a one-line `KerasLMError`. Exports written before beam search
    (keras-lm 0.1) take no `beam_width`/`length_penalty`; asking one of
    them for beams is a one-line error.
    """
    from keras_lm.generation import check_sampling_args

    check_sampling_args(max_new_tokens, temperature, top_k, top_p, seed,
                        beam_width, length_penalty)
    signature = loaded.signatures[signature]
    values = (max_new_tokens, temperature, top_k, top_p, seed, beam_width,
              length_penalty)
    inputs = {spec.name: tf.constant(value, spec.dtype)
              for spec, value in zip(_SCALARS, values)}
    if "beam_width" not in signature.structured_input_signature[1]:
        if beam_width != 1:
            raise KerasLMError("this SavedModel was exported before beam "
                               "search; export the run again to use a beam "
                               "width")
        del inputs["beam_width"], inputs["length_penalty"]
    stop = [stop] if isinstance(stop, str) else list(stop)
    if "stop" in signature.structured_input_signature[1]:
        inputs["stop"] = tf.constant(stop, tf.string, [len(stop)])
    elif stop:
        raise KerasLMError("this SavedModel was exported before stop strings; "
                           "export the run again to use stop strings")
    try:
        outputs = signature(prompt=tf.constant(prompts), **inputs)
    except tf.errors.InvalidArgumentError as e:
        raise KerasLMError(graph_check_message(e)) from None
    # The prompt is returned as given; only the completion is decoded.
    return [prompt + completion.decode("utf-8", "replace")
            for prompt, completion in zip(prompts,
                                          outputs["completion"].numpy())]
