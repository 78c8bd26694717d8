"""Where a training step of nanoGPT's CPU configuration spends its time, and
whether bfloat16 helps on this CPU.

    python benchmarks/train_step_probe.py parts
    python benchmarks/train_step_probe.py policies
    python benchmarks/train_step_probe.py paths
    XLA_FLAGS=--xla_cpu_max_isa=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
        python benchmarks/train_step_probe.py paths   # a CPU without AVX-512

parts     the forward pass, forward + backward, and the whole step (with the
          AdamW update) of TransformerLM, each XLA-compiled, 50 steps inside
          one `while_loop` (the update: one call per step), in ms per step
paths     the float32 half of `policies`: XLA or TensorFlow's own (oneDNN)
          kernels, the two paths `keras-lm train --train-step` chooses from
policies  `model.fit` tokens/s of TransformerLM under float32 and
          mixed_bfloat16, with and without XLA (3 x 160 steps each,
          interleaved in this one process; steps_per_execution 16)
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import transformer_speed as speed  # noqa: E402
from machine import describe_machine  # noqa: E402

from keras_lm.training.optimizers import make_optimizer  # noqa: E402
from keras_lm.training.trainer import compile_model  # noqa: E402

CONTEXT = speed.NANOGPT["context"]
TOKENS = speed.BATCH_SIZE * CONTEXT
LOOPED = 50


def one_batch(train_ids):
    n = TOKENS
    x = train_ids[:n].reshape(speed.BATCH_SIZE, CONTEXT)
    y = train_ids[1:n + 1].reshape(speed.BATCH_SIZE, CONTEXT)
    return tf.constant(x), tf.constant(y)


def step_parts(train_ids, vocab_size):
    model = speed.build_ours(vocab_size, 4, 4, 128, CONTEXT)
    optimizer = make_optimizer(speed.nanogpt_config(), 2000, 1, model)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss_of(x, y):
        return loss_fn(y, model(x))

    def gradients(x, y):
        with tf.GradientTape() as tape:
            loss = loss_of(x, y)
        return loss, tape.gradient(loss, model.trainable_variables)

    def looped(part):
        """LOOPED calls of `part` in one program; each depends on the last."""
        @tf.function(jit_compile=True)
        def run(x, y):
            def body(i, total):
                return i + 1, total + part(x + tf.cast(total * 0, tf.int32), y)
            return tf.while_loop(lambda i, _: i < LOOPED, body, (0, 0.0))[1]
        return run, LOOPED

    def forward_backward(x, y):
        loss, grads = gradients(x, y)
        return loss + 0.0 * tf.add_n([tf.reduce_sum(g) for g in grads])

    @tf.function(jit_compile=True)
    def train_step(x, y):
        loss, grads = gradients(x, y)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    x, y = one_batch(train_ids)
    for name, (fn, steps) in {"forward": looped(loss_of),
                              "forward + backward": looped(forward_backward),
                              "train step (+ AdamW)": (train_step, 1)}.items():
        fn(x, y)  # compile
        calls = 3 if steps > 1 else 100
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(x, y)
        out.numpy()
        seconds = (time.perf_counter() - start) / calls / steps
        print(f"{name:22s} {seconds * 1e3:6.2f} ms per step "
              f"({TOKENS / seconds:,.0f} tokens/s)")


def policies(train_ids, vocab_size, variants=(
        ("float32", True), ("mixed_bfloat16", True),
        ("mixed_bfloat16", False), ("float32", False))):
    models = {}
    for policy, xla in variants:
        keras.config.set_dtype_policy(policy)
        model = speed.build_ours(vocab_size, 4, 4, 128, CONTEXT)
        compile_model(model, speed.nanogpt_config(16), 2000, jit_compile=xla)
        keras.config.set_dtype_policy("float32")
        ds, _ = speed.dataset(train_ids, CONTEXT, 16)
        speed.timed_fit(model, ds, 16, TOKENS)  # compile
        models[(policy, xla)] = model
    rates = {key: [] for key in models}
    for repeat in range(3):
        for key, model in models.items():
            ds, _ = speed.dataset(train_ids, CONTEXT, 160,
                                  start_batch=160 * (repeat + 1))
            rates[key].append(speed.timed_fit(model, ds, 160, TOKENS)["rate"])
    for (policy, xla), values in rates.items():
        print(f"{policy:15s} {'XLA' if xla else 'no XLA':6s} "
              + ", ".join(f"{v:,.0f}" for v in values) + " tokens/s")


def main():
    part = sys.argv[1] if len(sys.argv) > 1 else "parts"
    if part not in ("parts", "policies", "paths"):
        raise SystemExit("usage: train_step_probe.py {parts,policies,paths}")
    train_ids, _, vocab_size = speed.load_data(speed.DATA)
    print(f"{describe_machine()}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}"
          f"; ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '')}")
    if part == "paths":  # the two train-step paths of `--train-step`
        policies(train_ids, vocab_size, [("float32", True),
                                         ("float32", False)])
    else:
        (step_parts if part == "parts" else policies)(train_ids, vocab_size)


if __name__ == "__main__":
    main()
