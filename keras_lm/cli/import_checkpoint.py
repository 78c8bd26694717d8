"""`keras-lm import CHECKPOINT_DIR --out RUN_DIR`: a Hugging Face folder
(GPT-2; Llama, Qwen2 or Mistral: `LlamaForCausalLM`, `Qwen2ForCausalLM`,
`MistralForCausalLM`; or BERT: `BertForMaskedLM`, `BertModel`,
`BertForSequenceClassification`) as a run directory that the other
commands take like any trained run; the kind is read from its config.json.

    keras-lm import SmolLM2-135M-Instruct/ --out runs/smollm2
    keras-lm chat runs/smollm2
    keras-lm import bert-base-uncased/ --out runs/bert
    keras-lm classify runs/bert-sst2 --text "a gorgeous film"
"""

import os


def add_parser(commands):
    parser = commands.add_parser(
        "import", help="import a Hugging Face GPT-2, Llama, Qwen2, Mistral "
                       "or BERT checkpoint as a run directory")
    add_arguments(parser, "folder with config.json, model.safetensors and "
                          "the tokenizer files")
    return parser


def add_arguments(parser, what):
    parser.add_argument("checkpoint_dir", help=what)
    parser.add_argument("--out", help="run directory to write (default: "
                                      "runs/<checkpoint folder name>)")
    parser.add_argument("--overwrite", action="store_true", default=None,
                        help="replace an existing --out run directory")


def write(importer, args):
    """Runs `importer(checkpoint_dir, out)` for the parsed `args`."""
    out = args.out or os.path.join(
        "runs", os.path.basename(os.path.normpath(args.checkpoint_dir)))
    options = {"overwrite": True} if args.overwrite else {}
    path = importer(args.checkpoint_dir, out, **options)
    print(f"imported {args.checkpoint_dir} into {path}")


def run(args):
    from keras_lm.checkpoints.bert import import_bert, is_bert_checkpoint
    from keras_lm.checkpoints.gpt2 import import_gpt2, is_gpt2_checkpoint
    from keras_lm.checkpoints.llama import import_llama, is_llama_checkpoint
    from keras_lm.errors import KerasLMError

    if is_gpt2_checkpoint(args.checkpoint_dir):
        return write(import_gpt2, args)
    if is_llama_checkpoint(args.checkpoint_dir):
        return write(import_llama, args)
    if is_bert_checkpoint(args.checkpoint_dir):
        return write(import_bert, args)
    raise KerasLMError(f"{args.checkpoint_dir} is not a GPT-2, Llama, Qwen2, "
                       "Mistral or BERT checkpoint folder (its config.json "
                       "says which model_type it holds)")
