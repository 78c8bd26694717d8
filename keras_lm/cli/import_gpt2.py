"""`keras-lm import-gpt2 CHECKPOINT_DIR --out RUN_DIR`: a Hugging Face GPT-2
folder (config.json, model.safetensors, vocab.json, merges.txt) as a run
directory that `generate`, `evaluate`, `export` and `finetune` take like
any trained run (`keras_lm.checkpoints.import_gpt2`)."""

import os


def add_parser(commands):
    parser = commands.add_parser(
        "import-gpt2", help="import a Hugging Face GPT-2 checkpoint as a run "
                            "directory")
    parser.add_argument(
        "checkpoint_dir", help="folder with config.json, model.safetensors, "
                               "vocab.json and merges.txt")
    parser.add_argument("--out", help="run directory to write (default: "
                                      "runs/<checkpoint folder name>)")
    parser.add_argument("--overwrite", action="store_true", default=None,
                        help="replace an existing --out run directory")
    return parser


def run(args):
    from keras_lm.checkpoints import import_gpt2

    out = args.out or os.path.join(
        "runs", os.path.basename(os.path.normpath(args.checkpoint_dir)))
    options = {"overwrite": True} if args.overwrite else {}
    path = import_gpt2(args.checkpoint_dir, out, **options)
    print(f"imported {args.checkpoint_dir} into {path}")
