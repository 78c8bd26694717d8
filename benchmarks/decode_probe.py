"""Where a decoding step's time goes: `generate_ids` of 500 tokens after a
1-token prompt with the 4x128 context-1024 TransformerLM, with parts of the
step switched off or changed (best of 3 calls, compile excluded).

    python benchmarks/decode_probe.py VARIANT [BATCH]
    taskset -c 0 python benchmarks/decode_probe.py now 32   # one core

VARIANT: now (the library as it is), no_attention (the attention of every
step replaced by its query: a lower bound for everything else), no_xla (the
same loop as a plain tf.function), bf16_cache (keys and values stored in
bfloat16).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from machine import describe_machine  # noqa: E402

from keras_lm.generation import (compiled_decode_loop,  # noqa: E402
                                  generate_ids)
from keras_lm.layers import multi_head_self_attention as mhsa  # noqa: E402
from keras_lm.models.transformer_lm import TransformerLM  # noqa: E402

NEW_TOKENS = 500


def apply_variant(variant, model):
    """Applies `variant` to the attention layer class; returns the sampling
    loop `generate_ids` is to call (None: the library's default, the
    XLA-compiled `compiled_decode_loop(model)`)."""
    attention = mhsa.MultiHeadSelfAttention
    if variant == "no_attention":
        attention._attend_one_query = (
            lambda self, query, cache, index: self._merge_heads(query))
    elif variant in ("bf16_cache", "f16_cache"):
        original = attention.initial_cache
        cache_dtype = "bfloat16" if variant == "bf16_cache" else "float16"
        attention.initial_cache = (
            lambda self, batch, length, dtype=None:
            original(self, batch, length, dtype=cache_dtype))
    elif variant == "no_xla":
        # The same sampling loop traced as a plain tf.function (no XLA).
        return compiled_decode_loop(model, jit_compile=False)
    elif variant != "now":
        raise SystemExit(f"unknown variant {variant!r}")
    return None


def main():
    variant = sys.argv[1] if len(sys.argv) > 1 else "now"
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    keras.utils.set_random_seed(0)
    model = TransformerLM(65, max_sequence_length=1024, num_layers=4,
                          num_heads=4, d_model=128)
    model.build((None, None))
    decode_loop = apply_variant(variant, model)
    prompt = tf.zeros((batch, 1), tf.int32)
    lengths = tf.ones((batch,), tf.int32)

    def generate():
        return generate_ids(model, prompt, lengths, NEW_TOKENS,
                            temperature=1.0, decode_loop=decode_loop).numpy()

    generate()  # compile
    times = []
    for _ in range(3):
        start = time.perf_counter()
        generate()
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"{describe_machine()}, {len(os.sched_getaffinity(0))} usable")
    print(f"{variant:12s} batch {batch}: {batch * NEW_TOKENS / best:8,.0f} "
          f"tok/s ({best / NEW_TOKENS * 1e3:.2f} ms/step)")


if __name__ == "__main__":
    main()
