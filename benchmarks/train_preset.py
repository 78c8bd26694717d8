"""Trains a preset for a fixed wall-time budget and reports validation loss.

    python benchmarks/train_preset.py --preset tiny_shakespeare --minutes 30

tiny_shakespeare is read through the real tfds builder; on a machine without
internet, pass --local-file with the exact file tfds downloads (it is checked
against tfds's registered sha256), e.g. ../shared/data/tinyshakespeare/input.txt.
"""

import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from machine import describe_machine  # noqa: E402

from keras_lm import presets  # noqa: E402
from keras_lm.data.tfds_offline import place_in_download_cache  # noqa: E402
from keras_lm.runs import RunDirectory, train  # noqa: E402
from keras_lm.training import TrainingConfig  # noqa: E402
from keras_lm.training.callbacks import TimeBudget  # noqa: E402


def train_preset(name, out, minutes, data_dir=None):
    """Trains preset `name` into `out` for at most `minutes`; returns
    `(wall_seconds, budget, scores)` with the run's validation scores
    (`RunDirectory(out).load().evaluate()`)."""
    preset = presets.PRESETS[name]
    budget = TimeBudget(minutes)
    start = time.time()
    train(preset["family"], out, data=preset.get("data"),
          model_config=preset["model"],
          training=TrainingConfig(**preset["training"]),
          tokenizer=preset.get("tokenizer", "char"),
          vocab_size=preset.get("vocab_size"),
          data_dir=data_dir, verbose=2, callbacks=[budget])
    wall = time.time() - start
    return wall, budget, RunDirectory(out).load().evaluate(data_dir=data_dir)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny_shakespeare")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", default="/tmp/keras_lm_preset_run")
    parser.add_argument("--data-dir", default="/tmp/keras_lm_tfds")
    parser.add_argument("--local-file", default=os.path.join(
        os.path.dirname(__file__), "../../shared/data/tinyshakespeare/input.txt"))
    args = parser.parse_args()

    if (presets.PRESETS[args.preset].get("data") == "tiny_shakespeare"
            and os.path.isfile(args.local_file)):
        place_in_download_cache("tiny_shakespeare", args.local_file, args.data_dir)
    shutil.rmtree(args.out, ignore_errors=True)
    wall, budget, scores = train_preset(args.preset, args.out, args.minutes,
                                        args.data_dir)
    print(f"machine: {describe_machine()}")
    print(f"preset {args.preset}: wall {wall / 60:.1f} min (budget "
          f"{args.minutes} min, stopped early at step {budget.stopped_at_step})")
    print(f"validation loss {scores['loss']:.3f} nats/char, "
          f"bits/char {scores['bits_per_character']:.3f}, "
          f"perplexity {scores['perplexity']:.2f}")


if __name__ == "__main__":
    main()
