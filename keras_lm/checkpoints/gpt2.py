"""Import a Hugging Face GPT-2 checkpoint as a keras-lm run directory.

    import_gpt2("gpt2/", "runs/gpt2")
    # keras-lm generate runs/gpt2 --prompt "Hello"

The checkpoint folder is what `GPT2LMHeadModel.save_pretrained(...,
safe_serialization=True)` writes, or a download of the `gpt2` Hub repo:

    config.json        n_embd, n_layer, n_head, n_positions, vocab_size,
                       layer_norm_epsilon, activation_function
    model.safetensors  the weights, read with the safetensors NumPy API
                       (no PyTorch needed)
    vocab.json, merges.txt   the byte-level BPE tokenizer

The weights map one to one onto `TransformerLM` (see the table in
`keras_lm.models.transformer_lm`); GPT-2's fused `c_attn` is split into the
query, key and value projections. The run directory gets config.json (family
"transformer", "finished": true), tokenizer.json (`ByteBPETokenizer`),
checkpoints/best.weights.h5 and last.weights.h5 and model.keras, so
`keras-lm generate/evaluate/export/finetune RUN_DIR` work on it as on a
trained run.
"""

import json
import os

import numpy as np

from keras_lm.checkpoints.safetensors_io import read_tensors
from keras_lm.errors import KerasLMError, check_int
from keras_lm.io_utils import read_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
#: GPT-2 activations and whether TransformerLM's GELU is the tanh form.
ACTIVATIONS = {"gelu_new": True, "gelu_pytorch_tanh": True, "gelu": False}


def is_gpt2_checkpoint(path):
    """Whether `path` is a Hugging Face GPT-2 folder (not a keras-lm run).

    Decided by its config.json: GPT-2's has `model_type` "gpt2" or `n_embd`;
    a run directory's has a "model" section instead.
    """
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and (config.get("model_type") == "gpt2"
                                         or "n_embd" in config)


def read_gpt2_config(checkpoint_dir):
    """Reads and checks the checkpoint's `config.json`; returns the dict."""
    path = os.path.join(checkpoint_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} not found: a GPT-2 checkpoint folder needs "
                           f"{CONFIG_FILE} and {WEIGHTS_FILE}")
    sizes = ("n_embd", "n_layer", "n_head", "n_positions", "vocab_size")
    config = read_json(path, required=sizes)
    model_type = config.get("model_type", "gpt2")
    if model_type != "gpt2":
        raise KerasLMError(f"{path} describes a {model_type!r} model; only "
                           "GPT-2 (model_type 'gpt2') checkpoints import")
    for key in sizes:
        check_int(f"{path}: {key}", config[key], 1)
    activation = config.get("activation_function", "gelu_new")
    if activation not in ACTIVATIONS:
        raise KerasLMError(f"{path}: activation_function {activation!r} is "
                           f"not supported; known: {', '.join(ACTIVATIONS)}")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if config.get(flag):
            raise KerasLMError(f"{path}: {flag}=true is not supported by "
                               "TransformerLM")
    if config.get("scale_attn_weights") is False:
        raise KerasLMError(f"{path}: scale_attn_weights=false is not "
                           "supported by TransformerLM")
    if config["n_embd"] % config["n_head"]:
        raise KerasLMError(f"{path}: n_head={config['n_head']} does not divide "
                           f"n_embd={config['n_embd']}")
    return config


def model_config_from_gpt2(config):
    """`TransformerLM` constructor arguments for a GPT-2 `config.json`."""
    return {
        "vocab_size": int(config["vocab_size"]),
        "max_sequence_length": int(config["n_positions"]),
        "num_layers": int(config["n_layer"]),
        "num_heads": int(config["n_head"]),
        "d_model": int(config["n_embd"]),
        "mlp_dim": int(config.get("n_inner") or 4 * config["n_embd"]),
        "dropout": 0.0,
        "layer_norm_epsilon": float(config.get("layer_norm_epsilon", 1e-5)),
        "gelu_approximate": ACTIVATIONS[
            config.get("activation_function", "gelu_new")],
        "use_bias": True,
        "output_bias": False,
    }


def read_safetensors(checkpoint_dir):
    """The checkpoint's tensors as float32 NumPy arrays, without
    "transformer." (one file or shards; float32, float16 or bfloat16)."""
    return read_tensors(checkpoint_dir, strip_prefix="transformer.")


def _expected_shapes(config):
    d, v = config["d_model"], config["vocab_size"]
    m, p = config["mlp_dim"], config["max_sequence_length"]
    shapes = {"wte.weight": (v, d), "wpe.weight": (p, d),
              "ln_f.weight": (d,), "ln_f.bias": (d,)}
    for i in range(config["num_layers"]):
        shapes.update({
            f"h.{i}.ln_1.weight": (d,), f"h.{i}.ln_1.bias": (d,),
            f"h.{i}.attn.c_attn.weight": (d, 3 * d),
            f"h.{i}.attn.c_attn.bias": (3 * d,),
            f"h.{i}.attn.c_proj.weight": (d, d),
            f"h.{i}.attn.c_proj.bias": (d,),
            f"h.{i}.ln_2.weight": (d,), f"h.{i}.ln_2.bias": (d,),
            f"h.{i}.mlp.c_fc.weight": (d, m), f"h.{i}.mlp.c_fc.bias": (m,),
            f"h.{i}.mlp.c_proj.weight": (m, d), f"h.{i}.mlp.c_proj.bias": (d,),
        })
    return shapes


def check_shapes(tensors, shapes, path, question):
    """One-line error unless every tensor of `shapes` (`{name: shape}`) is
    in `tensors` with that shape; `question` follows a missing one's name
    ("is it a GPT-2 checkpoint?")."""
    for name, shape in shapes.items():
        if name not in tensors:
            raise KerasLMError(f"{path} has no tensor {name}; {question}")
        if tuple(tensors[name].shape) != shape:
            raise KerasLMError(
                f"{path}: tensor {name} has shape "
                f"{tuple(tensors[name].shape)} but config.json implies "
                f"{shape}; the checkpoint does not match its config")


def check_tensors(tensors, model_config, path="model.safetensors"):
    """One-line error unless every tensor GPT-2 needs is there, shaped right."""
    check_shapes(tensors, _expected_shapes(model_config), path,
                 "is it a GPT-2 checkpoint?")
    head = tensors.get("lm_head.weight")
    if head is not None and (head.shape != tensors["wte.weight"].shape
                             or not np.array_equal(head,
                                                   tensors["wte.weight"])):
        raise KerasLMError(f"{path}: lm_head.weight differs from wte.weight; "
                           "TransformerLM ties its output to the token "
                           "embedding, so an untied head cannot be imported")


def assign_gpt2_weights(model, tensors):
    """Copies GPT-2 tensors (names without "transformer.") into `model`."""
    if not model.built:
        model.build()
    d = model.d_model
    model.token_embedding.embeddings.assign(tensors["wte.weight"])
    model.position_embedding.embeddings.assign(tensors["wpe.weight"])
    model.ln_f.gamma.assign(tensors["ln_f.weight"])
    model.ln_f.beta.assign(tensors["ln_f.bias"])
    for i, block in enumerate(model.blocks):
        def t(name):
            return tensors[f"h.{i}.{name}"]

        block.ln_1.gamma.assign(t("ln_1.weight"))
        block.ln_1.beta.assign(t("ln_1.bias"))
        block.ln_2.gamma.assign(t("ln_2.weight"))
        block.ln_2.beta.assign(t("ln_2.bias"))
        attention = block.attention
        kernel, bias = t("attn.c_attn.weight"), t("attn.c_attn.bias")
        for j, dense in enumerate((attention.query_dense, attention.key_dense,
                                   attention.value_dense)):
            dense.kernel.assign(kernel[:, j * d:(j + 1) * d])
            dense.bias.assign(bias[j * d:(j + 1) * d])
        attention.output_dense.kernel.assign(t("attn.c_proj.weight"))
        attention.output_dense.bias.assign(t("attn.c_proj.bias"))
        block.mlp_fc.kernel.assign(t("mlp.c_fc.weight"))
        block.mlp_fc.bias.assign(t("mlp.c_fc.bias"))
        block.mlp_proj.kernel.assign(t("mlp.c_proj.weight"))
        block.mlp_proj.bias.assign(t("mlp.c_proj.bias"))
    return model


def load_gpt2(checkpoint_dir):
    """Reads a GPT-2 folder; returns `(model, tokenizer, model_config)`.

    Every input is checked before the model is built, so bad input costs a
    one-line `KerasLMError` and nothing else.
    """
    from keras_lm.models import TransformerLM
    from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer

    if not os.path.isdir(checkpoint_dir):
        raise KerasLMError(f"{checkpoint_dir} is not a folder; pass a Hugging "
                           "Face GPT-2 checkpoint folder (config.json, "
                           "model.safetensors, vocab.json, merges.txt)")
    config = read_gpt2_config(checkpoint_dir)
    model_config = model_config_from_gpt2(config)
    tokenizer = ByteBPETokenizer.from_files(checkpoint_dir)
    if tokenizer.vocab_size != model_config["vocab_size"]:
        raise KerasLMError(
            f"{checkpoint_dir}: vocab.json has {tokenizer.vocab_size} tokens "
            f"but config.json says vocab_size={model_config['vocab_size']}")
    tensors = read_safetensors(checkpoint_dir)
    check_tensors(tensors, model_config,
                  os.path.join(checkpoint_dir, WEIGHTS_FILE))
    model = TransformerLM(**model_config)
    model.build()
    assign_gpt2_weights(model, tensors)
    return model, tokenizer, model_config


def _finetuning_recipe(model_config):
    """A fine-tuning recipe for `keras-lm finetune` (flags override it)."""
    from keras_lm.training.config import TrainingConfig

    return TrainingConfig(
        seq_len=min(256, model_config["max_sequence_length"]), batch_size=8,
        epochs=1, learning_rate=1e-4, warmup_steps=0, validation_steps=20)


def import_gpt2(checkpoint_dir, run_dir, overwrite=False):
    """Writes the GPT-2 checkpoint in `checkpoint_dir` as run directory `run_dir`.

    The run directory appears whole or not at all. An existing non-empty
    `run_dir` is refused, unless `overwrite` and it is a keras-lm run
    directory (never someone else's folder).

    Returns the absolute path of the run directory.

    Example:

    >>> import_gpt2("gpt2", "runs/gpt2")   # doctest: +SKIP
    '/.../runs/gpt2'
    """
    from keras_lm import runs

    def load():
        model, tokenizer, model_config = load_gpt2(checkpoint_dir)
        config = runs.new_run_config(
            "transformer", model_config,
            {"data": {"source": None},
             "tokenizer": {"kind": tokenizer.kind, "vocab_size": None}},
            _finetuning_recipe(model_config))
        config["imported_from"] = {"format": "huggingface-gpt2",
                                   "path": os.path.abspath(checkpoint_dir)}
        return model, tokenizer, config

    return runs.write_imported_run(run_dir, load, overwrite)
