"""The `keras-lm` command line: one module per command (`keras-lm --help`
lists them), the flags they share in `keras_lm.cli.flags`.

Every command prints one clear line on stderr and exits with status 2 on
bad input (`keras-lm: error: ...`), never a TensorFlow traceback, and 130
on Ctrl-C. The commands never branch on a model family: `train` offers a
subcommand per registered family, and the others ask a run's task what it
can do (`keras_lm.cli.capabilities`).

    from keras_lm.cli import main
    main(["train", "gru", "--preset", "tiny", "--out", "runs/quickstart"])
"""

import argparse
import sys

from keras_lm.cli import (chat, classify, embed, evaluate, export, finetune,
                          generate, import_checkpoint, import_gpt2, train,
                          translate)

#: The command modules, in `keras-lm --help` order: each has
#: `add_parser(subparsers)` and `run(args)`.
COMMANDS = (train, generate, chat, evaluate, export, finetune,
            import_checkpoint, import_gpt2, translate, classify, embed)


def build_parser():
    """The argparse parser of every command."""
    parser = argparse.ArgumentParser(
        prog="keras-lm",
        description="Train, sample from, evaluate and export language models "
                    "with plain Keras.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers).set_defaults(run_command=command.run)
    return parser


def main(argv=None):
    """Runs `keras-lm ARGV`; returns the exit status (0, 2 on bad input,
    130 when interrupted)."""
    args = build_parser().parse_args(argv)
    from keras_lm.tf_import import import_tensorflow_quietly

    # A multi-worker strategy must be created before TensorFlow's runtime
    # starts, so it skips the device probe.
    import_tensorflow_quietly(
        probe_devices=getattr(args, "strategy", None) != "multi_worker")
    from keras_lm.errors import KerasLMError, graph_check_message

    try:
        args.run_command(args)
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
