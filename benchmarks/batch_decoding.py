"""Batch-32 decoding of the nanoGPT-size Transformer: one loop against two
concurrent loops (`keras_lm.generation.sharding`), with a float32 and a
float16 KV cache.

The model: 4 layers, 4 heads, width 128, context 1024, 65 tokens (random
weights: speed does not depend on them). Each call: a 1-token prompt, 500
new tokens, temperature 1, no stop id. Every setting is compiled first,
then the settings take turns, `--repeats` calls each, in one process; the
table gives the median and the best call. The ceiling derived in
`benchmarks/README.md` for a float32 cache on the 2-core EPYC is
16,000-17,800 tok/s.

    python benchmarks/batch_decoding.py [--batch 32] [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from machine import describe_machine  # noqa: E402

from keras_lm.generation import (compiled_decode_loop,  # noqa: E402
                                  generate_ids, with_kv_cache_dtype)
from keras_lm.generation.protocol import prompt_buffer  # noqa: E402
from keras_lm.generation.sharding import decode_shards  # noqa: E402
from keras_lm.models import TransformerLM  # noqa: E402

NEW_TOKENS = 500


def settings(batch):
    """name -> (model, decode loop) for every setting compared."""
    keras.utils.set_random_seed(0)
    model = TransformerLM(65, max_sequence_length=1024, num_layers=4,
                          num_heads=4, d_model=128)
    model.build()
    half = with_kv_cache_dtype(model, "float16")
    prompt, lengths = prompt_of(batch)
    buffer, _, _ = prompt_buffer(model, prompt, lengths, NEW_TOKENS)
    chosen = decode_shards(model, None, buffer)
    print(f"decode_shards chooses {chosen} loop(s) at batch {batch}")
    return {
        "one loop, float32 cache": (model, compiled_decode_loop(model)),
        "two loops, float32 cache": (model,
                                     compiled_decode_loop(model, shards=2)),
        "one loop, float16 cache": (half, compiled_decode_loop(half)),
        "two loops, float16 cache": (half,
                                     compiled_decode_loop(half, shards=2)),
    }


def prompt_of(batch):
    return tf.zeros((batch, 1), tf.int32), tf.ones((batch,), tf.int32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(describe_machine())
    prompt, lengths = prompt_of(args.batch)
    cases = settings(args.batch)

    def call(model, loop):
        start = time.perf_counter()
        generate_ids(model, prompt, lengths, NEW_TOKENS, temperature=1.0,
                     decode_loop=loop).numpy()
        return time.perf_counter() - start

    for model, loop in cases.values():
        call(model, loop)  # compile
    seconds = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, (model, loop) in cases.items():
            seconds[name].append(call(model, loop))
    tokens = args.batch * NEW_TOKENS
    print(f"\nbatch {args.batch}, {NEW_TOKENS} new tokens, "
          f"{args.repeats} calls each")
    print(f"{'setting':26s} {'median tok/s':>13s} {'best tok/s':>11s} "
          f"{'ms/step':>8s}")
    for name, times in seconds.items():
        median = statistics.median(times)
        print(f"{name:26s} {tokens / median:13,.0f} {tokens / min(times):11,.0f}"
              f" {median / NEW_TOKENS * 1e3:8.2f}")


if __name__ == "__main__":
    main()
