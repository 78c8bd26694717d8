"""Which training details move the validation loss of nanoGPT's CPU run?

Trains `TransformerLM` at nanoGPT's documented CPU configuration (see
transformer_speed.py: 4 layers, 4 heads, d_model 128, context 64, batch 12,
AdamW lr 1e-3 / beta2 0.99 / weight decay 0.1, 100 warm-up steps, cosine
decay to 1e-4 at step 2000) for 2000 steps in one `fit`, once per variant
and seed, and prints the loss over the whole validation split. Variants are
'+'-joined changes to the recipe as first ported (no biases, per-variable
clipping, decay on every weight, windows on a shuffled fixed grid):

    global_clip   clip the global gradient norm to 1 (Keras' `clipnorm`
                  clips each variable on its own)
    no_decay_1d   no weight decay on 1-D weights (biases, LayerNorms)
    scaled_init   residual projections initialised with std
                  0.02 / sqrt(2 * num_layers), as GPT-2 and nanoGPT do
    offsets       windows at uniformly random positions (nanoGPT's sampling)
    jitter        windows on the grid, each moved by a random offset < 64
    bias          biases in Dense layers and LayerNorms (GPT-2's layout)
    output_bias   a learned bias on the tied output projection
    ema           evaluate an exponential moving average of the weights
                  (Keras' `use_ema`, momentum 0.99)
    no_decay_embed  no weight decay on the (tied) token embedding either
    eps8          Adam epsilon 1e-8 (PyTorch's default; Keras' is 1e-7)
    no_clip       no gradient clipping at all

and `name=value` settings of what nanoGPT's configuration leaves free
(defaults in brackets): `beta1=` (0.9), `weight_decay=` (0.1),
`ema_momentum=` (0.99, with `ema`).

    python benchmarks/transformer_recipe.py ported no_decay_1d+offsets+bias \\
        [--seeds 0,1] [--library-windows 0,1,2]

`--library-windows S` trains on the library's own random windows,
`language_model_dataset(..., random_offsets=True, seed=S)` (what the CLI and
transformer_speed.py's full run use), one run per S, instead of this
script's sampling: the draw of windows alone moves the loss by up to 0.03.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import transformer_speed as speed  # noqa: E402
from machine import describe_machine  # noqa: E402

from keras_lm.data.pipelines import language_model_dataset  # noqa: E402
from keras_lm.models.transformer_lm import TransformerLM  # noqa: E402
from keras_lm.training.optimizers import learning_rate_schedule  # noqa: E402

STEPS, CONTEXT = 2000, 64
CHANGES = ("global_clip", "no_decay_1d", "scaled_init", "offsets", "jitter",
           "bias", "output_bias", "ema", "no_decay_embed", "eps8",
           "no_clip")
SETTINGS = ("beta1", "weight_decay", "ema_momentum")


def parse_variant(variant):
    """'a+b+beta1=0.8' -> ({'a', 'b'}, {'beta1': 0.8}); 'ported' is empty."""
    parts = set() if variant == "ported" else set(variant.split("+"))
    settings = dict(part.split("=", 1) for part in parts if "=" in part)
    changes = {part for part in parts if "=" not in part}
    unknown = (changes - set(CHANGES)) | (set(settings) - set(SETTINGS))
    if unknown:
        raise SystemExit(f"unknown change(s) {sorted(unknown)}; known: "
                         f"{', '.join(CHANGES + SETTINGS)}")
    return changes, {name: float(value) for name, value in settings.items()}


def build(vocab_size, changes, seed):
    keras.utils.set_random_seed(seed)
    model = TransformerLM(vocab_size, max_sequence_length=CONTEXT,
                          num_layers=4, num_heads=4, d_model=128, dropout=0.0,
                          use_bias="bias" in changes,
                          output_bias="output_bias" in changes)
    model.build((None, None))
    if "scaled_init" in changes:
        rng = np.random.default_rng(seed)
        std = 0.02 / np.sqrt(2 * len(model.blocks))
        for block in model.blocks:
            for layer in (block.attention.output_dense, block.mlp_proj):
                layer.kernel.assign(
                    rng.normal(0, std, layer.kernel.shape).astype("float32"))
    return model


def optimizer_for(model, changes, settings):
    schedule = learning_rate_schedule(speed.nanogpt_config(), STEPS)
    clip = ({"global_clipnorm": 1.0} if "global_clip" in changes
            else {} if "no_clip" in changes else {"clipnorm": 1.0})
    optimizer = keras.optimizers.AdamW(
        schedule, weight_decay=settings.get("weight_decay", 0.1),
        beta_1=settings.get("beta1", 0.9), beta_2=0.99,
        use_ema="ema" in changes,
        ema_momentum=settings.get("ema_momentum", 0.99),
        epsilon=1e-8 if "eps8" in changes else 1e-7, **clip)
    excluded = []
    if "no_decay_1d" in changes:
        excluded += [v for v in model.trainable_variables if len(v.shape) < 2]
    if "no_decay_embed" in changes:
        excluded.append(model.token_embedding.embeddings)
    if excluded:
        optimizer.exclude_from_weight_decay(var_list=excluded)
    return optimizer


def training_data(train_ids, changes, seed):
    if "offsets" in changes:  # nanoGPT's get_batch, drawn up front
        starts = np.random.default_rng(seed).integers(
            0, len(train_ids) - CONTEXT - 1, size=(STEPS, speed.BATCH_SIZE))
    else:
        ds, layout = speed.dataset(train_ids, CONTEXT, None)
        if "jitter" not in changes:
            return ds
        windows = layout.batches_per_pass * speed.BATCH_SIZE
        rng = np.random.default_rng(seed)
        order = np.concatenate([rng.permutation(windows) for _ in range(2)])
        starts = (order[:STEPS * speed.BATCH_SIZE] * CONTEXT
                  + rng.integers(0, CONTEXT, STEPS * speed.BATCH_SIZE))
        starts = np.minimum(starts, len(train_ids) - CONTEXT - 1)
        starts = starts.reshape(STEPS, speed.BATCH_SIZE)
    x = train_ids[starts[..., None] + np.arange(CONTEXT)]
    y = train_ids[starts[..., None] + np.arange(1, CONTEXT + 1)]
    return tf.data.Dataset.from_tensor_slices((x, y))


def library_windows(train_ids, seed):
    """The library's nanoGPT-style sampling, STEPS batches."""
    dataset, _ = language_model_dataset(
        train_ids, CONTEXT, speed.BATCH_SIZE, seed=seed, num_batches=STEPS,
        random_offsets=True)
    return dataset


def run(variant, seed, train_ids, val_ids, vocab_size, windows_seed=None):
    changes, settings = parse_variant(variant)
    model = build(vocab_size, changes, seed)
    model.compile(optimizer=optimizer_for(model, changes, settings),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True),
                  jit_compile=True, steps_per_execution=16)
    start = time.perf_counter()
    data = (training_data(train_ids, changes, seed) if windows_seed is None
            else library_windows(train_ids, windows_seed))
    model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0)
    val_ds, layout = speed.dataset(val_ids, CONTEXT, None, shuffle=False)
    loss = model.evaluate(val_ds.take(layout.batches_per_pass), verbose=0,
                          return_dict=True)["loss"]
    windows = "" if windows_seed is None else f" windows {windows_seed}"
    print(f"{variant:40s} seed {seed}{windows}: validation loss {loss:.4f} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--library-windows", default=None, metavar="S,...")
    parser.add_argument("--data", default=speed.DATA)
    args = parser.parse_args()
    windows_seeds = ([None] if args.library_windows is None else
                     [int(s) for s in args.library_windows.split(",")])
    train_ids, val_ids, vocab_size = speed.load_data(args.data)
    print(f"machine: {describe_machine()}; Keras {keras.__version__}")
    for variant in args.variants:
        for seed in (int(s) for s in args.seeds.split(",")):
            for windows_seed in windows_seeds:
                run(variant, seed, train_ids, val_ids, vocab_size,
                    windows_seed)


if __name__ == "__main__":
    main()
