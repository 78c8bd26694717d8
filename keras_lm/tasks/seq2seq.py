"""Sequence to sequence: translate (or summarize) a source text.

The task of the encoder-decoder family (`keras_lm.models.Seq2Seq`). A run
directory holds two tokenizers (`source_tokenizer/`, `target_tokenizer/`;
START and END come after the target vocabulary, see
`keras_lm.tokenizers.TargetSpecials`). config.json's "data" section says
how the pairs (`keras_lm.data.pair_readers.load_pairs`) were read, sampled
and split by source sentence, so evaluation re-derives the very same test
split, and "data_stats" counts what was loaded, skipped and filtered.

Length caps are in *tokens*: `max_source_length` source tokens and
`max_target_length` target tokens (END comes on top); longer pairs are
dropped from training. Translation (`predict_text`) refuses a longer source
with one `KerasLMError`; the exported SavedModel instead *truncates* it (a
serving graph cannot raise a friendly error per row).

Example:

>>> train("seq2seq", "runs/dates", tokenizer="char", max_source_length=40,
...       max_target_length=10)                       # doctest: +SKIP
>>> task = RunDirectory("runs/dates").load()        # doctest: +SKIP
>>> task.predict_text("3rd of March 2021")           # doctest: +SKIP
'2021-03-03'
"""

import dataclasses
import os
import typing

import numpy as np

from keras_lm.data.pair_dataset import encode_pairs, pairs_dataset
from keras_lm.data.pair_readers import (DATE_SOURCE, load_pairs,
                                        tfds_pair_features)
from keras_lm.data.pair_splits import split_pairs
from keras_lm.data.text_sources import recorded_source
from keras_lm.errors import KerasLMError, check_counts
from keras_lm.generation.translation import DECODE_BATCH, Translator
from keras_lm.models.seq2seq import masked_loss
from keras_lm.tasks.base import Task
from keras_lm.tokenizers import make_tokenizer, target_specials
from keras_lm.training.metrics import MaskedTokenAccuracy
from keras_lm.training.trainer import TrainingData

TASKS = ("translation", "summarization")
#: tfds names whose targets are summaries (ROUGE is their headline metric).
SUMMARIZATION_SOURCES = ("cnn_dailymail", "gigaword")


@dataclasses.dataclass
class PairOptions:
    """Data and tokenizers of a sequence-to-sequence run."""

    #: Pairs: an Anki .txt/.zip (English<TAB>other), a .jsonl/.csv with
    #: source/target columns, or a tfds name (ted_hrlr_translate/pt_to_en,
    #: cnn_dailymail, gigaword); None: the embedded date task.
    source: str | None = None
    #: Swap the sides (Anki files are English -> other).
    reverse: bool = False
    #: Use at most this many pairs (a seeded sample of a file).
    max_examples: int | None = None
    #: Source column of a .jsonl/.csv or tfds dataset.
    source_column: str | None = None
    #: Target column of a .jsonl/.csv or tfds dataset.
    target_column: str | None = None
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    #: Source tokens at most (longer pairs are dropped and counted).
    max_source_length: int = 20
    #: Target tokens at most, END not counted.
    max_target_length: int = 20
    #: The headline metric's task (default: by data source).
    task: typing.Literal["translation", "summarization"] | None = None
    #: The tokenizer of both sides.
    tokenizer: typing.Literal["subword", "word", "char"] = "subword"
    #: Word/subword vocabulary size of each side.
    vocab_size: int = 4000
    #: Source-side vocabulary size (default: vocab_size).
    source_vocab_size: int | None = None
    #: Target-side vocabulary size (default: vocab_size).
    target_vocab_size: int | None = None


def task_of(source, task=None):
    """"translation" or "summarization": `task` if given, else by source."""
    if task is not None:
        if task not in TASKS:
            raise KerasLMError(f"unknown task {task!r}; choose one of "
                               f"{', '.join(TASKS)}")
        return task
    name = str(source or "").split(":")[0].split("/")[0]
    return "summarization" if name in SUMMARIZATION_SOURCES else "translation"


def _columns(data):
    """How a run's "data" section reads a pair source: direction, columns."""
    return dict(reverse=data.get("reverse", False),
                source_column=data.get("source_column"),
                target_column=data.get("target_column"))


def load_pair_splits(data, data_dir=None):
    """`(PairSource, PairSplits, sampled_from)` of a run's "data" section:
    the pairs read, sampled and split as that run did."""
    source, max_examples = data["source"], data.get("max_examples")
    seed = data.get("seed", 0)
    kwargs = dict(_columns(data), data_dir=data_dir, seed=seed)
    if source == DATE_SOURCE:
        kwargs["num_date_pairs"] = max_examples or 20000
    elif tfds_pair_features(source) or not os.path.exists(source):
        kwargs["max_examples"] = max_examples  # tfds: caps each split
    pairs = load_pairs(source, **kwargs)
    sampled_from = None
    if (max_examples and source != DATE_SOURCE and not pairs.splits
            and len(pairs.pairs) > max_examples):
        # A deterministic sample rather than the head: Anki files are
        # sorted by length, so their first lines are all one-word phrases.
        keep = np.sort(np.random.default_rng(seed).choice(
            len(pairs.pairs), max_examples, replace=False))
        sampled_from = len(pairs.pairs)
        pairs.pairs = [pairs.pairs[i] for i in keep]
    splits = split_pairs(pairs, data.get("validation_fraction", 0.1),
                         data.get("test_fraction", 0.1), seed=seed)
    if not splits.validation:
        raise KerasLMError(f"{source!r} gave no validation pairs; raise the "
                           "validation fraction or use more pairs")
    return pairs, splits, sampled_from


def describe_stats(stats):
    """config.json's "data_stats" as one line."""
    parts = [f"{stats['loaded']} pairs loaded from {stats['source']}, "
             f"{stats['skipped_lines']} lines skipped"]
    if stats.get("sampled_from"):
        parts[0] += f" (sampled from {stats['sampled_from']})"
    for split in ("train", "validation", "test"):
        parts.append(f"{split} {stats[split]} "
                     f"(+{stats[split + '_filtered']} over the length caps)")
    return "; ".join(parts)


class Seq2SeqTask(Task):
    """Source text in, target text out; see the module docstring."""

    Options = PairOptions
    TOKENIZER_DIRS = {"source": "source_tokenizer",
                      "target": "target_tokenizer"}
    # A constant learning rate (no decay) unless asked, as Seq2Seq trained
    # before it shared the trainer.
    TRAINING_DEFAULTS = {"learning_rate": 1e-3, "validation_steps": None,
                         "final_learning_rate_ratio": 1.0}
    UNUSED_TRAINING_FIELDS = ("seq_len", "stateful", "random_offsets",
                              "validation_fraction")
    # On the CPU XLA costs about twice the compile time (tens of seconds)
    # for no measurable gain per step with these LSTMs; decoding is always
    # XLA-compiled.
    jit_compile = False

    def __init__(self, config, tokenizers, model=None):
        super().__init__(config, tokenizers, model)
        self._encoded = None

    @classmethod
    def sections(cls, options, training):
        source = (DATE_SOURCE if options.source is None
                  else recorded_source(options.source))
        check_counts(max_source_length=options.max_source_length,
                     max_target_length=options.max_target_length,
                     max_examples=options.max_examples)
        sizes = {side: None if options.tokenizer == "char" else
                 getattr(options, side) or options.vocab_size
                 for side in ("source_vocab_size", "target_vocab_size")}
        data = {name: getattr(options, name) for name in (
            "reverse", "max_examples", "source_column", "target_column",
            "validation_fraction", "test_fraction", "max_source_length",
            "max_target_length")}
        data.update(source=source, reverse=bool(options.reverse),
                    seed=training.seed, task=task_of(source, options.task))
        return {"data": data,
                "tokenizer": {"kind": options.tokenizer, **sizes}}

    @classmethod
    def create(cls, config, data_dir=None, tokenizers=None, verbose=0):
        task = cls(config, tokenizers or {})
        pairs, splits, sampled_from = load_pair_splits(config["data"],
                                                       data_dir)
        if tokenizers is None:
            section = config["tokenizer"]
            for side, column in (("source", 0), ("target", 1)):
                task.tokenizers[side] = make_tokenizer(
                    section["kind"], "\n".join(p[column] for p in splits.train),
                    section[f"{side}_vocab_size"])
        task.encode_splits(splits)
        stats = {"source": pairs.name, "skipped_lines": pairs.skipped,
                 "sampled_from": sampled_from,
                 "loaded": len(pairs.pairs) + sum(
                     len(p) for k, p in (pairs.splits or {}).items()
                     if k != "train")}
        for name, encoded in task._encoded.items():
            stats[name], stats[name + "_filtered"] = (len(encoded),
                                                      encoded.num_filtered)
        config["data_stats"] = stats
        specials = target_specials(task.tokenizers["target"])
        config["model"]["config"].update(
            source_vocab_size=task.tokenizers["source"].vocab_size,
            target_vocab_size=specials.vocab_size,
            start_id=specials.start_id, end_id=specials.end_id)
        if verbose:
            print(f"data: {describe_stats(stats)}")
        return task

    def describe_data(self):
        stats = self.config.get("data_stats")
        return f"data: {describe_stats(stats)}" if stats else ""

    def encode_splits(self, splits):
        self._encoded = {name: self.encode(getattr(splits, name))
                         for name in ("train", "validation", "test")}

    def encode(self, pairs):
        """`EncodedPairs` of `(source, target)` strings within the caps."""
        return encode_pairs(pairs, self.tokenizers["source"],
                            self.tokenizers["target"],
                            self.config["data"]["max_source_length"],
                            self.config["data"]["max_target_length"] + 1)

    def example_inputs(self, batch_size=1):
        ones = np.ones((batch_size, 2), np.int32)
        return ones, ones

    def check_vocabulary(self):
        specials = target_specials(self.tokenizers["target"])
        config = self.model_config
        if (config["source_vocab_size"] != self.tokenizers["source"].vocab_size
                or config["target_vocab_size"] != specials.vocab_size):
            raise KerasLMError("the model's vocabularies do not match its "
                               "tokenizers; the run is inconsistent")

    def training_data(self, training):
        if self._encoded is None:  # a resumed run: read the pairs again
            self.encode_splits(load_pair_splits(self.config["data"])[1])
        train, validation = self._encoded["train"], self._encoded["validation"]
        if len(train) < training.batch_size:
            raise KerasLMError(
                f"only {len(train)} training pairs fit the length caps "
                f"({train.num_filtered} were longer), fewer than one batch "
                f"of {training.batch_size}; raise the length caps "
                "(max_source_length/max_target_length) or lower batch_size")
        if not len(validation):
            raise KerasLMError("no validation pair fits the length caps; "
                               "raise max_source_length/max_target_length")
        val_ds = pairs_dataset(validation, training.batch_size,
                               drop_remainder=False)
        if training.validation_steps:
            val_ds = val_ds.take(training.validation_steps)
        return TrainingData(
            train=lambda start, count: pairs_dataset(
                train, training.batch_size, shuffle=True, seed=training.seed,
                start_batch=start, num_batches=count),
            validation=val_ds,
            batches_per_pass=len(train) // training.batch_size,
            example=(train.source_ids[:1], train.decoder_input_ids[:1]),
            metrics=[MaskedTokenAccuracy()])

    def loss(self):
        return masked_loss()

    def translator(self):
        """A `Translator` over the model, tokenizers and length caps."""
        return Translator(self.require_model(), self.tokenizers["source"],
                          self.tokenizers["target"], self.config)

    def predict_text(self, texts, **decoding):
        return self.translator().translate(texts, **decoding)

    def evaluate(self, data=None, data_dir=None, beam_width=4,
                 length_penalty=0.6, max_pairs=None, max_batches=None,
                 task=None, verbose=0):
        """BLEU/ROUGE, exact match and teacher-forced loss and accuracy
        (see `evaluate_translation`) on the run's own test split, re-derived
        from config.json, or on `data` (a tfds source's test split, or every
        pair of a file). `max_batches` counts batches of `DECODE_BATCH`
        pairs; `task` overrides the headline metric's choice."""
        from keras_lm.evaluation.translation import evaluate_translation

        data_config = self.config["data"]
        if data is None:
            pairs = load_pair_splits(data_config, data_dir)[1].test
            if not pairs:
                raise KerasLMError("this run has no test split (test "
                                   "fraction 0); pass data to evaluate on")
            task = task or data_config.get("task")
        else:
            source = load_pairs(recorded_source(data), data_dir=data_dir,
                                **_columns(data_config))
            pairs = (source.splits or {}).get("test") or source.pairs
        if max_pairs is None and max_batches:
            max_pairs = max_batches * DECODE_BATCH
        return evaluate_translation(
            self.translator(), pairs,
            task=task_of(data or data_config["source"], task),
            beam_width=beam_width, length_penalty=length_penalty,
            max_pairs=max_pairs, verbose=verbose)

    def export(self, path, beam_width=4, length_penalty=0.6,
               max_length=None):
        """A translator SavedModel (see `keras_lm.serving.translator.export_translator`)."""
        from keras_lm.serving.translator import export_translator

        return export_translator(self.translator(), path, beam_width,
                                 length_penalty, max_length)
