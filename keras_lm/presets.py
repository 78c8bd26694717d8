"""Named training recipes: `keras-lm train gru --preset tiny_shakespeare`.

A preset fills in the data source, model size and training settings; any
flag given on the command line still wins. The measured result of each
preset is in `benchmarks/README.md`.
"""

from keras_lm.errors import KerasLMError

PRESETS = {
    # A quick CPU demo on the embedded default corpus (a minute or two).
    "tiny": {
        "family": "gru",
        "model": {"embedding_dim": 64, "rnn_units": 256, "num_layers": 1},
        "training": {"seq_len": 100, "batch_size": 32, "epochs": 2,
                     "steps_per_epoch": 100, "learning_rate": 3e-3},
    },
    # Character-level tiny Shakespeare; see benchmarks/README.md for the
    # validation loss it reaches in 30 minutes on a 2-core CPU.
    "tiny_shakespeare": {
        "family": "gru",
        "data": "tiny_shakespeare",
        "model": {"embedding_dim": 128, "rnn_units": 512, "num_layers": 1,
                  "dropout": 0.1},
        "training": {"seq_len": 100, "batch_size": 64, "epochs": 12,
                     "steps_per_epoch": 150, "learning_rate": 3e-3,
                     "warmup_steps": 100},
    },
    # Word-level LSTM on tiny Shakespeare (the PyTorch word_language_model
    # recipe, scaled to a CPU); benchmarks/README.md has its perplexity.
    "tiny_shakespeare_words": {
        "family": "lstm",
        "data": "tiny_shakespeare",
        "tokenizer": "word",
        "vocab_size": 8000,
        "model": {"embedding_dim": 256, "rnn_units": 256, "num_layers": 2,
                  "dropout": 0.3, "tie_embeddings": True},
        "training": {"seq_len": 35, "batch_size": 32, "epochs": 6,
                     "learning_rate": 3e-3, "warmup_steps": 50},
    },
    # karpathy/nanoGPT's character-level CPU run (4 layers, 4 heads, width
    # 128, context 64, batch 12, 2000 steps, lr 1e-3 with 100 warm-up steps
    # and cosine decay to 1e-4), with weight decay 0.01 and beta1 0.7 in
    # place of nanoGPT's 0.1 and 0.9; benchmarks/README.md has its loss.
    "nanogpt_shakespeare_char": {
        "family": "transformer",
        "data": "tiny_shakespeare",
        "model": {"num_layers": 4, "num_heads": 4, "d_model": 128,
                  "max_sequence_length": 64, "dropout": 0.0},
        "training": {"seq_len": 64, "batch_size": 12, "epochs": 10,
                     "steps_per_epoch": 200, "learning_rate": 1e-3,
                     "warmup_steps": 100, "weight_decay": 0.01,
                     "beta_1": 0.7, "random_offsets": True,
                     "steps_per_execution": 8},
    },
    # The same run in the Llama layout (rotary positions, RMSNorm, SwiGLU
    # with nanoGPT's parameter count, 2 key/value heads for 4 query heads,
    # no biases, untied output): what SmolLM2 or Llama 3 look like, small.
    "llama_shakespeare_char": {
        "family": "transformer",
        "data": "tiny_shakespeare",
        "model": {"num_layers": 4, "num_heads": 4, "d_model": 128,
                  "mlp_dim": 352, "max_sequence_length": 64, "dropout": 0.0,
                  "norm": "rms", "activation": "swiglu", "num_kv_heads": 2,
                  "rope_theta": 10000.0, "use_bias": False,
                  "tie_embeddings": False},
        "training": {"seq_len": 64, "batch_size": 12, "epochs": 10,
                     "steps_per_epoch": 200, "learning_rate": 1e-3,
                     "warmup_steps": 100, "weight_decay": 0.01,
                     "beta_1": 0.7, "random_offsets": True,
                     "steps_per_execution": 8},
    },
    # Sentence classification from scratch (give --data): the recipes of
    # benchmarks/README.md's rt-polarity table (Transformer about 75%,
    # BiLSTM about 74% test accuracy, a few CPU-minutes each).
    "sentiment_transformer": {
        "family": "classifier",
        "vocab_size": 8000, "max_length": 64,
        "model": {"backbone": "transformer", "d_model": 128,
                  "num_layers": 2, "num_heads": 4, "mlp_dim": 256,
                  "max_sequence_length": 64, "dropout": 0.1},
        "training": {"batch_size": 32, "epochs": 6, "learning_rate": 1e-3,
                     "warmup_steps": 100, "weight_decay": 0.01,
                     "early_stopping_patience": 2},
    },
    "sentiment_bilstm": {
        "family": "classifier",
        "vocab_size": 8000, "max_length": 64,
        "model": {"backbone": "lstm", "d_model": 64, "rnn_units": 64,
                  "num_layers": 1, "dropout": 0.3},
        "training": {"batch_size": 32, "epochs": 6, "learning_rate": 2e-3,
                     "warmup_steps": 50, "weight_decay": 0.01,
                     "early_stopping_patience": 2},
    },
}


def get_preset(name, family):
    """Returns the preset called `name`, checking it fits the model family."""
    if name not in PRESETS:
        raise KerasLMError(f"unknown preset {name!r}; known: "
                           f"{', '.join(sorted(PRESETS))}")
    preset = PRESETS[name]
    if preset["family"] != family:
        raise KerasLMError(f"preset {name!r} is for `train {preset['family']}`"
                           f", not `train {family}`")
    return preset
