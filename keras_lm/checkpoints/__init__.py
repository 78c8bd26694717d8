"""Importers of pretrained checkpoints from other libraries into run directories.

`import_gpt2(checkpoint_dir, run_dir)` turns a Hugging Face GPT-2 folder
(config.json, model.safetensors, vocab.json, merges.txt) into a keras-lm run
directory; `load_gpt2(checkpoint_dir)` returns the model and tokenizer
without writing anything. `import_bert` and `load_bert` do the same for a
Hugging Face BERT folder (config.json, model.safetensors, vocab.txt): a
masked LM or `BertModel` becomes a `MaskedLanguageModel`, a sequence
classifier a `TextClassifier`. `import_llama` and `load_llama` read
Llama-family folders (`LlamaForCausalLM`, `Qwen2ForCausalLM`,
`MistralForCausalLM`: config.json, sharded or single safetensors,
tokenizer.json, generation_config.json, the chat template) into a
`TransformerLM` with the Llama options.
"""

from keras_lm.checkpoints.bert import import_bert, is_bert_checkpoint, load_bert
from keras_lm.checkpoints.gpt2 import import_gpt2, is_gpt2_checkpoint, load_gpt2
from keras_lm.checkpoints.llama import (import_llama, is_llama_checkpoint,
                                        load_llama)

__all__ = ["import_bert", "import_gpt2", "is_bert_checkpoint",
           "import_llama", "is_gpt2_checkpoint", "is_llama_checkpoint",
           "load_bert", "load_gpt2", "load_llama"]
