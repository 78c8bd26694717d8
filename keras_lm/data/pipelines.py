"""`tf.data` pipelines that turn a stream of token ids into LM batches.

Each batch is `(inputs, targets)`, both int32 `(batch_size, seq_len)`, where
targets are the inputs shifted by one token. Shapes are static
(`drop_remainder` semantics everywhere), which XLA and TPUs need.

Two layouts:

- **stateless** (default): the corpus is cut into windows of `seq_len + 1`
  tokens, shuffled anew on every pass over the data. With
  `random_offsets=True` every window instead starts at a uniformly random
  position, as nanoGPT samples them, so the model sees the text cut at ever
  different places (on nanoGPT's tiny Shakespeare run this beat both the
  fixed grid and a grid with a random offset per window; see
  benchmarks/README.md). A "pass" is then just as many batches.
- **stateful**: the corpus is cut into `batch_size` contiguous streams, and
  row `i` of batch `k + 1` continues row `i` of batch `k`, so a stateful RNN
  can carry its state across batches (truncated BPTT).

Batches are computed from their global index `b` alone (the shuffle of pass
`b // batches_per_pass` is a stateless function of the seed), so a resumed run
can start at any batch and see exactly what an uninterrupted run saw.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_lm.errors import KerasLMError


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a stream of `num_tokens` ids is cut into batches."""

    num_tokens: int
    seq_len: int
    batch_size: int
    stateful: bool = False

    @property
    def batches_per_pass(self):
        """Batches in one pass over the corpus (0 if it is too short)."""
        if self.stateful:
            stream_length = self.num_tokens // self.batch_size
            return max(stream_length - 1, 0) // self.seq_len
        windows = max(self.num_tokens - 1, 0) // self.seq_len
        return windows // self.batch_size

    def check(self, what="corpus"):
        if self.batches_per_pass < 1:
            need = self.batch_size * (self.seq_len + 1)
            raise KerasLMError(
                f"the {what} is too short for one batch: {self.num_tokens} "
                f"tokens, need at least {need}; lower batch_size or "
                "seq_len, or use more text")
        return self


def language_model_dataset(ids, seq_len, batch_size, *, stateful=False,
                           shuffle=True, seed=0, start_batch=0,
                           num_batches=None, random_offsets=False,
                           what="corpus"):
    """Builds the `(inputs, targets)` dataset over the token ids `ids`.

    Args:
        ids: 1-D int array, the whole tokenized text.
        seq_len: tokens per training example.
        batch_size: examples per batch (fixed).
        stateful: use the contiguous-streams layout.
        shuffle: shuffle the windows of each pass (stateless layout only).
        seed: shuffle seed; pass `p` is shuffled with seed `(seed, p)`.
        start_batch: global index of the first batch (to resume a run).
        num_batches: how many batches to produce; None repeats forever.
        random_offsets: start each window at a uniformly random position,
            drawn from the seed and the batch index (stateless layout
            only).
        what: the name used in the "too short" error message.

    Returns:
        `(dataset, layout)`.

    Example:

    >>> ds, layout = language_model_dataset(np.arange(1000), 10, 4,
    ...                                     num_batches=2)
    >>> [x.shape for x, y in ds]
    [TensorShape([4, 10]), TensorShape([4, 10])]
    """
    ids = np.asarray(ids, dtype=np.int32)
    layout = Layout(len(ids), seq_len, batch_size, stateful).check(what)
    per_pass = layout.batches_per_pass
    stop = tf.int64.max if num_batches is None else start_batch + num_batches
    indices = tf.data.Dataset.range(start_batch, stop)
    if stateful:
        make_batch = _stream_batches(ids, seq_len, batch_size, per_pass)
    else:
        make_batch = _window_batches(ids, seq_len, batch_size, per_pass,
                                     shuffle, seed, random_offsets)
    # Fixed parallelism rather than AUTOTUNE: batches are cheap slices of an
    # in-memory tensor, and with tf.data autotuning on, `fit()` was measured
    # returning 3-9 s after its last step (0.01-0.04 s without).
    dataset = indices.map(make_batch, num_parallel_calls=2, deterministic=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options), layout


def _window_batches(ids, seq_len, batch_size, per_pass, shuffle, seed,
                   random_offsets):
    tokens = tf.constant(ids)
    num_windows = per_pass * batch_size
    window_offsets = tf.range(seq_len + 1, dtype=tf.int64)
    seed = tf.cast(seed, tf.int64)

    def grid_starts(index):
        """Window starts on the grid of multiples of seq_len, shuffled per
        pass."""
        pass_number, position = index // per_pass, index % per_pass
        order = tf.range(num_windows, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=tf.stack([seed, pass_number]))
        return order[position * batch_size:(position + 1) * batch_size] * seq_len

    def random_starts(index):
        """Uniformly random window starts (nanoGPT's `get_batch`)."""
        return tf.random.stateless_uniform(
            [batch_size], tf.stack([seed + 1, index]),
            maxval=len(ids) - seq_len, dtype=tf.int64)

    starts_of = random_starts if random_offsets else grid_starts

    def make_batch(index):
        windows = tf.gather(tokens, starts_of(index)[:, None] + window_offsets)
        windows = tf.ensure_shape(windows, [batch_size, seq_len + 1])
        return windows[:, :-1], windows[:, 1:]

    return make_batch


def _stream_batches(ids, seq_len, batch_size, per_pass):
    stream_length = len(ids) // batch_size
    streams = tf.constant(ids[:batch_size * stream_length].reshape(
        batch_size, stream_length))

    def make_batch(index):
        start = (index % per_pass) * seq_len
        chunk = streams[:, start:start + seq_len + 1]
        chunk = tf.ensure_shape(chunk, [batch_size, seq_len + 1])
        return chunk[:, :-1], chunk[:, 1:]

    return make_batch
