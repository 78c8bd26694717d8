"""Import a Hugging Face BERT checkpoint as a keras-lm run directory.

    import_bert("bert-base-uncased/", "runs/bert")
    model, tokenizer, info = load_bert("bert-base-uncased/")

The folder is what `save_pretrained(..., safe_serialization=True)` writes
for `BertForMaskedLM`, `BertForPreTraining`, `BertModel` or
`BertForSequenceClassification` (or a download of such a Hub repo):
config.json, model.safetensors (read with the safetensors NumPy API),
vocab.txt and optionally tokenizer_config.json (`do_lower_case`, default
true; `strip_accents`).

A masked LM or a bare `BertModel` becomes a `MaskedLanguageModel` (family
"encoder"; a `BertModel` has no MLM head, so that head keeps its fresh
initialisation: `info["mlm_head"]` says "initialised"); a sequence
classifier becomes a `TextClassifier(backbone="transformer", pooling="cls")`
(family "classifier") with the label names of `id2label`. The weight
mapping is the table in `keras_lm.models.transformer_encoder` (and
`masked_lm`, `text_classifier`); PyTorch `Linear` weights are `(out, in)`,
so they are transposed. Current and old key names both load (LayerNorm
`gamma`/`beta`, with or without the `bert.` prefix). `hidden_act` "gelu" is
the exact erf GELU, "gelu_new"/"gelu_pytorch_tanh" the tanh form.
"""

import json
import os

import numpy as np

from keras_lm.checkpoints.gpt2 import check_shapes
from keras_lm.checkpoints.safetensors_io import read_tensors
from keras_lm.errors import KerasLMError, check_int
from keras_lm.io_utils import read_json

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
#: BERT activations and whether the GELU is the tanh form.
ACTIVATIONS = {"gelu": False, "gelu_new": True, "gelu_pytorch_tanh": True}
#: Architectures by the keras-lm family they import as.
FAMILIES = {"BertForMaskedLM": "encoder", "BertForPreTraining": "encoder",
            "BertModel": "encoder",
            "BertForSequenceClassification": "classifier"}
SIZES = ("vocab_size", "hidden_size", "num_hidden_layers",
         "num_attention_heads", "intermediate_size",
         "max_position_embeddings")


def is_bert_checkpoint(path):
    """Whether `path` is a Hugging Face BERT folder (not a keras-lm run):
    its config.json says `model_type` "bert" or a `Bert...` architecture."""
    try:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    if not isinstance(config, dict) or "model" in config:
        return False
    architectures = config.get("architectures") or []
    return config.get("model_type") == "bert" or any(
        str(name).startswith("Bert") for name in architectures)


def read_bert_config(checkpoint_dir):
    """Reads and checks the checkpoint's `config.json`; returns the dict."""
    path = os.path.join(checkpoint_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} not found: a BERT checkpoint folder needs "
                           f"{CONFIG_FILE}, {WEIGHTS_FILE} and {VOCAB_FILE}")
    config = read_json(path, required=SIZES)
    if config.get("model_type", "bert") != "bert":
        raise KerasLMError(f"{path} describes a {config['model_type']!r} "
                           "model; only BERT (model_type 'bert') imports")
    for key in SIZES:
        check_int(f"{path}: {key}", config[key], 1)
    check_int(f"{path}: type_vocab_size", config.get("type_vocab_size", 2), 1)
    activation = config.get("hidden_act", "gelu")
    if activation not in ACTIVATIONS:
        raise KerasLMError(f"{path}: hidden_act {activation!r} is not "
                           f"supported; known: {', '.join(ACTIVATIONS)}")
    embedding = config.get("position_embedding_type", "absolute")
    if embedding != "absolute":
        raise KerasLMError(f"{path}: position_embedding_type {embedding!r} is "
                           "not supported; only 'absolute' imports")
    if config.get("is_decoder") or config.get("add_cross_attention"):
        raise KerasLMError(f"{path} is a BERT decoder (is_decoder or "
                           "add_cross_attention); only encoders import")
    if config["hidden_size"] % config["num_attention_heads"]:
        raise KerasLMError(
            f"{path}: num_attention_heads={config['num_attention_heads']} "
            f"does not divide hidden_size={config['hidden_size']}")
    return config


def family_of(config, tensors, path):
    """"encoder" or "classifier": from `architectures`, else the tensors."""
    architectures = config.get("architectures") or []
    if not architectures:
        return "classifier" if "classifier.weight" in tensors else "encoder"
    if architectures[0] not in FAMILIES:
        raise KerasLMError(f"{path}: architecture {architectures[0]} is not "
                           f"supported; known: {', '.join(FAMILIES)}")
    return FAMILIES[architectures[0]]


def model_config_from_bert(config):
    """`TransformerEncoder` (and `MaskedLanguageModel`) constructor
    arguments for a BERT `config.json`."""
    return {
        "vocab_size": int(config["vocab_size"]),
        "max_sequence_length": int(config["max_position_embeddings"]),
        "type_vocab_size": int(config.get("type_vocab_size", 2)),
        "num_layers": int(config["num_hidden_layers"]),
        "num_heads": int(config["num_attention_heads"]),
        "d_model": int(config["hidden_size"]),
        "mlp_dim": int(config["intermediate_size"]),
        "dropout": float(config.get("hidden_dropout_prob", 0.1)),
        "layer_norm_epsilon": float(config.get("layer_norm_eps", 1e-12)),
        "gelu_approximate": ACTIVATIONS[config.get("hidden_act", "gelu")],
        "norm_first": False, "pad_id": config.get("pad_token_id", 0),
    }


def label_names_of(config, tensors, path):
    """The classifier's label names, by id (`id2label`, else LABEL_i)."""
    classes = len(tensors.get("classifier.bias", ())) or config.get(
        "num_labels", 2)
    id2label = config.get("id2label") or {
        str(i): f"LABEL_{i}" for i in range(classes)}
    try:
        names = [str(id2label[str(i)]) for i in range(len(id2label))]
    except KeyError:
        raise KerasLMError(f"{path}: id2label must map the ids 0..n-1 to "
                           "label names") from None
    problem = config.get("problem_type") or "single_label_classification"
    if len(names) < 2 or problem != "single_label_classification":
        raise KerasLMError(f"{path}: only single-label classifiers with at "
                           f"least 2 labels import (this one: {len(names)} "
                           f"labels, {problem})")
    return names


def normalized_name(name):
    """A tensor name without the "bert." prefix, LayerNorm gamma/beta
    spelled weight/bias."""
    if name.startswith("bert."):
        name = name[len("bert."):]
    for old, new in ((".gamma", ".weight"), (".beta", ".bias")):
        if name.endswith(old):
            name = name[:-len(old)] + new
    return name


def read_bert_tensors(checkpoint_dir):
    """The checkpoint's tensors as float32 NumPy arrays, names normalised."""
    return {normalized_name(name): value
            for name, value in read_tensors(checkpoint_dir).items()}


def expected_shapes(model_config, family, tensors):
    """`{tensor name: shape}` of every tensor the import reads."""
    d, v = model_config["d_model"], model_config["vocab_size"]
    m = model_config["mlp_dim"]
    shapes = {
        "embeddings.word_embeddings.weight": (v, d),
        "embeddings.position_embeddings.weight":
            (model_config["max_sequence_length"], d),
        "embeddings.token_type_embeddings.weight":
            (model_config["type_vocab_size"], d),
        "embeddings.LayerNorm.weight": (d,), "embeddings.LayerNorm.bias": (d,)}
    for i in range(model_config["num_layers"]):
        layer = f"encoder.layer.{i}"
        for name, shape in (("attention.self.query", (d, d)),
                            ("attention.self.key", (d, d)),
                            ("attention.self.value", (d, d)),
                            ("attention.output.dense", (d, d)),
                            ("intermediate.dense", (m, d)),
                            ("output.dense", (d, m)),
                            ("attention.output.LayerNorm", (d,)),
                            ("output.LayerNorm", (d,))):
            shapes[f"{layer}.{name}.weight"] = shape
            shapes[f"{layer}.{name}.bias"] = shape[:1]
    if family == "classifier":
        classes = model_config["num_classes"]
        shapes.update({"pooler.dense.weight": (d, d),
                       "pooler.dense.bias": (d,),
                       "classifier.weight": (classes, d),
                       "classifier.bias": (classes,)})
    elif any(name.startswith("cls.predictions.") for name in tensors):
        head = "cls.predictions.transform"
        shapes.update({f"{head}.dense.weight": (d, d),
                       f"{head}.dense.bias": (d,),
                       f"{head}.LayerNorm.weight": (d,),
                       f"{head}.LayerNorm.bias": (d,),
                       mlm_bias_name(tensors): (v,)})
    return shapes


def mlm_bias_name(tensors):
    """The MLM output bias's name (older files: the decoder's bias)."""
    old = "cls.predictions.decoder.bias"
    return old if old in tensors else "cls.predictions.bias"


def check_tensors(tensors, shapes, path):
    """One-line error unless every tensor in `shapes` is there, shaped so."""
    check_shapes(tensors, shapes, path, "is it a BERT checkpoint of the "
                 "architecture config.json names?")
    decoder = tensors.get("cls.predictions.decoder.weight")
    if decoder is not None and not np.array_equal(
            decoder, tensors["embeddings.word_embeddings.weight"]):
        raise KerasLMError(f"{path}: cls.predictions.decoder.weight differs "
                           "from the word embeddings; MaskedLanguageModel "
                           "ties them, so an untied head cannot be imported")


def assign_dense(dense, tensors, name):
    """A PyTorch `Linear` (`(out, in)` weight) into a Keras `Dense`."""
    dense.kernel.assign(tensors[f"{name}.weight"].T)
    dense.bias.assign(tensors[f"{name}.bias"])


def assign_norm(norm, tensors, name):
    norm.gamma.assign(tensors[f"{name}.weight"])
    norm.beta.assign(tensors[f"{name}.bias"])


def assign_encoder(encoder, tensors):
    """Copies BERT's embeddings and layers into a built `TransformerEncoder`."""
    for layer, name in ((encoder.token_embedding, "word_embeddings"),
                        (encoder.position_embedding, "position_embeddings"),
                        (encoder.segment_embedding, "token_type_embeddings")):
        layer.embeddings.assign(tensors[f"embeddings.{name}.weight"])
    assign_norm(encoder.embedding_norm, tensors, "embeddings.LayerNorm")
    for i, block in enumerate(encoder.blocks):
        layer = f"encoder.layer.{i}"
        attention = block.attention
        for dense, name in ((attention.query_dense, "self.query"),
                            (attention.key_dense, "self.key"),
                            (attention.value_dense, "self.value"),
                            (attention.output_dense, "output.dense")):
            assign_dense(dense, tensors, f"{layer}.attention.{name}")
        assign_norm(block.ln_1, tensors, f"{layer}.attention.output.LayerNorm")
        assign_dense(block.mlp_fc, tensors, f"{layer}.intermediate.dense")
        assign_dense(block.mlp_proj, tensors, f"{layer}.output.dense")
        assign_norm(block.ln_2, tensors, f"{layer}.output.LayerNorm")


def load_wordpiece(checkpoint_dir, vocab_size):
    """The folder's `WordPieceTokenizer` (`vocab.txt`, casing from
    `tokenizer_config.json`), checked against the model's vocabulary."""
    from keras_lm.tokenizers.wordpiece import WordPieceTokenizer

    path = os.path.join(checkpoint_dir, VOCAB_FILE)
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} not found: a BERT checkpoint folder needs "
                           f"its WordPiece vocabulary {VOCAB_FILE}")
    settings = os.path.join(checkpoint_dir, TOKENIZER_CONFIG_FILE)
    options = read_json(settings) if os.path.isfile(settings) else {}
    tokenizer = WordPieceTokenizer.from_vocab_file(
        path, lowercase=bool(options.get("do_lower_case", True)),
        strip_accents=options.get("strip_accents"))
    if tokenizer.vocab_size != vocab_size:
        raise KerasLMError(f"{path} has {tokenizer.vocab_size} tokens but "
                           f"config.json says vocab_size={vocab_size}; the "
                           "vocabulary does not belong to this checkpoint")
    return tokenizer


def load_bert(checkpoint_dir):
    """Reads a BERT folder; returns `(model, tokenizer, info)`.

    `model` is a built `MaskedLanguageModel` or `TextClassifier`; `info`
    holds "family" ("encoder" or "classifier"), "model_config" (the
    model's constructor arguments), "architecture", "label_names"
    (classifiers) and "mlm_head" ("imported", "initialised" or None).
    Every input is checked before the model is built, so bad input costs a
    one-line `KerasLMError` and nothing else.

    >>> model, tokenizer, info = load_bert("bert-base-uncased")  # doctest: +SKIP
    """
    from keras_lm.models import MaskedLanguageModel, TextClassifier

    if not os.path.isdir(checkpoint_dir):
        raise KerasLMError(f"{checkpoint_dir} is not a folder; pass a Hugging "
                           f"Face BERT checkpoint folder ({CONFIG_FILE}, "
                           f"{WEIGHTS_FILE}, {VOCAB_FILE})")
    config = read_bert_config(checkpoint_dir)
    config_path = os.path.join(checkpoint_dir, CONFIG_FILE)  # for errors
    model_config = model_config_from_bert(config)
    tokenizer = load_wordpiece(checkpoint_dir, model_config["vocab_size"])
    tensors = read_bert_tensors(checkpoint_dir)
    family = family_of(config, tensors, config_path)
    info = {"family": family, "architecture":
            (config.get("architectures") or [None])[0], "mlm_head": None}
    if family == "classifier":
        info["label_names"] = label_names_of(config, tensors, config_path)
        model_config = {"num_classes": len(info["label_names"]),
                        "backbone": "transformer", "pooling": "cls",
                        **model_config}
    shapes = expected_shapes(model_config, family, tensors)
    check_tensors(tensors, shapes, os.path.join(checkpoint_dir, WEIGHTS_FILE))
    if family == "classifier":
        model = TextClassifier(**model_config)
        model.build()
        assign_dense(model.pooler, tensors, "pooler.dense")
        assign_dense(model.classifier, tensors, "classifier")
    else:
        model = MaskedLanguageModel(**model_config)
        model.build()
        head = "cls.predictions.transform"
        info["mlm_head"] = ("imported" if f"{head}.dense.weight" in shapes
                            else "initialised")
        if info["mlm_head"] == "imported":
            assign_dense(model.mlm_dense, tensors, f"{head}.dense")
            assign_norm(model.mlm_norm, tensors, f"{head}.LayerNorm")
            model.mlm_bias.assign(tensors[mlm_bias_name(tensors)])
    assign_encoder(model.encoder, tensors)
    info["model_config"] = model_config
    return model, tokenizer, info


def finetuning_recipe(model_config):
    """BERT's fine-tuning recipe (Devlin et al.), for `finetune` to start
    from."""
    from keras_lm.training.config import TrainingConfig

    return TrainingConfig(
        seq_len=min(128, model_config["max_sequence_length"]), batch_size=32,
        epochs=3, learning_rate=2e-5, warmup_steps=0, weight_decay=0.01,
        validation_steps=20)


def import_bert(checkpoint_dir, run_dir, overwrite=False):
    """Writes the BERT checkpoint in `checkpoint_dir` as run directory
    `run_dir` (family "encoder" or "classifier"); returns its absolute path.

    The run directory appears whole or not at all. An existing non-empty
    `run_dir` is refused, unless `overwrite` and it is a keras-lm run
    directory (never someone else's folder).
    """
    from keras_lm import runs

    def load():
        model, tokenizer, info = load_bert(checkpoint_dir)
        data = {"source": None}
        if info["family"] == "classifier":
            data["label_names"] = info["label_names"]
        config = runs.new_run_config(
            info["family"], info["model_config"],
            {"data": data,
             "tokenizer": {"kind": tokenizer.kind,
                           "vocab_size": tokenizer.vocab_size,
                           "lowercase": tokenizer.lowercase}},
            finetuning_recipe(info["model_config"]))
        config["imported_from"] = {
            "format": "huggingface-bert", "architecture": info["architecture"],
            "path": os.path.abspath(checkpoint_dir)}
        return model, tokenizer, config

    return runs.write_imported_run(run_dir, load, overwrite)
