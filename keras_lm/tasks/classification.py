"""Text classification (sentiment and any other labels).

The task of the "classifier" family (`keras_lm.models.TextClassifier`: a
Transformer encoder, or a bidirectional LSTM/GRU, under a pooling and a
dense head). A run reads labeled text (CSV/TSV/JSONL, a folder per class,
one line file per class such as rt-polarity, or tfds `imdb_reviews` and
`glue/sst2`; see `keras_lm.data.load_labeled_text`), keeps the label
names in config.json ("data" -> "label_names"), and splits off held-out
data reproducibly when the source has none.

Pre-trained encoders plug in through the `init` option: a masked-LM run
(`keras-lm train encoder`), another classifier run, or a Hugging Face BERT
folder. The classifier then takes that run's tokenizer and encoder shape,
starts from its encoder weights (the head is new) and, with
`freeze_backbone`, trains the head alone.

Example:

>>> train("classifier", "runs/sentiment",
...       data="rt-polarity/")   # rt-polarity.pos/.neg  # doctest: +SKIP
>>> task = RunDirectory("runs/sentiment").load()  # doctest: +SKIP
>>> task.predict_text(["a gorgeous, witty film"])  # doctest: +SKIP
['pos']
"""

import dataclasses
import os

import keras
import numpy as np

from keras_lm.data import load_labeled_text
from keras_lm.data.encoder_inputs import classification_dataset
from keras_lm.data.text_sources import recorded_source
from keras_lm.errors import KerasLMError, a_run, check_counts
from keras_lm.tasks.encoder_task import PREDICT_BATCH, EncoderTask
from keras_lm.training.trainer import TrainingData

#: Model settings a pre-trained encoder fixes (the classifier takes them).
ENCODER_SETTINGS = ("vocab_size", "max_sequence_length", "type_vocab_size",
                    "num_layers", "num_heads", "d_model", "mlp_dim",
                    "layer_norm_epsilon", "gelu_approximate", "norm_first",
                    "pad_id")


@dataclasses.dataclass
class ClassificationOptions:
    """Data, tokenizer and starting point of a classifier run."""

    #: Labeled texts: a .csv/.tsv/.jsonl file, a folder with a sub-folder
    #: (or a line file) per class, or a tfds name (imdb_reviews, glue/sst2).
    source: str | None = None
    #: Text column of a .csv/.tsv/.jsonl (default: text, sentence, ...).
    text_column: str | None = None
    #: Label column of a .csv/.tsv/.jsonl (default: label).
    label_column: str | None = None
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    #: Seeds the held-out split a source without one gets (not the
    #: training seed: runs with other seeds are scored on the same texts).
    split_seed: int = 0
    #: Tokens per text at most, [CLS] and [SEP] included (longer ones are
    #: truncated).
    max_length: int = 128
    #: WordPiece vocabulary size (specials included).
    vocab_size: int = 8000
    #: Lower-case (and strip accents from) the text, as uncased BERT does.
    lowercase: bool = True
    #: Start from this encoder: a masked-LM or classifier run directory, or
    #: a Hugging Face BERT folder (its tokenizer and shape are taken).
    init: str | None = None
    #: With init: train the head only, the encoder kept fixed.
    freeze_backbone: bool = False


class ClassificationTask(EncoderTask):
    """Texts in, one label each out; see the module docstring."""

    Options = ClassificationOptions
    TRAINING_DEFAULTS = {"batch_size": 32, "epochs": 5,
                         "learning_rate": 5e-4, "warmup_steps": 100,
                         "weight_decay": 0.01, "validation_steps": None,
                         "early_stopping_patience": 2}
    UNUSED_TRAINING_FIELDS = ("seq_len", "stateful", "random_offsets",
                              "validation_fraction")

    def __init__(self, config, tokenizers, model=None):
        super().__init__(config, tokenizers, model)
        self._splits = self._pretrained = None

    def pretrained(self):
        """The `init` encoder (`load_encoder`), loaded once."""
        if self._pretrained is None:
            self._pretrained = load_encoder(self.config["data"]["init"])
        return self._pretrained

    @property
    def label_names(self):
        return self.config["data"]["label_names"]

    @property
    def max_length(self):
        return min(self.config["data"].get("max_length", 512),
                   self.model_config["max_sequence_length"])

    @classmethod
    def sections(cls, options, training):
        if options.source is None:
            raise KerasLMError("a classifier needs labeled data: a "
                               ".csv/.tsv/.jsonl file, a folder per class, "
                               "line files per class or a tfds name")
        check_counts(max_length=options.max_length)
        if options.freeze_backbone and not options.init:
            raise KerasLMError("freeze_backbone needs init: a pre-trained "
                               "encoder to keep fixed")
        data = {name: getattr(options, name) for name in (
            "text_column", "label_column", "validation_fraction",
            "test_fraction", "max_length", "freeze_backbone")}
        data.update(source=recorded_source(options.source),
                    seed=options.split_seed,
                    init=os.path.abspath(options.init) if options.init
                    else None)
        return {"data": data, "tokenizer": cls.tokenizer_section(options)}

    @classmethod
    def create(cls, config, data_dir=None, tokenizers=None, verbose=0):
        task = cls(config, tokenizers or {})
        splits = task.splits(data_dir)
        data = config["data"]
        data["label_names"] = list(splits.label_names)
        model_config = config["model"]["config"]
        model_config["num_classes"] = len(splits.label_names)
        if data["init"]:
            pretrained = task.pretrained()
            tokenizers = {"tokenizer": pretrained.tokenizer}
            task.tokenizers.update(tokenizers)
            model_config.update(_encoder_shape(
                pretrained.model_config, model_config, data["init"]))
        task.learn_tokenizer(splits.train.texts, tokenizers)
        rows, truncated = task.pack(splits.train.texts, "training texts")
        config["data_stats"] = {
            "description": splits.describe(), "truncated": int(truncated),
            **{name: len(getattr(splits, name).texts)
               for name in ("train", "validation", "test")}}
        if verbose:
            print(task.describe_data())
        return task

    def describe_data(self):
        stats = self.config.get("data_stats")
        if not stats:
            return ""
        line = f"data: {stats['description']}"
        if stats.get("truncated"):
            line += (f"; {stats['truncated']} training texts truncated to "
                     f"{self.max_length} tokens")
        return line

    def splits(self, data_dir=None):
        """The run's `LabeledSplits`, read once, as the run first read them."""
        if self._splits is None:
            data = self.config["data"]
            if data.get("source") is None:
                raise KerasLMError("this run was imported and has no data of "
                                   "its own; pass data to evaluate on")
            self._splits = load_labeled_text(
                data["source"], text_column=data.get("text_column"),
                label_column=data.get("label_column"),
                validation_fraction=data.get("validation_fraction", 0.1),
                test_fraction=data.get("test_fraction", 0.1),
                seed=data.get("seed", 0), data_dir=data_dir)
        return self._splits

    def prepare_model(self, model):
        """Copies the pre-trained encoder in (`init`), and freezes it if
        asked; the trainer calls this once the model is built."""
        init = self.config["data"].get("init")
        if not init:
            return
        pretrained = self.pretrained().model
        try:
            model.encoder.set_weights(pretrained.encoder.get_weights())
        except ValueError as e:
            raise KerasLMError(f"{init}: its encoder does not fit this "
                               f"classifier ({e})") from None
        if self.config["data"].get("freeze_backbone"):
            model.encoder.trainable = False

    def training_data(self, training):
        splits = self.splits()
        if len(splits.train.texts) < training.batch_size:
            raise KerasLMError(
                f"only {len(splits.train.texts)} training texts, fewer than "
                f"one batch of {training.batch_size}; lower batch_size")
        train_rows, _ = self.pack(splits.train.texts, "training texts")
        val_rows, _ = self.pack(splits.validation.texts, "validation texts")
        pad = self.tokenizer.pad_id
        validation = classification_dataset(
            val_rows, splits.validation.labels, training.batch_size, pad)
        if training.validation_steps:
            validation = validation.take(training.validation_steps)
        return TrainingData(
            train=lambda start, count: classification_dataset(
                train_rows, splits.train.labels, training.batch_size, pad,
                shuffle=True, seed=training.seed, start_batch=start,
                num_batches=count),
            validation=validation,
            batches_per_pass=len(train_rows) // training.batch_size,
            example=train_rows[:1, :8],
            metrics=[keras.metrics.SparseCategoricalAccuracy(
                name="accuracy")])

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def predict_proba(self, texts):
        """Class probabilities, float32 `(len(texts), classes)`."""
        model = self.require_model()
        rows, _ = self.pack(texts)
        logits = np.concatenate([np.asarray(model(batch))
                                 for batch in self.batches(rows)])
        return np.asarray(keras.ops.softmax(logits, axis=-1))

    def predict_text(self, texts):
        """The label name of each text (one string for one string)."""
        single = isinstance(texts, str)
        best = self.predict_proba([texts] if single else texts).argmax(-1)
        labels = [self.label_names[i] for i in best]
        return labels[0] if single else labels

    def evaluate(self, data=None, data_dir=None, split="test", plot=None,
                 max_batches=None, verbose=0):
        """Accuracy, macro-F1, per-class precision/recall/F1 and the
        confusion matrix on the run's own `split` (re-read as the run read
        it), or on `data` (its test split if it has one, else all of it);
        `plot` is a path for the confusion matrix picture (PNG)."""
        from keras_lm.evaluation.classification import (evaluate_classifier,
                                                        plot_confusion_matrix)

        if data is None:
            texts = getattr(self.splits(data_dir), split)
        else:
            texts = self._labeled(data, data_dir)
        if not texts.texts:
            raise KerasLMError(f"the {split} split is empty; evaluate on "
                               "another split or other data")
        count = len(texts.texts)
        if max_batches:
            count = min(count, max_batches * PREDICT_BATCH)
        predicted = self.predict_proba(texts.texts[:count]).argmax(-1)
        scores = evaluate_classifier(texts.labels[:count], predicted,
                                     self.label_names)
        scores["split"] = split
        if plot:
            scores["confusion_matrix_plot"] = plot_confusion_matrix(
                scores, plot)
        return scores

    def _labeled(self, data, data_dir=None):
        """`data`'s own test split, or all of it when it has none (nothing
        is held out of data the run never trained on)."""
        splits = load_labeled_text(
            recorded_source(data), data_dir=data_dir,
            text_column=self.config["data"].get("text_column"),
            label_column=self.config["data"].get("label_column"),
            validation_fraction=0.0, test_fraction=0.0)
        if list(splits.label_names) != self.label_names:
            raise KerasLMError(f"{data} has labels "
                               f"{', '.join(splits.label_names)}; this "
                               f"classifier knows {', '.join(self.label_names)}")
        return splits.test if len(splits.test.texts) else splits.train

    def export(self, path):
        """A SavedModel with `serving_default(text) -> {label,
        probabilities}` and `embed(text) -> {embedding}` (see
        `keras_lm.serving.encoders.export_classifier`)."""
        from keras_lm.serving.encoders import export_classifier

        return export_classifier(self, path)


def _encoder_shape(pretrained, wanted, init):
    """The settings the classifier takes from the pre-trained encoder; a
    one-line error for one the user set otherwise (not left at the
    constructor's default)."""
    from keras_lm.runs import constructor_defaults
    from keras_lm.models import TextClassifier

    defaults = constructor_defaults(TextClassifier)
    shape = {k: pretrained[k] for k in ENCODER_SETTINGS if k in pretrained}
    shape["backbone"] = "transformer"
    for name, value in shape.items():
        given = wanted.get(name, value)
        if given != value and given != defaults.get(name, value):
            raise KerasLMError(
                f"{name}={given!r} does not fit the encoder of {init} "
                f"({name}={value!r}); leave it out, the classifier takes the "
                "encoder's shape")
    return shape


@dataclasses.dataclass
class PretrainedEncoder:
    """What a classifier takes from a pre-trained encoder."""

    model: keras.Model
    tokenizer: object
    model_config: dict


def load_encoder(path):
    """The pre-trained encoder at `path` (a masked-LM or classifier run,
    or a Hugging Face BERT folder), loaded; one line for anything else (a
    decoder run, say)."""
    from keras_lm.checkpoints.bert import is_bert_checkpoint, load_bert
    from keras_lm.runs import RunDirectory

    if is_bert_checkpoint(path):
        model, tokenizer, _ = load_bert(path)
        return PretrainedEncoder(model, tokenizer, model.get_config())
    run = RunDirectory(path).require()
    if not issubclass(run.task_class(), EncoderTask):
        raise KerasLMError(f"{run.path} is {a_run(run.family())}, not an "
                           "encoder; init needs a masked-LM (encoder) or "
                           "classifier run, or a BERT checkpoint folder")
    task = run.load()
    return PretrainedEncoder(task.model, task.tokenizer, task.model_config)
