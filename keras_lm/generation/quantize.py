"""Lower-precision weights and caches for decoding: `quantize_for_decoding`
and `with_kv_cache_dtype`.

Decoding one token at a time reads every weight once per step, so at small
batches its speed is set by memory bandwidth, not arithmetic. Weights in
bfloat16 halve the bytes read (and the memory held). The attention softmax
and the logits stay float32 (the models cast them), so sampling sees float32
probabilities. On the 2-core AVX-512 CPU we measured, XLA's CPU backend
converts bfloat16 dots to float32, and GPT-2 small decoded no faster than in
float32 (1.01x at batch 1); validation loss moved by +0.004%
(`benchmarks/README.md`).

Why not int8: Keras' `model.quantize("int8")` runs inside the compiled loop,
but on GPT-2 small it was no faster than float32 (33 against 31.5 tok/s),
its loop took 127 s to compile (10 s in float32), and it quantizes an
`Embedding`'s table, which a tied output projection then reads without its
scale: the greedy tokens changed from the first one. So int8 is refused.
A weight-only int8 written by hand (int8 weights converted to float32 inside
the loop, scaled per output channel) was no faster either: XLA hoists the
conversion out of the loop unless forced, and forced it costs what it saves
(`benchmarks/README.md`).

A float16 KV cache (`with_kv_cache_dtype`) is what does pay, at large
batches: with the batch split in two concurrent loops
(`keras_lm.generation.sharding`) the nanoGPT-size Transformer's cache then
fits in the CPU's L3 cache, and batch 32 decodes about 1.2x faster again.
"""

import keras

from keras_lm.errors import KerasLMError

#: What `--quantize` accepts, and the Keras dtype policy of each.
MODES = {"bfloat16": "bfloat16", "bf16": "bfloat16"}


def check_quantize_mode(mode):
    """The Keras dtype policy of `mode`, or a one-line error."""
    if mode not in MODES:
        hint = (" (Keras' int8 was no faster here and breaks a tied output "
                "projection; see keras_lm.generation.quantize)"
                if mode == "int8" else "")
        raise KerasLMError(f"unknown quantize mode {mode!r}{hint}; choose "
                           f"one of: {', '.join(sorted(MODES))}")
    return MODES[mode]


def quantize_for_decoding(model, mode="bfloat16"):
    """A copy of the language model `model` whose weights and arithmetic are in `mode`
    (`"bfloat16"`), for generation and export; `model` is left as it is.

    Models say that they can with `decodes_in_bfloat16 = True` (the
    Transformer; Keras' orthogonal initializer of recurrent kernels cannot
    run in bfloat16). Every layer of the copy is made under the mode's
    dtype policy.

    Example:

    >>> import numpy as np
    >>> from keras_lm.models import TransformerLM
    >>> model = TransformerLM(vocab_size=20, max_sequence_length=16,
    ...                       num_layers=1, num_heads=2, d_model=8)
    >>> _ = model(np.zeros((1, 4), "int32"))
    >>> small = quantize_for_decoding(model, "bfloat16")
    >>> {w.dtype for w in small.weights}
    {'bfloat16'}
    >>> small(np.zeros((1, 4), "int32")).dtype == "float32"  # the logits
    True
    """
    policy = check_quantize_mode(mode)
    if not getattr(model, "decodes_in_bfloat16", False):
        raise KerasLMError(
            f"quantize applies to Transformer models, not to a "
            f"{type(model).__name__}: a recurrent model's weights are small "
            "enough that decoding is not bound by reading them")
    return _copy(model, policy)


def with_kv_cache_dtype(model, dtype):
    """A copy of the Transformer `model` that keeps its decoding key/value
    cache in `dtype` (`"float16"`, `"bfloat16"`, `"float32"`); `model` is
    left as it is. The weights and the arithmetic are unchanged.

    Example:

    >>> import numpy as np
    >>> from keras_lm.models import TransformerLM
    >>> model = TransformerLM(vocab_size=20, max_sequence_length=16,
    ...                       num_layers=1, num_heads=2, d_model=8)
    >>> _ = model(np.zeros((1, 4), "int32"))
    >>> half = with_kv_cache_dtype(model, "float16")
    >>> half.initial_cache(1, 16)[0].dtype.name
    'float16'
    """
    if "kv_cache_dtype" not in model.get_config():
        raise KerasLMError(
            f"a KV cache dtype applies to Transformer models, not to a "
            f"{type(model).__name__}, which keeps no key/value cache")
    return _copy(model, kv_cache_dtype=dtype)


def _copy(model, policy=None, **config_changes):
    """`model` made anew from its config with `config_changes`, holding the
    same weights; with a dtype `policy`, every layer is made under it."""
    if not model.weights:
        raise KerasLMError("the model has no weights yet; build or load it "
                           "before copying it for decoding")
    config = {**model.get_config(), **config_changes}
    previous = keras.config.dtype_policy()
    if policy is not None:
        config["dtype"] = policy
        keras.config.set_dtype_policy(policy)
    try:
        copy = model.__class__.from_config(config)
        # Two tokens build every layer: over one, Keras warns that the
        # attention softmax has a single entry.
        copy(keras.ops.zeros((1, 2), "int32"))
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    return copy
