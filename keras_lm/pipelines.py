"""`keras_lm.pipeline`: Hugging Face-style one-liners.

"text-generation" takes any of these as `model`:

* a keras-lm run directory (`keras-lm train` or `keras-lm import-gpt2`);
* a SavedModel folder written by `keras-lm export` (its `generate`
  signature runs; keras-lm's model code is not needed for it);
* a Hugging Face GPT-2 checkpoint folder (config.json, model.safetensors,
  vocab.json, merges.txt), converted in memory on the fly by
  `keras_lm.checkpoints.load_gpt2`, the converter behind `import-gpt2`;
* a Hugging Face Llama, Qwen2 or Mistral folder (`load_llama`).

Given a conversation (a list of `{"role", "content"}` messages) instead of
a prompt, "text-generation" applies the checkpoint's chat template and
returns the conversation with the assistant's reply appended, as
transformers does (`keras_lm.generation.chat`).

"text-classification", "feature-extraction" and "fill-mask" take a
classifier or encoder run directory, or a Hugging Face BERT folder
(converted in memory by `keras_lm.checkpoints.bert.load_bert`); see
`EncoderPipeline`.
"""

import os

from keras_lm.errors import KerasLMError

TASKS = ("text-generation", "text-classification", "feature-extraction",
         "fill-mask")


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
                           "SavedModel folder or a checkpoint folder")
    if task == "text-generation":
        return TextGenerationPipeline(model)
    return EncoderPipeline(task, model)


class TextGenerationPipeline:
    """Continues prompts with a run directory, SavedModel or GPT-2 folder.

    Call it with a string (returns `[{"generated_text": ...}]`) or a list of
    strings (returns one such list per prompt, as `transformers` does), or
    with a conversation (a list of `{"role", "content"}` dicts; returns
    `[{"generated_text": messages + [{"role": "assistant", ...}]}]`).

    Attributes:
        source: "run", "saved_model", "gpt2" or "llama", what `path` turned
            out to be.
        model, tokenizer: the Keras model and tokenizer (None for a
            SavedModel, which carries its own).
        chat_template: the `ChatTemplate` of a checkpoint or imported run
            (None without one).
        sampling: the checkpoint's default temperature, top_k, top_p.
    """

    def __init__(self, path):
        from keras_lm.checkpoints.gpt2 import is_gpt2_checkpoint
        from keras_lm.checkpoints.llama import is_llama_checkpoint, load_llama
        from keras_lm.serving import is_saved_model, load_export

        path = os.fspath(path)
        if not os.path.isdir(path):
            raise KerasLMError(f"{path} is not a folder; pass a run directory, "
                               "a SavedModel folder or a GPT-2 checkpoint "
                               "folder")
        self.path = os.path.abspath(path)
        self.model = self.tokenizer = self._loaded = self.chat_template = None
        self.sampling, self._chat_asset = {}, None
        if is_saved_model(path):
            from keras_lm.generation.chat import read_chat_asset

            self.source = "saved_model"
            self._loaded = load_export(path)
            self._chat_asset = read_chat_asset(path)
        elif is_gpt2_checkpoint(path):
            from keras_lm.checkpoints import load_gpt2

            self.source = "gpt2"
            self.model, self.tokenizer, _ = load_gpt2(path)
        elif is_llama_checkpoint(path):
            self.source = "llama"
            self.model, self.tokenizer, info = load_llama(path)
            self.chat_template = info["chat_template"]
            self.sampling = info["sampling"]
        else:
            from keras_lm.generation.chat import run_chat_settings
            from keras_lm.runs import load_run

            self.source = "run"
            self.model, self.tokenizer, config = load_run(path)
            self.chat_template, self.sampling = run_chat_settings(config)

    def __repr__(self):
        return f"TextGenerationPipeline({self.source}: {self.path})"

    def __call__(self, prompts, max_new_tokens=50, temperature=None,
                 top_k=None, top_p=None, seed=0, return_full_text=True,
                 stop=()):
        """Generates up to `max_new_tokens` tokens after each prompt; a row
        ends early at the tokenizer's end of text or a `stop` string.

        Args:
            prompts: a string, a list of strings, or a conversation (a list
                of `{"role", "content"}` messages).
            max_new_tokens, temperature, top_k, top_p, seed: as for
                `keras_lm.generation.generate_ids`; by default the
                checkpoint's own sampling settings (generation_config.json),
                else temperature 1 with no truncation (greedy for a
                conversation).
            return_full_text: False returns the continuation only.
            stop: one-token strings that end a row (left out of the text),
                as for `keras_lm.generation.generate_text`.
        """
        if is_conversation(prompts):
            return self._chat(prompts, max_new_tokens, temperature, top_k,
                              top_p, seed, return_full_text)
        temperature, top_k, top_p = self._sampling(temperature, top_k, top_p)
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
                                         top_p, seed, stop=stop)
        else:
            from keras_lm.generation.text import generate_text

            texts = generate_text(self.model, self.tokenizer, prompts,
                                  max_new_tokens, temperature, top_k, top_p,
                                  seed, stop=stop)
        if not return_full_text:
            texts = [text[len(prompt):] for prompt, text in zip(prompts, texts)]
        results = [[{"generated_text": text}] for text in texts]
        return results[0] if single else results

    def _sampling(self, temperature, top_k, top_p, fallback=(1.0, 0, 1.0)):
        """The sampling knobs given, else the checkpoint's, else `fallback`."""
        given = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
        return tuple(
            value if value is not None
            else self.sampling.get(name, default)
            for (name, value), default in zip(given.items(), fallback))

    def _chat(self, messages, max_new_tokens, temperature, top_k, top_p,
              seed, return_full_text):
        temperature, top_k, top_p = self._sampling(temperature, top_k, top_p,
                                                   fallback=(0.0, 0, 1.0))
        if self._loaded is not None:
            reply = self._chat_with_export(messages, max_new_tokens,
                                           temperature, top_k, top_p, seed)
        else:
            from keras_lm.generation.chat import Chat

            if self.chat_template is None:
                raise KerasLMError(
                    f"{self.path} has no chat template (no chat_template in "
                    "its tokenizer_config.json); pass a prompt string "
                    "instead of messages")
            chat = Chat(self.model, self.tokenizer, self.chat_template)
            reply = chat.reply(messages, max_new_tokens,
                               temperature=temperature, top_k=top_k,
                               top_p=top_p, seed=seed)
        answer = {"role": "assistant", "content": reply}
        return [{"generated_text": (list(messages) + [answer]
                                    if return_full_text else reply)}]

    def _chat_with_export(self, messages, max_new_tokens, temperature, top_k,
                          top_p, seed):
        """A SavedModel's reply, the way a server makes it: the exported
        template rendered here, the text sent to the `chat` signature."""
        from keras_lm.serving import generate_with_export
        from keras_lm.tokenizers.chat_template import ChatTemplate

        asset = self._chat_asset
        if asset is None or "chat" not in self._loaded.signatures:
            raise KerasLMError(f"{self.path} was exported without a chat "
                               "template; pass a prompt string instead of "
                               "messages")
        prompt = ChatTemplate(asset["template"], asset["special_tokens"]
                              ).render(messages, add_generation_prompt=True)
        text, = generate_with_export(self._loaded, [prompt], max_new_tokens,
                                     temperature, top_k, top_p, seed,
                                     signature="chat")
        return text[len(prompt):]


def is_conversation(prompts):
    """Whether `prompts` is a list of message dicts (a conversation)."""
    return (isinstance(prompts, (list, tuple)) and bool(prompts)
            and all(isinstance(m, dict) for m in prompts))


#: What each encoder pipeline needs of the run's task.
ENCODER_NEEDS = {"text-classification": "predict_proba",
                 "feature-extraction": "embed", "fill-mask": "fill_mask"}


class EncoderPipeline:
    """Classifies texts, embeds them or fills their `[MASK]`, with a
    classifier or encoder run directory or a Hugging Face BERT folder.

    As `transformers`' pipelines of the same names:

    * "text-classification": `pipe("a fine film")` -> `[{"label": "pos",
      "score": 0.93}]`; a list of texts gives one such dict per text;
      `top_k=None` ranks every label.
    * "feature-extraction": `pipe(text)` -> the hidden state of each token,
      `[[[...], ...]]` (tokens x features, `[CLS]` and `[SEP]` included);
      `pooling="mean"` or `"cls"` (with `normalize=True` for unit vectors)
      gives one vector per text instead.
    * "fill-mask": `pipe("a [MASK] film")` -> the `top_k` best tokens for
      the first `[MASK]`, `[{"score", "token", "token_str", "sequence"}]`.

    >>> pipe = pipeline("text-classification", model="runs/sentiment")  # doctest: +SKIP
    >>> pipe(["a gorgeous film", "a dull mess"])                          # doctest: +SKIP
    [{'label': 'pos', 'score': 0.91}, {'label': 'neg', 'score': 0.88}]
    """

    def __init__(self, task, path):
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise KerasLMError(f"{path} is not a folder; pass a run directory "
                               "or a BERT checkpoint folder")
        self.task_name, self.path = task, os.path.abspath(path)
        self.task = _encoder_task(path)
        if not hasattr(self.task, ENCODER_NEEDS[task]):
            raise KerasLMError(f"{path} is a {self.task.family.name} model, "
                               f"which cannot do {task}")

    def __repr__(self):
        return f"EncoderPipeline({self.task_name}: {self.path})"

    def __call__(self, texts, **options):
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not texts:
            raise KerasLMError("give at least one text")
        run = {"text-classification": self._classify,
               "feature-extraction": self._features,
               "fill-mask": self._fill_mask}[self.task_name]
        results = run(texts, **options)
        return results[0] if single and self.task_name != "text-classification" \
            else results

    def _fill_mask(self, texts, top_k=5):
        return self.task.fill_mask(texts, top_k=top_k)

    def _classify(self, texts, top_k=1):
        names = self.task.label_names
        results = []
        for row in self.task.predict_proba(texts):
            ranked = [{"label": names[i], "score": float(row[i])}
                      for i in row.argsort()[::-1][:top_k]]
            results.append(ranked[0] if top_k == 1 else ranked)
        return results

    def _features(self, texts, pooling=None, normalize=False):
        if pooling is None:
            return [[features.tolist()] for features in
                    self.task.token_features(texts)]
        return [vector.tolist() for vector in
                self.task.embed(texts, pooling=pooling, normalize=normalize)]


def _encoder_task(path):
    """The encoder task of a run directory or of a BERT folder (converted in
    memory), its model loaded."""
    from keras_lm.checkpoints.bert import is_bert_checkpoint, load_bert
    from keras_lm.registry import family
    from keras_lm.runs import RunDirectory

    if not is_bert_checkpoint(path):
        return RunDirectory(path).require().load()
    model, tokenizer, info = load_bert(path)
    config = {"model": {"family": info["family"],
                        "config": info["model_config"]},
              "data": {"source": None,
                       "label_names": info.get("label_names")}}
    return family(info["family"]).task_class(
        config, {"tokenizer": tokenizer}, model)
