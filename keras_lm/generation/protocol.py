"""The decoder protocol both loops drive, and the plumbing they share.

Every decodable model (each `keras_lm.models.CausalLM`, and `Seq2Seq`)
implements the same two methods with the same meaning:

    context, state = model.start_decoding(inputs, batch_size, max_length)
    logits, state = model.decode_step(token_ids, state, index, context)

- `inputs` is what conditions the output: the source ids of a `Seq2Seq`;
  None for a language model, which ignores it.
- `context` is a nested structure of tensors that stays fixed while decoding
  (a `Seq2Seq`'s encoder memory and source mask; `()` for a language model).
- `state` is what each step updates (RNN states, KV caches).
- `decode_step` feeds `token_ids` `(batch,)` at position `index` and returns
  float32 next-token logits `(batch, vocab)` and the new state.

A model may also implement one optional method, which feeds many prompt
tokens in one call instead of one `decode_step` each:

    state = model.prefill(token_ids, state, start, feed, context)

- `token_ids` `(batch, chunk)` are the tokens at positions
  `start..start + chunk - 1`; `feed` `(chunk,)` says which of them to
  consume (the others were consumed already, or come later).
- A Transformer writes the chunk's keys and values into its cache in one
  causal pass; it may also write the positions `feed` leaves out, since a
  decode step at a position overwrites that position's entry before reading
  it. A recurrent model carries its state through the fed positions only.

The first axis of *every* tensor in `context` and `state` is the batch, so
beam search repeats and reorders rows with one `tf.gather` per tensor, never
knowing what the tensors mean. Models also say where decoding ends and what
it must never produce:

    model.decoding_start_id     # START of a Seq2Seq; None for a language model
    model.decoding_end_id       # END of a Seq2Seq; None for a language model
    model.decoding_banned_ids   # (0, START) for a Seq2Seq; () otherwise
    model.max_sequence_length   # longest prompt + output, None if unbounded

A language model continues the prompts it is given and stops only at a stop
id its caller gives. A `Seq2Seq` decodes from the one-token prompt `[START]`
(`start_prompts`) with `inputs=source_ids`. Nothing in `keras_lm.generation`
branches on a model family.
"""

import weakref

import keras
import numpy as np
import tensorflow as tf

from keras_lm.layers.multi_head_self_attention import MASKED

#: A prompt is prefilled in chunks of (at most) this many tokens: one
#: compiled program serves every prompt length, and a chunk is wide enough
#: for the matrix products to run near full speed.
PREFILL_CHUNK = 128
#: Buffers are rounded up to a multiple of this many tokens, so that XLA
#: compiles one program per bucket instead of one per prompt length.
BUCKET = 64

_compiled = weakref.WeakKeyDictionary()


def compiled_for(model, loop, jit_compile=True, key=None):
    """`loop(model, ...)` as a `tf.function`, made once per model and
    setting: the compiled loops of a model live as long as the model does.

    `jit_compile=True` is explicit: Keras' "auto" leaves XLA off on the CPU.
    `jit_compile=False` runs the same graph without XLA. `key` names a
    `loop` made anew at each call (a lambda), so that it is made once too.
    """
    functions = _compiled.setdefault(model, {})
    key = (key or loop, bool(jit_compile))
    if key not in functions:
        functions[key] = tf.function(lambda *args: loop(model, *args),
                                     jit_compile=bool(jit_compile),
                                     autograph=False)
    return functions[key]


def weight_tensors(model, weights=None, inputs=None):
    """`weights` (the model's own by default) as a list of tensors in
    `model.weights` order.

    A model without weights yet gets them from one eager decoding step (on
    `inputs`): a compiled loop traced before they exist would see none, and
    trace again once they do.
    """
    if weights is None:
        if not model.weights:
            batch_size = 1 if inputs is None else tf.shape(
                tf.nest.flatten(inputs)[0])[0]
            context, state = model.start_decoding(inputs, batch_size, 1)
            if not model.built:  # (a TransformerLM builds itself there)
                model.decode_step(tf.zeros([batch_size], tf.int32), state, 0,
                                  context)
        weights = [w.value for w in model.weights]
    return [tf.convert_to_tensor(w) for w in weights]


def stateless_weights(model, weights):
    """A scope in which the model reads `weights` instead of its variables.

    Inside it a compiled loop reads no resource variables. That is what lets
    an exported SavedModel run under TF1-style sessions too
    (`saved_model_cli`, TF Serving), where XLA cannot read captured
    variables.
    """
    return keras.StatelessScope(state_mapping=list(zip(model.weights,
                                                       weights)))


def stop_ids_tensor(model, stop_token_ids=None):
    """The stop ids as an int32 vector: `stop_token_ids` (an int, a list of
    ints or a tensor), else the model's `decoding_end_id`, else none (never
    stop). Negative ids are no stop ids (a SavedModel input can pass -1)."""
    if stop_token_ids is None:
        stop_token_ids = model.decoding_end_id
    if stop_token_ids is None:
        return tf.zeros([0], tf.int32)
    return tf.reshape(tf.cast(stop_token_ids, tf.int32), [-1])


def is_stop(token_ids, stop_ids):
    """Whether each id in `token_ids` is one of `stop_ids` (a vector)."""
    return tf.reduce_any(token_ids[..., None] == stop_ids, axis=-1)


def mask_banned(logits, banned_ids):
    """Gives the ids in `banned_ids` (a Python tuple) zero probability."""
    if not banned_ids:
        return logits
    vocab = tf.range(tf.shape(logits)[-1])
    banned = tf.reduce_any(vocab[:, None] == tf.constant(banned_ids)[None],
                           axis=-1)
    return tf.where(banned, MASKED, logits)


def keep_shapes(new, old):
    """Restores the static shapes that dynamic reshapes lose in a loop."""
    return tf.nest.map_structure(lambda n, o: tf.ensure_shape(n, o.shape),
                                 new, old)


def static_or_dynamic(tensor, axis):
    """The size of `axis`: a Python int when known, else a scalar tensor."""
    size = tensor.shape[axis]
    return tf.shape(tensor)[axis] if size is None else size


def repeat_rows(structure, times):
    """Repeats every batch row `times` times (row `b * times + i` is copy `i`
    of row `b`), in every tensor of a nested structure."""
    return tf.nest.map_structure(lambda t: tf.repeat(t, times, axis=0),
                                 structure)


def prompt_buffer(model, prompt_ids, prompt_lengths, max_new_tokens,
                  buffer_length=None):
    """The batch-major token buffer both loops fill.

    Returns `(buffer, prompt_lengths, ends)`: int32 `buffer`
    `(batch, length)` holding the prompts then zeros, `length` the longest
    prompt plus `max_new_tokens` rounded up to `BUCKET` (capped at the
    model's context); `ends` `(batch,)` is each row's prompt length plus
    `max_new_tokens`, where its output stops. Lengths known when tracing
    (eager values, constants) give a buffer of static shape, as XLA needs
    when an outer function is compiled too. A Python int `buffer_length`
    makes the buffer at least that long (streaming keeps one length for a
    whole reply, so one compiled program serves all its chunks).
    """
    prompt_ids = tf.convert_to_tensor(prompt_ids, tf.int32)
    prompt_lengths = tf.convert_to_tensor(prompt_lengths, tf.int32)
    max_new_tokens = tf.convert_to_tensor(max_new_tokens, tf.int32)
    known_lengths = tf.get_static_value(prompt_lengths)
    known_new = tf.get_static_value(max_new_tokens)
    if known_lengths is not None and known_new is not None:
        longest = int(known_lengths.max())
        needed = longest + int(known_new)
    else:
        longest = tf.reduce_max(prompt_lengths)
        needed = longest + max_new_tokens
    if buffer_length is not None:
        needed_or_more = (max(needed, buffer_length) if isinstance(needed, int)
                          else tf.maximum(needed, buffer_length))
    else:
        needed_or_more = needed
    length = (needed_or_more + BUCKET - 1) // BUCKET * BUCKET
    if model.max_sequence_length is not None:
        tf.debugging.assert_less_equal(
            needed, model.max_sequence_length,
            message="prompt plus max_new_tokens is longer than the model's "
                    "context; shorten the prompt or ask for fewer tokens")
        length = (min(length, model.max_sequence_length)
                  if isinstance(length, int)
                  else tf.minimum(length, model.max_sequence_length))
    batch_size = static_or_dynamic(prompt_ids, 0)
    buffer = tf.concat([prompt_ids[:, :longest],
                        tf.zeros([batch_size, length - longest], tf.int32)],
                       axis=1)
    return buffer, prompt_lengths, prompt_lengths + max_new_tokens


def prefill(model, buffer, state, count, context):
    """Feeds positions `0..count - 1` of the batch-major `buffer` to the
    model through `model.prefill`, `PREFILL_CHUNK` tokens per call, and
    returns the new state (the `state` as it is for a model without
    `prefill`, or when `count` is 0).

    The chunks are taken in a `tf.while_loop`, so `count` may be a tensor.
    The last chunk is moved back to end at the buffer's end when it would
    run past it; `feed` then leaves out the positions fed already.
    """
    if not hasattr(model, "prefill"):
        return state
    length = static_or_dynamic(buffer, 1)
    chunk = (min(PREFILL_CHUNK, length) if isinstance(length, int)
             else tf.minimum(PREFILL_CHUNK, length))
    batch_size = static_or_dynamic(buffer, 0)

    def body(first, state):
        start = tf.minimum(first, length - chunk)
        token_ids = tf.slice(buffer, tf.stack([0, start]),
                             tf.stack([batch_size, chunk]))
        positions = start + tf.range(chunk)
        feed = (positions >= first) & (positions < count)
        state = model.prefill(token_ids, state, start, feed, context)
        return first + chunk, keep_shapes(state, initial)

    initial = state
    _, state = tf.while_loop(lambda first, _: first < count, body,
                             (tf.constant(0), state))
    return state


def new_tokens(sequences, prompt_lengths, max_new_tokens):
    """The `max_new_tokens` tokens after each prompt in `sequences`
    (`(batch, ..., length)`): `(batch, ..., max_new_tokens)`."""
    positions = prompt_lengths[:, None] + tf.range(max_new_tokens)[None, :]
    return tf.gather(sequences, positions, axis=sequences.shape.rank - 1,
                     batch_dims=1)


def input_tensors(inputs):
    """`inputs` as tensors: None stays None, a tuple or dict is a structure
    whose leaves convert one by one, anything else (a tensor, an array, a
    nested list) is one tensor."""
    if inputs is None:
        return None
    if isinstance(inputs, (tuple, dict)):
        return tf.nest.map_structure(tf.convert_to_tensor, inputs)
    return tf.convert_to_tensor(inputs)


def start_prompts(model, inputs):
    """The one-token prompts `[START]` of a model that decodes from a start
    token (`decoding_start_id`), one per row of `inputs`:
    `(prompt_ids (batch, 1), prompt_lengths (batch,))`, numpy arrays when
    the batch size is known."""
    first = tf.nest.flatten(input_tensors(inputs))[0]
    batch_size = first.shape[0]
    if batch_size is not None:
        return (np.full([batch_size, 1], model.decoding_start_id, np.int32),
                np.ones([batch_size], np.int32))
    batch_size = tf.shape(first)[0]
    return (tf.fill([batch_size, 1], tf.constant(model.decoding_start_id,
                                                 tf.int32)),
            tf.ones([batch_size], tf.int32))
