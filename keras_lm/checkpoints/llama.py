"""Import a Llama-family Hugging Face checkpoint (Llama, Qwen2, Mistral,
SmolLM2, TinyLlama-style) as a keras-lm run directory.

    import_llama("SmolLM2-135M-Instruct/", "runs/smollm2")
    model, tokenizer, info = load_llama("Qwen2.5-0.5B-Instruct/")

The folder is what `LlamaForCausalLM`, `Qwen2ForCausalLM` or
`MistralForCausalLM` `.save_pretrained()` writes, or a download of such a
Hub repo:

    config.json                 sizes, rope_theta / rope_parameters,
                                rope_scaling, rms_norm_eps, tie_word_embeddings
    model.safetensors           the weights (float32, float16 or bfloat16),
      or model-0000N-of-0000M.safetensors + model.safetensors.index.json
    generation_config.json      default sampling settings and stop ids
    tokenizer.json              byte-level BPE (`ByteBPETokenizer.
                                from_tokenizer_json`), or
      tokenizer.model           SentencePiece (`SentencePieceTokenizer`;
                                TinyLlama, Llama 2, Mistral v0.1)
    tokenizer_config.json       eos_token, the chat template
      (or chat_template.jinja)

They become one `TransformerLM` with the Llama options (rotary embeddings,
RMSNorm, SwiGLU, grouped-query attention; see its docstring):

    Hugging Face (model.)                     TransformerLM
    embed_tokens                              token_embedding
    layers.{i}.input_layernorm                blocks[i].ln_1
    layers.{i}.self_attn.{q,k,v,o}_proj       blocks[i].attention.{query,
                                              key,value,output}
    layers.{i}.post_attention_layernorm       blocks[i].ln_2
    layers.{i}.mlp.{gate,up,down}_proj        blocks[i].mlp_{gate,fc,proj}
    norm                                      ln_f
    lm_head (untied checkpoints)              lm_head

PyTorch `Linear` weights are `(out, in)`, so they are transposed. Mistral's
sliding window is honoured by limiting the context to the window: within it,
attention is the same.
"""

import json
import os

from keras_lm.checkpoints.gpt2 import check_shapes
from keras_lm.checkpoints.safetensors_io import read_tensors
from keras_lm.errors import KerasLMError, check_int
from keras_lm.io_utils import read_json
from keras_lm.layers.rotary_embedding import check_rope_scaling

CONFIG_FILE = "config.json"
GENERATION_CONFIG_FILE = "generation_config.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
#: model_type -> the architecture it is, for messages.
MODEL_TYPES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
               "mistral": "MistralForCausalLM"}
SIZES = ("vocab_size", "hidden_size", "intermediate_size",
         "num_hidden_layers", "num_attention_heads",
         "max_position_embeddings")
#: generation_config.json keys kept as the run's sampling defaults.
SAMPLING_KEYS = ("temperature", "top_k", "top_p", "do_sample")


def is_llama_checkpoint(path):
    """Whether `path` is a Hugging Face folder of a Llama-family model."""
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    return (isinstance(config, dict) and "model" not in config
            and config.get("model_type") in MODEL_TYPES)


def rope_settings(config, path):
    """`(rope_theta, rope_scaling)` of a config.json, in either layout:
    transformers 5's `rope_parameters` or the older `rope_theta` and
    `rope_scaling`."""
    parameters = config.get("rope_parameters")
    if isinstance(parameters, dict):
        theta = parameters.get("rope_theta", 10000.0)
        scaling = {k: v for k, v in parameters.items() if k != "rope_theta"}
    else:
        theta = config.get("rope_theta", 10000.0)
        scaling = config.get("rope_scaling")
    if scaling and scaling.get("rope_type", scaling.get("type")) == "default":
        scaling = None
    try:
        check_rope_scaling(scaling)
    except KerasLMError as e:
        raise KerasLMError(f"{path}: {e}")
    return float(theta), scaling


def read_llama_config(checkpoint_dir):
    """Reads and checks a Llama-family `config.json`; returns the dict."""
    path = os.path.join(checkpoint_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} not found: a checkpoint folder needs "
                           f"{CONFIG_FILE}, the safetensors weights and "
                           "tokenizer.json")
    config = read_json(path, required=SIZES)
    model_type = config.get("model_type")
    if model_type not in MODEL_TYPES:
        raise KerasLMError(
            f"{path} describes a {model_type!r} model; supported: "
            + ", ".join(f"{k} ({v})" for k, v in MODEL_TYPES.items()))
    for key in SIZES:
        check_int(f"{path}: {key}", config[key], 1)
    if config.get("hidden_act", "silu") != "silu":
        raise KerasLMError(f"{path}: hidden_act {config['hidden_act']!r} is "
                           "not supported; Llama-family models use silu")
    if config.get("mlp_bias"):
        raise KerasLMError(f"{path}: mlp_bias=true is not supported")
    heads = config["num_attention_heads"]
    if config["hidden_size"] % heads:
        raise KerasLMError(f"{path}: num_attention_heads={heads} does not "
                           f"divide hidden_size={config['hidden_size']}")
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    if head_dim * heads != config["hidden_size"]:
        raise KerasLMError(f"{path}: head_dim={head_dim} times {heads} heads "
                           f"is not hidden_size={config['hidden_size']}; "
                           "TransformerLM needs head_dim = hidden_size / "
                           "num_attention_heads")
    return config


def context_length(config):
    """The positions the model may attend over: max_position_embeddings,
    or a smaller sliding window (Mistral; Qwen2 with use_sliding_window)."""
    length = int(config["max_position_embeddings"])
    window = config.get("sliding_window")
    uses_window = (config.get("use_sliding_window", False)
                   if config.get("model_type") == "qwen2" else True)
    if window and uses_window:
        length = min(length, int(window))
    return length


def model_config_from_llama(config, path=CONFIG_FILE):
    """`TransformerLM` constructor arguments for a Llama-family config."""
    theta, scaling = rope_settings(config, path)
    d_model = int(config["hidden_size"])
    qkv_bias = bool(config.get("attention_bias", False)
                    or config.get("model_type") == "qwen2")
    return {
        "vocab_size": int(config["vocab_size"]),
        "max_sequence_length": context_length(config),
        "num_layers": int(config["num_hidden_layers"]),
        "num_heads": int(config["num_attention_heads"]),
        "d_model": d_model,
        "mlp_dim": int(config["intermediate_size"]),
        "dropout": 0.0,
        "layer_norm_epsilon": float(config.get("rms_norm_eps", 1e-6)),
        "use_bias": bool(config.get("attention_bias", False)),
        "output_bias": False,
        "norm": "rms",
        "activation": "swiglu",
        "num_kv_heads": int(config.get("num_key_value_heads")
                            or config["num_attention_heads"]),
        "rope_theta": theta,
        "rope_scaling": scaling,
        "qkv_bias": qkv_bias,
        "tie_embeddings": bool(config.get("tie_word_embeddings", False)),
    }


def expected_shapes(model_config):
    """`{tensor name: shape}` (PyTorch layout, no "model." prefix)."""
    d, v, m = (model_config["d_model"], model_config["vocab_size"],
               model_config["mlp_dim"])
    kv = model_config["num_kv_heads"] * d // model_config["num_heads"]
    shapes = {"embed_tokens.weight": (v, d), "norm.weight": (d,)}
    if not model_config["tie_embeddings"]:
        shapes["lm_head.weight"] = (v, d)
    for i in range(model_config["num_layers"]):
        layer = f"layers.{i}."
        shapes.update({
            layer + "input_layernorm.weight": (d,),
            layer + "post_attention_layernorm.weight": (d,),
            layer + "self_attn.q_proj.weight": (d, d),
            layer + "self_attn.k_proj.weight": (kv, d),
            layer + "self_attn.v_proj.weight": (kv, d),
            layer + "self_attn.o_proj.weight": (d, d),
            layer + "mlp.gate_proj.weight": (m, d),
            layer + "mlp.up_proj.weight": (m, d),
            layer + "mlp.down_proj.weight": (d, m),
        })
        if model_config["qkv_bias"]:
            shapes.update({layer + "self_attn.q_proj.bias": (d,),
                           layer + "self_attn.k_proj.bias": (kv,),
                           layer + "self_attn.v_proj.bias": (kv,)})
        if model_config["use_bias"]:
            shapes[layer + "self_attn.o_proj.bias"] = (d,)
    return shapes


def assign_llama_weights(model, tensors):
    """Copies Llama-family tensors (no "model." prefix) into `model`."""
    if not model.built:
        model.build()
    model.token_embedding.embeddings.assign(tensors["embed_tokens.weight"])
    model.ln_f.scale.assign(tensors["norm.weight"])
    if model.lm_head is not None:
        model.lm_head.kernel.assign(tensors["lm_head.weight"].T)
    for i, block in enumerate(model.blocks):
        def t(name):
            return tensors[f"layers.{i}.{name}"]

        def linear(dense, name):
            dense.kernel.assign(t(f"{name}.weight").T)
            if dense.bias is not None:
                dense.bias.assign(t(f"{name}.bias"))

        block.ln_1.scale.assign(t("input_layernorm.weight"))
        block.ln_2.scale.assign(t("post_attention_layernorm.weight"))
        attention = block.attention
        for dense, name in ((attention.query_dense, "q_proj"),
                            (attention.key_dense, "k_proj"),
                            (attention.value_dense, "v_proj"),
                            (attention.output_dense, "o_proj")):
            linear(dense, f"self_attn.{name}")
        for dense, name in ((block.mlp_gate, "gate_proj"),
                            (block.mlp_fc, "up_proj"),
                            (block.mlp_proj, "down_proj")):
            linear(dense, f"mlp.{name}")
    return model


def special_token_text(value):
    """A tokenizer_config.json token: a string or an AddedToken dict."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def generation_settings(checkpoint_dir, tokenizer):
    """`(stop_token_ids, sampling)` from generation_config.json (stop ids:
    its eos_token_id, an int or a list; sampling: temperature, top_k,
    top_p when it samples); the tokenizer's end of text when absent."""
    path = os.path.join(checkpoint_dir, GENERATION_CONFIG_FILE)
    settings = read_json(path) if os.path.isfile(path) else {}
    eos = settings.get("eos_token_id")
    stops = eos if isinstance(eos, list) else ([] if eos is None else [eos])
    if not stops and tokenizer.end_of_text_id is not None:
        stops = [tokenizer.end_of_text_id]
    for token_id in stops:
        check_int(f"{path}: eos_token_id", token_id, 0,
                  tokenizer.vocab_size - 1)
    sampling = {}
    if settings.get("do_sample"):
        sampling = {key: settings[key] for key in ("temperature", "top_k",
                                                   "top_p")
                    if settings.get(key) is not None}
    return [int(i) for i in stops], sampling


def _is_sentencepiece_json(path):
    """Whether the tokenizer.json at `path` is a SentencePiece model that
    transformers converted (a BPE with byte_fallback: TinyLlama, Llama 2,
    Mistral v0.1)."""
    data = read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    return isinstance(model, dict) and bool(model.get("byte_fallback"))


def load_tokenizer_files(checkpoint_dir):
    """`(tokenizer, chat_template)` of a checkpoint folder: the SentencePiece
    tokenizer.model (preferred to a tokenizer.json converted from it, as
    transformers 5 does) or the byte-level BPE of tokenizer.json, ending
    text at tokenizer_config.json's eos_token; and the chat template (None
    if it has none)."""
    from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer
    from keras_lm.tokenizers.chat_template import read_chat_template
    from keras_lm.tokenizers.sentencepiece_model import (
        MODEL_FILE, SentencePieceTokenizer)

    tokenizer_json = os.path.join(checkpoint_dir, "tokenizer.json")
    has_json = os.path.isfile(tokenizer_json)
    if os.path.isfile(os.path.join(checkpoint_dir, MODEL_FILE)) and (
            not has_json or _is_sentencepiece_json(tokenizer_json)):
        tokenizer = SentencePieceTokenizer.from_folder(checkpoint_dir)
        return tokenizer, read_chat_template(checkpoint_dir)
    if not has_json:
        raise KerasLMError(f"{checkpoint_dir} has no tokenizer.json or "
                           f"{MODEL_FILE}; a checkpoint needs its tokenizer")
    config_path = os.path.join(checkpoint_dir, TOKENIZER_CONFIG_FILE)
    tokenizer_config = (read_json(config_path)
                        if os.path.isfile(config_path) else {})
    eos = special_token_text(tokenizer_config.get("eos_token"))
    tokenizer = ByteBPETokenizer.from_tokenizer_json(tokenizer_json,
                                                     end_of_text=eos)
    return tokenizer, read_chat_template(checkpoint_dir)


def load_llama(checkpoint_dir):
    """Reads a Llama-family folder; returns `(model, tokenizer, info)`.

    `info` holds "model_config" (the `TransformerLM` arguments),
    "stop_token_ids", "sampling" (generation_config.json's defaults) and
    "chat_template" (a `ChatTemplate` or None). Every input is checked
    before the model is built, so bad input costs one `KerasLMError` line.
    """
    from keras_lm.models import TransformerLM

    if not os.path.isdir(checkpoint_dir):
        raise KerasLMError(f"{checkpoint_dir} is not a folder; pass a Hugging "
                           "Face checkpoint folder (config.json, safetensors "
                           "weights, tokenizer.json or tokenizer.model)")
    config = read_llama_config(checkpoint_dir)
    config_path = os.path.join(checkpoint_dir, CONFIG_FILE)
    model_config = model_config_from_llama(config, config_path)
    tokenizer, chat_template = load_tokenizer_files(checkpoint_dir)
    if tokenizer.vocab_size > model_config["vocab_size"]:
        raise KerasLMError(
            f"{checkpoint_dir}: the tokenizer has {tokenizer.vocab_size} "
            f"tokens but config.json says vocab_size="
            f"{model_config['vocab_size']}")
    stop_token_ids, sampling = generation_settings(checkpoint_dir, tokenizer)
    # Saved with the tokenizer, so every later load stops where this
    # checkpoint's generation_config.json says.
    tokenizer.extra_stop_ids = [i for i in stop_token_ids
                                if i != tokenizer.end_of_text_id]
    tensors = read_tensors(checkpoint_dir, strip_prefix="model.")
    if model_config["tie_embeddings"]:
        tensors.pop("lm_head.weight", None)  # (some files store the tie)
    check_shapes(tensors, expected_shapes(model_config), checkpoint_dir,
                 f"is it a {MODEL_TYPES[config['model_type']]} checkpoint?")
    model = TransformerLM(**model_config)
    model.build()
    assign_llama_weights(model, tensors)
    return model, tokenizer, {
        "model_config": model_config, "model_type": config["model_type"],
        "stop_token_ids": stop_token_ids, "sampling": sampling,
        "chat_template": chat_template}


def _finetuning_recipe(model_config):
    """A fine-tuning recipe for `keras-lm finetune` (flags override it)."""
    from keras_lm.training.config import TrainingConfig

    return TrainingConfig(
        seq_len=min(256, model_config["max_sequence_length"]), batch_size=8,
        epochs=1, learning_rate=2e-5, warmup_steps=0, validation_steps=20)


def import_llama(checkpoint_dir, run_dir, overwrite=False):
    """Writes the checkpoint in `checkpoint_dir` as run directory `run_dir`
    (whole or not at all); returns its absolute path. The run's config.json
    keeps the stop ids, sampling defaults and chat template under
    "generation".

    >>> import_llama("SmolLM2-135M-Instruct", "runs/smollm2")  # doctest: +SKIP
    '/.../runs/smollm2'
    """
    from keras_lm import runs

    def load():
        model, tokenizer, info = load_llama(checkpoint_dir)
        model_config = info["model_config"]
        config = runs.new_run_config(
            "transformer", model_config,
            {"data": {"source": None},
             "tokenizer": {"kind": tokenizer.kind, "vocab_size": None}},
            _finetuning_recipe(model_config))
        config["imported_from"] = {
            "format": f"huggingface-{info['model_type']}",
            "path": os.path.abspath(checkpoint_dir)}
        config["generation"] = generation_section(info)
        return model, tokenizer, config

    return runs.write_imported_run(run_dir, load, overwrite)


def generation_section(info):
    """The "generation" section of an imported run's config.json."""
    template = info["chat_template"]
    return {"stop_token_ids": info["stop_token_ids"],
            "sampling": info["sampling"],
            "chat_template": None if template is None
            else template.get_config()}
