"""Causal language modelling: predict each next token of a text.

The task of the decoder-only families (GRU, LSTM, Transformer, imported
GPT-2). A run's data is one text (a tfds name, a `.txt` file or folder, or
the embedded corpus), split into training and validation text, tokenized by
one tokenizer (`tokenizer.json` in the run directory) and cut into windows
of `seq_len` tokens (`keras_lm.data.language_model_dataset`).

Example:

>>> from keras_lm.runs import train
>>> train("gru", "runs/demo", model_config={"rnn_units": 64},
...       training=TrainingConfig(epochs=1, steps_per_epoch=5))  # doctest: +SKIP
>>> RunDirectory("runs/demo").load().predict_text(["The "], 20)  # doctest: +SKIP
"""

import dataclasses
import typing

import keras
import numpy as np

from keras_lm.data import language_model_dataset, load_text_corpus
from keras_lm.data.text_sources import recorded_source
from keras_lm.errors import KerasLMError
from keras_lm.tasks.base import Task
from keras_lm.tokenizers import make_tokenizer
from keras_lm.training.callbacks import ResetStatesAtStreamStart
from keras_lm.training.metrics import language_model_metrics
from keras_lm.training.trainer import TrainingData


@dataclasses.dataclass
class LanguageModelOptions:
    """Data and tokenizer of a language-model run."""

    #: tfds name (tiny_shakespeare), a .txt file or folder; None: the
    #: embedded corpus (no network).
    source: str | None = None
    tokenizer: typing.Literal["char", "word", "subword"] = "char"
    #: Vocabulary size of a word/subword tokenizer (None: its default).
    vocab_size: int | None = None


class CausalLMTask(Task):
    """Next-token prediction with one tokenizer; see the module docstring."""

    Options = LanguageModelOptions

    def __init__(self, config, tokenizers, model=None, corpus=None):
        super().__init__(config, tokenizers, model)
        self._corpus = corpus

    @property
    def tokenizer(self):
        return self.tokenizers["tokenizer"]

    @classmethod
    def sections(cls, options, training):
        return {"data": {"source": recorded_source(options.source)},
                "tokenizer": {"kind": options.tokenizer,
                              "vocab_size": options.vocab_size}}

    @classmethod
    def create(cls, config, data_dir=None, tokenizers=None, verbose=0):
        task = cls(config, tokenizers or {})
        corpus = task.corpus(data_dir)
        if tokenizers is None:
            section = config["tokenizer"]
            task.tokenizers["tokenizer"] = make_tokenizer(
                section["kind"], corpus.train, section["vocab_size"])
        model_config = config["model"]["config"]
        model_config["vocab_size"] = task.tokenizer.vocab_size
        if config["training"]["stateful"] and "stateful" in model_config:
            model_config["stateful"] = True  # state carried across batches
        return task

    def corpus(self, data_dir=None, source=None):
        """The run's training/validation text (read once), or `source`'s."""
        if source is not None or self._corpus is None:
            corpus = load_text_corpus(
                source or self.config["data"]["source"],
                self.training().validation_fraction, data_dir)
            if source is not None:
                return corpus
            self._corpus = corpus
        return self._corpus

    def encode(self, text):
        """`text` as an int32 array of token ids."""
        return np.asarray(self.tokenizer.encode(text), dtype=np.int32)

    def build_model(self, **overrides):
        if "stateful" not in self.model_config:
            overrides.pop("stateful", None)
        return super().build_model(**overrides)

    def check_vocabulary(self):
        vocab_size = self.model_config.get("vocab_size")
        if vocab_size is not None and vocab_size != self.tokenizer.vocab_size:
            raise KerasLMError(
                f"the model's vocabulary ({vocab_size}) does not match its "
                f"tokenizer ({self.tokenizer.vocab_size}); the run is "
                "inconsistent")

    def load_model(self, weights, stateful=False, batch_size=1):
        """The stateless twin of a stateful RNN unless `stateful`."""
        return super().load_model(weights, batch_size, stateful=stateful)

    def training_data(self, training):
        corpus = self.corpus()
        context = self.family.model_class.from_config(
            self.model_config).max_sequence_length
        if context is not None and training.seq_len > context:
            raise KerasLMError(
                f"seq_len {training.seq_len} is longer than the model's "
                f"context (max_sequence_length {context}); lower one or "
                "raise the other")
        train_ids, val_ids = self.encode(corpus.train), self.encode(
            corpus.validation)
        windows = dict(seq_len=training.seq_len,
                       batch_size=training.batch_size,
                       stateful=training.stateful)
        probe, layout = language_model_dataset(
            train_ids, num_batches=1, what="training text", **windows)
        _, val_layout = language_model_dataset(
            val_ids, num_batches=1, what="validation text", **windows)
        val_batches = min(training.validation_steps or
                          val_layout.batches_per_pass,
                          val_layout.batches_per_pass)

        def train(start_batch, num_batches):
            return language_model_dataset(
                train_ids, seed=training.seed, start_batch=start_batch,
                random_offsets=training.random_offsets,
                num_batches=num_batches, **windows)[0]

        def callbacks(steps):
            if not training.stateful:
                return []
            return [ResetStatesAtStreamStart(layout.batches_per_pass, steps)]

        return TrainingData(
            train=train,
            validation=language_model_dataset(
                val_ids, shuffle=False, num_batches=val_batches,
                **windows)[0],
            batches_per_pass=layout.batches_per_pass,
            example=next(iter(probe))[0],
            metrics=language_model_metrics(
                len(corpus.train) / max(len(train_ids), 1)),
            callbacks=callbacks)

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @staticmethod
    def freeze_embeddings(model):
        """Keeps `model`'s token embedding fixed (fine-tuning)."""
        for name in ("embedding", "token_embedding"):
            if hasattr(model, name):
                getattr(model, name).trainable = False
                return
        raise KerasLMError(f"{type(model).__name__} has no token embedding "
                           "to freeze")

    def unknown_fraction(self, text):
        """The share of `text`'s tokens the tokenizer cannot represent."""
        ids = self.encode(text)
        return float((ids == self.tokenizer.unk_id).mean()) if len(ids) else 0

    def evaluate(self, data=None, data_dir=None, max_batches=None,
                 verbose=0):
        from keras_lm.evaluation.language_model import evaluate_language_model

        return evaluate_language_model(self, data, data_dir, max_batches,
                                       verbose)

    def export(self, path, max_new_tokens=200, temperature=1.0, top_k=0,
               top_p=1.0, seed=0, beam_width=1, length_penalty=0.0, stop=()):
        """A text-generation SavedModel; the arguments are what its
        `serving_default` signature uses (see `keras_lm.serving.export`)."""
        from keras_lm.generation import check_sampling_args
        from keras_lm.generation.chat import run_chat_settings
        from keras_lm.serving import export

        check_sampling_args(max_new_tokens, temperature, top_k, top_p, seed,
                            beam_width, length_penalty)
        chat_template, _ = run_chat_settings(self.config)
        return export(self.require_model(), self.tokenizer, path,
                      chat_template=chat_template,
                      max_new_tokens=max_new_tokens, temperature=temperature,
                      top_k=top_k, top_p=top_p, seed=seed,
                      beam_width=beam_width, length_penalty=length_penalty,
                      stop=stop)

    def predict_text(self, texts, max_new_tokens=200, temperature=1.0,
                     top_k=0, top_p=1.0, seed=0, beam_width=1,
                     length_penalty=0.0, stop=()):
        """Each prompt continued by `max_new_tokens` tokens: sampled, or the
        best of `beam_width` beams, each row ending early at the tokenizer's
        end of text or a `stop` string (see
        `keras_lm.generation.generate_text`)."""
        from keras_lm.generation import generate_text

        return generate_text(self.require_model(), self.tokenizer, texts,
                             max_new_tokens, temperature, top_k, top_p, seed,
                             beam_width=beam_width,
                             length_penalty=length_penalty, stop=stop)

    def sample(self, prompt="The ", length=200):
        """A short greedy-ish sample to show after training."""
        context = self.require_model().max_sequence_length
        if context is not None:
            length = min(length, context - len(self.tokenizer.encode_prompt(prompt)))
        return self.predict_text(prompt, length, temperature=0.8, seed=0)
