"""GPT-2 small greedy generation: keras-lm vs. transformers vs. keras-hub.

One GPT-2 small (124M, `transformers.GPT2Config()` defaults, random weights
from `torch.manual_seed(0)`), run in one process by:

- **transformers**: `GPT2LMHeadModel.generate(do_sample=False,
  use_cache=True)` in PyTorch (threads = `os.cpu_count()`), no stop id;
- **keras-hub**: `GPT2CausalLM` (TensorFlow backend, no preprocessor,
  `sampler="greedy"`, `stop_token_ids=None`) fed token ids and a padding
  mask; its backbone is loaded from the same safetensors folder when
  keras-hub can read it (else built with random weights, and its tokens are
  not compared). Its `jit_compile` is Keras' default ("auto", no XLA on a
  CPU-only machine) unless `--keras-hub-xla`;
- **keras-lm**: the same weights (saved by `save_pretrained`, read by
  `keras_lm.checkpoints.gpt2`'s reader and `assign_gpt2_weights`: no
  tokenizer is needed, and none is available offline) decoded by
  `keras_lm.generation.generate_ids(..., temperature=0.0)`. With
  `--quantize MODE` a second keras-lm row, "keras-lm MODE", decodes the
  copy that `keras_lm.generation.quantize_for_decoding(model, MODE)`
  returns (the float32 model is left as it is and keeps its own row), so
  both precisions are measured in the same process.

Measurements (the same random prompt ids for every library; each repeated
`--repeats` times, interleaved across libraries; medians reported):

- `b1`: batch 1, 16-token prompt, 64 new tokens: new tokens/s;
- `b8`: batch 8, 16-token prompts, 64 new tokens: new tokens/s
  (8 x 64 / seconds);
- `ttft`: time to the first token after a 512-token prompt at batch 1
  (exactly one new token).

Each shape is run once before timing (tracing, XLA compilation); that first
call's time is printed, not counted. Greedy tokens of keras-lm (and
keras-hub) are compared with transformers' on `b1`; those of the quantized
keras-lm copy with float32 keras-lm's on `b1` and `b8`, per sequence, as the
first new token where they differ (bfloat16 weights change the logits
slightly, so greedy decoding is expected to diverge after a while).

The memory-bandwidth bound: at batch B a decoding step reads every weight
once (float32; the tied 50257 x 768 embedding once, for the logits; one row
of the position table), so no implementation can beat
`B / (weight bytes / bandwidth)` tokens/s. For the bfloat16 row the weight
bytes are those of 2-byte weights (half), so its bound is twice as high.
The bandwidth is this machine's best measured read rate (NumPy sum,
single-threaded, and torch sum over all threads, on a 1 GB float32 array);
each `b1`/`b8` result is printed as a fraction of that bound. KV-cache reads (under 6% of the weights here) are
left out, so the bound is slightly optimistic.

    python benchmarks/gpt2_small_generation.py [--repeats 3] [--sizes b1,b8,ttft]
        [--only keras-lm,transformers,keras-hub] [--quantize MODE] [--tiny]

`--tiny` runs a 2-layer, width-64 model (vocabulary 1024) for a smoke test.
`--quantize MODE` (e.g. `bfloat16`) adds the "keras-lm MODE" row described
above; `--only keras-lm` keeps both keras-lm rows.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402

from machine import cpu_flags, describe_machine, memory_bandwidth  # noqa: E402

LIBRARIES = ("transformers", "keras-hub", "keras-lm")
NEW_TOKENS = 64
PROMPT = 16
TTFT_PROMPT = 512
#: name: (batch, prompt length, new tokens)
SHAPES = {"b1": (1, PROMPT, NEW_TOKENS), "b8": (8, PROMPT, NEW_TOKENS),
          "ttft": (1, TTFT_PROMPT, 1)}
SEED = 0


def gpt2_config(tiny):
    import transformers

    if tiny:
        return transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4,
                                       vocab_size=1024, bos_token_id=1023,
                                       eos_token_id=1023)
    return transformers.GPT2Config()


# --- the three libraries: each `make_*` returns `run(ids) -> new tokens` ---

def make_transformers(folder):
    import torch
    import transformers

    torch.set_num_threads(os.cpu_count())
    model = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    model.generation_config.eos_token_id = None  # never stop early

    def run(ids, new_tokens):
        ids = torch.from_numpy(ids.astype(np.int64))
        with torch.inference_mode():
            out = model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=False,
                use_cache=True, max_new_tokens=new_tokens,
                min_new_tokens=new_tokens, eos_token_id=None, pad_token_id=0)
        return out[:, ids.shape[1]:].numpy()

    return run, "torch {} ({} threads)".format(torch.__version__,
                                               torch.get_num_threads())


def make_keras_hub(folder, config, xla):
    import keras_hub

    try:
        backbone = keras_hub.models.GPT2Backbone.from_preset(folder)
        weights = "same weights (from_preset on the safetensors folder)"
        shared = True
    except Exception as e:  # an unreadable folder: random weights instead
        backbone = keras_hub.models.GPT2Backbone(
            vocabulary_size=config.vocab_size, num_layers=config.n_layer,
            num_heads=config.n_head, hidden_dim=config.n_embd,
            intermediate_dim=4 * config.n_embd, dropout=0.0,
            max_sequence_length=config.n_positions)
        weights = (f"random weights (from_preset failed: "
                   f"{type(e).__name__}: {str(e).splitlines()[0][:100]})")
        shared = False
    lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    if xla:
        lm.compile(sampler="greedy", jit_compile=True)
    else:
        lm.compile(sampler="greedy")

    def run(ids, new_tokens):
        batch, length = ids.shape
        token_ids = np.concatenate(
            [ids, np.zeros((batch, new_tokens), ids.dtype)], axis=1)
        mask = np.zeros(token_ids.shape, bool)
        mask[:, :length] = True
        out = lm.generate({"token_ids": token_ids, "padding_mask": mask},
                          stop_token_ids=None)
        return np.asarray(out["token_ids"])[:, length:]

    return run, (f"keras-hub {keras_hub.__version__}, jit_compile="
                 f"{getattr(lm, 'jit_compile', '?')}, {weights}"), shared


def make_keras_lm(folder, quantize):
    """`[(row name, run, note, bytes per weight)]`: float32 keras-lm, and
    with `quantize` also the copy `quantize_for_decoding` returns."""
    from keras_lm.checkpoints import gpt2
    from keras_lm.generation import generate_ids
    from keras_lm.models import TransformerLM

    # `load_gpt2(folder)` would also want vocab.json/merges.txt with 50257
    # tokens; these are its steps without the tokenizer.
    model_config = gpt2.model_config_from_gpt2(gpt2.read_gpt2_config(folder))
    tensors = gpt2.read_safetensors(folder)
    gpt2.check_tensors(tensors, model_config)
    model = TransformerLM(**model_config)
    model.build()
    gpt2.assign_gpt2_weights(model, tensors)

    def runner(decoder):
        def run(ids, new_tokens):
            lengths = np.full([ids.shape[0]], ids.shape[1], np.int32)
            return generate_ids(decoder, ids.astype(np.int32), lengths,
                                new_tokens, temperature=0.0).numpy()
        return run

    rows = [("keras-lm", runner(model), "float32", 4)]
    if quantize:
        from keras_lm.generation import quantize_for_decoding
        from keras_lm.generation.quantize import check_quantize_mode

        dtype = check_quantize_mode(quantize)  # "bf16" -> "bfloat16"
        # A copy: `model` stays float32 for the "keras-lm" row.
        quantized = quantize_for_decoding(model, quantize)
        dtypes = sorted({str(w.dtype) for w in quantized.weights})
        assert quantized is not model
        assert {str(w.dtype) for w in model.weights} == {"float32"}
        rows.append((f"keras-lm {dtype}", runner(quantized),
                     f"quantize_for_decoding(model, {quantize!r}): a copy, "
                     f"weights {'/'.join(dtypes)}",
                     keras_dtype_bytes(dtype)))
    return rows


def keras_dtype_bytes(dtype):
    return {"bfloat16": 2, "float16": 2, "float32": 4, "int8": 1}[dtype]


# --- the bandwidth bound ---

def weight_bytes_per_step(config, bytes_per_weight=4):
    """Bytes a decoding step reads: every parameter once (`bytes_per_weight`
    each; 4 for float32, 2 for bfloat16), the tied embedding once, one row
    of the position table."""
    d, v, m = config.n_embd, config.vocab_size, 4 * config.n_embd
    per_layer = (2 * 2 * d            # ln_1, ln_2
                 + d * 3 * d + 3 * d  # c_attn
                 + d * d + d          # attn c_proj
                 + d * m + m          # c_fc
                 + m * d + d)         # mlp c_proj
    params = v * d + d + config.n_layer * per_layer + 2 * d  # wte, wpe row, ln_f
    return bytes_per_weight * params


def read_bandwidth():
    """Best read rate in GB/s: NumPy (one thread) and torch (all threads)."""
    rates = memory_bandwidth(1.0, tries=3)
    try:
        import torch

        torch.set_num_threads(os.cpu_count())
        a = torch.ones(250_000_000, dtype=torch.float32)
        a.sum()
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            a.sum()
            best = max(best, a.numel() * 4 / (time.perf_counter() - start)
                       / 1e9)
        rates["torch_read"] = best
        del a
    except ImportError:
        pass
    return rates


# --- the run ---

def row_mismatches(a, b):
    """Per sequence of a batch: the first new token where `a` and `b`
    differ."""
    a, b = np.asarray(a), np.asarray(b)
    parts = []
    for i, (x, y) in enumerate(zip(a, b)):
        where = np.flatnonzero(x != y)
        parts.append(f"{where[0]}" if len(where) else "none")
    first = [int(p) for p in parts if p != "none"]
    summary = (f"identical in all {len(parts)} sequences" if not first else
               f"first mismatch at token {min(first)}")
    if len(parts) > 1 and first:
        summary += (f" (per sequence: {', '.join(parts)}; "
                    f"{len(parts) - len(first)} of {len(parts)} identical)")
    return summary


def first_mismatch(a, b):
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape == b.shape and np.array_equal(a, b):
        return "identical"
    n = min(len(a), len(b))
    position = next((i for i in range(n) if a[i] != b[i]), n)
    return (f"first mismatch at new token {position} "
            f"({a[position] if position < len(a) else '-'} vs "
            f"{b[position] if position < len(b) else '-'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(SHAPES),
                        help="comma-separated subset of " + ",".join(SHAPES))
    parser.add_argument("--only", default=",".join(LIBRARIES),
                        help="comma-separated subset of " + ",".join(LIBRARIES))
    parser.add_argument("--quantize", default=None, metavar="MODE",
                        help="keras-lm only: quantize_for_decoding mode")
    parser.add_argument("--tiny", action="store_true",
                        help="2 layers, width 64, vocabulary 1024 (smoke run)")
    parser.add_argument("--keras-hub-xla", action="store_true",
                        help="compile keras-hub's generate with XLA")
    args = parser.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    only = [s for s in args.only.split(",") if s]
    for name in sizes:
        if name not in SHAPES:
            parser.error(f"unknown size {name!r}; known: {', '.join(SHAPES)}")
    for name in only:
        if name not in LIBRARIES:
            parser.error(f"unknown library {name!r}; known: "
                         f"{', '.join(LIBRARIES)}")
    libraries = [name for name in LIBRARIES if name in only]

    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    print(f"# {describe_machine()}, CPU flags: "
          f"{' '.join(cpu_flags()) or 'none found'}, "
          f"transformers {transformers.__version__}")
    config = gpt2_config(args.tiny)
    torch.manual_seed(SEED)
    hf_model = transformers.GPT2LMHeadModel(config).eval()
    params = sum(p.numel() for p in hf_model.parameters())
    print(f"GPT-2 {'tiny' if args.tiny else 'small'}: {config.n_layer} layers,"
          f" width {config.n_embd}, vocabulary {config.vocab_size}, "
          f"{params / 1e6:.1f}M parameters (tied embedding counted once)")

    rng = np.random.default_rng(SEED)
    prompts = rng.integers(0, config.vocab_size - 1, size=(8, TTFT_PROMPT),
                           dtype=np.int64)

    runners = {}
    weight_width = {}  # bytes per weight of a row, where not 4 (float32)
    with tempfile.TemporaryDirectory() as folder:
        hf_model.save_pretrained(folder, safe_serialization=True)
        del hf_model
        for name in libraries:
            start = time.perf_counter()
            try:
                if name == "transformers":
                    run, note = make_transformers(folder)
                elif name == "keras-hub":
                    run, note, shared = make_keras_hub(folder, config,
                                                       args.keras_hub_xla)
                    if not shared:
                        note += "; tokens not compared"
                    runners["keras-hub shared"] = shared
                else:
                    rows = make_keras_lm(folder, args.quantize)
                    _, run, note, _ = rows[0]
                    for row, row_run, row_note, width in rows[1:]:
                        runners[row] = row_run
                        weight_width[row] = width
                        note += f"; {row}: {row_note}"
            except Exception as e:
                print(f"{name}: skipped, setting up failed: "
                      f"{type(e).__name__}: {e}")
                continue
            runners[name] = run
            print(f"{name}: {note} (loaded in "
                  f"{time.perf_counter() - start:.1f} s)")
    # Rows: the libraries, then any quantized keras-lm copy.
    libraries = ([name for name in libraries if name in runners]
                 + [name for name in runners if name.startswith("keras-lm ")])

    def ids_for(size):
        batch, prompt, _ = SHAPES[size]
        return prompts[:batch, :prompt]

    # Warm-up: one call per library and shape (tracing, XLA compilation).
    tokens, first_call = {}, {}
    for size in sizes:
        for name in list(libraries):
            start = time.perf_counter()
            try:
                tokens[name, size] = runners[name](ids_for(size),
                                                   SHAPES[size][2])
            except Exception as e:
                print(f"{name} {size}: skipped, first call failed: "
                      f"{type(e).__name__}: {str(e)[:300]}")
                tokens[name, size] = None
                continue
            first_call[name, size] = time.perf_counter() - start
            print(f"first call (compile + run) {name} {size}: "
                  f"{first_call[name, size]:.1f} s")

    if "b1" in sizes and ("transformers", "b1") in tokens:
        reference = tokens["transformers", "b1"]
        for name in ("keras-lm", "keras-hub"):
            if reference is None or tokens.get((name, "b1")) is None:
                continue
            if name == "keras-hub" and not runners.get("keras-hub shared"):
                continue
            print(f"greedy tokens, {name} vs transformers, b1: "
                  f"{first_mismatch(tokens[name, 'b1'], reference)}")
    for name in libraries:
        if not name.startswith("keras-lm "):
            continue
        for size in ("b1", "b8"):
            if (tokens.get((name, size)) is None
                    or tokens.get(("keras-lm", size)) is None):
                continue
            result = row_mismatches(tokens[name, size],
                                    tokens["keras-lm", size])
            print(f"greedy tokens, {name} vs keras-lm float32, {size} "
                  f"({SHAPES[size][2]} new tokens): {result}")

    seconds = {(name, size): [] for name in libraries for size in sizes
               if tokens.get((name, size)) is not None}
    for repeat in range(args.repeats):
        for size in sizes:
            for name in libraries:
                if (name, size) not in seconds:
                    continue
                start = time.perf_counter()
                runners[name](ids_for(size), SHAPES[size][2])
                seconds[name, size].append(time.perf_counter() - start)
        print(f"repeat {repeat + 1}/{args.repeats} done")

    rates = read_bandwidth()
    bandwidth = max(rates.values())
    step_bytes = weight_bytes_per_step(config)
    print("memory bandwidth: " + ", ".join(
        f"{key} {value:.1f} GB/s" for key, value in rates.items())
        + f"; bound uses {bandwidth:.1f} GB/s")
    print(f"weights read per step: {step_bytes / 1e6:.0f} MB (float32), "
          f"so at most {bandwidth * 1e9 / step_bytes:.1f} steps/s")
    for name, width in weight_width.items():
        row_bytes = weight_bytes_per_step(config, width)
        print(f"  {name}: {row_bytes / 1e6:.0f} MB ({width}-byte weights), "
              f"so at most {bandwidth * 1e9 / row_bytes:.1f} steps/s")

    print()
    print("| measurement | library | median | vs transformers "
          "| of bandwidth bound | first call (s) |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        batch, prompt, new_tokens = SHAPES[size]
        medians = {name: statistics.median(seconds[name, size])
                   for name in libraries if (name, size) in seconds}
        for name, median in medians.items():
            base = medians.get("transformers")
            if size == "ttft":
                value = f"{median * 1000:.0f} ms TTFT"
                ratio = f"{base / median:.2f}x" if base else "-"
                fraction = "-"
            else:
                bound = batch * bandwidth * 1e9 / weight_bytes_per_step(
                    config, weight_width.get(name, 4))
                rate = batch * new_tokens / median
                value = f"{rate:.1f} tok/s"
                ratio = f"{base / median:.2f}x" if base else "-"
                fraction = f"{rate / bound:.0%} of {bound:.0f} tok/s"
            label = (f"{size}: batch {batch}, prompt {prompt}, "
                     f"{new_tokens} new")
            print(f"| {label} | {name} | {value} | {ratio} | {fraction} "
                  f"| {first_call[name, size]:.1f} |")
    quantized = [name for name in libraries if name.startswith("keras-lm ")]
    for name in quantized:
        ratios = [
            f"{size} {statistics.median(seconds['keras-lm', size]) / statistics.median(seconds[name, size]):.2f}x"  # noqa: E501
            for size in sizes
            if (name, size) in seconds and ("keras-lm", size) in seconds]
        if ratios:
            print()
            print(f"{name} vs keras-lm float32 (its time / this one's): "
                  + ", ".join(ratios))
    print()
    print("vs transformers: >1 means faster than transformers (its time / "
          "this one's). Per-repeat seconds:")
    for (name, size), values in seconds.items():
        print(f"  {name} {size}: " + ", ".join(f"{v:.3f}" for v in values))


if __name__ == "__main__":
    main()
