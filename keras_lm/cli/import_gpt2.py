"""`keras-lm import-gpt2 CHECKPOINT_DIR --out RUN_DIR`: a Hugging Face GPT-2
folder (config.json, model.safetensors, vocab.json, merges.txt) as a run
directory that `generate`, `evaluate`, `export` and `finetune` take like
any trained run (`keras_lm.checkpoints.import_gpt2`); `keras-lm import`
does the same and knows BERT too."""

from keras_lm.cli import import_checkpoint


def add_parser(commands):
    parser = commands.add_parser(
        "import-gpt2", help="import a Hugging Face GPT-2 checkpoint as a run "
                            "directory")
    import_checkpoint.add_arguments(
        parser, "folder with config.json, model.safetensors, vocab.json and "
                "merges.txt")
    return parser


def run(args):
    from keras_lm.checkpoints import import_gpt2

    import_checkpoint.write(import_gpt2, args)
