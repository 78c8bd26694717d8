"""The seq2seq part of the `keras-lm` command line.

    keras-lm train seq2seq --data SOURCE [--attention {none,additive,dot}]
        [--bidirectional] [--reverse] [--tokenizer {subword,word,char}]
        [--vocab-size N] [--max-source-length N] [--max-target-length N]
        [--embedding-dim N] [--units N] [--epochs N] [--steps-per-epoch N]
        [--batch-size N] [--learning-rate X] [--out RUN_DIR] [--seed N] ...
    keras-lm translate RUN_DIR --text "..." [--text ...] [--beam-width K]
        [--length-penalty A] [--plot-attention out.png]
    keras-lm evaluate RUN_DIR      (BLEU, ROUGE, exact match, accuracy)
    keras-lm export RUN_DIR        (SavedModel: text in, translation out)

`keras_lm.cli` builds its parser, then calls `add_parsers(commands,
train_families)`; its evaluate/export handlers hand seq2seq run directories
(`is_seq2seq_run`) to `evaluate(args)` / `export(args)` here.

Nothing here imports TensorFlow at module level, so building the parser
stays instant and the CLI can quiet TensorFlow's start-up logging first.
"""

import os
import sys

DEFAULT_OUT = os.path.join("runs", "seq2seq")

# `train seq2seq` flags, each passed on as the train_seq2seq keyword of the
# same name.
_TRAIN_FLAGS = ("attention", "bidirectional", "tokenizer", "reverse",
                "max_source_length", "max_target_length", "embedding_dim",
                "units", "dropout", "epochs", "steps_per_epoch",
                "validation_steps", "batch_size", "learning_rate", "seed",
                "max_examples", "task", "early_stopping_patience",
                "source_column", "target_column", "validation_fraction",
                "test_fraction", "strategy", "steps_per_execution")


def is_seq2seq_run(run_dir):
    """Whether `run_dir` is a seq2seq run directory (reads config.json
    only, so it needs no TensorFlow)."""
    from keras_lm.runs import RunDirectory

    return RunDirectory(run_dir).family() == "seq2seq"


def _add_train_parser(train_families):
    sub = train_families.add_parser(
        "seq2seq", help="train an LSTM encoder-decoder on sentence pairs",
        description="Train an LSTM encoder-decoder (optionally with "
                    "attention) on sentence pairs with model.fit.")
    add = sub.add_argument
    add("--data", help="pairs: an Anki .txt/.zip (English<TAB>other), a "
                       ".jsonl/.csv with source/target columns, or a tfds "
                       "name (ted_hrlr_translate/pt_to_en, cnn_dailymail, "
                       "gigaword); default: the embedded date task")
    add("--data-dir", help="TensorFlow Datasets data directory")
    add("--reverse", action="store_true",
        help="swap the sides (Anki files are English -> other)")
    add("--max-examples", type=int,
        help="use at most this many pairs (a seeded sample of a file)")
    add("--source-column", help="source column of a .jsonl/.csv or tfds "
                                "feature")
    add("--target-column", help="target column of a .jsonl/.csv or tfds "
                                "feature")
    add("--task", choices=["translation", "summarization"],
        help="headline metric: BLEU or ROUGE (default: by data source)")
    add("--attention", choices=["none", "additive", "dot"],
        default="additive")
    add("--bidirectional", action="store_true",
        help="bidirectional encoder")
    add("--tokenizer", choices=["subword", "word", "char"], default="subword")
    add("--vocab-size", type=int, default=4000,
        help="word/subword vocabulary size of each side")
    add("--source-vocab-size", type=int, help="overrides --vocab-size")
    add("--target-vocab-size", type=int, help="overrides --vocab-size")
    add("--max-source-length", type=int, default=20,
        help="longest source kept, in tokens")
    add("--max-target-length", type=int, default=20,
        help="longest target kept, in tokens (END not counted)")
    add("--validation-fraction", type=float, default=0.1)
    add("--test-fraction", type=float, default=0.1)
    add("--embedding-dim", type=int, default=128)
    add("--units", type=int, default=256, help="LSTM units")
    add("--dropout", type=float, default=0.0)
    add("--epochs", type=int, default=10)
    add("--steps-per-epoch", type=int,
        help="batches per epoch (default: one pass over the pairs)")
    add("--validation-steps", type=int,
        help="validation batches per epoch (default: all)")
    add("--batch-size", type=int, default=64)
    add("--learning-rate", type=float, default=1e-3)
    add("--early-stopping-patience", type=int, default=5)
    add("--steps-per-execution", type=int, default=1)
    add("--seed", type=int, default=0)
    add("--out", help=f"run directory (default: {DEFAULT_OUT})")
    add("--verbose", type=int, choices=[0, 1, 2], default=1)
    from keras_lm.cli import add_strategy_flag  # cli imports this module
    add_strategy_flag(sub)
    sub.set_defaults(handler=train)
    return sub


def _add_translate_parser(commands):
    sub = commands.add_parser(
        "translate", help="translate text with a seq2seq run (beam search)")
    sub.add_argument("run_dir", help="a run directory of `train seq2seq`")
    sub.add_argument("--text", required=True, action="append",
                     help="source text (repeat for a batch)")
    sub.add_argument("--beam-width", type=int, default=4,
                     help="hypotheses kept (1 = greedy)")
    sub.add_argument("--length-penalty", type=float, default=0.6,
                     help="GNMT alpha; 0 ranks by log-probability alone")
    sub.add_argument("--max-length", type=int,
                     help="target tokens at most (default: the run's cap)")
    sub.add_argument("--plot-attention", metavar="PNG",
                     help="write an attention heatmap of the first --text")
    sub.set_defaults(handler=translate)
    return sub


def _add_flag(parser, flag, **kwargs):
    if flag not in parser._option_string_actions:
        parser.add_argument(flag, **kwargs)


def add_parsers(commands, train_families):
    """Adds `train seq2seq` and `translate`, and the seq2seq flags of
    `evaluate` and `export` when those parsers exist already (call this
    after creating them)."""
    _add_train_parser(train_families)
    _add_translate_parser(commands)
    evaluate_parser = commands.choices.get("evaluate")
    if evaluate_parser is not None:
        _add_flag(evaluate_parser, "--beam-width", type=int, default=None,
                  help="seq2seq runs: beam width (default 4; 1 = greedy)")
        _add_flag(evaluate_parser, "--length-penalty", type=float,
                  default=None, help="seq2seq runs: GNMT alpha (default 0.6)")
        _add_flag(evaluate_parser, "--max-pairs", type=int, default=None,
                  help="seq2seq runs: score at most this many test pairs")
        _add_flag(evaluate_parser, "--task",
                  choices=["translation", "summarization"], default=None,
                  help="seq2seq runs: headline metric BLEU or ROUGE")
    export_parser = commands.choices.get("export")
    if export_parser is not None:
        _add_flag(export_parser, "--beam-width", type=int, default=None,
                  help="seq2seq runs: beam width of the graph (default 4)")
        _add_flag(export_parser, "--length-penalty", type=float,
                  default=None, help="seq2seq runs: default GNMT alpha "
                                     "(default 0.6)")
        _add_flag(export_parser, "--max-length", type=int, default=None,
                  help="seq2seq runs: target tokens at most")


# ----------------------------------------------------------------------------
# Handlers


def train(args):
    """`keras-lm train seq2seq`."""
    from keras_lm.translation import train_seq2seq

    kwargs = {name: getattr(args, name) for name in _TRAIN_FLAGS
              if getattr(args, name, None) is not None}
    vocab = getattr(args, "vocab_size", None) or 4000
    kwargs["source_vocab_size"] = args.source_vocab_size or vocab
    kwargs["target_vocab_size"] = args.target_vocab_size or vocab
    out = args.out or DEFAULT_OUT
    result = train_seq2seq(out, data=args.data, data_dir=args.data_dir,
                           verbose=args.verbose, **kwargs)
    if result.history is None:
        print(f"{out} is already trained with these settings; nothing to do")
        return
    from keras_lm.training.trainer import describe_history
    from keras_lm.translation import _describe_stats

    if not args.verbose:  # otherwise train_seq2seq printed it already
        print(f"data: {_describe_stats(result.stats)}")
    print(f"trained {out}: {describe_history(result.history)}")


def translate(args):
    """`keras-lm translate RUN_DIR --text ...`."""
    from keras_lm.errors import KerasLMError
    from keras_lm.translation import (check_decoding, load_translator,
                                      plot_translation_attention)
    from keras_lm.translation import translate as translate_texts

    check_decoding(args.beam_width, args.max_length, args.length_penalty)
    if args.plot_attention:
        from keras_lm.evaluation.attention_plot import check_image_path

        check_image_path(args.plot_attention)
    if not is_seq2seq_run(args.run_dir):
        from keras_lm.runs import RunDirectory

        RunDirectory(args.run_dir).require()
        raise KerasLMError(f"{args.run_dir} is not a seq2seq run; use "
                           "`keras-lm generate` for language models")
    translator = load_translator(args.run_dir)
    outputs = translate_texts(translator, args.text, args.beam_width,
                              args.length_penalty, args.max_length)
    for text in outputs:
        print(text)
    if args.plot_attention:
        plot_translation_attention(translator, args.text[0],
                                   args.plot_attention, args.beam_width,
                                   args.length_penalty, args.max_length)
        print(f"attention plot: {args.plot_attention}", file=sys.stderr)


def _option(args, name, default):
    value = getattr(args, name, None)
    return default if value is None else value


def evaluate(args):
    """`keras-lm evaluate` on a seq2seq run: BLEU/ROUGE, exact match,
    token accuracy, and a few examples."""
    from keras_lm.translation import DECODE_BATCH, evaluate_translation

    max_pairs = getattr(args, "max_pairs", None)
    if max_pairs is None and getattr(args, "max_batches", None):
        max_pairs = args.max_batches * DECODE_BATCH  # batches of decoding
    scores = evaluate_translation(
        args.run_dir, data=getattr(args, "data", None),
        beam_width=_option(args, "beam_width", 4),
        length_penalty=_option(args, "length_penalty", 0.6),
        max_pairs=max_pairs, data_dir=getattr(args, "data_dir", None),
        task=getattr(args, "task", None), verbose=0)
    examples = scores.pop("examples")
    headline = scores.pop("headline")
    print(f"{headline}: {scores[headline]:.4f}  ({scores['task']}, "
          f"{scores['pairs']} pairs, beam width {scores['beam_width']})")
    for name, value in scores.items():
        if name != headline:
            print(f"{name}: {value:.4f}" if isinstance(value, float)
                  else f"{name}: {value}")
    for source, reference, hypothesis in examples:
        print(f"example: {source} -> {hypothesis} (reference: {reference})")


def export(args):
    """`keras-lm export` on a seq2seq run: a translator SavedModel."""
    from keras_lm.cli import LM_EXPORT_FLAGS, refuse_flags
    from keras_lm.translation import export_translator

    refuse_flags(args, LM_EXPORT_FLAGS, "seq2seq")
    path = export_translator(
        args.run_dir, getattr(args, "out", None),
        beam_width=_option(args, "beam_width", 4),
        length_penalty=_option(args, "length_penalty", 0.6),
        max_length=getattr(args, "max_length", None))
    print(f"exported {path}")
