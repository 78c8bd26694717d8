"""Reading a Hugging Face checkpoint's weights: one `model.safetensors`, or
shards listed by `model.safetensors.index.json`.

The TensorFlow reader of the safetensors package is used because it knows
bfloat16, the dtype most Llama-family checkpoints are published in (NumPy
has no bfloat16); every tensor is returned as float32 NumPy.
"""

import os

import numpy as np

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import read_json

WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def weight_files(folder):
    """The safetensors files of `folder`: the shards its index lists (each
    checked to exist) or `model.safetensors`; a one-line error otherwise."""
    index_path = os.path.join(folder, INDEX_FILE)
    if os.path.isfile(index_path):
        weight_map = read_json(index_path, required=("weight_map",))
        if not isinstance(weight_map["weight_map"], dict):
            raise KerasLMError(f"{index_path}: weight_map must map tensor "
                               "names to shard files")
        shards = sorted(set(weight_map["weight_map"].values()))
        missing = [s for s in shards
                   if not os.path.isfile(os.path.join(folder, s))]
        if missing:
            raise KerasLMError(
                f"{folder} lacks {len(missing)} of the {len(shards)} shards "
                f"that {INDEX_FILE} lists (first: {missing[0]}); download "
                "every shard")
        return [os.path.join(folder, s) for s in shards]
    path = os.path.join(folder, WEIGHTS_FILE)
    if os.path.isfile(path):
        return [path]
    hint = ""
    if os.path.isfile(os.path.join(folder, "pytorch_model.bin")):
        hint = (" (only pytorch_model.bin is there; re-save it with "
                "save_pretrained(..., safe_serialization=True))")
    raise KerasLMError(f"{folder} has neither {WEIGHTS_FILE} nor "
                       f"{INDEX_FILE}{hint}")


def read_tensors(folder, strip_prefix=""):
    """Every tensor of `folder`'s safetensors files, as float32 NumPy, by
    name (with `strip_prefix` taken off the names that start with it)."""
    try:
        from safetensors.tensorflow import load_file
    except ImportError as e:  # pragma: no cover - a dependency of keras-lm
        raise KerasLMError("reading checkpoints needs the safetensors "
                           "package; pip install safetensors") from e
    import tensorflow as tf

    tensors = {}
    for path in weight_files(folder):
        try:
            loaded = load_file(path)
        except Exception as e:  # a truncated file, an unknown dtype
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise KerasLMError(f"cannot read {path}: {message}")
        for name, value in loaded.items():
            if strip_prefix and name.startswith(strip_prefix):
                name = name[len(strip_prefix):]
            tensors[name] = np.asarray(tf.cast(value, tf.float32))
    return tensors
