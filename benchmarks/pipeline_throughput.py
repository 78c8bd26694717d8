"""Is the tf.data pipeline ever the bottleneck of training? (issue 2)

Measures, in one process and interleaved:

- batches/second that `language_model_dataset` produces when iterated alone
  (stateless and stateful layouts, batch 64, seq_len 100, on the embedded
  default corpus tokenized with `CharTokenizer`);
- batches/second that a compiled training step consumes (`train_on_batch`
  on one fixed in-memory batch, compiled exactly as `train()` compiles it)
  for the two GRU preset sizes, and `model.fit` reading the real pipeline
  (end to end: ~1.0x the fixed-batch rate means no input stall).

    python benchmarks/pipeline_throughput.py [--repeats 3]

The pipeline is not the bottleneck when produced/consumed >> 1.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from machine import describe_machine  # noqa: E402

from keras_lm.data import language_model_dataset, load_text_corpus  # noqa: E402
from keras_lm.models import GRUGenerator  # noqa: E402
from keras_lm.tokenizers.char import CharTokenizer  # noqa: E402
from keras_lm.training import TrainingConfig  # noqa: E402
from keras_lm.training.trainer import compile_model, use_xla  # noqa: E402

SEQ_LEN = 100

#: name -> (model config, batch size); the sizes of keras_lm.presets.
MODELS = {
    "tiny_shakespeare preset (emb 128, GRU 512, batch 64)":
        (dict(embedding_dim=128, rnn_units=512), 64),
    "tiny preset (emb 64, GRU 256, batch 32)":
        (dict(embedding_dim=64, rnn_units=256), 32),
}


def pipeline_rate(ids, stateful, batch_size, num_batches):
    """Batches/second of a fresh pipeline iterated alone (after 5 warm-up)."""
    dataset, _ = language_model_dataset(ids, SEQ_LEN, batch_size,
                                        stateful=stateful)
    iterator = iter(dataset)
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(num_batches):
        x, y = next(iterator)
    elapsed = time.perf_counter() - start
    del x, y
    return num_batches / elapsed


def make_trainer(vocab_size, model_config, batch_size):
    model = GRUGenerator(vocab_size=vocab_size, **model_config)
    config = TrainingConfig(seq_len=SEQ_LEN, batch_size=batch_size)
    rng = np.random.default_rng(0)
    x = rng.integers(0, vocab_size, (batch_size, SEQ_LEN)).astype("int32")
    y = rng.integers(0, vocab_size, (batch_size, SEQ_LEN)).astype("int32")
    x, y = tf.constant(x), tf.constant(y)
    model(x)
    compile_model(model, config, total_steps=10_000, jit_compile=use_xla())
    start = time.perf_counter()
    model.train_on_batch(x, y)  # traces and XLA-compiles the step
    compile_seconds = time.perf_counter() - start
    for _ in range(2):
        model.train_on_batch(x, y)
    return model, x, y, compile_seconds


def train_rate(model, x, y, num_steps):
    start = time.perf_counter()
    for _ in range(num_steps):
        model.train_on_batch(x, y)
    return num_steps / (time.perf_counter() - start)


def fit_rate(model, dataset, num_steps):
    """Batches/second of `model.fit` reading the real pipeline."""
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=num_steps, epochs=1, verbose=0,
              shuffle=False)
    return num_steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline-batches", type=int, default=300)
    parser.add_argument("--train-steps", type=int, default=8)
    args = parser.parse_args()

    corpus = load_text_corpus()
    tokenizer = CharTokenizer.from_text(corpus.train)
    ids = np.asarray(tokenizer.encode(corpus.train), dtype=np.int32)
    print(f"machine: {describe_machine()}")
    print(f"corpus: embedded default, {len(ids)} training tokens, "
          f"vocab {tokenizer.vocab_size}, seq_len {SEQ_LEN}")

    trainers, datasets = {}, {}
    for name, (model_config, batch_size) in MODELS.items():
        trainers[name] = make_trainer(tokenizer.vocab_size, model_config,
                                      batch_size)
        datasets[name], _ = language_model_dataset(ids, SEQ_LEN, batch_size)
        fit_rate(trainers[name][0], datasets[name], 2)  # warm-up
        print(f"compiled train step for {name}: "
              f"{trainers[name][3]:.1f} s (excluded below)")

    pipelines = {
        (layout, batch_size): []
        for layout in ("stateless", "stateful")
        for batch_size in sorted({b for _, b in MODELS.values()}, reverse=True)
    }
    steps = {name: [] for name in MODELS}
    fits = {name: [] for name in MODELS}
    # Interleave the measurements so that load from other processes on the
    # shared CPU affects all of them alike; report the median of the repeats.
    for _ in range(args.repeats):
        for (layout, batch_size), rates in pipelines.items():
            rates.append(pipeline_rate(ids, layout == "stateful", batch_size,
                                       args.pipeline_batches))
        for name, (model, x, y, _) in trainers.items():
            steps[name].append(train_rate(model, x, y, args.train_steps))
            fits[name].append(fit_rate(model, datasets[name],
                                       args.train_steps))

    median = {key: statistics.median(r) for key, r in pipelines.items()}
    print()
    print(f"tf.data pipeline alone (median of {args.repeats}, "
          f"{args.pipeline_batches} batches each):")
    for (layout, batch_size), rates in pipelines.items():
        print(f"  {layout:9s} batch {batch_size:3d}: "
              f"{median[layout, batch_size]:8.0f} batches/s "
              f"(repeats: {', '.join(f'{r:.0f}' for r in rates)})")
    print()
    print(f"compiled train step, fixed in-memory batch (median of "
          f"{args.repeats}, {args.train_steps} steps each):")
    for name, rates in steps.items():
        consumed = statistics.median(rates)
        batch_size = MODELS[name][1]
        print(f"  {name}: {consumed:6.2f} batches/s "
              f"(repeats: {', '.join(f'{r:.2f}' for r in rates)})")
        fitted = statistics.median(fits[name])
        print(f"    model.fit over the stateless pipeline: {fitted:6.2f} "
              f"batches/s ({fitted / consumed:.2f}x the fixed-batch rate; "
              f"repeats: {', '.join(f'{r:.2f}' for r in fits[name])})")
        for layout in ("stateless", "stateful"):
            print(f"    pipeline/{layout} produces "
                  f"{median[layout, batch_size] / consumed:,.0f}x what the "
                  "step consumes")


if __name__ == "__main__":
    main()
