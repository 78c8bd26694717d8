"""Sentence pairs as padded ids (`encode_pairs`) and seq2seq `tf.data`
batches (`pairs_dataset`). For a target `t1 .. tn` and lengths
`S = source_length`, `T = target_length` the tensors are:

    source_ids        int32 (batch, S)  s1 .. sm 0 .. 0
    decoder_input_ids int32 (batch, T)  START t1 .. tn 0 .. 0
    target_ids        int32 (batch, T)  t1 .. tn END 0 .. 0

so a target may have at most `T - 1` tokens; longer pairs (or sources longer
than `S`) are filtered out and counted in `EncodedPairs.num_filtered`.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_lm.data.pair_readers import PairSource
from keras_lm.errors import KerasLMError
from keras_lm.tokenizers import TargetSpecials, target_specials


@dataclasses.dataclass
class EncodedPairs:
    """Padded id arrays of the pairs that fit, and how many did not."""

    source_ids: np.ndarray         # int32 (n, source_length)
    decoder_input_ids: np.ndarray  # int32 (n, target_length)
    target_ids: np.ndarray         # int32 (n, target_length)
    num_filtered: int
    specials: TargetSpecials
    #: Index (in the pairs given) of each pair kept, in order.
    kept: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.source_ids)


def encode_pairs(pairs, source_tokenizer, target_tokenizer, source_length,
                 target_length):
    """Tokenizes pairs into fixed-length arrays (layout in module docstring).

    Pairs whose source has more than `source_length` tokens, whose target has
    more than `target_length - 1` tokens, or whose either side encodes to no
    tokens are dropped and counted in `num_filtered` (length capping is by
    tokens, after tokenization, so it means the same for any tokenizer).
    """
    if isinstance(pairs, PairSource):
        pairs = pairs.pairs
    if source_length < 1 or target_length < 2:
        raise KerasLMError("source length must be >= 1 and target length "
                           ">= 2 (room for one token and END)")
    specials = target_specials(target_tokenizer)
    sources, decoder_inputs, targets, kept = [], [], [], []
    filtered = 0
    for index, (source, target) in enumerate(pairs):
        source_ids = source_tokenizer.encode(source)
        target_ids = target_tokenizer.encode(target)
        if (not source_ids or not target_ids
                or len(source_ids) > source_length
                or len(target_ids) > target_length - 1):
            filtered += 1
            continue
        sources.append(source_ids + [0] * (source_length - len(source_ids)))
        pad = [0] * (target_length - 1 - len(target_ids))
        decoder_inputs.append([specials.start_id] + target_ids + pad)
        targets.append(target_ids + [specials.end_id] + pad)
        kept.append(index)

    def array(rows, width):
        return np.asarray(rows, np.int32).reshape(len(rows), width)

    return EncodedPairs(array(sources, source_length),
                        array(decoder_inputs, target_length),
                        array(targets, target_length), filtered, specials,
                        kept)


def pairs_dataset(encoded, batch_size, shuffle=False, seed=0, repeat=False,
                  start_batch=0, num_batches=None, drop_remainder=True):
    """A `tf.data.Dataset` of `((source_ids, decoder_input_ids), target_ids)`
    batches, ready for `Seq2Seq.fit`.

    One pass over the pairs by default, forever with `repeat`, or exactly
    `num_batches` batches (as many passes as that takes). With `shuffle`,
    pass `p` is a stateless shuffle seeded by `(seed, p)`, so batch `b` is
    the same batch whether training runs in one go or resumes at
    `start_batch=b`. `drop_remainder` (the default) cuts passes into whole
    batches, which gives static shapes; evaluation keeps the last partial
    batch instead.

    Example:

    >>> from keras_lm.data.date_pairs import date_pairs
    >>> from keras_lm.tokenizers import CharTokenizer
    >>> pairs = date_pairs(100)
    >>> source = CharTokenizer.from_text("".join(s for s, _ in pairs))
    >>> target = CharTokenizer.from_text("".join(t for _, t in pairs))
    >>> encoded = encode_pairs(pairs, source, target, 40, 12)
    >>> batches = pairs_dataset(encoded, 8, shuffle=True, start_batch=20,
    ...                         num_batches=5)
    >>> len(list(batches))
    5
    """
    n = len(encoded)
    if n < batch_size and drop_remainder:
        raise KerasLMError(f"only {n} pairs fit the length caps, fewer than "
                           f"one batch of {batch_size}; lower the batch size "
                           "or raise the length caps")
    per_pass = max(n // batch_size if drop_remainder else -(-n // batch_size),
                   1)  # no pairs at all (evaluation only): one empty pass
    first_pass = start_batch // per_pass
    if num_batches is not None:
        passes = tf.data.Dataset.range(
            first_pass, (start_batch + num_batches - 1) // per_pass + 1)
    elif repeat:
        passes = tf.data.Dataset.counter(first_pass)
    else:
        passes = tf.data.Dataset.range(first_pass, first_pass + 1)
    columns = tuple(tf.constant(a) for a in (
        encoded.source_ids, encoded.decoder_input_ids, encoded.target_ids))

    def one_pass(p):
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=tf.stack([tf.constant(seed, tf.int64), p]))
        return tf.data.Dataset.from_tensor_slices(order).batch(
            batch_size, drop_remainder=drop_remainder)

    def gather(index):
        source, decoder_input, target = (tf.gather(c, index) for c in columns)
        return (source, decoder_input), target

    batches = passes.flat_map(one_pass).skip(start_batch - first_pass * per_pass)
    if num_batches is not None:
        batches = batches.take(num_batches)
    return batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)
