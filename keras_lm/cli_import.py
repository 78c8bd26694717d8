"""`keras-lm import-gpt2 CHECKPOINT_DIR --out RUN_DIR`.

Turns a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json,
merges.txt) into a keras-lm run directory that `generate`, `evaluate`,
`export` and `finetune` take like any trained run. `keras_lm.cli` wires it in
with `add_parser(commands)` and `COMMANDS["import-gpt2"] = run`.
"""

import os

COMMAND = "import-gpt2"


def add_parser(commands):
    """Adds the `import-gpt2` subcommand to the CLI's subparsers."""
    parser = commands.add_parser(
        COMMAND, help="import a Hugging Face GPT-2 checkpoint as a run "
                      "directory")
    parser.add_argument(
        "checkpoint_dir", help="folder with config.json, model.safetensors, "
                               "vocab.json and merges.txt")
    parser.add_argument("--out", help="run directory to write (default: "
                                      "runs/<checkpoint folder name>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out")
    return parser


def run(args):
    """`keras-lm import-gpt2`: writes the checkpoint as a run directory."""
    from keras_lm.checkpoints import import_gpt2

    out = args.out or os.path.join(
        "runs", os.path.basename(os.path.normpath(args.checkpoint_dir)))
    path = import_gpt2(args.checkpoint_dir, out,
                       overwrite=getattr(args, "overwrite", False))
    print(f"imported {args.checkpoint_dir} into {path}")
