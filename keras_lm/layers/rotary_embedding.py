"""Rotary position embeddings (RoPE), as Llama, Qwen2 and Mistral use them.

Instead of adding a learned position vector to the tokens, RoPE rotates each
query and key by an angle proportional to its position, so the score of a
query at `i` and a key at `j` depends on `i - j` only. The head is split in
two halves (Hugging Face's `rotate_half` layout, which is how Llama-family
checkpoints are stored):

    x * cos(p * f) + rotate_half(x) * sin(p * f),  rotate_half([a, b]) = [-b, a]

with the frequencies `f_k = theta ** (-2k / head_dim)`. A `rope_scaling`
entry of a `config.json` stretches the frequencies for longer contexts:
"linear" divides them all by `factor`; "llama3" divides the low ones by
`factor`, keeps the high ones and blends in between. The frequencies are
computed once, in float64 NumPy, and the angles in float32, as transformers
does.
"""

import math

import numpy as np
from keras import ops

from keras_lm.errors import KerasLMError

#: The `rope_scaling` types (`rope_type`, or `type` in older configs) known.
SCALING_TYPES = ("default", "linear", "llama3")


def scaling_type(rope_scaling):
    """The type of a `rope_scaling` dict (None and "default": no scaling)."""
    if not rope_scaling:
        return "default"
    return rope_scaling.get("rope_type", rope_scaling.get("type", "default"))


def check_rope_scaling(rope_scaling):
    """One-line error unless `rope_scaling` is None or a supported dict."""
    if rope_scaling is None:
        return
    if not isinstance(rope_scaling, dict):
        raise KerasLMError(f"rope_scaling must be a dict or None, not "
                           f"{rope_scaling!r}")
    kind = scaling_type(rope_scaling)
    if kind not in SCALING_TYPES:
        raise KerasLMError(f"rope_scaling type {kind!r} is not supported; "
                           f"supported: {', '.join(SCALING_TYPES)}")
    needed = {"linear": ("factor",),
              "llama3": ("factor", "low_freq_factor", "high_freq_factor",
                         "original_max_position_embeddings")}.get(kind, ())
    missing = [key for key in needed if key not in rope_scaling]
    if missing:
        raise KerasLMError(f"rope_scaling of type {kind!r} needs "
                           f"{', '.join(missing)}")


def inverse_frequencies(head_dim, theta, rope_scaling=None):
    """The `head_dim // 2` rotation frequencies, float32 NumPy.

    >>> inverse_frequencies(4, 10000.0).tolist()
    [1.0, 0.009999999776482582]
    >>> float(inverse_frequencies(4, 1e4, {"type": "linear", "factor": 2})[0])
    0.5
    """
    check_rope_scaling(rope_scaling)
    exponents = np.arange(0, head_dim, 2, dtype=np.float64) / head_dim
    frequencies = 1.0 / (theta ** exponents)
    kind = scaling_type(rope_scaling)
    if kind == "linear":
        frequencies = frequencies / rope_scaling["factor"]
    elif kind == "llama3":
        frequencies = _llama3_frequencies(frequencies, rope_scaling)
    return frequencies.astype(np.float32)


def _llama3_frequencies(frequencies, scaling):
    """Llama 3.1's scaling: long wavelengths slowed by `factor`, short ones
    kept, a linear blend (in wavelength) between the two bands."""
    factor = scaling["factor"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    context = scaling["original_max_position_embeddings"]
    wavelengths = 2 * math.pi / frequencies
    scaled = np.where(wavelengths > context / low, frequencies / factor,
                      frequencies)
    smooth = (context / wavelengths - low) / (high - low)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelengths >= context / high) & (wavelengths <= context / low)
    return np.where(medium, blended, scaled)


def apply_rotary(x, positions, frequencies):
    """Rotates `x` `(batch, heads, time, head_dim)` by its `positions`
    `(time,)` (int), with `frequencies` from `inverse_frequencies`.

    >>> import numpy as np
    >>> x = np.ones((1, 1, 2, 4), "float32")
    >>> out = apply_rotary(x, np.array([0, 1]), inverse_frequencies(4, 1e4))
    >>> bool(np.allclose(out[0, 0, 0], x[0, 0, 0]))  # position 0: unchanged
    True
    """
    angles = (ops.cast(positions, "float32")[:, None]
              * ops.convert_to_tensor(frequencies)[None, :])  # (time, d/2)
    angles = ops.concatenate([angles, angles], axis=-1)
    cos = ops.cast(ops.cos(angles), x.dtype)
    sin = ops.cast(ops.sin(angles), x.dtype)
    first, second = ops.split(x, 2, axis=-1)
    rotated = ops.concatenate([-second, first], axis=-1)
    return x * cos + rotated * sin
