"""`keras-lm import CHECKPOINT_DIR --out RUN_DIR`: a Hugging Face folder
(GPT-2, or BERT: `BertForMaskedLM`, `BertModel`,
`BertForSequenceClassification`) as a run directory that the other
commands take like any trained run; the kind is read from its config.json.

    keras-lm import bert-base-uncased/ --out runs/bert
    keras-lm classify runs/bert-sst2 --text "a gorgeous film"
"""

import os

from keras_lm.cli import import_gpt2


def add_parser(commands):
    parser = commands.add_parser(
        "import", help="import a Hugging Face GPT-2 or BERT checkpoint as a "
                       "run directory")
    parser.add_argument("checkpoint_dir", help="folder with config.json, "
                                               "model.safetensors and the "
                                               "tokenizer files")
    parser.add_argument("--out", help="run directory to write (default: "
                                      "runs/<checkpoint folder name>)")
    parser.add_argument("--overwrite", action="store_true", default=None,
                        help="replace an existing --out run directory")
    return parser


def run(args):
    from keras_lm.checkpoints.bert import import_bert, is_bert_checkpoint
    from keras_lm.checkpoints.gpt2 import is_gpt2_checkpoint
    from keras_lm.errors import KerasLMError

    if is_gpt2_checkpoint(args.checkpoint_dir):
        return import_gpt2.run(args)
    if not is_bert_checkpoint(args.checkpoint_dir):
        raise KerasLMError(f"{args.checkpoint_dir} is not a GPT-2 or BERT "
                           "checkpoint folder (its config.json says which "
                           "model_type it holds)")
    out = args.out or os.path.join(
        "runs", os.path.basename(os.path.normpath(args.checkpoint_dir)))
    options = {"overwrite": True} if args.overwrite else {}
    path = import_bert(args.checkpoint_dir, out, **options)
    print(f"imported {args.checkpoint_dir} into {path}")
