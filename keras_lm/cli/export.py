"""`keras-lm export RUN_DIR [--out DIR]`: write the run's task as a
SavedModel that takes and returns raw strings (`task.export`).

    keras-lm export runs/gru --temperature 0.8      # saved_models/gru
"""

from keras_lm.cli import flags
from keras_lm.cli.capabilities import load_task

#: The flags passed on to the task's `export` (when given; a flag it does
#: not take is refused): what the SavedModel's `serving_default` uses.
SETTINGS = ("max_new_tokens", "temperature", "top_k", "top_p", "seed",
            "beam_width", "length_penalty", "stop", "max_length")


def add_parser(commands):
    parser = commands.add_parser("export", help="write a SavedModel")
    parser.add_argument("run_dir")
    parser.add_argument("--out", help="default: saved_models/<run name>")
    parser.add_argument("--max-new-tokens", type=int,
                        help="language models: tokens serving_default "
                             "generates")
    flags.add_sampling(parser, what="serving_default's")
    flags.add_beam_search(parser)
    flags.add_stop(parser)
    flags.add_quantize(parser)
    flags.add_kv_cache(parser)
    return parser


def run(args):
    from keras_lm.serving import default_export_path

    options = flags.given(args, SETTINGS)
    flags.check_decoding_copy(args.quantize, args.kv_cache)
    task = load_task(args.run_dir, "export", options, "export")
    flags.quantize_task(task, args.quantize, args.kv_cache)
    path = task.export(args.out or default_export_path(args.run_dir),
                       **flags.with_run_sampling(task, options))
    print(f"exported {path}")
