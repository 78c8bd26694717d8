"""Importers of pretrained checkpoints from other libraries into run directories.

`import_gpt2(checkpoint_dir, run_dir)` turns a Hugging Face GPT-2 folder
(config.json, model.safetensors, vocab.json, merges.txt) into a keras-lm run
directory; `load_gpt2(checkpoint_dir)` returns the model and tokenizer
without writing anything.
"""

from keras_lm.checkpoints.gpt2 import import_gpt2, is_gpt2_checkpoint, load_gpt2

__all__ = ["import_gpt2", "is_gpt2_checkpoint", "load_gpt2"]
