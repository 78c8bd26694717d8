"""The one compiled sampling loop that every `CausalLM` plugs into.

The whole loop (every decode step and every sampling decision) runs inside a
single XLA-compiled `tf.while_loop`; Python is not called once per token.
Each step feeds exactly one token to `model.decode_step` with the cache
carried as a tensor, so a new token costs one RNN step or one attention over
the cached keys, never a re-run over the prefix.

Prompts of different lengths share the loop: the token buffer is written with
the prompts first, and at each step a row either keeps its next prompt token
(while it is still inside its prompt) or takes the sampled one. The buffer is
padded to a multiple of `BUCKET` tokens so new prompt lengths rarely trigger a
recompile.
"""

import weakref

import keras
import tensorflow as tf

from keras_lm.generation.sampling import sample_next_token

#: Buffers are rounded up to a multiple of this many tokens, so that XLA
#: compiles one program per bucket instead of one per prompt length.
BUCKET = 64

_compiled_loops = weakref.WeakKeyDictionary()


def _decode_loop(model, weights, buffer, prompt_lengths, num_steps,
                 temperature, top_k, top_p, seed):
    """Fills the time-major `buffer` (length, batch) from step 0 on.

    The model's weights come in as tensors (`weights`, in `model.weights`
    order) and are mapped onto its variables with `keras.StatelessScope`, so
    the compiled program reads no resource variables. That is what lets the
    exported SavedModel run under TF1-style sessions too (`saved_model_cli`,
    TF Serving), where XLA cannot read captured variables.
    """
    with keras.StatelessScope(state_mapping=list(zip(model.weights, weights))):
        return _fill_buffer(model, buffer, prompt_lengths, num_steps,
                            temperature, top_k, top_p, seed)


def _fill_buffer(model, buffer, prompt_lengths, num_steps, temperature,
                 top_k, top_p, seed):
    length, batch_size = buffer.shape[0], buffer.shape[1]
    if length is None or batch_size is None:
        length, batch_size = tf.unstack(tf.shape(buffer))
    cache = model.initial_cache(batch_size, length)

    def body(step, buffer, cache):
        logits, cache = model.decode_step(buffer[step], cache, step)
        sampled = sample_next_token(
            logits, temperature, top_k, top_p, tf.stack([seed, step])
        )
        position = step + 1
        still_in_prompt = position < prompt_lengths
        next_tokens = tf.where(still_in_prompt, buffer[position], sampled)
        # Writing one time-major row is an in-place update under XLA.
        buffer = tf.tensor_scatter_nd_update(
            buffer, [[position]], next_tokens[None]
        )
        return step + 1, buffer, cache

    _, buffer, _ = tf.while_loop(
        lambda step, *_: step < num_steps,
        body,
        (tf.constant(0), buffer, cache),
    )
    return buffer


def compiled_decode_loop(model):
    """Returns the XLA-compiled loop for `model`, built once per model.

    `jit_compile=True` is explicit: Keras' "auto" leaves XLA off on the CPU.
    """
    if model not in _compiled_loops:
        _compiled_loops[model] = tf.function(
            lambda *args: _decode_loop(model, *args),
            jit_compile=True,
            autograph=False,
        )
    return _compiled_loops[model]


def _round_up(value, multiple):
    return (value + multiple - 1) // multiple * multiple


def generate_ids(model, prompt_ids, prompt_lengths, max_new_tokens,
                 temperature=1.0, top_k=0, top_p=1.0, seed=0,
                 decode_loop=None, weights=None):
    """Continues each prompt by `max_new_tokens` tokens.

    Works eagerly and inside a `tf.function` (the SavedModel export traces it).

    Args:
        model: a `keras_lm.models.CausalLM`.
        prompt_ids: int32 `(batch, width)`, each row right-padded.
        prompt_lengths: int32 `(batch,)`, the real length of each prompt (>= 1).
        max_new_tokens: how many tokens to append to every prompt.
        temperature: 0 for greedy decoding, otherwise the softmax temperature.
        top_k: keep the k most likely tokens (0 keeps all).
        top_p: keep the smallest set of tokens whose mass reaches p (1 keeps all).
        seed: int; the same seed gives the same tokens.
        decode_loop: the compiled loop to call, `compiled_decode_loop(model)`
            unless given (the export passes one it tracks).
        weights: tensors or variables to use as `model.weights` (the export
            passes its own copies); the model's current weights by default.

    Returns:
        int32 `(batch, max_new_tokens)`, the new tokens of every prompt.

    Example:

    >>> model = keras_lm.models.GRUGenerator(vocab_size=10, embedding_dim=8,
    ...                                      rnn_units=16)
    >>> generate_ids(model, [[1, 2, 0], [3, 0, 0]], [2, 1], 5).shape
    TensorShape([2, 5])
    """
    prompt_ids = tf.convert_to_tensor(prompt_ids, tf.int32)
    prompt_lengths = tf.convert_to_tensor(prompt_lengths, tf.int32)
    max_new_tokens = tf.convert_to_tensor(max_new_tokens, tf.int32)
    longest = tf.reduce_max(prompt_lengths)
    needed = longest + max_new_tokens
    length = _round_up(needed, BUCKET)
    if model.max_sequence_length is not None:
        tf.debugging.assert_less_equal(
            needed, model.max_sequence_length,
            message="prompt plus max_new_tokens is longer than the model's "
                    "context; shorten the prompt or ask for fewer tokens")
        length = tf.minimum(length, model.max_sequence_length)
    batch_size = tf.shape(prompt_ids)[0]
    prompts = tf.transpose(prompt_ids[:, :longest])
    buffer = tf.concat(
        [prompts, tf.zeros([length - longest, batch_size], tf.int32)], axis=0
    )
    decode_loop = decode_loop or compiled_decode_loop(model)
    if weights is None:
        weights = [w.value for w in model.weights]
    weights = [tf.convert_to_tensor(w) for w in weights]
    buffer = decode_loop(
        weights, buffer, prompt_lengths, needed - 1,
        tf.cast(temperature, tf.float32), tf.cast(top_k, tf.int32),
        tf.cast(top_p, tf.float32), tf.cast(seed, tf.int32),
    )
    positions = prompt_lengths[:, None] + tf.range(max_new_tokens)[None, :]
    return tf.gather(tf.transpose(buffer), positions, batch_dims=1)
