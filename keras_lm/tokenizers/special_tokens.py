"""Special tokens written in text (``<|im_end|>``, ``</s>``): matched
literally, each as its own id, by every tokenizer that has them, in Python
and in the graph."""

import re

import tensorflow as tf


def literal_pattern(tokens):
    """A regex matching any of `tokens` literally ("" for none). Longest
    first: at one position Python's re and RE2 take the first alternative,
    so this matches leftmost-longest, as the tokenizers library does."""
    return "|".join(re.escape(t) for t in sorted(tokens, key=len,
                                                 reverse=True))


def rows_or_single(rows, use_single, single_ids):
    """Ragged `rows`, except that row i is `[single_ids[i]]` where
    `use_single[i]`."""
    keep = tf.gather(tf.logical_not(use_single), rows.value_rowids())
    body = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(rows.flat_values, keep),
        tf.where(use_single, tf.zeros_like(rows.row_lengths()),
                 rows.row_lengths()))
    single = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(single_ids, use_single),
        tf.cast(use_single, body.row_splits.dtype))
    return tf.concat([body, single], axis=1)
