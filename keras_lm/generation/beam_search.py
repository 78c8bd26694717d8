"""Beam search over the decoder protocol, for every decodable model.

One `tf.while_loop` advances `beam_width` hypotheses per row, feeding one
token per hypothesis per step to `model.decode_step`; the state and context
of `model.start_decoding` are repeated `beam_width` times (row `b * k + i`
is beam `i` of row `b`) and reordered after every step with one gather per
tensor, which the protocol's batch-major layout makes possible.

- Prompts: the positions before the shortest prompt's last token go
  through `model.prefill` in one pass, before the rows are repeated.
  After that, while a row is still inside its prompt, every beam takes the
  prompt token at no cost. Only beam 0 is alive at the start (the others
  have log-probability -1e9), so the beams do not begin as copies.
- After the prompt, the `k * vocab` extensions of the `k` beams compete and
  the best `k` survive. The model's `decoding_banned_ids` are never
  produced.
- A beam that produced a stop id (`stop_token_ids`, by default the model's
  `decoding_end_id`) is finished: it continues with padding (0) at no cost
  and keeps its score, competing with the live ones until the end. The loop
  stops early once every beam of every row has finished.
- Length penalty (Wu et al. 2016, GNMT): a hypothesis of `n` new tokens
  (stop id included) with log-probability `lp` scores
  `lp / ((5 + n) / 6) ** alpha`; `alpha = 0` ranks by log-probability alone,
  larger `alpha` favours longer outputs. At the end the beams are re-sorted
  by score, best first.

With a Python-int beam width every shape is static and the loop compiles
with XLA (one program per width); a scalar-tensor width runs the same loop
without XLA, so a SavedModel signature can take the width as an input.

`beam_search` and `best_sequences` decode a `Seq2Seq` as
`keras_lm.generation.seq2seq` describes.
"""

import collections

import tensorflow as tf

from keras_lm.errors import KerasLMError, check_int, check_real
from keras_lm.generation.protocol import (MASKED, compiled_for, input_tensors,
                                          is_stop, keep_shapes, mask_banned,
                                          new_tokens, prefill, prompt_buffer,
                                          repeat_rows, start_prompts,
                                          static_or_dynamic, stateless_weights,
                                          stop_ids_tensor, weight_tensors)

BeamSearchResult = collections.namedtuple(
    "BeamSearchResult", ["sequences", "log_probs", "scores"])
BeamSearchResult.__doc__ = """Beam-search output, best hypothesis first.

sequences: int32 (batch, beam_width, new tokens); log_probs: float32
(batch, beam_width), each hypothesis's total log-probability; scores: the
length-penalised log-probabilities the beams are ranked by.
"""


def check_decoding(beam_width, max_length, length_penalty=0.0):
    """One-line errors for a beam width or max length (None: a default is
    used) that is not an integer >= 1 (within int32), or a length penalty
    that is not a finite number. Tensors are left to the graph."""
    if not tf.is_tensor(beam_width):
        check_int("beam width", beam_width, 1)
    if max_length is not None and not tf.is_tensor(max_length):
        check_int("max length", max_length, 1)
    if not tf.is_tensor(length_penalty):
        check_real("length penalty", length_penalty)


def _penalty(lengths, alpha):
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def beam_loop(model, weights, inputs, buffer, prompt_lengths, ends,
              beam_width, length_penalty, stop_ids):
    """Beam search over the batch-major prompt `buffer` `(batch, length)`,
    each row up to (not including) its position in `ends` `(batch,)`,
    reading `weights` (tensors in `model.weights` order) in place of the
    model's variables (see `keras_lm.generation.loop.sampling_loop`).

    Returns `(sequences, log_probs, scores)`, best beam first: int32
    `(batch, beam_width, length)` (the prompts included) and float32
    `(batch, beam_width)` twice.
    """
    k = beam_width
    alpha = tf.cast(length_penalty, tf.float32)
    batch_size = static_or_dynamic(buffer, 0)
    length = static_or_dynamic(buffer, 1)
    banned = model.decoding_banned_ids
    beams = tf.range(k)
    positions = tf.range(length)
    num_steps = tf.reduce_max(ends) - 1
    # Row b * k + i of the flat state is beam i of row b.
    row_offsets = k * tf.range(batch_size)[:, None]

    def body(step, state, sequences, log_probs, finished, lengths):
        last = tf.reshape(tf.gather(sequences, step, axis=2), [-1])
        logits, state = model.decode_step(last, state, step, context)
        logits = mask_banned(tf.cast(logits, tf.float32), banned)
        vocab_size = logits.shape[-1]
        step_log_probs = tf.reshape(tf.nn.log_softmax(logits),
                                    [batch_size, k, vocab_size])
        # A finished hypothesis only continues with padding, at no cost.
        pad_only = tf.where(tf.range(vocab_size) == 0, 0.0, MASKED)
        step_log_probs = tf.where(finished[:, :, None], pad_only,
                                  step_log_probs)
        candidates = tf.reshape(log_probs[:, :, None] + step_log_probs,
                                [batch_size, -1])
        candidate_lengths = lengths + tf.cast(~finished, tf.int32)
        scores = candidates / tf.repeat(_penalty(candidate_lengths, alpha),
                                        vocab_size, axis=1)
        _, best = tf.math.top_k(scores, k=k)  # (batch, k) into k * vocab
        parent, token = best // vocab_size, best % vocab_size
        # Inside its prompt a row keeps every beam and takes the prompt
        # token, at no cost.
        position = step + 1
        in_prompt = (position < prompt_lengths)[:, None]
        parent = tf.where(in_prompt, beams[None, :], parent)
        prompt_token = tf.gather(buffer, position, axis=1)[:, None]
        token = tf.where(in_prompt, prompt_token, token)
        log_probs = tf.where(in_prompt, log_probs,
                             tf.gather(candidates, best, batch_dims=1))
        lengths = tf.where(in_prompt, lengths,
                           tf.gather(candidate_lengths, parent, batch_dims=1))
        # A beam is done after its stop id, a row after its last position.
        finished = (tf.gather(finished, parent, batch_dims=1)
                    | (~in_prompt & is_stop(token, stop_ids))
                    | (position >= ends - 1)[:, None])
        sequences = tf.where(positions == position, token[:, :, None],
                             tf.gather(sequences, parent, batch_dims=1))
        rows = tf.reshape(parent + row_offsets, [-1])
        state = tf.nest.map_structure(lambda s: tf.gather(s, rows), state)
        return keep_shapes((step + 1, state, sequences, log_probs, finished,
                            lengths), loop_vars)

    with stateless_weights(model, weights):
        context, state = model.start_decoding(inputs, batch_size, length)
        first_step = tf.reduce_min(prompt_lengths) - 1
        state = prefill(model, buffer, state, first_step, context)
        context, state = repeat_rows(context, k), repeat_rows(state, k)
        loop_vars = (
            first_step,
            state,
            tf.repeat(buffer[:, None, :], k, axis=1),
            tf.tile(tf.where(beams == 0, 0.0, MASKED)[None, :],
                    [batch_size, 1]),
            tf.zeros([batch_size, k], tf.bool),
            tf.zeros([batch_size, k], tf.int32),
        )
        _, _, sequences, log_probs, _, lengths = tf.while_loop(
            lambda step, _s, _q, _p, finished, _n:
                (step < num_steps) & ~tf.reduce_all(finished),
            body, loop_vars)
    scores = log_probs / _penalty(lengths, alpha)
    # Beams come out of top_k ranked by the last step's scores; re-sort so
    # the order holds whatever step the loop stopped at.
    order = tf.argsort(scores, axis=-1, direction="DESCENDING", stable=True)
    return (tf.gather(sequences, order, batch_dims=1),
            tf.gather(log_probs, order, batch_dims=1),
            tf.gather(scores, order, batch_dims=1))


def beam_search_ids(model, prompt_ids, prompt_lengths, max_new_tokens,
                    beam_width=4, length_penalty=0.0, *, inputs=None,
                    stop_token_ids=None, weights=None, jit_compile=None):
    """Beam search continuing each prompt by `max_new_tokens` tokens.

    Args:
        model: any model of the decoder protocol.
        prompt_ids, prompt_lengths, max_new_tokens, inputs, stop_token_ids,
        weights:
            as for `keras_lm.generation.generate_ids`.
        beam_width: hypotheses kept per row (1 equals greedy decoding): a
            Python int, or a scalar int32 tensor (then without XLA).
        length_penalty: GNMT alpha (0 disables it); a float or a tensor.
        jit_compile: compile with XLA; by default True for an int width,
            False for a tensor one (XLA needs static shapes).

    Returns:
        a `BeamSearchResult`, best first along axis 1; `sequences` holds the
        new tokens only, `(batch, beam_width, max_new_tokens)`.

    Example:

    >>> from keras_lm.models import GRUGenerator
    >>> model = GRUGenerator(vocab_size=10, embedding_dim=8, rnn_units=16)
    >>> beam_search_ids(model, [[1, 2]], [2], 5, beam_width=3).sequences.shape
    TensorShape([1, 3, 5])
    """
    check_decoding(beam_width, None, length_penalty)
    dynamic = tf.is_tensor(beam_width)
    jit_compile = not dynamic if jit_compile is None else jit_compile
    if dynamic and jit_compile:
        raise KerasLMError("a tensor beam width runs without XLA; pass "
                           "jit_compile=False or a Python int width")
    beam_width = tf.cast(beam_width, tf.int32) if dynamic else int(beam_width)
    inputs = input_tensors(inputs)
    buffer, lengths, ends = prompt_buffer(model, prompt_ids, prompt_lengths,
                                          max_new_tokens)
    loop = compiled_for(model, beam_loop, jit_compile)  # traced per width
    sequences, log_probs, scores = loop(
        weight_tensors(model, weights, inputs), inputs, buffer, lengths, ends,
        beam_width, tf.cast(length_penalty, tf.float32),
        stop_ids_tensor(model, stop_token_ids))
    return BeamSearchResult(new_tokens(sequences, lengths, max_new_tokens),
                            log_probs, scores)


def beam_search(model, source_ids, beam_width=4, max_length=32,
                length_penalty=0.0, jit_compile=None, weights=None):
    """Beam-search decoding of a batch of sources (a `Seq2Seq`, or any
    model with a `decoding_start_id`).

    Args:
        model, source_ids, max_length, weights: as for `greedy_decode`.
        beam_width, length_penalty, jit_compile: as for `beam_search_ids`.

    Returns:
        a `BeamSearchResult`, best hypothesis first along axis 1;
        `sequences` is `(batch, beam_width, max_length)`.

    Example:

    >>> from keras_lm.models import Seq2Seq
    >>> model = Seq2Seq(10, 8, embedding_dim=4, units=8)
    >>> beam_search(model, [[3, 4, 0]], 2, 5).sequences.shape
    TensorShape([1, 2, 5])
    """
    check_decoding(beam_width, max_length, length_penalty)
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    prompts, lengths = start_prompts(model, source_ids)
    return beam_search_ids(model, prompts, lengths, max_length, beam_width,
                           length_penalty, inputs=source_ids, weights=weights,
                           jit_compile=jit_compile)


def best_sequences(model, source_ids, beam_width, max_length,
                   length_penalty=0.0, jit_compile=None, weights=None):
    """The best target sequence per source, int32 `(batch, max_length)`:
    the top beam of `beam_search` (beam width 1 decodes greedily)."""
    return beam_search(model, source_ids, beam_width, max_length,
                       length_penalty, jit_compile, weights).sequences[:, 0]

