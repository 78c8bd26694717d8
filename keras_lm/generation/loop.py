"""The one compiled sampling loop, and `generate_ids`, the entry to both loops.

The whole loop (every decode step and every sampling decision) runs inside a
single XLA-compiled `tf.while_loop`; Python is not called once per token.
The prompt goes in first, in one pass (`model.prefill`: a causal pass
that fills a Transformer's KV cache, one RNN call that carries the state),
up to the shortest prompt's last token. Then each step feeds exactly one
token to `model.decode_step` with the state carried as tensors, so a new
token costs one RNN step or one attention over the cached keys, never a
re-run over the prefix.

Prompts of different lengths share the loop: at each step a row either keeps
its next prompt token (while still inside its prompt) or takes the sampled
one (see `prompt_buffer` for the buffer). With stop ids
(`stop_token_ids`), a row that has produced one produces padding (0) from
then on, and the loop ends once every row has.

On a CPU, a large batch whose KV caches outweigh the weights runs as two
such loops side by side, one per half of the batch, so that both cores work
(`keras_lm.generation.sharding`).
"""

import tensorflow as tf

from keras_lm.generation.beam_search import beam_search_ids
from keras_lm.generation.protocol import (BUCKET, compiled_for, input_tensors,
                                          is_stop, mask_banned, new_tokens,
                                          prefill, prompt_buffer,
                                          static_or_dynamic, stateless_weights,
                                          stop_ids_tensor, weight_tensors)
from keras_lm.generation.sampling import sample_next_token
from keras_lm.generation.sharding import decode_shards, run_in_shards

__all__ = ["BUCKET", "compiled_decode_loop", "generate_ids", "sampling_loop"]


def sampling_loop(model, weights, inputs, buffer, prompt_lengths, ends,
                  temperature, top_k, top_p, seed, stop_ids,
                  with_log_probs=False):
    """Fills the batch-major `buffer` `(batch, length)` from step 0 on, each
    row up to (not including) its position in `ends` `(batch,)`, reading
    `weights` (in `model.weights` order) through `stateless_weights`.

    The positions before the shortest prompt's last token are fed in one
    pass (`prefill`); the steps start there.

    Returns `(buffer, log_probs)`: the filled buffer, and per row the summed
    log-probability of its generated tokens (stop id included) under the
    model, before temperature and truncation; zeros unless `with_log_probs`
    (a Python bool, so plain sampling does not pay for them).
    """
    batch_size = static_or_dynamic(buffer, 0)
    # Time-major, so writing one step's tokens is an in-place row update.
    tokens = tf.transpose(buffer)
    num_steps = tf.reduce_max(ends) - 1

    def body(step, tokens, state, log_probs, finished):
        logits, state = model.decode_step(tokens[step], state, step, context)
        logits = mask_banned(tf.cast(logits, tf.float32),
                             model.decoding_banned_ids)
        sampled = sample_next_token(logits, temperature, top_k, top_p,
                                    tf.stack([seed, step]))
        position = step + 1
        in_prompt = position < prompt_lengths
        generating = ~in_prompt & ~finished
        if with_log_probs:
            log_prob = tf.gather(tf.nn.log_softmax(logits), sampled,
                                 batch_dims=1)
            log_probs += tf.where(generating, log_prob, 0.0)
        next_tokens = tf.where(in_prompt, tokens[position],
                               tf.where(generating, sampled, 0))
        # A row is done after its stop id or its last position.
        finished |= ((generating & is_stop(sampled, stop_ids))
                     | (position >= ends - 1))
        tokens = tf.tensor_scatter_nd_update(tokens, [[position]],
                                             next_tokens[None])
        return step + 1, tokens, state, log_probs, finished

    with stateless_weights(model, weights):
        context, state = model.start_decoding(inputs, batch_size,
                                              static_or_dynamic(buffer, 1))
        first_step = tf.reduce_min(prompt_lengths) - 1
        state = prefill(model, buffer, state, first_step, context)
        _, tokens, _, log_probs, _ = tf.while_loop(
            lambda step, _t, _s, _p, finished:
                (step < num_steps) & ~tf.reduce_all(finished),
            body,
            (first_step, tokens, state,
             tf.zeros([batch_size], tf.float32),
             tf.zeros([batch_size], tf.bool)))
    return tf.transpose(tokens), log_probs


def compiled_decode_loop(model, jit_compile=True, shards=1):
    """The compiled `sampling_loop` of `model` (see `compiled_for`); with
    `shards` > 1, a function that runs that many of them concurrently, each
    on a slice of the batch (`keras_lm.generation.sharding`)."""
    loop = compiled_for(model, sampling_loop, jit_compile)
    if shards == 1:
        return loop
    return compiled_for(
        model, lambda _, *args: run_in_shards(loop, shards, *args),
        jit_compile=False, key=("sampling shards", shards, jit_compile))


def generate_ids(model, prompt_ids, prompt_lengths, max_new_tokens,
                 temperature=1.0, top_k=0, top_p=1.0, seed=0,
                 decode_loop=None, weights=None, *, inputs=None,
                 stop_token_ids=None, buffer_length=None,
                 beam_width=1, length_penalty=0.0, return_log_probs=False):
    """Continues each prompt by `max_new_tokens` tokens.

    Samples (`beam_width=1`), or runs beam search and returns the best beam.
    Works eagerly and inside a `tf.function` (the SavedModel export traces
    it).

    Args:
        model: any model of the decoder protocol (a `CausalLM`, a `Seq2Seq`).
        prompt_ids: int32 `(batch, width)`, each row right-padded.
        prompt_lengths: int32 `(batch,)`, the real length of each prompt
            (>= 1).
        max_new_tokens: how many tokens to append to every prompt.
        temperature: 0 for greedy decoding, otherwise the softmax temperature.
        top_k: keep the k most likely tokens (0 keeps all).
        top_p: keep the smallest set of tokens whose mass reaches p (1 keeps
            all).
        seed: int; the same seed gives the same tokens.
        decode_loop: the compiled sampling loop to call,
            `compiled_decode_loop(model)` unless given.
        weights: tensors or variables to use as `model.weights` (the export
            passes its own copies); the model's current weights by default.
        inputs: what conditions the output (a `Seq2Seq`'s source ids).
        stop_token_ids: an id or a list of ids (or an int32 tensor): a row
            that produced one continues with padding (0), and the call ends
            once every row has. By default the model's `decoding_end_id`
            (None: never stop).
        beam_width: 1 samples; more runs beam search (a Python int compiles
            with XLA; a scalar tensor runs without XLA, so a SavedModel
            signature can take it, and samples where it is 1). Beam search
            ignores `temperature`, `top_k`, `top_p`, `seed`.
        length_penalty: GNMT alpha of beam search (0 disables it).
        return_log_probs: also return each row's summed log-probability of
            its new tokens (float32 `(batch,)`).
        buffer_length: sample into a buffer of at least this many positions
            (a Python int): calls that continue the same text chunk by chunk
            then share one compiled program (`stream_ids`).

    Returns:
        int32 `(batch, max_new_tokens)`, the new tokens of every prompt
        (with their log-probabilities if `return_log_probs`).

    Example:

    >>> from keras_lm.models import GRUGenerator
    >>> model = GRUGenerator(vocab_size=10, embedding_dim=8, rnn_units=16)
    >>> generate_ids(model, [[1, 2, 0], [3, 0, 0]], [2, 1], 5).shape
    TensorShape([2, 5])
    >>> generate_ids(model, [[1, 2]], [2], 5, beam_width=3).shape
    TensorShape([1, 5])
    """
    inputs = input_tensors(inputs)
    weights = weight_tensors(model, weights, inputs)

    def sample():
        buffer, lengths, ends = prompt_buffer(
            model, prompt_ids, prompt_lengths, max_new_tokens, buffer_length)
        loop = decode_loop or compiled_decode_loop(
            model, shards=decode_shards(model, inputs, buffer))
        buffer, log_probs = loop(
            weights, inputs, buffer, lengths, ends,
            tf.cast(temperature, tf.float32), tf.cast(top_k, tf.int32),
            tf.cast(top_p, tf.float32), tf.cast(seed, tf.int32),
            stop_ids_tensor(model, stop_token_ids), bool(return_log_probs))
        return new_tokens(buffer, lengths, max_new_tokens), log_probs

    def best_beam():
        result = beam_search_ids(
            model, prompt_ids, prompt_lengths, max_new_tokens, beam_width,
            length_penalty, inputs=inputs, stop_token_ids=stop_token_ids,
            weights=weights)
        return result.sequences[:, 0], result.log_probs[:, 0]

    if tf.is_tensor(beam_width):
        ids, log_probs = tf.cond(beam_width > 1, best_beam, sample)
    else:
        ids, log_probs = best_beam() if beam_width != 1 else sample()
    return (ids, log_probs) if return_log_probs else ids
