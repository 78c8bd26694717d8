"""TransformerLM speed and quality at nanoGPT's CPU configuration (issue 4).

karpathy/nanoGPT documents a CPU run on character-level tiny Shakespeare:

    python train.py config/train_shakespeare_char.py --device=cpu
      --compile=False --eval_iters=20 --log_interval=1 --block_size=64
      --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000
      --lr_decay_iters=2000 --dropout=0.0

i.e. 4 layers, 4 heads, d_model 128, context 64, batch 12, no dropout, no
biases, AdamW (lr 1e-3, beta2 0.99, weight decay 0.1, gradient clipping 1.0),
100 warm-up steps then cosine decay to 1e-4 at step 2000. Both models here
train with weight decay 0.01 and beta1 0.7 instead (nanoGPT's beta1 is
0.9): its configuration leaves both free, and they are worth 0.01-0.03 in
validation loss (see transformer_recipe.py). Our model keeps
its default biases (as GPT-2 and keras-hub's `GPT2CausalLM` have; `--no-bias`
for nanoGPT's), and by default the full run trains both models on windows at
random offsets, as nanoGPT samples them (`--fixed-windows` for fixed ones).
AdamW decays neither biases nor LayerNorm parameters (keras_lm's rule, used
for both models). This script measures, in one process (so that both models see the same machine load):

- **sweep**: training tokens/second of `TransformerLM` and of keras-hub's
  `GPT2CausalLM` of the same size under `model.fit` (jit_compile=True) for
  several `steps_per_execution`, interleaved repeats, medians;
- **full**: the whole 2000-step run of both models, trained in interleaved
  chunks (the LR schedule and optimizer state carry across chunks), then the
  validation loss over the whole validation split (last 10% of the text,
  nanoGPT's split);
- **generate**: 500 new tokens at batch 1 and batch 32 with
  `keras_lm.generation.generate_ids` and keras-hub's `generate()` (random
  sampling at temperature 1, no top-k/top-p), compile time separate;
- **scaling**: training tokens/s vs context length and vs width, and the
  time per generated token when generating to positions 128..1024.

Both models are compiled identically (`keras_lm.training.compile_model`: the
AdamW/schedule above, the same loss and metrics, jit_compile=True).
Throughput counts input tokens (batch x context) per second of steady state:
the time from the end of the first execution (which includes tracing and
XLA compilation) to the end of the last one.

    python benchmarks/transformer_speed.py [--steps 2000] \
        [--parts sweep,full,generate,scaling] [--out results/....txt]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from machine import describe_machine  # noqa: E402

from keras_lm.data import language_model_dataset  # noqa: E402
from keras_lm.generation import generate_ids  # noqa: E402
from keras_lm.models.transformer_lm import TransformerLM  # noqa: E402
from keras_lm.presets import PRESETS  # noqa: E402
from keras_lm.training import TrainingConfig  # noqa: E402
from keras_lm.training.trainer import compile_model  # noqa: E402

try:
    import keras_hub
except ImportError:  # the keras-hub reference is optional
    keras_hub = None

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                    "tinyshakespeare", "input.txt")
# The recipe measured here is the library's own preset.
PRESET = PRESETS["nanogpt_shakespeare_char"]
NANOGPT = dict(num_layers=PRESET["model"]["num_layers"],
               num_heads=PRESET["model"]["num_heads"],
               d_model=PRESET["model"]["d_model"],
               context=PRESET["model"]["max_sequence_length"])
BATCH_SIZE = PRESET["training"]["batch_size"]
NEW_TOKENS = 500

_lines = []


def report(line=""):
    print(line, flush=True)
    _lines.append(line)


# -- data -------------------------------------------------------------------
def load_data(path):
    """Character ids of the text, split 90/10 like nanoGPT's prepare.py."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    ids = np.array([lookup[c] for c in text], np.int32)
    split = int(0.9 * len(ids))
    return ids[:split], ids[split:], len(chars)


def dataset(ids, context, num_batches, start_batch=0, hub=False,
            shuffle=True, random_offsets=False):
    ds, layout = language_model_dataset(
        ids, context, BATCH_SIZE, shuffle=shuffle, seed=0,
        start_batch=start_batch, num_batches=num_batches,
        random_offsets=random_offsets)
    if hub:  # keras-hub's GPT-2 takes token ids plus a padding mask
        ds = ds.map(lambda x, y: ({"token_ids": x,
                                   "padding_mask": tf.ones_like(x, tf.bool)},
                                  y))
    return ds, layout


# -- models -----------------------------------------------------------------
def build_ours(vocab_size, num_layers, num_heads, d_model, context,
               use_bias=True):
    keras.utils.set_random_seed(0)
    model = TransformerLM(vocab_size, max_sequence_length=context,
                          num_layers=num_layers, num_heads=num_heads,
                          d_model=d_model, dropout=0.0, use_bias=use_bias)
    model.build((None, None))
    return model


def build_hub(vocab_size, num_layers, num_heads, d_model, context):
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocab_size, num_layers=num_layers,
        num_heads=num_heads, hidden_dim=d_model,
        intermediate_dim=4 * d_model, dropout=0.0,
        max_sequence_length=context)
    return keras_hub.models.GPT2CausalLM(backbone=backbone,
                                         preprocessor=None)


def nanogpt_config(steps_per_execution=1):
    """The preset's training settings: nanoGPT's, except weight decay 0.01
    and beta1 0.7 for its 0.1 and 0.9, which gain 0.01-0.03 in validation
    loss (benchmarks/README.md, transformer_recipe.py). Its epochs and
    window sampling are set by this script, not by the config."""
    return TrainingConfig(**{**PRESET["training"],
                             "steps_per_execution": steps_per_execution})


def compile_for(model, total_steps, steps_per_execution):
    compile_model(model, nanogpt_config(steps_per_execution), total_steps,
                  jit_compile=True)


# -- training ---------------------------------------------------------------
class _BatchTimes(keras.callbacks.Callback):
    """perf_counter() at the end of each execution (= steps_per_execution)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def timed_fit(model, ds, steps, tokens_per_step):
    """Runs `fit` over `steps` batches; returns a dict of timings.

    `rate` is tokens/s from the end of the first execution to the end of the
    last; `first` is the time to the end of the first execution (tracing and
    compiling when the model is fresh); `tail` is the time `fit` took to
    return after its last step.
    """
    timer = _BatchTimes()
    start = time.perf_counter()
    history = model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0,
                        callbacks=[timer], shuffle=False)
    end = time.perf_counter()
    spe = model.steps_per_execution
    steady_steps = (len(timer.times) - 1) * spe
    steady = timer.times[-1] - timer.times[0]
    rate = steady_steps * tokens_per_step / steady if steady_steps else None
    return dict(rate=rate, first=timer.times[0] - start, wall=end - start,
                tail=end - timer.times[-1],
                loss=float(history.history["loss"][-1]))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fmt_runs(values, scale=1.0, digits=0):
    return ", ".join(f"{v * scale:,.{digits}f}" for v in values)


def speed_sweep(models, train_ids, spes, steps, repeats):
    """Tokens/s of each model at each steps_per_execution (interleaved)."""
    report(f"\n## sweep: training tokens/s, {steps} steps per timed fit, "
           f"median of {repeats} interleaved repeats")
    context = NANOGPT["context"]
    tokens = BATCH_SIZE * context
    results = {}
    for spe in spes:
        compiled = {}
        for name, (model, hub) in models.items():
            compile_for(model, 2000, spe)
            ds, _ = dataset(train_ids, context, spe, hub=hub)
            warm = timed_fit(model, ds, spe, tokens)  # traces and compiles
            compiled[name] = (model, hub, warm["first"])
        runs = {name: [] for name in compiled}
        tails = {name: [] for name in compiled}
        for _ in range(repeats):
            for name, (model, hub, _) in compiled.items():
                ds, _ = dataset(train_ids, context, steps, hub=hub)
                timing = timed_fit(model, ds, steps, tokens)
                runs[name].append(timing["rate"])
                tails[name].append(timing["tail"])
        for name, (_, _, first) in compiled.items():
            rate = median(runs[name])
            results[(name, spe)] = rate
            report(f"  spe={spe:3d} {name:10s} {rate:9,.0f} tok/s  "
                   f"(runs {fmt_runs(runs[name])}; first execution "
                   f"{first:.1f} s; fit returned {median(tails[name]):.2f} s "
                   f"after its last step)")
        if "keras-hub" in compiled:
            report(f"  spe={spe:3d} ours / keras-hub = "
                   f"{results[('ours', spe)] / results[('keras-hub', spe)]:.2f}")
    return results


def full_run(models, train_ids, val_ids, steps, spe, chunks,
             random_offsets):
    """The whole run of every model, in interleaved chunks, then val loss."""
    report(f"\n## full: {steps} steps (nanoGPT schedule), "
           f"steps_per_execution={spe}, trained in {chunks} interleaved "
           f"chunks, random_offsets={random_offsets}")
    context = NANOGPT["context"]
    tokens = BATCH_SIZE * context
    chunk = steps // chunks
    assert chunk * chunks == steps and chunk % spe == 0, (steps, chunks, spe)
    rates = {name: [] for name in models}
    walls = {name: 0.0 for name in models}
    firsts = {}
    for name, (model, hub) in models.items():
        compile_for(model, steps, spe)
    for c in range(chunks):
        for name, (model, hub) in models.items():
            ds, _ = dataset(train_ids, context, chunk, start_batch=c * chunk,
                            hub=hub, random_offsets=random_offsets)
            timing = timed_fit(model, ds, chunk, tokens)
            rates[name].append(timing["rate"])
            walls[name] += timing["wall"]
            firsts.setdefault(name, timing["first"])
    results = {}
    for name, (model, hub) in models.items():
        val_ds, layout = dataset(val_ids, context, None, hub=hub,
                                 shuffle=False)
        val_ds = val_ds.take(layout.batches_per_pass)
        evaluation = model.evaluate(val_ds, verbose=0, return_dict=True)
        rate = median(rates[name])
        results[name] = (rate, evaluation["loss"])
        report(f"  {name:10s} {rate:9,.0f} tok/s (median of chunks: "
               f"{fmt_runs(rates[name])}); fit wall {walls[name]:.0f} s incl. "
               f"{firsts[name]:.0f} s first execution; val loss "
               f"{evaluation['loss']:.4f} over {layout.batches_per_pass} "
               f"batches ({layout.batches_per_pass * tokens:,} tokens)")
    if "keras-hub" in results:
        report(f"  ours / keras-hub = "
               f"{results['ours'][0] / results['keras-hub'][0]:.2f}")
    return results


# -- generation -------------------------------------------------------------
def ours_generate(model, batch_size, new_tokens):
    prompt = tf.zeros((batch_size, 1), tf.int32)
    lengths = tf.ones((batch_size,), tf.int32)
    return generate_ids(model, prompt, lengths, new_tokens, temperature=1.0,
                        seed=0).numpy()


def hub_generate(model, batch_size, new_tokens):
    length = 1 + new_tokens
    inputs = {"token_ids": np.zeros((batch_size, length), "int32"),
              "padding_mask": np.arange(length)[None, :].repeat(
                  batch_size, 0) < 1}
    return model.generate(inputs, stop_token_ids=None)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def generation(vocab_size, batch_sizes, repeats, with_hub):
    report(f"\n## generate: {NEW_TOKENS} new tokens after a 1-token prompt, "
           f"temperature 1, no top-k/top-p; model 4x128, context 1024; "
           f"median of {repeats} interleaved repeats")
    ours = build_ours(vocab_size, 4, 4, 128, 1024)
    methods = {"ours": lambda b: ours_generate(ours, b, NEW_TOKENS)}
    if with_hub:
        hub = build_hub(vocab_size, 4, 4, 128, 1024)
        hub.compile(sampler=keras_hub.samplers.RandomSampler(temperature=1.0),
                    jit_compile=True)
        methods["keras-hub"] = lambda b: hub_generate(hub, b, NEW_TOKENS)
    results = {}
    for batch_size in batch_sizes:
        first = {name: timed(lambda: fn(batch_size))
                 for name, fn in methods.items()}
        times = {name: [] for name in methods}
        for _ in range(repeats):
            for name, fn in methods.items():
                times[name].append(timed(lambda: fn(batch_size)))
        for name in methods:
            seconds = median(times[name])
            rate = batch_size * NEW_TOKENS / seconds
            results[(name, batch_size)] = rate
            report(f"  batch {batch_size:3d} {name:10s} {rate:9,.0f} tok/s "
                   f"total ({seconds * 1e3 / NEW_TOKENS:.2f} ms/step; "
                   f"compile {first[name] - seconds:.1f} s; runs "
                   f"{fmt_runs(times[name], 1, 2)} s)")
        if with_hub:
            report(f"  batch {batch_size:3d} ours / keras-hub = "
                   f"{results[('ours', batch_size)] / results[('keras-hub', batch_size)]:.1f}")
    return results


# -- scaling ----------------------------------------------------------------
def training_scaling(vocab_size, train_ids, steps, repeats, with_hub,
                     spe=8):
    report(f"\n## scaling: training tokens/s (batch {BATCH_SIZE}, "
           f"steps_per_execution {spe}, {steps} steps per timed fit, median "
           f"of {repeats})")
    points = [(128, 64), (128, 256), (128, 1024), (256, 64), (512, 64)]
    for d_model, context in points:
        tokens = BATCH_SIZE * context
        models = {"ours": (build_ours(vocab_size, 4, 4, d_model, context),
                           False)}
        if with_hub:
            models["keras-hub"] = (
                build_hub(vocab_size, 4, 4, d_model, context), True)
        runs = {name: [] for name in models}
        for name, (model, hub) in models.items():
            compile_for(model, 2000, spe)
            ds, _ = dataset(train_ids, context, spe, hub=hub)
            timed_fit(model, ds, spe, tokens)
        for _ in range(repeats):
            for name, (model, hub) in models.items():
                ds, _ = dataset(train_ids, context, steps, hub=hub)
                runs[name].append(timed_fit(model, ds, steps, tokens)["rate"])
        line = f"  d_model {d_model:3d} context {context:4d}:"
        for name in models:
            line += f"  {name} {median(runs[name]):8,.0f} tok/s"
        if with_hub:
            line += (f"  ours / keras-hub = "
                     f"{median(runs['ours']) / median(runs['keras-hub']):.2f}")
        report(line)


def generation_scaling(vocab_size, repeats):
    report(f"\n## scaling: generating to position P (1-token prompt, P - 1 "
           f"new tokens, batch 1, buffer = P), context-1024 model, median of "
           f"{repeats}")
    model = build_ours(vocab_size, 4, 4, 128, 1024)
    for position in (128, 256, 512, 1024):
        first = timed(lambda: ours_generate(model, 1, position - 1))
        times = [timed(lambda: ours_generate(model, 1, position - 1))
                 for _ in range(repeats)]
        seconds = median(times)
        report(f"  to position {position:5d}: {seconds:6.2f} s, "
               f"{seconds * 1e3 / (position - 1):.3f} ms/token "
               f"(compile {first - seconds:.1f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000,
                        help="training steps of the full run")
    parser.add_argument("--parts", default="sweep,full,generate,scaling")
    parser.add_argument("--spe", default="1,16,64",
                        help="steps_per_execution values of the sweep")
    parser.add_argument("--full-spe", type=int, default=16)
    parser.add_argument("--chunks", type=int, default=5,
                        help="interleaved chunks of the full run")
    parser.add_argument("--sweep-steps", type=int, default=128)
    parser.add_argument("--scaling-steps", type=int, default=24)
    parser.add_argument("--scaling-hub", action="store_true",
                        help="also time keras-hub in the training scaling")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--no-hub", action="store_true",
                        help="skip the keras-hub reference")
    parser.add_argument("--no-bias", action="store_true",
                        help="no biases in our model (nanoGPT's bias=False;"
                             " keras-hub's GPT-2 always has them)")
    parser.add_argument("--fixed-windows", action="store_true",
                        help="full run: train on fixed windows instead of "
                             "random offsets (both models)")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    parts = args.parts.split(",")
    with_hub = keras_hub is not None and not args.no_hub

    train_ids, val_ids, vocab_size = load_data(args.data)
    report(f"machine: {describe_machine()}; Keras {keras.__version__}"
           + (f", keras-hub {keras_hub.__version__}" if with_hub else
              ", keras-hub not used"))
    report(f"load average at start: {os.getloadavg()[0]:.2f}")
    report(f"data: tiny Shakespeare, {vocab_size} characters, "
           f"{len(train_ids):,} train / {len(val_ids):,} validation tokens")
    report(f"model: {NANOGPT}, batch {BATCH_SIZE}, dropout 0, "
           f"use_bias={not args.no_bias} (keras-hub's GPT-2 always has "
           f"biases)")

    def make_models():
        size = {k: NANOGPT[k] for k in ("num_layers", "num_heads", "d_model",
                                        "context")}
        models = {"ours": (build_ours(vocab_size, **size,
                                      use_bias=not args.no_bias), False)}
        if with_hub:
            models["keras-hub"] = (build_hub(vocab_size, **size), True)
        return models

    if "sweep" in parts:
        speed_sweep(make_models(), train_ids,
                    [int(s) for s in args.spe.split(",")], args.sweep_steps,
                    args.repeats)
    if "full" in parts:
        full_run(make_models(), train_ids, val_ids, args.steps,
                 args.full_spe, args.chunks, not args.fixed_windows)
    if "generate" in parts:
        generation(vocab_size, [int(b) for b in args.batch_sizes.split(",")],
                   args.repeats, with_hub)
    if "scaling" in parts:
        training_scaling(vocab_size, train_ids, args.scaling_steps,
                         args.repeats, with_hub and args.scaling_hub)
        generation_scaling(vocab_size, args.repeats)
    report(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(_lines) + "\n")


if __name__ == "__main__":
    main()
