"""The `keras-lm` command line: train, generate, evaluate, export,
finetune, import-gpt2 and translate (`keras-lm --help` lists them).

Every command prints one clear line on stderr and exits non-zero on bad
input (`keras-lm: error: ...`), never a TensorFlow traceback.
"""

import argparse
import os
import sys

# Quiet TensorFlow's C++ start-up chatter before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FAMILY_FLAGS = {
    "gru": ("embedding_dim", "rnn_units", "num_layers", "dropout"),
    "lstm": ("embedding_dim", "rnn_units", "num_layers", "dropout",
             "tie_embeddings"),
    "transformer": ("num_layers", "num_heads", "d_model", "mlp_dim",
                    "max_sequence_length", "dropout"),
}
MODEL_DEFAULTS = {
    "gru": {"embedding_dim": 256, "rnn_units": 1024, "num_layers": 1},
    "lstm": {"embedding_dim": 256, "rnn_units": 512, "num_layers": 2},
    "transformer": {"num_layers": 4, "num_heads": 4, "d_model": 128,
                    "max_sequence_length": 256},
}
# serving_default's max_new_tokens, temperature, top_k, top_p
EXPORT_DEFAULTS = (200, 1.0, 0, 1.0)
LM_EXPORT_FLAGS = ("max_new_tokens", "temperature", "top_k", "top_p")
SEQ2SEQ_EVALUATE_FLAGS = ("beam_width", "length_penalty", "max_pairs", "task")
SEQ2SEQ_EXPORT_FLAGS = ("beam_width", "length_penalty", "max_length")
TRAINING_FLAGS = ("seq_len", "batch_size", "epochs", "steps_per_epoch",
                  "validation_steps", "learning_rate", "warmup_steps",
                  "weight_decay", "beta_1", "ema_momentum", "seed",
                  "stateful", "steps_per_execution",
                  "early_stopping_patience", "random_offsets")


def _add_training_flags(parser, finetune=False):
    """The flags of `train` and (without preset and tokenizer: fine-tuning
    keeps the source run's) of `finetune`."""
    add = parser.add_argument
    add("--data", help="tfds name (tiny_shakespeare), a .txt file or folder; "
                       "default: the embedded corpus (no network)")
    add("--data-dir", help="TensorFlow Datasets data directory")
    if not finetune:
        add("--preset", help="a named recipe from keras_lm.presets "
                             "(flags still override it)")
    add("--out", help="run directory (default: runs/<family>)")
    add("--epochs", type=int)
    add("--steps-per-epoch", type=int,
        help="batches per epoch (default: one pass over the text)")
    add("--validation-steps", type=int)
    add("--batch-size", type=int)
    add("--seq-len", type=int, help="tokens per training example")
    add("--learning-rate", type=float)
    add("--warmup-steps", type=int)
    add("--weight-decay", type=float,
        help="AdamW's decoupled weight decay (default 0: plain Adam)")
    add("--beta-1", type=float,
        help="Adam's first-moment decay (default 0.9)")
    add("--ema-momentum", type=float,
        help="validate, checkpoint and keep a moving average of the weights "
             "at this momentum, e.g. 0.99 (default 0: the raw weights)")
    add("--seed", type=int)
    add("--steps-per-execution", type=int)
    add("--early-stopping-patience", type=int)
    add("--stateful", action="store_true", default=None,
        help="carry RNN state across batches (truncated BPTT)")
    add("--random-offsets", action="store_true", default=None,
        help="start each training window at a uniformly random position "
             "(nanoGPT's sampling) instead of a shuffled fixed grid")
    if not finetune:
        add("--tokenizer", choices=["char", "word", "subword"], default=None)
        add("--vocab-size", type=int, help="vocabulary size (word/subword)")
    add_strategy_flag(parser)
    add("--verbose", type=int, choices=[0, 1, 2], default=1)


def add_strategy_flag(parser):
    parser.add_argument(
        "--strategy", choices=["default", "mirrored", "multi_worker", "tpu"],
        default="default", help="tf.distribute strategy (the global batch is "
                                "split across its replicas)")


def _add_model_flags(parser, family):
    kinds = {"dropout": float, "tie_embeddings": None}
    for name in FAMILY_FLAGS[family]:
        flag = "--" + name.replace("_", "-")
        if kinds.get(name, int) is None:
            parser.add_argument(flag, action="store_true", default=None)
        else:
            parser.add_argument(flag, type=kinds.get(name, int))


def build_parser():
    """The argparse parser of every command (seq2seq and GPT-2 import flags
    come from `cli_seq2seq` and `cli_import`)."""
    parser = argparse.ArgumentParser(
        prog="keras-lm",
        description="Train, sample from, evaluate and export language models "
                    "with plain Keras.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model with model.fit")
    families = train.add_subparsers(dest="family", required=True)
    for family in FAMILY_FLAGS:
        sub = families.add_parser(family, help=f"train a {family} model")
        _add_training_flags(sub)
        _add_model_flags(sub, family)

    generate = commands.add_parser(
        "generate", help="sample text from a run directory or SavedModel")
    generate.add_argument("source", help="run directory or SavedModel folder")
    generate.add_argument("--prompt", required=True, action="append",
                          help="text to continue (repeat for a batch)")
    generate.add_argument("--max-new-tokens", type=int, default=200)
    generate.add_argument("--temperature", type=float, default=1.0,
                          help="0 means greedy")
    generate.add_argument("--top-k", type=int, default=0, help="0 keeps all")
    generate.add_argument("--top-p", type=float, default=1.0)
    generate.add_argument("--seed", type=int, default=0)

    evaluate = commands.add_parser(
        "evaluate", help="loss, perplexity and bits per character")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data", help="text to evaluate on (default: the "
                                         "run's validation split)")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--max-batches", type=int)

    finetune = commands.add_parser(
        "finetune", help="continue training a run on new text (new run dir)")
    finetune.add_argument("run_dir", help="the trained run to start from")
    _add_training_flags(finetune, finetune=True)
    finetune.add_argument("--freeze-embeddings", action="store_true",
                          help="keep the token embedding fixed")
    finetune.add_argument("--max-unknown-fraction", type=float, default=0.005,
                          help="refuse text with more unknown tokens than this")

    export = commands.add_parser("export", help="write a SavedModel")
    export.add_argument("run_dir")
    export.add_argument("--out", help="default: saved_models/<run name>")
    export.add_argument("--max-new-tokens", type=int,
                        help="default for the serving_default signature "
                             f"(language models; default {EXPORT_DEFAULTS[0]})")
    export.add_argument("--temperature", type=float,
                        help=f"(default {EXPORT_DEFAULTS[1]})")
    export.add_argument("--top-k", type=int,
                        help=f"(default {EXPORT_DEFAULTS[2]})")
    export.add_argument("--top-p", type=float,
                        help=f"(default {EXPORT_DEFAULTS[3]})")

    from keras_lm import cli_import, cli_seq2seq

    cli_import.add_parser(commands)
    cli_seq2seq.add_parsers(commands, families)
    return parser


def _pick(args, names):
    return {n: getattr(args, n) for n in names
            if getattr(args, n, None) is not None}


def run_train(args):
    if args.family == "seq2seq":
        from keras_lm import cli_seq2seq

        return cli_seq2seq.train(args)
    from keras_lm.presets import get_preset
    from keras_lm.training.trainer import TrainingConfig, train

    preset = get_preset(args.preset, args.family) if args.preset else {}
    model_config = {**MODEL_DEFAULTS[args.family], **preset.get("model", {}),
                    **_pick(args, FAMILY_FLAGS[args.family])}
    training = TrainingConfig(**{**preset.get("training", {}),
                                 **_pick(args, TRAINING_FLAGS)})
    out = args.out or os.path.join("runs", args.family)
    history = train(
        args.family, out, data=args.data or preset.get("data"),
        model_config=model_config, training=training,
        tokenizer=args.tokenizer or preset.get("tokenizer", "char"),
        vocab_size=(args.vocab_size if args.vocab_size is not None
                    else preset.get("vocab_size")),
        data_dir=args.data_dir, verbose=args.verbose, strategy=args.strategy)
    _print_outcome("trained", out, history)
    _print_sample(out)


def run_finetune(args):
    import dataclasses

    from keras_lm.runs import RunDirectory
    from keras_lm.training.trainer import TrainingConfig, finetune

    source = RunDirectory(args.run_dir).require()
    config = source.read_config()
    saved = TrainingConfig(**config["training"])
    training = dataclasses.replace(saved, **_pick(args, TRAINING_FLAGS))
    out = args.out or source.path.rstrip("/") + "-finetuned"
    history = finetune(source.path, out, data=args.data, training=training,
                       freeze_embeddings=args.freeze_embeddings,
                       max_unknown_fraction=args.max_unknown_fraction,
                       data_dir=args.data_dir, verbose=args.verbose,
                       strategy=args.strategy)
    _print_outcome("fine-tuned", out, history)


def _print_outcome(done, out, history):
    from keras_lm.training.trainer import describe_history

    if history is None:  # the run was already finished with these settings
        print(f"{out} is already {done} with these settings; nothing to do")
    else:
        print(f"{done} {out}: {describe_history(history)}")


def _print_sample(run_dir):
    from keras_lm.generation import generate_text
    from keras_lm.runs import load_run

    model, tokenizer, _ = load_run(run_dir)
    prompt = "The "
    length = 200
    if model.max_sequence_length is not None:
        length = min(length, model.max_sequence_length
                     - len(tokenizer.encode(prompt)))
    print("sample:", generate_text(model, tokenizer, prompt, length,
                                   temperature=0.8, seed=0))


def run_generate(args):
    from keras_lm.generation import check_sampling_args

    from keras_lm.serving import is_saved_model

    check_sampling_args(args.max_new_tokens, args.temperature, args.top_k,
                        args.top_p, args.seed)
    if is_saved_model(args.source):
        texts = _generate_from_saved_model(args)
    else:
        from keras_lm.generation import generate_text
        from keras_lm.runs import load_run

        model, tokenizer, _ = load_run(args.source)
        _warn_about_unknown_tokens(tokenizer, args.prompt)
        texts = generate_text(model, tokenizer, args.prompt,
                              args.max_new_tokens, args.temperature,
                              args.top_k, args.top_p, args.seed)
    for text in texts:
        print(text)


def _warn_about_unknown_tokens(tokenizer, prompts):
    """Text the tokenizer cannot represent still generates (it reads as the
    unknown token), but the user should know the model never saw it."""
    unknown = sum(tokenizer.count_unknown(p) for p in prompts)
    if unknown:
        print(f"keras-lm: warning: {unknown} prompt token(s) are unknown to "
              f"this run's {tokenizer.kind} tokenizer and read as <unk>",
              file=sys.stderr)


def _generate_from_saved_model(args):
    from keras_lm.errors import KerasLMError
    from keras_lm.serving import generate_with_export, load_export

    if any(not p for p in args.prompt):
        raise KerasLMError("--prompt is empty; give at least one character")
    return generate_with_export(
        load_export(args.source), args.prompt, args.max_new_tokens,
        args.temperature, args.top_k, args.top_p, args.seed)


def refuse_flags(args, names, run_kind):
    """A one-line error when one of the flags `names` was given: they belong
    to the other kind of run than `run_kind` ("language-model"/"seq2seq")."""
    given = [name for name in names if getattr(args, name, None) is not None]
    if given:
        from keras_lm.errors import KerasLMError

        flag = "--" + given[0].replace("_", "-")
        raise KerasLMError(f"{flag} does not apply to {args.run_dir}, a "
                           f"{run_kind} run")


def run_evaluate(args):
    from keras_lm import cli_seq2seq

    if cli_seq2seq.is_seq2seq_run(args.run_dir):
        return cli_seq2seq.evaluate(args)
    from keras_lm.evaluation.language_model import evaluate_run

    refuse_flags(args, SEQ2SEQ_EVALUATE_FLAGS, "language-model")
    scores = evaluate_run(args.run_dir, data=args.data, data_dir=args.data_dir,
                          max_batches=args.max_batches, verbose=1)
    for name, value in scores.items():
        print(f"{name}: {value:.4f}" if isinstance(value, float)
              else f"{name}: {value}")


def run_export(args):
    from keras_lm import cli_seq2seq

    if cli_seq2seq.is_seq2seq_run(args.run_dir):
        return cli_seq2seq.export(args)
    from keras_lm.serving import export_run
    from keras_lm.generation import check_sampling_args

    refuse_flags(args, SEQ2SEQ_EXPORT_FLAGS, "language-model")
    max_new_tokens, temperature, top_k, top_p = (
        default if value is None else value for value, default in zip(
            (getattr(args, name) for name in LM_EXPORT_FLAGS),
            EXPORT_DEFAULTS))
    check_sampling_args(max_new_tokens, temperature, top_k, top_p)
    path = export_run(args.run_dir, args.out, max_new_tokens=max_new_tokens,
                      temperature=temperature, top_k=top_k, top_p=top_p)
    print(f"exported {path}")


def run_translate(args):
    from keras_lm import cli_seq2seq

    cli_seq2seq.translate(args)


def run_import_gpt2(args):
    from keras_lm import cli_import

    cli_import.run(args)


COMMANDS = {"train": run_train, "generate": run_generate,
            "evaluate": run_evaluate, "export": run_export,
            "finetune": run_finetune, "import-gpt2": run_import_gpt2,
            "translate": run_translate}


def _import_tensorflow_quietly(probe_devices=True):
    """Imports TensorFlow with its native start-up logging silenced.

    TensorFlow's C++ runtime writes INFO lines (oneDNN, CUDA probing) straight
    to file descriptor 2 before TF_CPP_MIN_LOG_LEVEL takes effect; users of
    the CLI should see only our own output. Set TF_CPP_MIN_LOG_LEVEL=0 to
    see them.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        # Device probing logs happen here. MultiWorkerMirroredStrategy must be
        # created before the runtime starts, so it skips the probe.
        if probe_devices:
            tf.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv=None):
    """Runs `keras-lm ARGV`; returns the exit status (0, 2 on bad input)."""
    args = build_parser().parse_args(argv)
    _import_tensorflow_quietly(
        probe_devices=getattr(args, "strategy", None) != "multi_worker")
    from keras_lm.errors import KerasLMError, graph_check_message

    try:
        COMMANDS[args.command](args)
    except KerasLMError as e:
        print(f"keras-lm: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("keras-lm: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a TensorFlow runtime check, e.g. in a SavedModel
        import tensorflow as tf

        if not isinstance(e, tf.errors.InvalidArgumentError):
            raise
        print(f"keras-lm: error: {graph_check_message(e)}", file=sys.stderr)
        return 2
    return 0
