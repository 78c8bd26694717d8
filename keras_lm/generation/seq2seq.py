"""Greedy decoding and sampling of a `Seq2Seq`, on the shared sampling loop.

A `Seq2Seq` decodes from the one-token prompt `[START]` with
`inputs=source_ids`; greedy decoding is sampling at temperature 0, and
equals beam search of width 1 (`keras_lm.generation.beam_search`). The
encoder runs once, then the decoder advances one token per step carrying
its LSTM state as tensors. Outputs are right-padded with 0 after END; END
itself is kept, so a row without END hit `max_length`. Padding (0) and
START are never generated.
"""

import collections

import tensorflow as tf

from keras_lm.generation.beam_search import check_decoding
from keras_lm.generation.loop import compiled_decode_loop, generate_ids
from keras_lm.generation.protocol import start_prompts
from keras_lm.generation.sampling import check_sampling_knobs

GreedyResult = collections.namedtuple(
    "GreedyResult", ["sequences", "log_probs", "attention"])
GreedyResult.__doc__ = """Greedy decoding output.

sequences: int32 (batch, max_length); log_probs: float32 (batch,), the sum of
the chosen tokens' log-probabilities (END included); attention: float32
(batch, max_length, source_length), zero after END, or None when not asked.
"""


def _decode(model, source_ids, max_length, jit_compile, weights, **knobs):
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    prompts, lengths = start_prompts(model, source_ids)
    return generate_ids(
        model, prompts, lengths, max_length, inputs=source_ids,
        decode_loop=compiled_decode_loop(model, jit_compile), weights=weights,
        return_log_probs=True, **knobs)


def greedy_decode(model, source_ids, max_length, return_attention=False,
                  jit_compile=True, weights=None):
    """Greedy decoding of a batch of sources.

    Args:
        model: a `keras_lm.models.Seq2Seq`.
        source_ids: int32 `(batch, source_length)`, right-padded with 0.
        max_length: how many target tokens to generate at most (END included).
        return_attention: also return the attention weights of every step,
            `(batch, max_length, source_length)`, for `plot_attention`.
        jit_compile: compile with XLA (False runs the same graph unjitted).
        weights: tensors to use as `model.weights` (an export's copies).

    Returns:
        a `GreedyResult`.

    Example:

    >>> from keras_lm.models import Seq2Seq
    >>> model = Seq2Seq(10, 8, embedding_dim=4, units=8)
    >>> greedy_decode(model, [[3, 4, 0]], 5).sequences.shape
    TensorShape([1, 5])
    """
    check_decoding(1, max_length)
    sequences, log_probs = _decode(model, source_ids, max_length, jit_compile,
                                   weights, temperature=0.0)
    attention = (generated_attention(model, source_ids, sequences)
                 if return_attention else None)
    return GreedyResult(sequences, log_probs, attention)


def sample_sequences(model, source_ids, max_length, temperature=1.0, top_k=0,
                     top_p=1.0, seed=0, jit_compile=True, weights=None):
    """Samples one target sequence per source.

    Args:
        model, source_ids, max_length, jit_compile, weights: as for
            `greedy_decode`.
        temperature, top_k, top_p, seed: as for
            `keras_lm.generation.generate_ids` (temperature 0 is greedy).

    Returns:
        int32 `(batch, max_length)`, right-padded with 0 after END.

    Example:

    >>> from keras_lm.models import Seq2Seq
    >>> model = Seq2Seq(10, 8, embedding_dim=4, units=8)
    >>> sample_sequences(model, [[3, 4, 0]], 5, temperature=0.7, seed=1).shape
    TensorShape([1, 5])
    """
    check_decoding(1, max_length)
    check_sampling_knobs(temperature, top_k, top_p, seed)
    sequences, _ = _decode(model, source_ids, max_length, jit_compile,
                           weights, temperature=temperature, top_k=top_k,
                           top_p=top_p, seed=seed)
    return sequences


def generated_attention(model, source_ids, sequences):
    """The attention weights `(batch, T, S)` of each step that produced
    `sequences` (`(batch, T)`, decoded from START), zero after END.

    Attention comes after the decoder LSTM, so feeding the model its own
    output (teacher forcing) reproduces the decoding steps exactly. A model
    without attention gives zeros.
    """
    source_ids = tf.convert_to_tensor(source_ids, tf.int32)
    sequences = tf.convert_to_tensor(sequences, tf.int32)
    shape = [tf.shape(sequences)[0], tf.shape(sequences)[1],
             tf.shape(source_ids)[1]]
    if model.attention == "none":
        return tf.zeros(shape, tf.float32)
    decoder_inputs = tf.concat(
        [tf.fill([shape[0], 1], tf.constant(model.decoding_start_id)),
         sequences[:, :-1]], axis=1)
    weights = model.attention_weights((source_ids, decoder_inputs))
    produced = tf.reduce_sum(tf.cast(sequences > 0, tf.int32), axis=1)
    live = tf.range(shape[1])[None, :] < produced[:, None]
    return tf.where(live[:, :, None], tf.cast(weights, tf.float32), 0.0)
