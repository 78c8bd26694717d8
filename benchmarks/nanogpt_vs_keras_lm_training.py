"""nanoGPT against keras-lm: training speed at nanoGPT's CPU configuration,
natively and with the instruction set capped to AVX2 (issue 16).

    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT
    python benchmarks/nanogpt_vs_keras_lm_training.py \
        --nanogpt-model /tmp/nanoGPT/model.py [--rounds 3] [--seconds 20] \
        [--isas native,AVX2] \
        [--out benchmarks/results/nanogpt_vs_keras_lm_training.txt]

Three trainers of the same model (4 layers, 4 heads, d_model 128, context
64, batch 12, dropout 0, no biases; character-level tiny Shakespeare, 65
characters, nanoGPT's 90/10 split, windows at random offsets):

- nanogpt: karpathy/nanoGPT's `GPT` (its own model.py, from a checkout
  of nanoGPT that `--nanogpt-model` names; the results were taken at its
  commit 3adf61e), trained with the loop of its train.py:
  AdamW from `configure_optimizers` (lr 1e-3 with its warm-up/cosine
  schedule, betas (0.9, 0.99), weight decay 0.1), gradient clipping 1.0,
  float32, no torch.compile, `torch.set_num_threads(2)`; the next batch is
  drawn (torch.randint offsets, as its `get_batch`) between forward and
  backward, as train.py does; the ids come from memory, not a memmap;
- keras-lm xla / keras-lm tensorflow: `TransformerLM(use_bias=False)` under
  `model.fit`, compiled with `keras_lm.training.trainer.compile_model` and
  the preset's settings (transformer_speed.py's helpers;
  steps_per_execution 16), the train step chosen with
  `keras_lm.training.train_step.choose_train_step("xla" | "tensorflow")`.

Each trainer runs in its own subprocess (the ISA caps are read when a
process starts), for each ISA setting: native, and capped to AVX2 with
`XLA_FLAGS=--xla_cpu_max_isa=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2` (the last one caps
the MKL sgemm that PyTorch's float32 matmuls call: ATen's capability does
not reach it). Rounds interleave every (ISA, trainer) pair; the table gives
medians. Throughput is batch x context tokens per second of steady state:
after warm-up (nanoGPT: 30 steps; keras-lm: the first 3 executions of 16
steps, compilation included), over at least `--seconds`.

Before the rounds the script checks each cap in a subprocess: PyTorch's
`torch.backends.cpu.get_cpu_capability()`, the ISA that MKL_VERBOSE and
ONEDNN_VERBOSE report for a train step of nanoGPT and a TensorFlow matmul,
and the zmm (AVX-512) registers in the machine code XLA generates for a
small train step (`--xla_dump_to`, its object files disassembled with
objdump), with the operands only AVX-512 can encode (ymm16-31, mask
registers, embedded broadcasts, vpternlog), and the vector widths of its
LLVM IR.
"""

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "data", "tinyshakespeare",
                    "input.txt")
TRAINERS = ("nanogpt", "keras-lm xla", "keras-lm tensorflow")
CAPS = {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
ISAS = ("native", "AVX2")
CONTEXT, BATCH, LAYERS, HEADS, WIDTH = 64, 12, 4, 4, 128
TOKENS = BATCH * CONTEXT
SPE = 16

_lines = []


def report(line=""):
    print(line, flush=True)
    _lines.append(line)


#: The environment variable through which workers find nanoGPT's model.py.
NANOGPT_MODEL = "KERAS_LM_BENCH_NANOGPT_MODEL"


def env_for(isa, **extra):
    env = {k: v for k, v in os.environ.items() if k not in CAPS}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if isa == "AVX2":
        env.update(CAPS)
    env.update(extra)
    return env


def load_ids():
    """transformer_speed.load_data's (nanoGPT's prepare.py split), without
    importing TensorFlow into the PyTorch process."""
    import numpy as np

    with open(DATA, encoding="utf-8") as f:
        text = f.read()
    lookup = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = np.array([lookup[c] for c in text], np.int32)
    split = int(0.9 * len(ids))
    return ids[:split], ids[split:], len(lookup)


# -- workers (one per subprocess) -------------------------------------------
def worker_nanogpt(seconds, check=False):
    import importlib.util
    import math

    import torch

    torch.set_num_threads(2)
    spec = importlib.util.spec_from_file_location(
        "nanogpt_model", os.environ[NANOGPT_MODEL])
    nano = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nano)

    train_ids, _, vocab_size = load_ids()
    data = train_ids.astype("int64")
    torch.manual_seed(1337)

    def get_batch():  # train.py's, on an in-memory array
        ix = torch.randint(len(data) - CONTEXT, (BATCH,))
        x = torch.stack([torch.from_numpy(data[i:i + CONTEXT]) for i in ix])
        y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + CONTEXT])
                         for i in ix])
        return x, y

    def get_lr(it, warmup=100, decay=2000, lr=1e-3, min_lr=1e-4):
        if it < warmup:
            return lr * (it + 1) / (warmup + 1)
        if it > decay:
            return min_lr
        ratio = (it - warmup) / (decay - warmup)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)

    config = nano.GPTConfig(block_size=CONTEXT, vocab_size=vocab_size,
                            n_layer=LAYERS, n_head=HEADS, n_embd=WIDTH,
                            dropout=0.0, bias=False)
    model = nano.GPT(config)
    model.train()
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    X, Y = get_batch()
    warmup = 1 if check else 30
    times, it, loss = [], 0, None
    while True:
        for group in optimizer.param_groups:
            group["lr"] = get_lr(it)
        logits, loss = model(X, Y)
        X, Y = get_batch()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        it += 1
        if it >= warmup:
            times.append(time.perf_counter())
            if check or times[-1] - times[0] >= seconds:
                break
    steps = len(times) - 1
    return dict(rate=steps * TOKENS / (times[-1] - times[0]) if steps else None,
                steps=steps, seconds=times[-1] - times[0],
                loss=float(loss.item()),
                torch=torch.__version__,
                capability=torch.backends.cpu.get_cpu_capability(),
                threads=torch.get_num_threads())


def worker_keras(path, seconds):
    sys.path.insert(0, HERE)
    import keras
    import transformer_speed as speed

    from keras_lm.training.train_step import choose_train_step
    from keras_lm.training.trainer import compile_model

    train_ids, _, vocab_size = speed.load_data(DATA)
    jit_compile, described = choose_train_step(path)
    model = speed.build_ours(vocab_size, LAYERS, HEADS, WIDTH, CONTEXT,
                             use_bias=False)
    compile_model(model, speed.nanogpt_config(SPE), 2000,
                  jit_compile=jit_compile)
    warm_executions = 3

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())
            if (len(self.times) > warm_executions and self.times[-1]
                    - self.times[warm_executions - 1] >= seconds):
                self.model.stop_training = True

    timer = Timer()
    max_steps = SPE * 4000
    ds, _ = speed.dataset(train_ids, CONTEXT, max_steps, random_offsets=True)
    start = time.perf_counter()
    history = model.fit(ds, epochs=1, steps_per_epoch=max_steps, verbose=0,
                        callbacks=[timer], shuffle=False)
    t = timer.times
    steps = (len(t) - warm_executions) * SPE
    return dict(rate=steps * TOKENS / (t[-1] - t[warm_executions - 1]),
                steps=steps, seconds=t[-1] - t[warm_executions - 1],
                first=t[0] - start, loss=float(history.history["loss"][-1]),
                train_step=described, jit_compile=jit_compile,
                keras=keras.__version__)


# -- cap checks (each in a subprocess) --------------------------------------
def check_torch():
    import torch

    info = dict(capability=torch.backends.cpu.get_cpu_capability(),
                mkl=torch.backends.mkl.is_available(),
                mkldnn=torch.backends.mkldnn.is_available())
    info["step"] = worker_nanogpt(0, check=True)["loss"]
    # MKL's verbose output names no ISA: time its sgemm (torch.mm, 2
    # threads) instead
    a = torch.randn(512, 512)
    torch.mm(a, a)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < 1.0:
        torch.mm(a, a)
        calls += 1
    info["sgemm_gflops"] = round(
        2 * 512 ** 3 * calls / (time.perf_counter() - start) / 1e9, 1)
    return info


def check_onednn_tf():
    import tensorflow as tf

    a = tf.random.normal((256, 256))
    # in a graph, as `model.fit` without XLA runs, where TensorFlow swaps
    # in its oneDNN kernels
    matmul = tf.function(lambda a: tf.nn.relu(tf.matmul(a, a)))
    for _ in range(2):
        float(tf.reduce_sum(matmul(a)))
    return {}


def check_xla(dump_dir):
    import tensorflow as tf

    w = tf.Variable(tf.random.normal((128, 512)))
    x = tf.random.normal((768, 128))

    @tf.function(jit_compile=True)
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.nn.gelu(x @ w))
        g = tape.gradient(loss, w)
        w.assign_sub(0.001 * g * tf.math.rsqrt(g * g + 1e-8))
        return loss

    float(step(x))
    return dict(dump_dir=dump_dir)


def xla_dump_summary(dump_dir):
    """How many zmm/ymm registers and AVX-512-only (EVEX) operands the
    machine code XLA generated uses (objdump of the dumped *.o files), and
    the vector widths in its optimized LLVM IR. The dots run in library
    kernels compiled into TensorFlow, not in this code."""
    objects = glob.glob(os.path.join(dump_dir, "**", "*.o"), recursive=True)
    summary = {"files": len(os.listdir(dump_dir)), "objects": len(objects)}
    if objects:
        zmm = ymm = evex = 0
        for path in objects:
            try:
                text = subprocess.run(["objdump", "-d", "--no-show-raw-insn",
                                       path], capture_output=True, text=True,
                                      timeout=60).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            zmm += len(re.findall(r"%zmm\d+", text))
            ymm += len(re.findall(r"%ymm\d+", text))
            # only encodable with AVX-512 (EVEX): ymm16-31, mask registers,
            # embedded broadcasts, vpternlog
            evex += len(re.findall(r"%[xy]mm(?:1[6-9]|2\d|3[01])\b|%k[1-7]"
                                   r"|\{1to\d+\}|vpternlog", text))
        summary.update(zmm=zmm, ymm=ymm, avx512_only_operands=evex)
    irs = [p for p in glob.glob(os.path.join(dump_dir, "**", "*.ll"),
                                recursive=True) if "opt" in p] or \
        glob.glob(os.path.join(dump_dir, "**", "*.ll"), recursive=True)
    if irs:
        v16 = v8 = 0
        features = set()
        for path in irs:
            with open(path, errors="replace") as f:
                text = f.read()
            v16 += len(re.findall(r"<16 x float>", text))
            v8 += len(re.findall(r"<8 x float>", text))
            features.update(f"prefer-vector-width={m}" for m in re.findall(
                r'"prefer-vector-width"="(\d+)"', text))
            features.update(f"min-legal-vector-width={m}" for m in set(
                re.findall(r'"min-legal-vector-width"="(\d+)"', text)))
        summary.update(ir_files=len(irs), ir_16xfloat=v16, ir_8xfloat=v8,
                       ir_features=sorted(features))
    return summary


def isa_lines(text):
    """The ISA oneDNN reports (its "isa:" line) and the implementations of
    the primitives it ran, from ONEDNN_VERBOSE=1 output."""
    found = set()
    for line in text.splitlines():
        if "isa:" in line:
            found.add(line.split("isa:", 1)[1].split(",")[0].strip())
        if "exec," in line:
            found.update(f"ran {m}" for m in re.findall(
                r"\b(?:brg\w*|jit|gemm|ref)\w*:\w+", line))
            if ",gemm_api," in line:
                found.add("ran gemm_api (oneDNN's sgemm)")
    return sorted(found)


def run_checks(timeout, isas=ISAS):
    report("\n## Are the caps honoured? (one subprocess per check and ISA "
           "setting)")
    for isa in isas:
        report(f"\n{isa}:")
        # PyTorch: ATen's capability, and MKL's / oneDNN's ISA in a step
        env = env_for(isa, MKL_VERBOSE="1", ONEDNN_VERBOSE="1")
        out = subprocess.run([sys.executable, __file__, "--check", "torch"],
                             env=env, capture_output=True, text=True,
                             timeout=timeout)
        result = last_json(out.stdout)
        report(f"  torch: get_cpu_capability() = "
               f"{result.get('capability')}; MKL available "
               f"{result.get('mkl')}, oneDNN (mkldnn) {result.get('mkldnn')}")
        sgemm = sum(1 for line in out.stdout.splitlines()
                    if line.startswith("MKL_VERBOSE SGEMM"))
        report(f"  torch MKL_VERBOSE: {sgemm} SGEMM calls (one train step "
               f"and the timing below); MKL sgemm 512^3 on 2 threads: "
               f"{result.get('sgemm_gflops')} GFLOP/s")
        report(f"  torch ONEDNN_VERBOSE: {isa_lines(out.stdout) or 'no oneDNN primitive reported'}")
        # TensorFlow's oneDNN
        env = env_for(isa, ONEDNN_VERBOSE="1")
        out = subprocess.run([sys.executable, __file__, "--check", "onednn"],
                             env=env, capture_output=True, text=True,
                             timeout=timeout)
        report(f"  TensorFlow ONEDNN_VERBOSE: {isa_lines(out.stdout + out.stderr) or 'no oneDNN output'}")
        # XLA
        with tempfile.TemporaryDirectory() as dump_dir:
            env = env_for(isa)
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                                f" --xla_dump_to={dump_dir}").strip()
            out = subprocess.run([sys.executable, __file__, "--check", "xla",
                                  "--dump-dir", dump_dir], env=env,
                                 capture_output=True, text=True,
                                 timeout=timeout)
            if out.returncode:
                report(f"  XLA check failed: {out.stderr[-500:]}")
            else:
                report(f"  XLA ({env['XLA_FLAGS']}): "
                       f"{xla_dump_summary(dump_dir)}")


def last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return {}


# -- the rounds --------------------------------------------------------------
def run_rounds(rounds, seconds, timeout, deadline, isas=ISAS):
    results = {(isa, t): [] for isa in isas for t in TRAINERS}
    details = {}
    for r in range(rounds):
        for isa in isas:
            for trainer in TRAINERS:
                if time.time() > deadline:
                    report(f"  deadline reached; stopping before round "
                           f"{r + 1} {isa} {trainer}")
                    return results, details
                try:
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", trainer,
                         "--seconds", str(seconds)], env=env_for(isa),
                        capture_output=True, text=True, timeout=timeout)
                except subprocess.TimeoutExpired:
                    report(f"  round {r + 1} {isa:6s} {trainer:20s} timed out")
                    continue
                result = last_json(out.stdout)
                if not result:
                    report(f"  round {r + 1} {isa:6s} {trainer:20s} failed: "
                           f"{out.stderr[-800:]}")
                    continue
                results[(isa, trainer)].append(result["rate"])
                details[(isa, trainer)] = result
                extra = {k: v for k, v in result.items()
                         if k not in ("rate",)}
                report(f"  round {r + 1} {isa:6s} {trainer:20s} "
                       f"{result['rate']:8,.0f} tok/s  {extra}  "
                       f"load {os.getloadavg()[0]:.2f}")
    return results, details


def isa_name(isa, native_flags):
    """How a table row names an ISA setting: native says what this CPU
    has, so a run on a CPU without AVX-512 is not labelled AVX-512."""
    if isa != "native":
        return "capped to AVX2"
    return ("AVX-512 (native)" if "avx512f" in native_flags
            else "AVX2, no AVX-512 (native)")


def table(results, isas=ISAS, native_flags=()):
    def med(key):
        values = results[key]
        return statistics.median(values) if values else float("nan")

    report("\n## Medians (tokens/s, batch x context per second of steady "
           "state)\n")
    report("| CPU | nanoGPT (PyTorch) | keras-lm, XLA | keras-lm, TensorFlow "
           "(oneDNN) | XLA / nanoGPT | TensorFlow / nanoGPT |")
    report("|---|---:|---:|---:|---:|---:|")
    for isa in isas:
        nano, xla, tf_ = (med((isa, t)) for t in TRAINERS)
        name = isa_name(isa, native_flags)
        report(f"| {name} | {nano:,.0f} | {xla:,.0f} | {tf_:,.0f} | "
               f"{xla / nano:.2f}x | {tf_ / nano:.2f}x |")
    report("\nruns (nanoGPT; XLA; TensorFlow):")
    for isa in isas:
        report(f"  {isa}: " + "; ".join(
            ", ".join(f"{v:,.0f}" for v in results[(isa, t)])
            for t in TRAINERS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="steady-state seconds per measurement")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds a subprocess may take")
    parser.add_argument("--deadline", type=float, default=0.0,
                        help="start no measurement after this many seconds")
    parser.add_argument("--nanogpt-model", help="nanoGPT's model.py (from "
                        "a clone of github.com/karpathy/nanoGPT)")
    parser.add_argument("--no-checks", action="store_true")
    parser.add_argument("--isas", default=",".join(ISAS),
                        help="ISA settings to measure, comma-separated, of "
                        "%(default)s (on a CPU without AVX-512, 'native' "
                        "alone: the cap changes nothing there)")
    parser.add_argument("--out")
    parser.add_argument("--worker", choices=TRAINERS, help=argparse.SUPPRESS)
    parser.add_argument("--check", choices=("torch", "onednn", "xla"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--dump-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    isas = tuple(args.isas.split(","))
    if not set(isas) <= set(ISAS):
        parser.error(f"--isas takes {','.join(ISAS)} or one of them, not "
                     f"{args.isas!r}")
    if args.nanogpt_model:
        os.environ[NANOGPT_MODEL] = os.path.abspath(args.nanogpt_model)
    if not os.path.isfile(os.environ.get(NANOGPT_MODEL, "")):
        parser.error("give --nanogpt-model PATH: nanoGPT's model.py, from "
                     "git clone https://github.com/karpathy/nanoGPT")

    if args.worker:
        if args.worker == "nanogpt":
            result = worker_nanogpt(args.seconds)
        else:
            result = worker_keras(args.worker.split()[-1], args.seconds)
        print(json.dumps(result), flush=True)
        return
    if args.check:
        result = {"torch": check_torch, "onednn": check_onednn_tf,
                  "xla": lambda: check_xla(args.dump_dir)}[args.check]()
        print(json.dumps(result), flush=True)
        return

    sys.path.insert(0, HERE)
    from machine import cpu_flags, describe_machine
    import torch

    start = time.time()
    deadline = start + args.deadline if args.deadline else float("inf")
    report(f"machine: {describe_machine()}, PyTorch {torch.__version__}")
    report(f"CPU flags: {' '.join(cpu_flags())}")
    report(f"load average at start: {os.getloadavg()[0]:.2f}")
    report(f"model: {LAYERS} layers, {HEADS} heads, d_model {WIDTH}, "
           f"context {CONTEXT}, batch {BATCH} ({TOKENS} tokens/step), "
           f"dropout 0, no biases; keras-lm steps_per_execution {SPE}")
    report(f"AVX2 cap: {' '.join(f'{k}={v}' for k, v in CAPS.items())}")
    report(f"{args.rounds} rounds x {len(isas)} ISA settings x "
           f"{len(TRAINERS)} trainers, each a fresh subprocess, >= "
           f"{args.seconds:.0f} s of steady state each")
    if not args.no_checks:
        run_checks(args.timeout, isas)
    report("\n## Rounds")
    results, _ = run_rounds(args.rounds, args.seconds, args.timeout, deadline,
                            isas)
    table(results, isas, cpu_flags())
    report(f"\nload average at end: {os.getloadavg()[0]:.2f}; wall "
           f"{time.time() - start:.0f} s")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(_lines) + "\n")


if __name__ == "__main__":
    main()
