"""Importers of pretrained checkpoints from other libraries into run directories.

`import_gpt2(checkpoint_dir, run_dir)` turns a Hugging Face GPT-2 folder
(config.json, model.safetensors, vocab.json, merges.txt) into a keras-lm run
directory; `load_gpt2(checkpoint_dir)` returns the model and tokenizer
without writing anything. `import_bert` and `load_bert` do the same for a
Hugging Face BERT folder (config.json, model.safetensors, vocab.txt): a
masked LM or `BertModel` becomes a `MaskedLanguageModel`, a sequence
classifier a `TextClassifier`.
"""

from keras_lm.checkpoints.bert import import_bert, is_bert_checkpoint, load_bert
from keras_lm.checkpoints.gpt2 import import_gpt2, is_gpt2_checkpoint, load_gpt2

__all__ = ["import_bert", "import_gpt2", "is_bert_checkpoint",
           "is_gpt2_checkpoint", "load_bert", "load_gpt2"]
