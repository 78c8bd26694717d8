"""Masked-LM pre-training of a bidirectional encoder (BERT's first stage).

The task of the "encoder" family (`keras_lm.models.MaskedLanguageModel`).
A run reads unlabeled text from any source the language models read (a
tfds name, a `.txt` file or folder, the embedded corpus), learns a
WordPiece vocabulary from its training part, cuts the token stream into
rows of `seq_len` tokens (`[CLS]` first) and trains the model to recover
the tokens keras-hub's `MaskedLMMaskGenerator` hid (see
`keras_lm.data.encoder_inputs`). The encoder it leaves is what
`keras-lm train classifier --init RUN` starts from; the run itself fills
masks and embeds texts.

Example:

>>> train("encoder", "runs/bert", data="tiny_shakespeare")   # doctest: +SKIP
>>> task = RunDirectory("runs/bert").load()                 # doctest: +SKIP
>>> task.fill_mask("to be or not to [MASK]")[0]["token_str"]  # doctest: +SKIP
'be'
"""

import dataclasses

import numpy as np

from keras_lm.data import load_text_corpus
from keras_lm.data.encoder_inputs import (mask_generator, masked_lm_dataset,
                                          stream_windows)
from keras_lm.data.text_sources import recorded_source
from keras_lm.errors import KerasLMError, check_real
from keras_lm.models.seq2seq import masked_loss
from keras_lm.tasks.encoder_task import PREDICT_BATCH, EncoderTask
from keras_lm.training.metrics import MaskedTokenAccuracy
from keras_lm.tokenizers.wordpiece import MASK_TOKEN
from keras_lm.training.trainer import TrainingData


@dataclasses.dataclass
class MaskedLMOptions:
    """Data and tokenizer of a masked-LM run."""

    #: tfds name (tiny_shakespeare), a .txt file or folder; None: the
    #: embedded corpus (no network).
    source: str | None = None
    #: WordPiece vocabulary size (specials included).
    vocab_size: int = 8000
    #: Lower-case (and strip accents from) the text, as uncased BERT does.
    lowercase: bool = True
    #: Share of tokens selected for masking (BERT: 0.15).
    mask_rate: float = 0.15


class MaskedLMTask(EncoderTask):
    """Masked-token prediction; see the module docstring."""

    Options = MaskedLMOptions
    TRAINING_DEFAULTS = {"seq_len": 128, "batch_size": 32,
                         "learning_rate": 1e-3, "warmup_steps": 100,
                         "weight_decay": 0.01, "validation_steps": 20}
    UNUSED_TRAINING_FIELDS = ("stateful", "random_offsets")

    def __init__(self, config, tokenizers, model=None, corpus=None):
        super().__init__(config, tokenizers, model)
        self._corpus = corpus

    @classmethod
    def sections(cls, options, training):
        check_real("mask_rate", options.mask_rate, 0.0, 1.0, open_low=True,
                   open_high=True)
        return {"data": {"source": recorded_source(options.source),
                         "mask_rate": options.mask_rate},
                "tokenizer": cls.tokenizer_section(options)}

    @classmethod
    def create(cls, config, data_dir=None, tokenizers=None, verbose=0):
        task = cls(config, tokenizers or {})
        corpus = task.corpus(data_dir)
        task.learn_tokenizer(corpus.train.splitlines(), tokenizers)
        return task

    def corpus(self, data_dir=None):
        """The run's training/validation text (read once)."""
        if self._corpus is None:
            self._corpus = load_text_corpus(
                self.config["data"]["source"],
                self.training().validation_fraction, data_dir)
        return self._corpus

    def windows(self, text, seq_len):
        """`text`'s tokens as rows of `seq_len - 1` (the `[CLS]` comes on
        top), one `[SEP]` after each line."""
        tokenizer = self.tokenizer
        lines = [line for line in text.splitlines() if line.strip()]
        return stream_windows(tokenizer.encode_batch(lines),
                              tokenizer.sep_id, seq_len - 1)

    def _dataset_parts(self, training):
        context = self.model_config["max_sequence_length"]
        if training.seq_len > context:
            raise KerasLMError(
                f"seq_len {training.seq_len} is longer than the model's "
                f"context (max_sequence_length {context}); lower one or "
                "raise the other")
        tokenizer = self.tokenizer
        masker = mask_generator(tokenizer.vocab_size, tokenizer.mask_id,
                                tokenizer.special_ids, training.seq_len,
                                self.config["data"]["mask_rate"])
        return masker, dict(cls_id=tokenizer.cls_id,
                            batch_size=training.batch_size)

    def training_data(self, training):
        corpus = self.corpus()
        train, val = (self.windows(text, training.seq_len)
                      for text in (corpus.train, corpus.validation))
        for name, rows in (("training", train), ("validation", val)):
            if len(rows) < training.batch_size:
                raise KerasLMError(
                    f"the {name} text gives {len(rows)} rows of {training.seq_len} "
                    f"tokens, fewer than one batch of {training.batch_size}; "
                    "use more text or lower seq_len/batch_size")
        masker, common = self._dataset_parts(training)
        validation = masked_lm_dataset(val, masker, seed=training.seed + 1,
                                       **common).cache()
        if training.validation_steps:
            validation = validation.take(training.validation_steps)
        return TrainingData(
            train=lambda start, count: masked_lm_dataset(
                train, masker, shuffle=True, seed=training.seed,
                start_batch=start, num_batches=count, **common),
            validation=validation,
            batches_per_pass=len(train) // training.batch_size,
            example={"token_ids": np.ones((1, 4), np.int32),
                     "mask_positions": np.zeros((1, 2), np.int32)},
            metrics=[MaskedTokenAccuracy()])

    def loss(self):
        return masked_loss()  # target 0 = an unused mask slot

    def evaluate(self, data=None, data_dir=None, max_batches=None,
                 verbose=0):
        """Masked-token loss, accuracy and perplexity on the run's
        validation text (or `data`'s), with the same fixed masks each
        time."""
        import keras

        training = self.training()
        text = (self.corpus(data_dir).validation if data is None else
                load_text_corpus(recorded_source(data), 0.5, data_dir).validation)
        rows = self.windows(text, training.seq_len)
        if not len(rows):
            raise KerasLMError("the evaluation text is shorter than one row "
                               f"of {training.seq_len} tokens")
        keras.utils.set_random_seed(training.seed + 1)
        masker, common = self._dataset_parts(training)
        dataset = masked_lm_dataset(rows, masker, seed=training.seed + 1,
                                    **common)
        if max_batches:
            dataset = dataset.take(max_batches)
        model = self.require_model()
        model.compile(loss=self.loss(), metrics=[MaskedTokenAccuracy()])
        scores = model.evaluate(dataset, verbose=verbose, return_dict=True)
        return {"loss": scores["loss"],
                "masked_accuracy": scores["masked_accuracy"],
                "perplexity": float(np.exp(scores["loss"])),
                "rows": int(len(rows))}

    def fill_mask(self, texts, top_k=5):
        """The `top_k` likeliest tokens for the first `[MASK]` of each text,
        as transformers' fill-mask pipeline gives them: per text a list of
        `{"score", "token", "token_str", "sequence"}`, best first."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if any(MASK_TOKEN not in text for text in texts):
            raise KerasLMError(f"every text needs a {MASK_TOKEN} to fill")
        rows, _ = self.pack(texts)
        mask_id = self.tokenizer.mask_id
        first = np.argmax(rows == mask_id, axis=1)
        if any(rows[i, p] != mask_id for i, p in enumerate(first)):
            raise KerasLMError(f"a text's {MASK_TOKEN} lies past the model's "
                               f"context of {self.max_length} tokens")
        model, results = self.require_model(), []
        for start, batch in zip(range(0, len(rows), PREDICT_BATCH),
                                self.batches(rows)):
            positions = first[start:start + len(batch), None]
            logits = np.asarray(model({"token_ids": batch,
                                       "mask_positions": positions}))[:, 0]
            results += [self._candidates(text, row, top_k) for text, row in
                        zip(texts[start:], logits)]
        return results[0] if single else results

    def _candidates(self, text, logits, top_k):
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        best = np.argsort(-probabilities)[:top_k]
        candidates = []
        for token in best:
            token_str = self.tokenizer.id_to_token(int(token))
            word = token_str
            if token_str.startswith("##"):  # a word's continuation
                word, before = token_str[2:], text.split(MASK_TOKEN)[0]
                text_with = before.rstrip() + word + text[len(before) + len(
                    MASK_TOKEN):]
            else:
                text_with = text.replace(MASK_TOKEN, word, 1)
            candidates.append({"score": float(probabilities[token]),
                               "token": int(token), "token_str": token_str,
                               "sequence": text_with})
        return candidates

    def predict_text(self, texts):
        """Each text with its first `[MASK]` filled by the likeliest token."""
        single = isinstance(texts, str)
        filled = [r[0]["sequence"] for r in
                  self.fill_mask([texts] if single else texts, top_k=1)]
        return filled[0] if single else filled

    def export(self, path, top_k=5):
        """A SavedModel with `fill_mask(text)` and `embed(text)` signatures
        (see `keras_lm.serving.encoders.export_encoder`)."""
        from keras_lm.serving.encoders import export_encoder

        return export_encoder(self, path, top_k=top_k)
