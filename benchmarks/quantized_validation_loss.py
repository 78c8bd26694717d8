"""Validation loss of a trained Transformer run: float32 vs. bfloat16 weights.

    python benchmarks/quantized_validation_loss.py [--run RUN_DIR]
        [--data PATH] [--out DIR] [--minutes 4] [--max-batches N]

What it measures: how much `keras_lm.generation.quantize_for_decoding(model,
"bfloat16")` (the copy behind `keras-lm generate/export --quantize bfloat16`:
weights and arithmetic in bfloat16, logits float32) changes a trained
model's validation loss. The run's best checkpoint is loaded
(`RunDirectory(run).load()`), scored with `task.evaluate()` (the whole
validation split of the run's own data, laid out as in training), then
`task.model` is replaced by the bfloat16 copy and scored again on the same
batches. Printed: both losses (nats/token), the relative change in %, and
whether it is within 1%. As a cross-check both models are also scored
directly, batch by batch, with
`keras.losses.SparseCategoricalCrossentropy(from_logits=True)` on the
same windows (that figure is used instead if `evaluate` fails on the copy).

Without `--run`, a run is trained first with the CLI,
`keras-lm train transformer --preset nanogpt_shakespeare_char` (nanoGPT's
character-level CPU recipe: 4 layers, 4 heads, width 128, context 64; 10
epochs of 200 steps) on `--data` (default: `../shared/data/tinyshakespeare/
input.txt` from the repository root where that file exists, else the
preset's tfds `tiny_shakespeare`), into `--out`. The CLI has no time budget,
so the script stops it with SIGINT after `--minutes` (a KeyboardInterrupt:
the epochs finished by then are checkpointed) and scores the best
checkpoint written so far.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from machine import describe_machine  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data", "tinyshakespeare",
                            "input.txt")
PRESET = "nanogpt_shakespeare_char"


def keras_lm_command():
    """The `keras-lm` console script of this interpreter, or the same entry
    point through `python -c`."""
    script = os.path.join(os.path.dirname(sys.executable), "keras-lm")
    if os.path.isfile(script):
        return [script]
    return [sys.executable, "-c",
            "import sys; from keras_lm.cli import main; sys.exit(main())"]


def train_run(out, data, minutes):
    """Trains the preset into `out` with the CLI for at most `minutes`;
    returns (wall seconds, how it ended)."""
    if os.path.exists(out):
        if os.path.isfile(os.path.join(out, "config.json")):
            shutil.rmtree(out)  # an earlier run of this script: start anew
        elif os.listdir(out):
            sys.exit(f"{out} exists and is not a keras-lm run directory; "
                     "pass another --out")
    command = keras_lm_command() + [
        "train", "transformer", "--preset", PRESET, "--out", out,
        "--verbose", "2"]
    if data:
        command += ["--data", data]
    print("training: " + " ".join(command), flush=True)
    start = time.time()
    process = subprocess.Popen(command)
    try:
        rc = process.wait(timeout=minutes * 60)
        ended = f"finished (exit status {rc})"
        if rc != 0:
            sys.exit(f"training failed with exit status {rc}")
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            rc = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            rc = process.wait()
        ended = (f"stopped by SIGINT at the {minutes:g}-minute budget "
                 f"(exit status {rc})")
    return time.time() - start, ended


def direct_loss(model, dataset, batches):
    """Mean SparseCategoricalCrossentropy(from_logits=True) of `model` over
    the first `batches` (equal-sized) batches of `dataset`."""
    import keras
    import numpy as np
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    seen = {}

    @tf.function(jit_compile=True)
    def batch_loss(x, y):
        logits = model(x, training=False)
        seen["logits"] = logits.dtype.name  # recorded while tracing
        return loss_fn(y, tf.cast(logits, tf.float32))

    losses = [float(batch_loss(x, y)) for x, y in dataset.take(batches)]
    return float(np.mean(losses)), seen.get("logits", "?")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained Transformer run directory "
                        "(default: train one first)")
    parser.add_argument("--data", default=None,
                        help="training text for a new run (default: "
                        f"{os.path.relpath(DEFAULT_DATA, REPO)} if present)")
    parser.add_argument("--out", default="/tmp/keras_lm_bf16_loss_run",
                        help="where a new run is trained")
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="wall-clock budget of the training")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="validation batches (default: all)")
    args = parser.parse_args()

    print(f"machine: {describe_machine()}", flush=True)
    run_dir = args.run
    if run_dir is None:
        data = args.data or (DEFAULT_DATA if os.path.isfile(DEFAULT_DATA)
                             else None)
        wall, ended = train_run(args.out, data, args.minutes)
        print(f"training wall time {wall / 60:.1f} min, {ended}")
        run_dir = args.out

    from keras_lm.data import language_model_dataset
    from keras_lm.generation import quantize_for_decoding
    from keras_lm.runs import RunDirectory

    run = RunDirectory(run_dir)
    task = run.load()
    training = task.training()
    print(f"run {run.path}: {task.model.count_params():,} parameters, "
          f"checkpoint {os.path.basename(run.weights_path())}, "
          f"seq_len {training.seq_len}, batch {training.batch_size}")

    start = time.time()
    fp32 = task.evaluate(max_batches=args.max_batches)
    fp32_seconds = time.time() - start

    float_model = task.model
    task.model = quantize_for_decoding(float_model, "bfloat16")
    dtypes = sorted({str(w.dtype) for w in task.model.weights})
    kept = sorted({str(w.dtype) for w in float_model.weights})
    print(f"quantized copy: weights {'/'.join(dtypes)}; the float32 model's "
          f"weights still {'/'.join(kept)}")
    start = time.time()
    try:
        bf16 = task.evaluate(max_batches=args.max_batches)
        bf16_error = None
    except Exception as e:  # the copy cannot be compiled/evaluated
        bf16, bf16_error = None, f"{type(e).__name__}: {str(e)[:300]}"
        print(f"task.evaluate on the bfloat16 copy failed: {bf16_error}")
    bf16_seconds = time.time() - start

    # The same windows as `evaluate_language_model`, scored directly.
    ids = task.encode(task.corpus().validation)
    dataset, layout = language_model_dataset(
        ids, training.seq_len, training.batch_size, stateful=False,
        shuffle=False, what="validation text")
    batches = layout.batches_per_pass
    if args.max_batches:
        batches = min(batches, args.max_batches)
    direct_fp32, fp32_logits = direct_loss(float_model, dataset, batches)
    direct_bf16, bf16_logits = direct_loss(task.model, dataset, batches)

    loss32 = fp32["loss"]
    loss16 = bf16["loss"] if bf16 else direct_bf16
    how = "task.evaluate" if bf16 else "direct loss (evaluate failed)"
    change = (loss16 - loss32) / loss32 * 100
    print()
    print(f"validation: {batches} batches x {training.batch_size} x "
          f"{training.seq_len} = {fp32['tokens']:,} tokens")
    print("| weights | validation loss (nats/token) | bits/char "
          "| direct loss (cross-check) | logits | evaluate (s) |")
    print("|---|---:|---:|---:|---|---:|")
    print(f"| float32 | {loss32:.4f} | {fp32['bits_per_character']:.4f} "
          f"| {direct_fp32:.4f} | {fp32_logits} | {fp32_seconds:.1f} |")
    bits16 = f"{bf16['bits_per_character']:.4f}" if bf16 else "-"
    print(f"| bfloat16 (quantize_for_decoding) | {loss16:.4f} | {bits16} "
          f"| {direct_bf16:.4f} | {bf16_logits} | {bf16_seconds:.1f} |")
    print()
    print(f"relative change of the validation loss ({how}): {change:+.3f}% "
          f"({loss16 - loss32:+.5f} nats/token); within 1%: "
          f"{'yes' if abs(change) <= 1.0 else 'NO'}")
    print(f"direct-loss change: "
          f"{(direct_bf16 - direct_fp32) / direct_fp32 * 100:+.3f}%")


if __name__ == "__main__":
    main()
