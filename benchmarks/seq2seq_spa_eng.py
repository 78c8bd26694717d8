"""Spanish -> English with and without attention, on the shared trainer.

    python benchmarks/seq2seq_spa_eng.py [--minutes 13] [--data spa-eng.zip]
        [--attention additive,none] [--test-pairs 2000] [--units 256] ...

Trains two LSTM encoder-decoders on the Anki/Tatoeba spa-eng pairs (subword
tokenizers, 4,000 ids a side by default), one with additive (Bahdanau)
attention and one without, each for the same wall-clock budget, and scores
both on the same fixed held-out pairs: the first `--test-pairs` (2,000) pairs
of the test split that fit the length caps (the split is drawn by source
sentence with seed 0 and never seen in training; both models share one
pair of tokenizers, so they score the very same pairs). Reports sacreBLEU
(greedy and beam search), exact match, training wall time and steps, and
decoding speed in translations per second (greedy and beam, batches of
64, compilation excluded), plus the machine.

The recipe is the one every family trains with (`keras_lm.runs.train`):
Adam with linear warm-up (`--warmup-steps`) and cosine decay to
`--final-learning-rate-ratio` of the peak over `--epochs` x
`--steps-per-epoch` steps, planned to fit the budget; the budget stops
training early if the machine is slower (it says so).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
from machine import describe_machine  # noqa: E402

from keras_lm.runs import RunDirectory, train  # noqa: E402
from keras_lm.tasks.seq2seq import load_pair_splits  # noqa: E402
from keras_lm.training.callbacks import TimeBudget  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write_heldout(run_dir, count, path):
    """The first `count` test-split pairs of a run that fit its length caps,
    as an Anki file (in the file's own English<TAB>Spanish order: the run
    reverses it). Returns `(pairs written, pairs passed over)`."""
    task = RunDirectory(run_dir).load_task()
    source_tokenizer, target_tokenizer = (task.tokenizers["source"],
                                          task.tokenizers["target"])
    caps = task.config["data"]["max_source_length"], \
        task.config["data"]["max_target_length"]
    kept, passed_over = [], 0
    for spanish, english in load_pair_splits(task.config["data"])[1].test:
        lengths = (len(source_tokenizer.encode(spanish)),
                   len(target_tokenizer.encode(english)))
        if all(0 < n <= cap for n, cap in zip(lengths, caps)):
            kept.append((spanish, english))
        else:
            passed_over += 1
        if len(kept) == count:
            break
    with open(path, "w", encoding="utf-8") as f:
        for spanish, english in kept:
            f.write(f"{english}\t{spanish}\n")
    return len(kept), passed_over


class FitClock(keras.callbacks.Callback):
    """Wall time of `fit` itself (data preparation left out)."""

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_train_end(self, logs=None):
        self.seconds = time.time() - self.start


def run_one(attention, args, workdir, tokenizers=None):
    run_dir = os.path.join(workdir, f"attention_{attention}")
    budget, clock = TimeBudget(args.minutes), FitClock()
    start = time.time()
    history = train(
        "seq2seq", run_dir, data=args.data, reverse=True,
        tokenizer="subword", vocab_size=args.vocab_size,
        max_source_length=args.max_length, max_target_length=args.max_length,
        validation_fraction=0.02, test_fraction=0.05,
        max_examples=args.max_examples, tokenizers=tokenizers,
        model_config=dict(attention=attention, units=args.units,
                          embedding_dim=args.embedding_dim),
        training=dict(batch_size=args.batch_size, epochs=args.epochs,
                      steps_per_epoch=args.steps_per_epoch,
                      validation_steps=20, learning_rate=args.learning_rate,
                      warmup_steps=args.warmup_steps,
                      final_learning_rate_ratio=(
                          args.final_learning_rate_ratio),
                      early_stopping_patience=args.epochs),
        verbose=2, callbacks=[budget, clock])
    prep = time.time() - start - clock.seconds
    steps = budget.stopped_at_step or len(history.epoch) * args.steps_per_epoch
    cut = " (stopped by the budget)" if budget.stopped_at_step else ""
    print(f"[{attention}] fit {clock.seconds / 60:.1f} min, {steps} of "
          f"{args.epochs * args.steps_per_epoch} planned steps{cut} (data "
          f"preparation before it: {prep:.0f} s)")
    return run_dir, clock.seconds, steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=13.0,
                        help="training budget of each model")
    parser.add_argument("--attention", default="additive,none",
                        help="comma-separated attention kinds to train")
    parser.add_argument("--data", default=os.path.join(
        HERE, "../../shared/data/spa-eng/spa-eng.zip"))
    parser.add_argument("--test-pairs", type=int, default=2000)
    parser.add_argument("--max-examples", type=int,
                        help="use a seeded sample of this many pairs")
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--max-length", type=int, default=20,
                        help="token cap of sources and targets")
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=11,
                        help="planned epochs (the cosine decay spans them)")
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--final-learning-rate-ratio", type=float,
                        default=0.3, help="where the cosine decay ends")
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--keep", help="keep the run directories here")
    args = parser.parse_args()

    workdir = args.keep or tempfile.mkdtemp(prefix="keras_lm_s2s_bench_")
    print(f"machine: {describe_machine()}")
    print(f"budget: {args.minutes:g} min per model; data {args.data}"
          + (f" (sample of {args.max_examples} pairs)" if args.max_examples
             else ""))
    rows = []
    heldout = os.path.join(workdir, "heldout.txt")
    tokenizers = None
    for attention in args.attention.split(","):
        run_dir, wall, steps = run_one(attention, args, workdir, tokenizers)
        task = RunDirectory(run_dir).load()
        if tokenizers is None:  # both models share one vocabulary
            tokenizers = task.tokenizers
            print(task.describe_data())
            count, over = write_heldout(run_dir, args.test_pairs, heldout)
            print(f"held-out: the first {count} pairs of the test split that "
                  f"fit the length caps ({over} longer ones passed over)")
        scores = {}
        for beam in (1, args.beam_width):
            scores[beam] = task.evaluate(heldout, beam_width=beam)
        greedy, beam = scores[1], scores[args.beam_width]
        rows.append((attention, wall, steps, greedy, beam))
        for source, reference, hypothesis in beam["examples"]:
            print(f"  [{attention}] {source} -> {hypothesis} "
                  f"(reference: {reference})")

    print()
    print(f"| attention | fit wall | steps | held-out loss | pairs scored | "
          f"BLEU greedy | BLEU beam {args.beam_width} | exact match (beam) | "
          f"greedy trans/s | beam trans/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for attention, wall, steps, greedy, beam in rows:
        print(f"| {attention} | {wall / 60:.1f} min | {steps} | "
              f"{greedy['loss']:.3f} | {greedy['pairs']} | "
              f"{greedy['bleu']:.2f} | "
              f"{beam['bleu']:.2f} | {beam['exact_match']:.3f} | "
              f"{greedy['translations_per_second']:.0f} | "
              f"{beam['translations_per_second']:.0f} |")
    print("(held-out loss: masked cross-entropy per target token, teacher "
          "forced; BLEU: sacreBLEU corpus BLEU, 13a tokenization)")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
