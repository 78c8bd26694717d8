"""Inputs of the bidirectional encoders: `[CLS] tokens [SEP]`, padded.

A BERT-style model reads each text as `[CLS] w1 w2 ... [SEP]` and padding;
the classification head looks at `[CLS]` (or averages the real tokens), and
masked-LM pre-training hides some tokens of such rows. This module packs
token ids into those rows, in NumPy for training data and in TensorFlow
for exported graphs, and builds the two `tf.data` pipelines:

* `classification_dataset`: `(token_ids, label)` batches; each batch is cut
  to its longest row rounded up to `BUCKET` tokens, so short sentences do
  not pay for `max_length` padding and XLA compiles only a few shapes;
* `masked_lm_dataset`: windows of a token stream, corrupted by keras-hub's
  `MaskedLMMaskGenerator` (BERT's 15% selection, 80% `[MASK]` / 10% random
  / 10% kept, special tokens never selected) inside the pipeline, so every
  pass over the data sees new masks.

Both take `start_batch`/`num_batches`, as the language-model pipeline does,
so a resumed run reads exactly the batches it would have read.

>>> ids, cut = pack_rows([[5, 6], [7]], cls_id=2, sep_id=3, pad_id=0,
...                      max_length=4)
>>> ids.tolist(), cut
([[2, 5, 6, 3], [2, 7, 3, 0]], 0)
"""

import math

import numpy as np
import tensorflow as tf

from keras_lm.errors import KerasLMError

#: Batches are cut to a multiple of this many positions.
BUCKET = 32


def pack_rows(id_lists, cls_id, sep_id, pad_id, max_length):
    """`([CLS] ids [SEP]` rows padded to `max_length`, how many were cut)`:
    an int32 array `(len(id_lists), max_length)`; rows longer than
    `max_length - 2` tokens keep their first tokens."""
    if max_length < 3:
        raise KerasLMError(f"max_length must be at least 3 ([CLS], a token, "
                           f"[SEP]), got {max_length}")
    rows = np.full((len(id_lists), max_length), pad_id, np.int32)
    truncated = 0
    for i, ids in enumerate(id_lists):
        ids = list(ids)
        truncated += len(ids) > max_length - 2
        ids = [cls_id] + ids[:max_length - 2] + [sep_id]
        rows[i, :len(ids)] = ids
    return rows, truncated


def pack_graph(ragged_ids, cls_id, sep_id, pad_id, max_length):
    """`pack_rows` in TensorFlow: ragged `(batch, None)` ids to a dense
    int32 `(batch, longest)` of `[CLS] ids [SEP]` rows (at most
    `max_length` wide), for exported graphs."""
    ids = tf.cast(ragged_ids[:, :max_length - 2], tf.int32)
    ones = tf.ones([ids.nrows(), 1], tf.int32)
    packed = tf.concat([tf.RaggedTensor.from_tensor(ones * cls_id), ids,
                        tf.RaggedTensor.from_tensor(ones * sep_id)], axis=1)
    return packed.to_tensor(default_value=pad_id)


def trim_to_bucket(ids, pad_id, bucket=BUCKET):
    """Drops the columns of `ids` (batch, length) past the longest row,
    rounded up to `bucket`: padding nobody reads."""
    longest = tf.reduce_max(tf.reduce_sum(
        tf.cast(ids != pad_id, tf.int32), axis=1))
    width = tf.minimum(tf.shape(ids)[1],
                       (longest + bucket - 1) // bucket * bucket)
    return ids[:, :width]


def _batches(dataset, batch_size, shuffle, seed, size):
    """Shuffled (per pass, from `seed`), repeated and batched; one pass,
    in order, otherwise."""
    if shuffle:
        dataset = dataset.shuffle(size, seed=seed,
                                  reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size, drop_remainder=shuffle)


def classification_dataset(rows, labels, batch_size, pad_id, shuffle=False,
                           seed=0, start_batch=0, num_batches=None):
    """`(token_ids, label)` batches of packed `rows` (`pack_rows`).

    Training (`shuffle=True`) repeats forever in a seeded order and drops
    the last partial batch; `start_batch`/`num_batches` pick the batches.
    """
    dataset = tf.data.Dataset.from_tensor_slices(
        (rows, np.asarray(labels, np.int32)))
    dataset = _batches(dataset, batch_size, shuffle, seed, len(rows))
    dataset = dataset.map(lambda ids, y: (trim_to_bucket(ids, pad_id), y))
    return _window(dataset, start_batch, num_batches)


def _window(dataset, start_batch, num_batches):
    if start_batch:
        dataset = dataset.skip(start_batch)
    if num_batches is not None:
        dataset = dataset.take(num_batches)
    return dataset.prefetch(tf.data.AUTOTUNE)


def stream_windows(id_lists, sep_id, length):
    """The texts' ids joined (each followed by `[SEP]`) and cut into rows of
    `length` tokens: the unlabeled examples of masked-LM pre-training."""
    stream = []
    for ids in id_lists:
        if ids:
            stream.extend(ids)
            stream.append(sep_id)
    count = len(stream) // length
    return np.asarray(stream[:count * length], np.int32).reshape(count, length)


def mask_generator(vocab_size, mask_id, special_ids, seq_len, mask_rate):
    """keras-hub's BERT masker: `mask_rate` of the non-special tokens are
    chosen; of those, 80% become `[MASK]`, 10% a random token, 10% stay."""
    from keras_hub.layers import MaskedLMMaskGenerator

    return MaskedLMMaskGenerator(
        vocabulary_size=vocab_size, mask_selection_rate=mask_rate,
        mask_token_id=mask_id,
        mask_selection_length=max(1, math.ceil(seq_len * mask_rate)) + 1,
        unselectable_token_ids=sorted(special_ids), mask_token_rate=0.8,
        random_token_rate=0.1)


def masked_lm_dataset(windows, masker, cls_id, batch_size, shuffle=False,
                      seed=0, start_batch=0, num_batches=None):
    """`({"token_ids", "mask_positions"}, mask_ids)` batches of `windows`
    (rows of token ids, `[CLS]` put in front), masked by `masker`
    (`mask_generator`). Unused mask slots have target 0 (padding), which
    the loss and accuracy skip."""
    rows = np.concatenate(
        [np.full((len(windows), 1), cls_id, np.int32), windows], axis=1)
    dataset = _batches(tf.data.Dataset.from_tensor_slices(rows), batch_size,
                       shuffle, seed, len(rows))

    def corrupt(ids):
        masked = masker(ids)
        targets = tf.where(masked["mask_weights"] > 0,
                           tf.cast(masked["mask_ids"], tf.int32), 0)
        return ({"token_ids": tf.cast(masked["token_ids"], tf.int32),
                 "mask_positions": tf.cast(masked["mask_positions"],
                                           tf.int32)},
                targets)

    return _window(dataset.map(corrupt), start_batch, num_batches)
