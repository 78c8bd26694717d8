"""One decoding step's attention over a KV cache, written several ways.

Times each form alone at batch 32 (4 heads of 32, a 1,024-position cache of
which the first 320 are read, as at position ~288 of a 500-token run), 200
steps inside one XLA-compiled `while_loop`, and prints ms per layer and step:

    python benchmarks/decode_attention_forms.py

sum        what the library does (`_attend_prefix`): broadcast multiply and
           sum over head_dim, softmax, weighted sum over positions
sum_f16    the same over a float16 cache
keys_t     keys stored (head_dim, positions): the score sum runs over a
           non-minor axis
matmul     two batched matmuls over the sliced cache
pos_major  the cache stored (positions, batch, heads, head_dim), so a prefix
           is one contiguous slice
split2     `sum` on two halves of the batch (independent work XLA could run
           on both cores)
torch_sdpa PyTorch's `scaled_dot_product_attention` on the same shapes and
           two threads, when torch is installed (the test extra pins it):
           an outside reference for how fast this CPU runs the step at all.
           Timed from a Python loop, so its figure includes a few
           microseconds of dispatch per call.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from machine import describe_machine  # noqa: E402

BATCH, HEADS, BUFFER, HEAD_DIM = 32, 4, 1024, 32
POSITION, READ = 288, 320  # the query's position; cache positions read
STEPS = 200


def masked_softmax(scores, axis=-1):
    positions = tf.range(READ)
    if axis == 0:
        positions = positions[:, None, None]
    return tf.nn.softmax(tf.where(positions <= POSITION, scores, -1e9), axis)


def attend_sum(q, keys, values):  # q (b, h, 1, d); cache (b, h, L, d)
    keys = tf.cast(keys[:, :, :READ], tf.float32)
    values = tf.cast(values[:, :, :READ], tf.float32)
    weights = masked_softmax(tf.reduce_sum(q * keys, -1))[..., None]
    return tf.reduce_sum(weights * values, 2)


def attend_keys_t(q, keys_t, values):  # keys_t (b, h, d, L)
    scores = tf.reduce_sum(tf.transpose(q, (0, 1, 3, 2))
                           * keys_t[..., :READ], 2)
    weights = masked_softmax(scores)[..., None]
    return tf.reduce_sum(weights * values[:, :, :READ], 2)


def attend_matmul(q, keys, values):
    scores = tf.matmul(q, keys[:, :, :READ], transpose_b=True)[:, :, 0]
    weights = masked_softmax(scores)[:, :, None]
    return tf.matmul(weights, values[:, :, :READ])[:, :, 0]


def attend_pos_major(q, keys, values):  # cache (L, b, h, d)
    scores = tf.reduce_sum(q[None, :, :, 0] * keys[:READ], -1)  # (L, b, h)
    weights = masked_softmax(scores, axis=0)
    return tf.reduce_sum(weights[..., None] * values[:READ], 0)


def attend_split2(q, keys, values):
    parts = zip(*(tf.split(t, 2) for t in (q, keys, values)))
    return tf.concat([attend_sum(*part) for part in parts], 0)


def timed_steps(attend, q, keys, values):
    """ms per call of `attend`, STEPS calls chained in one XLA program (each
    query depends on the last output, so no call can be skipped)."""
    @tf.function(jit_compile=True)
    def run(q, keys, values):
        def body(i, total):
            return i + 1, total + attend(q + total[:, :, None] * 0.0,
                                         keys, values)
        return tf.while_loop(lambda i, _: i < STEPS, body,
                             (0, tf.zeros((BATCH, HEADS, HEAD_DIM))))[1]

    out = run(q, keys, values).numpy()  # compile
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        run(q, keys, values).numpy()
        best = min(best, (time.perf_counter() - start) / STEPS)
    return best, out / STEPS


def torch_sdpa_seconds(q, keys, values):
    """`(seconds per call, output)` of PyTorch's fused attention over the
    first READ positions (best of 3 x STEPS calls), or None without torch.
    Unscaled scores (`scale=1`), as the forms above compute them."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    q, keys, values = (torch.from_numpy(t.numpy()) for t in (q, keys, values))
    mask = (torch.arange(READ) <= POSITION)[None, :]  # (query, key)

    def step():
        return torch.nn.functional.scaled_dot_product_attention(
            q, keys[:, :, :READ], values[:, :, :READ], attn_mask=mask,
            scale=1.0)

    for _ in range(20):
        step()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(STEPS):
            out = step()
        best = min(best, (time.perf_counter() - start) / STEPS)
    return best, out[:, :, 0].numpy()


def main():
    rng = np.random.default_rng(0)
    q = tf.constant(rng.normal(size=(BATCH, HEADS, 1, HEAD_DIM)), tf.float32)
    keys, values = (tf.constant(rng.normal(size=(BATCH, HEADS, BUFFER,
                                                  HEAD_DIM)), tf.float32)
                    for _ in range(2))
    pos_major = (0, 1), (2, 0, 1, 3)
    forms = {
        "sum": (attend_sum, keys, values),
        "sum_f16": (attend_sum, tf.cast(keys, tf.float16),
                    tf.cast(values, tf.float16)),
        "keys_t": (attend_keys_t, tf.transpose(keys, (0, 1, 3, 2)), values),
        "matmul": (attend_matmul, keys, values),
        "pos_major": (attend_pos_major, tf.transpose(keys, pos_major[1]),
                      tf.transpose(values, pos_major[1])),
        "split2": (attend_split2, keys, values),
    }
    print(describe_machine())
    reference = None
    for name, (attend, k, v) in forms.items():
        seconds, out = timed_steps(attend, q, k, v)
        reference = out if reference is None else reference
        error = float(np.abs(out - reference).max())
        print(f"{name:10s} {seconds * 1e3:6.3f} ms per layer and step "
              f"(max difference from `sum` {error:.1e})")
    torch_result = torch_sdpa_seconds(q, keys, values)
    if torch_result is not None:
        seconds, out = torch_result
        # `reference` is the mean of STEPS steps on one fixed query, that
        # is one step's output.
        error = float(np.abs(out - reference).max())
        print(f"{'torch_sdpa':10s} {seconds * 1e3:6.3f} ms per layer and step "
              f"(max difference from `sum` {error:.1e})")


if __name__ == "__main__":
    main()
