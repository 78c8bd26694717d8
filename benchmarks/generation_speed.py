"""Tokens/second of the compiled sampling loop vs. the TF tutorial's loop.

Compares, on the same weights and in one process (interleaved repeats):

- **ours**: `keras_lm.generation.generate_ids` -- one XLA-compiled
  `tf.while_loop` over every decode step and sampling decision;
- **tutorial**: TensorFlow's "Text generation with an RNN" approach,
  reimplemented faithfully: the tutorial's `MyModel` (Embedding -> GRU with
  `return_state=True`, `initial_state=states` -> Dense) holding a copy of our
  model's weights, and its `OneStep.generate_one_step` `tf.function` (last
  token's logits / temperature, + the [UNK] mask, `tf.random.categorical`)
  called from a Python `for` loop once per token. The tutorial's string
  lookups (`StringLookup`, `unicode_split`) are left out, which only helps it;
- **tutorial + decode_step**: the same Python loop, but each step calls our
  `model.decode_step` (the GRU cell directly) inside the `tf.function`: how
  much of the gap is the Keras GRU layer's per-call overhead rather than the
  Python loop.

All use temperature 1.0 and no top-k/top-p, a 6-token prompt and 500 new
tokens. Tokens/s counts the new tokens of every row (batch x 500 / seconds).
Compile time (tracing + XLA) is measured on the first call and excluded.

    python benchmarks/generation_speed.py [--repeats 3] [--sizes tutorial,tiny]
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

from keras_lm.generation import generate_ids  # noqa: E402
from keras_lm.models import GRUGenerator  # noqa: E402

VOCAB_SIZE = 65  # tiny Shakespeare's character set, as in the tutorial
UNK_ID = 1  # CharTokenizer's unknown id, masked like the tutorial's [UNK]
PROMPT_LENGTH = 6  # "ROMEO:"
NEW_TOKENS = 500
TEMPERATURE = 1.0

SIZES = {
    "tutorial": dict(embedding_dim=256, rnn_units=1024),
    "tiny": dict(embedding_dim=64, rnn_units=256),
}


class TutorialModel(keras.Model):
    """The tutorial's `MyModel`, verbatim except for Keras 3's initial state."""

    def __init__(self, vocab_size, embedding_dim, rnn_units):
        super().__init__()
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.gru = keras.layers.GRU(rnn_units, return_sequences=True,
                                    return_state=True)
        self.dense = keras.layers.Dense(vocab_size)

    def call(self, inputs, states=None, return_state=False, training=False):
        x = inputs
        x = self.embedding(x, training=training)
        if states is None:
            states = self.gru.get_initial_state(tf.shape(x)[0])
        x, states = self.gru(x, initial_state=states, training=training)
        x = self.dense(x, training=training)
        if return_state:
            return x, states
        return x


class OneStep(keras.Model):
    """The tutorial's `OneStep`, on token ids instead of strings."""

    def __init__(self, model, temperature=1.0):
        super().__init__()
        self.temperature = temperature
        self.model = model
        mask = np.zeros([VOCAB_SIZE], np.float32)
        mask[UNK_ID] = -float("inf")
        self.prediction_mask = tf.constant(mask)

    @tf.function
    def generate_one_step(self, input_ids, states=None):
        predicted_logits, states = self.model(inputs=input_ids, states=states,
                                              return_state=True)
        predicted_logits = predicted_logits[:, -1, :]
        predicted_logits = predicted_logits / self.temperature
        predicted_logits = predicted_logits + self.prediction_mask
        predicted_ids = tf.random.categorical(predicted_logits, num_samples=1)
        predicted_ids = tf.squeeze(predicted_ids, axis=-1)
        return predicted_ids, states


class DecodeStepOneStep:
    """`OneStep`, but one step is our `model.decode_step` (the GRU cell)."""

    def __init__(self, model, temperature=1.0):
        self.model = model
        self.temperature = temperature
        mask = np.zeros([VOCAB_SIZE], np.float32)
        mask[UNK_ID] = -float("inf")
        self.prediction_mask = tf.constant(mask)

    @tf.function
    def generate_one_step(self, input_ids, states):
        # Feeds the ids one at a time, so the prompt call loops over it.
        for t in tf.range(tf.shape(input_ids)[1]):
            logits, states = self.model.decode_step(input_ids[:, t], states, t)
        logits = logits / self.temperature + self.prediction_mask
        predicted_ids = tf.random.categorical(logits, num_samples=1)
        return tf.squeeze(predicted_ids, axis=-1), states


def tutorial_generate(one_step, prompt, num_tokens):
    """The tutorial's Python loop: one `tf.function` call per new token."""
    states = None
    next_ids = prompt
    result = []
    for _ in range(num_tokens):
        next_ids, states = one_step.generate_one_step(next_ids, states=states)
        result.append(next_ids)
        next_ids = next_ids[:, None]
    return tf.stack(result, axis=1).numpy()


def decode_step_generate(one_step, model, prompt, num_tokens):
    states = model.initial_cache(prompt.shape[0], None)
    next_ids = prompt
    result = []
    for _ in range(num_tokens):
        next_ids, states = one_step.generate_one_step(next_ids, states)
        result.append(next_ids)
        next_ids = next_ids[:, None]
    return tf.stack(result, axis=1).numpy()


def ours_generate(model, prompt, num_tokens):
    lengths = tf.fill([prompt.shape[0]], prompt.shape[1])
    return generate_ids(model, prompt, lengths, num_tokens,
                        temperature=TEMPERATURE, seed=0).numpy()


def build_models(model_config):
    ours = GRUGenerator(vocab_size=VOCAB_SIZE, **model_config)
    probe = np.random.default_rng(0).integers(2, VOCAB_SIZE, (2, 7))
    ours(probe)
    tutorial = TutorialModel(VOCAB_SIZE, **model_config)
    tutorial(probe)
    tutorial.set_weights(ours.get_weights())
    # Same weights, same function: the comparison is of the loops only.
    np.testing.assert_allclose(tutorial(probe).numpy(), ours(probe).numpy(),
                               rtol=1e-4, atol=1e-4)
    return ours, tutorial


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="tutorial,tiny")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--new-tokens", type=int, default=NEW_TOKENS)
    args = parser.parse_args()
    num_tokens = args.new_tokens

    print(f"machine: {describe_machine()}")
    print(f"temperature {TEMPERATURE}, no top-k/top-p, prompt "
          f"{PROMPT_LENGTH} tokens, {num_tokens} new tokens, vocab "
          f"{VOCAB_SIZE}; median of {args.repeats} interleaved repeats")
    rows = []
    for size in args.sizes.split(","):
        model_config = SIZES[size]
        ours, tutorial = build_models(model_config)
        methods = {
            "ours (generate_ids, XLA while_loop)":
                lambda p: ours_generate(ours, p, num_tokens),
            "tutorial OneStep + Python loop":
                lambda p, s=OneStep(tutorial, TEMPERATURE):
                    tutorial_generate(s, p, num_tokens),
            "OneStep over decode_step + Python loop":
                lambda p, s=DecodeStepOneStep(ours, TEMPERATURE):
                    decode_step_generate(s, ours, p, num_tokens),
        }
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            prompt = tf.constant(np.random.default_rng(batch_size).integers(
                2, VOCAB_SIZE, (batch_size, PROMPT_LENGTH)), tf.int32)
            first, times = {}, {name: [] for name in methods}
            for name, fn in methods.items():
                first[name], _ = timed(lambda: fn(prompt))
            for _ in range(args.repeats):
                for name, fn in methods.items():
                    seconds, out = timed(lambda: fn(prompt))
                    assert out.shape == (batch_size, num_tokens), out.shape
                    times[name].append(seconds)
            print(f"\n{size} size {model_config}, batch {batch_size}:")
            base = None
            for name in methods:
                seconds = statistics.median(times[name])
                rate = batch_size * num_tokens / seconds
                base = base or rate
                compile_s = first[name] - seconds
                print(f"  {name:40s} {rate:9.0f} tokens/s  "
                      f"({seconds * 1e3 / num_tokens:6.2f} ms/step, first call "
                      f"+{compile_s:5.1f} s compile; repeats "
                      f"{', '.join(f'{t:.2f}' for t in times[name])} s)")
                rows.append((size, batch_size, name, rate, compile_s))
            tutorial_rate = batch_size * num_tokens / statistics.median(
                times["tutorial OneStep + Python loop"])
            print(f"  ours / tutorial: {base / tutorial_rate:.1f}x")

    print("\n| model | batch | method | tokens/s | compile (s) |")
    print("|---|---:|---|---:|---:|")
    for size, batch_size, name, rate, compile_s in rows:
        print(f"| {size} | {batch_size} | {name} | {rate:,.0f} | "
              f"{compile_s:.1f} |")


if __name__ == "__main__":
    main()
