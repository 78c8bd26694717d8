"""Would weight-only int8 make GPT-2-small decoding faster under XLA on a CPU?

A stand-in for GPT-2 small's decode step at batch 1 (12 blocks of the
768x2304, 768x768, 768x3072 and 3072x768 products, then the 50257x768
output projection), 32 steps in one XLA-compiled `tf.while_loop`, with the
weights:

- `float32`: as the library keeps them;
- `int8, as written`: int8 with a float32 scale per output channel,
  converted to float32 in the step (XLA hoists the loop-invariant conversion
  out of the loop, so the step reads float32 again);
- `int8, converted per step`: the same, with the conversion kept in the
  step (the weights are read through an index XLA cannot prove constant),
  so each step reads a quarter of the bytes and converts them;
- `int8, fused reduce`: the products written as multiply-and-sum, which XLA
  fuses with the conversion into one loop over the int8 weights.

    python benchmarks/weight_only_int8_probe.py [--repeats 3]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from machine import describe_machine  # noqa: E402

STEPS, WIDTH, VOCAB, LAYERS = 32, 768, 50257, 12
SHAPES = [(WIDTH, 3 * WIDTH), (WIDTH, WIDTH), (WIDTH, 4 * WIDTH),
          (4 * WIDTH, WIDTH)] * LAYERS


def int8_per_column(weight):
    """int8 weights and the float32 scale of each output column."""
    scale = np.abs(weight).max(axis=0, keepdims=True) / 127.0
    return (tf.constant(np.round(weight / scale).astype(np.int8)),
            tf.constant(scale.astype(np.float32)))


def decode_loop(product):
    """32 steps of the stand-in model; `product(k, x, zero)` multiplies `x`
    by weight `k` (k == len(SHAPES) is the output projection)."""
    def normalize(x):
        return x * tf.math.rsqrt(tf.reduce_mean(x * x, -1, keepdims=True)
                                 + 1e-5)

    @tf.function(jit_compile=True)
    def loop(h):
        def body(step, h, total):
            zero = tf.minimum(step, 0)  # 0, but not provably so to XLA
            x = h
            for k in range(0, len(SHAPES), 4):
                qkv = product(k, x, zero)
                x = x + product(k + 1, qkv[:, :WIDTH], zero)
                hidden = tf.nn.gelu(product(k + 2, normalize(x), zero))
                x = normalize(x + product(k + 3, hidden, zero))
            logits = product(len(SHAPES), x, zero)
            return step + 1, normalize(x + logits[:, :WIDTH]), total + logits
        return tf.while_loop(lambda step, *_: step < STEPS, body,
                             (0, h, tf.zeros((1, VOCAB))))[2]
    return loop


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s, dtype=np.float32) * 0.02
               for s in SHAPES + [(WIDTH, VOCAB)]]
    full = [tf.constant(w) for w in weights]
    small = [int8_per_column(w) for w in weights]
    stacked = [(w[None], s) for w, s in small]

    def as_written(k, x, zero):
        weight, scale = small[k]
        return (x @ tf.cast(weight, tf.float32)) * scale

    def per_step(k, x, zero):
        weight, scale = stacked[k]
        return (x @ tf.cast(tf.gather(weight, zero), tf.float32)) * scale

    def fused_reduce(k, x, zero):
        weight, scale = stacked[k]
        weight = tf.cast(tf.gather(weight, zero), tf.float32)
        return tf.reduce_sum(x[:, :, None] * weight, axis=1) * scale

    loops = {"float32": decode_loop(lambda k, x, zero: x @ full[k]),
             "int8, as written": decode_loop(as_written),
             "int8, converted per step": decode_loop(per_step),
             "int8, fused reduce": decode_loop(fused_reduce)}
    h = tf.constant(rng.standard_normal((1, WIDTH), dtype=np.float32))
    for loop in loops.values():
        loop(h).numpy()  # compile
    times = {name: [] for name in loops}
    for _ in range(args.repeats):
        for name, loop in loops.items():
            start = time.perf_counter()
            loop(h).numpy()
            times[name].append((time.perf_counter() - start) / STEPS)
    print(describe_machine())
    print(f"GPT-2-small-sized decode step, batch 1, median of "
          f"{args.repeats} x {STEPS} steps")
    for name, seconds in times.items():
        print(f"{name:26s} {statistics.median(seconds) * 1e3:7.2f} ms/step")


if __name__ == "__main__":
    main()
