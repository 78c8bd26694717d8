"""Picking the next token from logits: greedy, temperature, top-k, top-p.

Every knob is a *tensor*, not a Python constant, so one compiled graph (and one
SavedModel signature) serves every setting without retracing. Randomness is
stateless (`tf.random.stateless_categorical` with an explicit seed), so the
same seed always gives the same text and concurrent calls share no state.
keras-hub's samplers fix `k`, `p` and `temperature` at construction and draw
from a stateful seed generator, which rules both of those out.
"""

import tensorflow as tf

from keras_lm.errors import INT32_MAX, check_int, check_real
from keras_lm.generation.protocol import MASKED


def check_sampling_knobs(temperature, top_k, top_p, seed=0):
    """Raises a one-line `KerasLMError` for an out-of-range temperature,
    top-k, top-p or seed (NaN, infinity and counts past int32, which the
    compiled loop takes, included)."""
    check_real("temperature", temperature, 0.0, hint=" (0 means greedy)")
    check_int("top_k", top_k, 0, hint=" (0 keeps all)")
    check_real("top_p", top_p, 0.0, 1.0, open_low=True)
    check_int("seed", seed, -INT32_MAX - 1)


def truncate_logits(logits, top_k, top_p):
    """Masks every logit outside the top-k and outside the top-p nucleus.

    `top_k == 0` disables top-k; `top_p == 1` disables top-p. The most likely
    token always survives, so the result is never all-masked.

    Example:

    >>> logits = tf.constant([[3.0, 2.0, 1.0, 0.0]])
    >>> kept = truncate_logits(logits, top_k=2, top_p=1.0).numpy()[0] > -1e8
    >>> kept.tolist()
    [True, True, False, False]
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    vocab_size = tf.shape(logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab_size), vocab_size)
    ranks = tf.range(vocab_size)
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
    sorted_logits = tf.where(ranks < k, sorted_logits, MASKED)
    # A token stays in the nucleus while the mass of the tokens ranked above
    # it is below top_p; the first token has zero mass above it and stays.
    mass_above = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
    in_nucleus = (mass_above < top_p) & (ranks < k)
    num_kept = tf.reduce_sum(tf.cast(in_nucleus, tf.int32), axis=-1)
    threshold = tf.gather(sorted_logits, num_kept - 1, batch_dims=1)
    return tf.where(logits < threshold[:, None], MASKED, logits)


def sample_next_token(logits, temperature, top_k, top_p, seed):
    """Returns the next token id for each row of `logits` (batch, vocab).

    `temperature == 0` means greedy (argmax); otherwise logits are divided by
    the temperature, truncated by `top_k`/`top_p`, and sampled with the
    stateless `seed` (a shape-(2,) int tensor).

    Example:

    >>> logits = tf.constant([[0.0, 5.0, 1.0]])
    >>> int(sample_next_token(logits, 0.0, 0, 1.0, [0, 0])[0])
    1
    """
    logits = tf.cast(logits, tf.float32)
    temperature = tf.cast(temperature, tf.float32)
    top_k = tf.cast(top_k, tf.int32)
    top_p = tf.cast(top_p, tf.float32)

    def greedy():
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    def sample():
        scaled = logits / temperature
        scaled = tf.cond(
            (top_k > 0) | (top_p < 1.0),
            lambda: truncate_logits(scaled, top_k, top_p),
            lambda: scaled,
        )
        drawn = tf.random.stateless_categorical(scaled, 1, seed, dtype=tf.int32)
        return drawn[:, 0]

    return tf.cond(temperature > 0.0, sample, greedy)
