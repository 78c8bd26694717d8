"""In-graph greedy and beam-search decoding for `keras_lm.models.Seq2Seq`.

Both run as one `tf.while_loop` that XLA compiles (`jit_compile=True`): the
encoder runs once, then the decoder advances one token per step with its
LSTM state `[h, c]` carried as tensors (`Seq2Seq.decode_step`). Shapes are
fixed by `max_length` (and `beam_width`), which are Python ints; the length
penalty is a tensor, so changing it does not recompile. The loop stops early
once every row has produced END.

Outputs are right-padded with 0 after END; END itself is kept, so a row
without END hit `max_length`. `TargetSpecials.decode` (keras_lm.data.pairs)
turns a row into text. Padding (0) and START are never generated.

Length penalty (Wu et al. 2016, GNMT): a hypothesis of `n` tokens (END
included) with log-probability `lp` scores `lp / ((5 + n) / 6) ** alpha`;
`alpha = 0` ranks by log-probability alone, larger `alpha` favours longer
outputs. Beams are ranked by that score at every step, and a finished
hypothesis keeps its score, competing with the live ones until the end.
"""

import collections
import weakref

import numpy as np
import tensorflow as tf

from keras_lm.errors import check_int, check_real
from keras_lm.generation.sampling import sample_next_token

_MASKED = -1e9

GreedyResult = collections.namedtuple(
    "GreedyResult", ["sequences", "log_probs", "attention"])
GreedyResult.__doc__ = """Greedy decoding output.

sequences: int32 (batch, max_length); log_probs: float32 (batch,), the sum of
the chosen tokens' log-probabilities (END included); attention: float32
(batch, max_length, source_length), zero after END, or None when not asked.
"""

BeamSearchResult = collections.namedtuple(
    "BeamSearchResult", ["sequences", "log_probs", "scores"])
BeamSearchResult.__doc__ = """Beam-search output, best hypothesis first.

sequences: int32 (batch, beam_width, max_length); log_probs: float32
(batch, beam_width), each hypothesis's total log-probability; scores: the
length-penalised log-probabilities the beams are ranked by.
"""

_compiled = weakref.WeakKeyDictionary()


def check_decoding(beam_width, max_length, length_penalty=0.0):
    """One-line errors for a beam width or max length (None: a default is
    used) that is not an integer >= 1 (within int32), or a length penalty
    that is not a finite number."""
    check_int("beam width", beam_width, 1)
    if max_length is not None:
        check_int("max length", max_length, 1)
    check_real("length penalty", length_penalty)


def _mask_unproducible(logits, start_id):
    """Padding and START are inputs only; never generate them."""
    vocab = tf.range(tf.shape(logits)[-1])
    banned = (vocab == 0) | (vocab == start_id)
    return tf.where(banned, _MASKED, logits)


def _keep_shapes(new, old):
    """Restores the static shapes that dynamic reshapes lose in a loop."""
    return tf.nest.map_structure(lambda n, o: tf.ensure_shape(n, o.shape),
                                 new, old)


def _length_penalty(lengths, alpha):
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def _greedy_loop(model, source_ids, max_length, return_attention):
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    batch_size = tf.shape(source_ids)[0]
    source_length = tf.shape(source_ids)[1]
    memory, state = model.encode(source_ids)
    positions = tf.range(max_length)

    def body(step, last, state, sequences, log_probs, finished, attention):
        logits, state, weights = model.decode_step(last, state, memory)
        logits = _mask_unproducible(logits, model.start_id)
        token = sample_next_token(logits, 0.0, 0, 1.0, tf.stack([0, step]))
        token_log_prob = tf.gather(tf.nn.log_softmax(logits), token,
                                   batch_dims=1)
        token = tf.where(finished, 0, token)
        log_probs += tf.where(finished, 0.0, token_log_prob)
        here = tf.cast(positions == step, tf.int32)[None, :]
        sequences += here * token[:, None]
        if return_attention:
            live = tf.cast(~finished, tf.float32)[:, None, None]
            attention += (tf.cast(here, tf.float32)[:, :, None]
                          * weights[:, None, :] * live)
        finished = finished | (token == model.end_id)
        return _keep_shapes((step + 1, token, state, sequences, log_probs,
                             finished, attention), loop_vars)

    attention_shape = ([batch_size, max_length, source_length]
                       if return_attention else [0])
    loop_vars = (
        tf.constant(0),
        tf.fill([batch_size], tf.constant(model.start_id, tf.int32)),
        state,
        tf.zeros([batch_size, max_length], tf.int32),
        tf.zeros([batch_size], tf.float32),
        tf.zeros([batch_size], tf.bool),
        tf.zeros(attention_shape, tf.float32),
    )
    _, _, _, sequences, log_probs, _, attention = tf.while_loop(
        lambda step, _l, _s, _q, _p, finished, _a:
            (step < max_length) & ~tf.reduce_all(finished),
        body, loop_vars)
    return sequences, log_probs, attention


def _beam_loop(model, source_ids, length_penalty, beam_width, max_length):
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    alpha = tf.cast(length_penalty, tf.float32)
    k, vocab_size = beam_width, model.target_vocab_size
    batch_size = tf.shape(source_ids)[0]
    memory, state = model.encode(source_ids)
    # Row b * k + i of the flattened beams is beam i of batch row b.
    memory = tf.nest.map_structure(lambda t: tf.repeat(t, k, axis=0), memory)
    state = [tf.repeat(s, k, axis=0) for s in state]
    # Only beam 0 is alive at first, so the k beams do not start as copies.
    initial = tf.constant([[0.0] + [_MASKED] * (k - 1)], tf.float32)
    positions = tf.range(max_length)
    pad_only = tf.where(tf.range(vocab_size) == 0, 0.0, _MASKED)

    def regroup(flat, beam):
        """(batch * k, width) rows reordered by parent `beam` (batch, k)."""
        grouped = tf.reshape(flat, [batch_size, k, -1])
        regrouped = tf.reshape(tf.gather(grouped, beam, batch_dims=1),
                               [batch_size * k, -1])
        return tf.ensure_shape(regrouped, flat.shape)

    def body(step, last, state, sequences, log_probs, finished, lengths):
        logits, new_state, _ = model.decode_step(last, state, memory)
        logits = _mask_unproducible(logits, model.start_id)
        step_log_probs = tf.reshape(tf.nn.log_softmax(logits),
                                    [batch_size, k, vocab_size])
        # A finished hypothesis only continues with padding, at no cost.
        step_log_probs = tf.where(finished[:, :, None],
                                  pad_only[None, None, :], step_log_probs)
        candidates = log_probs[:, :, None] + step_log_probs
        candidate_lengths = lengths + tf.cast(~finished, tf.int32)
        scores = candidates / _length_penalty(candidate_lengths, alpha)[
            :, :, None]
        _, flat_index = tf.math.top_k(
            tf.reshape(scores, [batch_size, k * vocab_size]), k=k)
        beam, token = flat_index // vocab_size, flat_index % vocab_size
        log_probs = tf.gather(
            tf.reshape(candidates, [batch_size, k * vocab_size]), flat_index,
            batch_dims=1)
        lengths = tf.gather(candidate_lengths, beam, batch_dims=1)
        finished = tf.gather(finished, beam, batch_dims=1) | (
            token == model.end_id)
        here = tf.cast(positions == step, tf.int32)[None, None, :]
        sequences = tf.gather(sequences, beam, batch_dims=1) + (
            here * token[:, :, None])
        state = [regroup(s, beam) for s in new_state]
        return _keep_shapes(
            (step + 1, tf.reshape(token, [-1]), state, sequences, log_probs,
             finished, lengths), loop_vars)

    loop_vars = (
        tf.constant(0),
        tf.fill([batch_size * k], tf.constant(model.start_id, tf.int32)),
        state,
        tf.zeros([batch_size, k, max_length], tf.int32),
        tf.tile(initial, [batch_size, 1]),
        tf.zeros([batch_size, k], tf.bool),
        tf.zeros([batch_size, k], tf.int32),
    )
    _, _, _, sequences, log_probs, _, lengths = tf.while_loop(
        lambda step, _l, _s, _q, _p, finished, _n:
            (step < max_length) & ~tf.reduce_all(finished),
        body, loop_vars)
    scores = log_probs / _length_penalty(lengths, alpha)
    # Beams come out of top_k ranked by the last step's scores; re-sort so
    # the order holds whatever step the loop stopped at.
    order = tf.argsort(scores, axis=-1, direction="DESCENDING", stable=True)
    return (tf.gather(sequences, order, batch_dims=1),
            tf.gather(log_probs, order, batch_dims=1),
            tf.gather(scores, order, batch_dims=1))


def _compiled_fn(model, key, make):
    cache = _compiled.setdefault(model, {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def greedy_decode(model, source_ids, max_length, return_attention=False,
                  jit_compile=True):
    """Greedy decoding of a batch of sources.

    Args:
        model: a `keras_lm.models.Seq2Seq`.
        source_ids: int32 `(batch, source_length)`, right-padded with 0.
        max_length: how many target tokens to generate at most (END included).
        return_attention: also return the attention weights of every step,
            `(batch, max_length, source_length)`, for `plot_attention`.
        jit_compile: compile with XLA (False runs the same graph unjitted).

    Returns:
        a `GreedyResult`.

    Example:

    >>> from keras_lm.models.seq2seq import Seq2Seq
    >>> model = Seq2Seq(10, 8, embedding_dim=4, units=8)
    >>> greedy_decode(model, [[3, 4, 0]], 5).sequences.shape
    TensorShape([1, 5])
    """
    check_decoding(1, max_length)
    key = ("greedy", int(max_length), bool(return_attention), bool(jit_compile))
    fn = _compiled_fn(model, key, lambda: tf.function(
        lambda ids: _greedy_loop(model, ids, int(max_length),
                                 bool(return_attention)),
        jit_compile=jit_compile, autograph=False))
    sequences, log_probs, attention = fn(tf.convert_to_tensor(source_ids,
                                                              tf.int32))
    return GreedyResult(sequences, log_probs,
                        attention if return_attention else None)


def beam_search(model, source_ids, beam_width=4, max_length=32,
                length_penalty=0.0, jit_compile=True):
    """Beam-search decoding of a batch of sources.

    Args:
        model: a `keras_lm.models.Seq2Seq`.
        source_ids: int32 `(batch, source_length)`, right-padded with 0.
        beam_width: hypotheses kept per source (>= 1; 1 equals greedy).
        max_length: how many target tokens to generate at most (END included).
        length_penalty: GNMT alpha (0 disables it).
        jit_compile: compile with XLA (False runs the same graph unjitted).

    Returns:
        a `BeamSearchResult`, best hypothesis first along axis 1.
    """
    check_decoding(beam_width, max_length, length_penalty)
    key = ("beam", int(beam_width), int(max_length), bool(jit_compile))
    fn = _compiled_fn(model, key, lambda: tf.function(
        lambda ids, alpha: _beam_loop(model, ids, alpha, int(beam_width),
                                      int(max_length)),
        jit_compile=jit_compile, autograph=False))
    return BeamSearchResult(*fn(tf.convert_to_tensor(source_ids, tf.int32),
                                tf.constant(length_penalty, tf.float32)))


def best_sequences(model, source_ids, beam_width, max_length,
                   length_penalty=0.0, jit_compile=True):
    """The best target sequence per source, int32 `(batch, max_length)`:
    greedy decoding for `beam_width=1`, else the top beam of `beam_search`.
    """
    if beam_width == 1:
        return greedy_decode(model, source_ids, max_length,
                             jit_compile=jit_compile).sequences
    return beam_search(model, source_ids, beam_width, max_length,
                       length_penalty, jit_compile).sequences[:, 0]
