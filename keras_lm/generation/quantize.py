"""Lower-precision weights for decoding: `quantize_for_decoding`.

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
    if not model.weights:
        raise KerasLMError("the model has no weights yet; build or load it "
                           "before quantizing")
    config = model.get_config()
    config["dtype"] = policy
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        copy = model.__class__.from_config(config)
        copy(keras.ops.zeros((1, 1), "int32"))  # builds every layer
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    return copy
