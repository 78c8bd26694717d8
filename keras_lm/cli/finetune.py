"""`keras-lm finetune RUN_DIR --data SOURCE`: continue training a run on new
text into a new run directory (`keras_lm.runs.finetune`), with the source
run's tokenizer, model and, for the flags not given, training settings.

    keras-lm finetune runs/pretrained --data shakespeare.txt --epochs 2
"""

import dataclasses

from keras_lm.cli import flags
from keras_lm.cli.settings import training_settings
from keras_lm.cli.capabilities import describe, task_class_for
from keras_lm.cli.train import print_outcome

#: The flags passed on to `keras_lm.runs.finetune` (when given).
SETTINGS = ("freeze_embeddings", "max_unknown_fraction", "data_dir",
            "strategy", "verbose")


def add_parser(commands):
    parser = commands.add_parser(
        "finetune", help="continue training a run on new text (new run dir)")
    parser.add_argument("run_dir", help="the trained run to start from")
    parser.add_argument("--data", help="tfds name, a .txt file or folder")
    parser.add_argument("--out", help="the new run directory (default: "
                                      "RUN_DIR-finetuned)")
    flags.add_settings(parser.add_argument_group("training (default: the "
                                                 "source run's)"),
                       training_settings())
    parser.add_argument("--freeze-embeddings", action="store_true",
                        default=None, help="keep the token embedding fixed")
    parser.add_argument("--max-unknown-fraction", type=float,
                        help="refuse text with more unknown tokens than this")
    flags.add_data_dir(parser)
    flags.add_strategy(parser)
    flags.add_verbose(parser)
    return parser


def run(args):
    from keras_lm.runs import RunDirectory, finetune

    task_class = task_class_for(args.run_dir, "finetune")
    training = flags.given(args, training_settings())
    flags.refuse(training, task_class.UNUSED_TRAINING_FIELDS,
                 describe(args.run_dir))
    source = RunDirectory(args.run_dir)
    out = args.out or source.path.rstrip("/") + "-finetuned"
    history = finetune(
        source.path, out, data=args.data,
        training=dataclasses.replace(source.load_task().training(),
                                     **training),
        **flags.given(args, SETTINGS))
    print_outcome("fine-tuned", out, history)
