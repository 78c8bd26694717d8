"""The flags of the `keras-lm` commands: those of library settings
(`add_settings`, for `keras_lm.cli.settings`) and those that several
commands share (`--data-dir`, `--strategy`, `--verbose`, sampling, beam
search).

Every flag defaults to None, meaning "not given": a command passes on only
the flags given (`given`), so the library's constructors and dataclasses
hold the only defaults (the help shows them, read from the same place). A
flag that the library call does not take is an error, never silently
ignored (`refuse_unaccepted`).
"""

import argparse
import ast
import inspect
import sys
import types
import typing

from keras_lm.cli.settings import flag_of
from keras_lm.errors import KerasLMError
from keras_lm.training.distribute import STRATEGIES


def literal(text):
    """The Python literal `text` spells (`256`, `1e-3`, `(64, 64)`), else
    the text itself: the type of a flag whose setting's annotation and
    default do not tell (a default of None, or of a tuple)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError,
            RecursionError):
        return text


def _value_type(annotation, default):
    """`(type, choices)` of a setting's flag from its annotation (`int`,
    `int | None`, `Literal["a", "b"]`, ...), else from its default."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        present = [a for a in typing.get_args(annotation)
                   if a is not type(None)]
        annotation = present[0] if len(present) == 1 else None
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        return type(choices[0]), choices
    if annotation in (bool, int, float, str):
        return annotation, None
    if type(default) in (bool, int, float, str):
        return type(default), None
    return literal, None


def add_settings(parser, settings):
    """Adds one flag per `Setting` to `parser` (or an argument group); each
    defaults to None ("not given")."""
    for setting in settings:
        kind, choices = _value_type(setting.annotation, setting.default)
        kwargs = {"default": None,
                  "help": _help(setting.doc, setting.default)}
        if kind is bool:
            # A switch that is on by default is turned off by --no-NAME.
            kwargs["action"] = (argparse.BooleanOptionalAction
                                if setting.default else "store_true")
        else:
            kwargs.update(type=kind, choices=choices)
            if kind is literal:
                kwargs["metavar"] = setting.name.upper()
        parser.add_argument(setting.flag, **kwargs)


def _help(doc, default):
    parts = [doc] if doc else []
    if default is not None and default is not False:
        parts.append(f"(default: {default})")
    return " ".join(parts).replace("%", "%%") or None


# --- Flags several commands share ----------------------------------------


def add_data_dir(parser):
    parser.add_argument("--data-dir", help="TensorFlow Datasets data "
                                           "directory")


def add_strategy(parser):
    parser.add_argument(
        "--strategy", choices=STRATEGIES,
        help="tf.distribute strategy (the global batch is split across its "
             "replicas; default: the default strategy)")


def add_verbose(parser):
    parser.add_argument("--verbose", type=int, choices=[0, 1, 2],
                        help="Keras progress output: 0 silent, 1 progress "
                             "bar, 2 one line per epoch")


def add_sampling(parser, what="the language model's"):
    """--temperature, --top-k, --top-p and --seed (`what` says whose)."""
    add = parser.add_argument
    add("--temperature", type=float,
        help=f"{what} sampling temperature; 0 means greedy")
    add("--top-k", type=int, help="sample among the k likeliest tokens; "
                                  "0 keeps all")
    add("--top-p", type=float, help="nucleus sampling: the smallest set of "
                                    "tokens holding this probability, in "
                                    "(0, 1]")
    add("--seed", type=int, help="the same seed gives the same text")


def with_run_sampling(task, options):
    """`options` over the sampling defaults an imported checkpoint's run
    keeps (its generation_config.json: temperature, top_k, top_p): a flag
    given wins."""
    from keras_lm.generation.chat import run_chat_settings

    _, sampling = run_chat_settings(getattr(task, "config", {}))
    return {**sampling, **options}


def add_stop(parser):
    """--stop (repeatable): one-token strings that end a row."""
    parser.add_argument(
        "--stop", action="append", metavar="TEXT",
        help="end a row at this text, which must be one token (e.g. a "
             "newline for a character model); repeat for several. The "
             "tokenizer's end of text (GPT-2's <|endoftext|>) always stops")


def add_quantize(parser):
    """--quantize MODE: decode with lower-precision weights."""
    parser.add_argument(
        "--quantize", metavar="MODE",
        help="decode with the weights in MODE (bfloat16): half the memory "
             "and bytes read per token (no faster on CPUs we measured); "
             "Transformer runs")


def add_kv_cache(parser):
    """--kv-cache DTYPE: the dtype of a Transformer's key/value cache."""
    parser.add_argument(
        "--kv-cache", metavar="DTYPE",
        help="keep a Transformer's attention keys and values in DTYPE "
             "(float16, bfloat16, float32) while decoding: float16 halves "
             "the bytes a step reads, which pays at large batches")


def check_decoding_copy(mode, kv_cache):
    """A one-line error for a bad --quantize or --kv-cache, before anything
    is loaded."""
    from keras_lm.generation import check_quantize_mode
    from keras_lm.models.transformer_lm import check_cache_dtype

    if mode is not None:
        check_quantize_mode(mode)
    check_cache_dtype(kv_cache)


def quantize_task(task, mode, kv_cache=None):
    """Swaps the task's model for its copy with `mode` weights and a
    `kv_cache` dtype cache (each when given) and says so on stderr."""
    from keras_lm.generation import quantize_for_decoding, with_kv_cache_dtype

    if mode is not None:
        task.model = quantize_for_decoding(task.require_model(), mode)
        print(f"keras-lm: decoding with {mode} weights", file=sys.stderr)
    if kv_cache is not None:
        task.model = with_kv_cache_dtype(task.require_model(), kv_cache)
        print(f"keras-lm: decoding with a {kv_cache} key/value cache",
              file=sys.stderr)


def add_beam_search(parser, max_length=True):
    """--beam-width, --length-penalty and (unless not) --max-length."""
    add = parser.add_argument
    add("--beam-width", type=int,
        help="beam search: hypotheses kept (1 = greedy)")
    add("--length-penalty", type=float,
        help="beam search: GNMT alpha; 0 ranks by log-probability alone")
    if max_length:
        add("--max-length", type=int,
            help="output tokens at most (default: the run's cap)")


def add_texts(parser, what):
    parser.add_argument("--text", action="append",
                        help=f"{what} (repeat for several)")
    parser.add_argument("--file", help="a UTF-8 file with one text per line")


def read_texts(args):
    """The texts of `--text` and `--file` (one per line, blank lines
    skipped); a one-line error for none, or an empty one."""
    texts = list(args.text or [])
    if args.file:
        from keras_lm.data.text_sources import read_text_file

        texts += [line for line in read_text_file(args.file).splitlines()
                  if line.strip()]
    if not texts:
        raise KerasLMError("give a text with --text or a file with --file")
    if any(not text.strip() for text in texts):
        raise KerasLMError("--text is empty; give at least one word")
    return texts


# --- Passing flags on --------------------------------------------------


def given(args, names):
    """`{name: value}` of the flags among `names` (or the `Setting`s among
    `names`) that were given."""
    names = [getattr(name, "name", name) for name in names]
    return {name: getattr(args, name) for name in names
            if getattr(args, name, None) is not None}


def refuse_unaccepted(options, function, where):
    """A one-line error for the first of the given `options` that
    `function` does not take as a keyword: "--beam-width does not apply to
    WHERE"."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return
    refuse(options, set(options) - {
        p.name for p in parameters
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}, where)


def refuse(options, names, where):
    """A one-line error for the first of the given `options` in `names`."""
    for name in options:
        if name in names:
            raise KerasLMError(f"{flag_of(name)} does not apply to {where}")
