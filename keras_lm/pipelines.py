"""`keras_lm.pipeline`: a Hugging Face-style one-liner for text generation.

`model` is any of:

* a keras-lm run directory (`keras-lm train` or `keras-lm import-gpt2`);
* a SavedModel folder written by `keras-lm export` (its `generate`
  signature runs; keras-lm's model code is not needed for it);
* a Hugging Face GPT-2 checkpoint folder (config.json, model.safetensors,
  vocab.json, merges.txt), converted in memory on the fly by
  `keras_lm.checkpoints.load_gpt2`, the converter behind `import-gpt2`.
"""

import os

from keras_lm.errors import KerasLMError

TASKS = ("text-generation",)


def pipeline(task, model=None):
    """Returns the callable pipeline for `task` over `model` (a path).

    Example:

    >>> generator = pipeline("text-generation", model="runs/gru")  # doctest: +SKIP
    >>> generator("ROMEO:", max_new_tokens=10)                     # doctest: +SKIP
    [{'generated_text': 'ROMEO: ...'}]
    """
    if task not in TASKS:
        raise KerasLMError(f"unknown pipeline task {task!r}; known: "
                           f"{', '.join(TASKS)}")
    if model is None:
        raise KerasLMError("pipeline() needs model=PATH: a run directory, a "
                           "SavedModel folder or a GPT-2 checkpoint folder")
    return TextGenerationPipeline(model)


class TextGenerationPipeline:
    """Continues prompts with a run directory, SavedModel or GPT-2 folder.

    Call it with a string (returns `[{"generated_text": ...}]`) or a list of
    strings (returns one such list per prompt, as `transformers` does).

    Attributes:
        source: "run", "saved_model" or "gpt2", what `path` turned out to be.
        model, tokenizer: the Keras model and tokenizer (None for a
            SavedModel, which carries its own).
    """

    def __init__(self, path):
        from keras_lm.checkpoints.gpt2 import is_gpt2_checkpoint
        from keras_lm.serving import is_saved_model, load_export

        path = os.fspath(path)
        if not os.path.isdir(path):
            raise KerasLMError(f"{path} is not a folder; pass a run directory, "
                               "a SavedModel folder or a GPT-2 checkpoint "
                               "folder")
        self.path = os.path.abspath(path)
        self.model = self.tokenizer = self._loaded = None
        if is_saved_model(path):
            self.source = "saved_model"
            self._loaded = load_export(path)
        elif is_gpt2_checkpoint(path):
            from keras_lm.checkpoints import load_gpt2

            self.source = "gpt2"
            self.model, self.tokenizer, _ = load_gpt2(path)
        else:
            from keras_lm.runs import load_run

            self.source = "run"
            self.model, self.tokenizer, _ = load_run(path)

    def __repr__(self):
        return f"TextGenerationPipeline({self.source}: {self.path})"

    def __call__(self, prompts, max_new_tokens=50, temperature=1.0, top_k=0,
                 top_p=1.0, seed=0, return_full_text=True):
        """Generates `max_new_tokens` tokens after each prompt.

        Args:
            prompts: a string or a list of strings.
            max_new_tokens, temperature, top_k, top_p, seed: as for
                `keras_lm.generation.generate_ids`.
            return_full_text: False returns the continuation only.
        """
        single = isinstance(prompts, str)
        prompts = [prompts] if single else list(prompts)
        if not prompts:
            raise KerasLMError("give at least one prompt")
        if any(not isinstance(p, str) or not p for p in prompts):
            raise KerasLMError("every prompt must be a non-empty string")
        if self._loaded is not None:
            from keras_lm.serving import generate_with_export

            texts = generate_with_export(self._loaded, prompts,
                                         max_new_tokens, temperature, top_k,
                                         top_p, seed)
        else:
            from keras_lm.generation.text import generate_text

            texts = generate_text(self.model, self.tokenizer, prompts,
                                  max_new_tokens, temperature, top_k, top_p,
                                  seed)
        if not return_full_text:
            texts = [text[len(prompt):] for prompt, text in zip(prompts, texts)]
        results = [[{"generated_text": text}] for text in texts]
        return results[0] if single else results
