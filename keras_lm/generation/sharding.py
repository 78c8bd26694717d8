"""Decoding a large batch as two concurrent shards on a CPU.

XLA's CPU backend runs a matrix product on every core, but the small
reductions of attention over a KV cache on one thread. When a decoding step
reads far more cache than weights (a large batch, a long buffer, a small
model), that one thread sets the pace and the other cores wait. Splitting
the batch into two halves, each decoded by its own compiled loop, lets
TensorFlow's executor run the two loops at once, one per core: the
nanoGPT-size Transformer at batch 32 decodes about 1.3x faster
(`benchmarks/README.md`). Where the weights dominate (GPT-2 small at batch
8), the halves would only compete for the same matrix products, so
`decode_shards` keeps one loop there.

The halves draw their random numbers apart (the second one's seed is one
more), so a sampled batch differs from the one decoded as a whole; greedy
tokens are the same. The split depends only on the shapes and the device,
so the same call gives the same tokens on every CPU.
"""

import math
import weakref

import tensorflow as tf

#: How many loops a large batch is split into.
SHARDS = 2
#: Fewer rows than this per shard are not worth a second loop.
MIN_ROWS_PER_SHARD = 8

_decisions = weakref.WeakKeyDictionary()


def decode_shards(model, inputs, buffer):
    """How many concurrent loops should decode `buffer` (1 or `SHARDS`).

    More than one only on a CPU (no GPU or TPU in sight), for a batch whose
    size is known and gives each shard `MIN_ROWS_PER_SHARD` rows, and when
    the decoding state of the whole buffer (the KV caches) holds more than
    twice the weights' bytes: an average step, which reads about half of
    it, then reads more cache than weights.
    """
    batch_size, length = buffer.shape
    if (batch_size is None or length is None
            or batch_size < SHARDS * MIN_ROWS_PER_SHARD or not _on_cpu()):
        return 1
    source_shapes = tuple(tuple(t.shape) for t in tf.nest.flatten(inputs)
                          if t is not None)
    key = (batch_size, length, source_shapes)
    decided = _decisions.setdefault(model, {})
    if key not in decided:
        state_bytes = _state_bytes(model, inputs, batch_size, length)
        weight_bytes = sum(math.prod(w.shape) * tf.as_dtype(w.dtype).size
                           for w in model.weights)
        decided[key] = SHARDS if state_bytes > 2 * weight_bytes else 1
    return decided[key]


def run_in_shards(loop, shards, weights, inputs, buffer, prompt_lengths,
                  ends, temperature, top_k, top_p, seed, stop_ids,
                  with_log_probs):
    """Calls the compiled sampling `loop` on `shards` slices of the batch
    and joins what they return, `(buffer, log_probs)`.

    The calls do not depend on one another, so inside one `tf.function`
    TensorFlow runs them concurrently.
    """
    batch_size = buffer.shape[0]
    sizes = [batch_size // shards + (i < batch_size % shards)
             for i in range(shards)]

    def split(tensor):
        return tf.split(tensor, sizes)

    per_shard_inputs = (
        [None] * shards if inputs is None else
        [tf.nest.pack_sequence_as(inputs, leaves) for leaves in
         zip(*[split(t) for t in tf.nest.flatten(inputs)])])
    results = [
        loop(weights, shard_inputs, shard_buffer, shard_lengths, shard_ends,
             temperature, top_k, top_p, seed + i, stop_ids, with_log_probs)
        for i, (shard_inputs, shard_buffer, shard_lengths, shard_ends)
        in enumerate(zip(per_shard_inputs, split(buffer),
                         split(prompt_lengths), split(ends)))]
    return (tf.concat([buffer for buffer, _ in results], 0),
            tf.concat([log_probs for _, log_probs in results], 0))


def _state_bytes(model, inputs, batch_size, length):
    """Bytes of `model.start_decoding`'s state, from a trace (nothing is
    allocated)."""
    traced = tf.function(
        lambda: model.start_decoding(inputs, batch_size, length),
        autograph=False).get_concrete_function()
    _, state = traced.structured_outputs
    return sum(t.dtype.size * (t.shape.num_elements() or 0)
               for t in tf.nest.flatten(state))


def _on_cpu():
    return not (tf.config.list_logical_devices("GPU")
                or tf.config.list_logical_devices("TPU"))
