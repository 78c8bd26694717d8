"""Issue 3 benchmarks: a word-level LSTM preset, and pre-train -> fine-tune.

    python benchmarks/lstm_word_and_finetune.py [--word-minutes 12]
        [--pretrain-steps 600] [--finetune-steps 200]

1. Trains the `tiny_shakespeare_words` preset (word-level, 2-layer tied LSTM)
   for a wall-time budget and reports validation perplexity per word token.
2. Pre-trains a character LSTM on the embedded default corpus, fine-tunes it
   on a 60 KB slice of tiny Shakespeare, and compares validation loss on that
   slice with training from scratch for the same number of steps.

tiny_shakespeare is read through the real tfds builder, seeded offline from
--local-file (the exact file tfds downloads, checked by sha256).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

from machine import describe_machine  # noqa: E402
from train_preset import train_preset  # noqa: E402

from keras_lm.data.tfds_offline import place_in_download_cache  # noqa: E402
from keras_lm.runs import RunDirectory, finetune, train  # noqa: E402
from keras_lm.training import TrainingConfig  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def word_preset(minutes, data_dir, workdir):
    wall, budget, scores = train_preset(
        "tiny_shakespeare_words", os.path.join(workdir, "words"), minutes,
        data_dir)
    print(f"word preset: {wall / 60:.1f} min, stopped at step "
          f"{budget.stopped_at_step}; validation perplexity per token "
          f"{scores['perplexity']:.1f}, per whitespace word "
          f"{scores['perplexity_per_word']:.1f}, unknown tokens "
          f"{scores['unknown_tokens']} of {scores['tokens']}")


def pretrain_then_finetune(pretrain_steps, finetune_steps, shakespeare,
                           workdir):
    slice_path = os.path.join(workdir, "shakespeare_slice.txt")
    with open(shakespeare, encoding="utf-8") as f:
        text = f.read()
    with open(slice_path, "w", encoding="utf-8") as f:
        f.write(text[:60_000])
    model = {"embedding_dim": 128, "rnn_units": 256, "num_layers": 2,
             "tie_embeddings": False}
    small = dict(batch_size=32, seq_len=64, validation_steps=20, seed=0)
    pretrained = os.path.join(workdir, "pretrained")
    start = time.time()
    train("lstm", pretrained, data=None, model_config=model, verbose=2,
          training=TrainingConfig(epochs=1, steps_per_epoch=pretrain_steps,
                                  learning_rate=3e-3, **small))
    print(f"pre-training: {pretrain_steps} steps on the embedded corpus in "
          f"{time.time() - start:.0f} s")
    tuned = os.path.join(workdir, "tuned")
    finetune(pretrained, tuned, data=slice_path, verbose=2,
             training=TrainingConfig(epochs=1, steps_per_epoch=finetune_steps,
                                     learning_rate=1e-3, **small))
    scratch = os.path.join(workdir, "scratch")
    train("lstm", scratch, data=slice_path, model_config=model, verbose=2,
          training=TrainingConfig(epochs=1, steps_per_epoch=finetune_steps,
                                  learning_rate=3e-3, **small))
    for name, run in (("fine-tuned", tuned), ("from scratch", scratch)):
        scores = RunDirectory(run).load().evaluate()
        print(f"{name}: validation loss {scores['loss']:.3f} nats/char "
              f"({scores['bits_per_character']:.3f} bits/char) after "
              f"{finetune_steps} steps on the slice")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--word-minutes", type=float, default=12.0)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--finetune-steps", type=int, default=200)
    parser.add_argument("--skip-word", action="store_true")
    parser.add_argument("--local-file", default=os.path.join(
        HERE, "../../shared/data/tinyshakespeare/input.txt"))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="keras_lm_bench_")
    data_dir = os.path.join(workdir, "tfds")
    place_in_download_cache("tiny_shakespeare", args.local_file, data_dir)
    print(f"machine: {describe_machine()}")
    if not args.skip_word:
        word_preset(args.word_minutes, data_dir, workdir)
    pretrain_then_finetune(args.pretrain_steps, args.finetune_steps,
                           args.local_file, workdir)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
