"""Sequence-to-sequence runs: train, translate, evaluate and export.

`train_seq2seq` trains a `keras_lm.models.Seq2Seq` with `model.fit` into a
run directory laid out like a language-model run (see `keras_lm.runs`):

    RUN_DIR/
      config.json          {"model": {"family": "seq2seq", "config": ...},
                            "tokenizer", "data", "training", "data_stats"}
      source_tokenizer/    tokenizer.json of the source side
      target_tokenizer/    tokenizer.json of the target side (START and END
                           are added after its vocabulary, see
                           `keras_lm.data.pairs.TargetSpecials`)
      checkpoints/         best.weights.h5, last.weights.h5, best.json
      backup/              CrashSafeBackupAndRestore state while training
      logs/                TensorBoard event files
      history.csv          loss, masked_accuracy, val_* per epoch
      model.keras          the finished model

Running `train_seq2seq` again on an interrupted run directory resumes it (the
backup restores weights, optimizer and epoch, and the training batches
restart exactly where the interrupted run would have continued); on a
finished one it does nothing.

Data. Pairs come from `keras_lm.data.pairs.load_pairs` (the embedded date
task by default, Anki `.txt`/`.zip`, `.jsonl`/`.csv`, or a tfds name), are
split into train/validation/test by source sentence (`split_pairs`;
deterministic by seed), and pairs longer than the caps are dropped. Counts of
skipped lines and length-filtered pairs are printed and kept in
config.json["data_stats"]. Length caps are in *tokens*:
`max_source_length` source tokens and `max_target_length` target tokens
(END comes on top, so decoding runs for at most `max_target_length + 1`
steps).

Translation (`translate`, the Python path) refuses a source longer than
`max_source_length` tokens with one `KerasLMError`; the exported SavedModel
instead *truncates* sources to their first `max_source_length` tokens (a
serving graph cannot raise a friendly error per row), and refuses empty
ones.
"""

import dataclasses
import functools
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_lm import runs
from keras_lm.data.pairs import (DATE_SOURCE, encode_pairs, load_pairs,
                                 pairs_dataset, split_pairs, target_specials,
                                 tfds_pair_features)
from keras_lm.data.text_sources import recorded_source
from keras_lm.errors import (KerasLMError, check_counts, check_dropout,
                             check_real)
from keras_lm.generation.beam_search import (_beam_loop, best_sequences,
                                             check_decoding)
from keras_lm.io_utils import atomic_directory
from keras_lm.models.seq2seq import ATTENTION_KINDS, Seq2Seq, compile_seq2seq
from keras_lm.serving import (default_export_path, is_saved_model,
                              serving_weights)
from keras_lm.tokenizers import TOKENIZER_KINDS, load_tokenizer, make_tokenizer
from keras_lm.training import callbacks as lm_callbacks
from keras_lm.training.distribute import check_global_batch, make_strategy
from keras_lm.training.optimizers import adam_classes
from keras_lm.training.trainer import epoch_steps, use_xla

FAMILY = "seq2seq"
SOURCE_TOKENIZER_DIR = "source_tokenizer"
TARGET_TOKENIZER_DIR = "target_tokenizer"
TASKS = ("translation", "summarization")
#: tfds names whose targets are summaries (ROUGE is their headline metric).
SUMMARIZATION_SOURCES = ("cnn_dailymail", "gigaword")
#: Rows per decoding call; the last chunk is padded to it, so one XLA
#: program serves every batch.
DECODE_BATCH = 64
END_LABEL = "</s>"


# ----------------------------------------------------------------------------
# Configuration


def task_of(source, task=None):
    """"translation" or "summarization": `task` if given, else by source."""
    if task is not None:
        if task not in TASKS:
            raise KerasLMError(f"unknown task {task!r}; choose one of "
                               f"{', '.join(TASKS)}")
        return task
    name = str(source or "").split(":")[0].split("/")[0]
    return "summarization" if name in SUMMARIZATION_SOURCES else "translation"


def _data_source(data):
    """The data source as recorded in config.json (absolute file paths, so
    evaluation works from any working directory)."""
    return DATE_SOURCE if data is None else recorded_source(data)


def _new_config(data, model_config, tokenizer, training):
    from keras_lm import __version__

    return {"keras_lm_version": __version__,
            "model": {"family": FAMILY, "config": model_config},
            "tokenizer": tokenizer, "data": data, "training": training}


def _check_same_run(saved, new, run_dir):
    """`runs.check_same_run` on the model settings that flags set."""
    model = {k: saved["model"]["config"].get(k) for k in new["model"]["config"]}
    runs.check_same_run({**saved, "model": {**new["model"], "config": model}},
                        new, run_dir)


# ----------------------------------------------------------------------------
# Data


@dataclasses.dataclass
class _Data:
    source: object   # PairSource
    splits: object   # PairSplits
    sampled_from: int = None  # pairs before the max_examples sample


def _load_data(data_config, data_dir=None):
    """Loads and splits the pairs a run's "data" section describes."""
    source = data_config["source"]
    max_examples = data_config.get("max_examples")
    seed = data_config.get("seed", 0)
    kwargs = dict(reverse=data_config.get("reverse", False),
                  source_column=data_config.get("source_column"),
                  target_column=data_config.get("target_column"),
                  data_dir=data_dir, seed=seed)
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
    splits = split_pairs(pairs, data_config.get("validation_fraction", 0.1),
                         data_config.get("test_fraction", 0.1), seed=seed)
    if not splits.validation:
        raise KerasLMError(f"{source!r} gave no validation pairs; raise the "
                           "validation fraction or use more pairs")
    return _Data(pairs, splits, sampled_from)


def _encode(pairs, source_tokenizer, target_tokenizer, data_config):
    return encode_pairs(pairs, source_tokenizer, target_tokenizer,
                        data_config["max_source_length"],
                        data_config["max_target_length"] + 1)


def _describe_stats(stats):
    parts = [f"{stats['loaded']} pairs loaded from {stats['source']}, "
             f"{stats['skipped_lines']} lines skipped"]
    if stats.get("sampled_from"):
        parts[0] += f" (sampled from {stats['sampled_from']})"
    for split in ("train", "validation", "test"):
        parts.append(f"{split} {stats[split]} "
                     f"(+{stats[split + '_filtered']} over the length caps)")
    return "; ".join(parts)


# ----------------------------------------------------------------------------
# Training


@dataclasses.dataclass
class TrainingResult:
    """What `train_seq2seq` did: `history` is None when the run directory
    already held this very run, finished; `stats` counts the pairs loaded,
    skipped and filtered per split."""

    run_dir: str
    history: object
    stats: dict


def train_seq2seq(run_dir, data=None, *, attention="additive",
                  bidirectional=False, tokenizer="subword",
                  source_vocab_size=4000, target_vocab_size=4000,
                  max_source_length=20, max_target_length=20,
                  embedding_dim=128, units=256, dropout=0.0, batch_size=64,
                  epochs=10, steps_per_epoch=None, validation_steps=None,
                  learning_rate=1e-3, clipnorm=1.0, seed=0, reverse=False,
                  data_dir=None, max_examples=None, task=None,
                  validation_fraction=0.1, test_fraction=0.1,
                  source_column=None, target_column=None,
                  early_stopping_patience=5, jit_compile=False,
                  steps_per_execution=1,
                  tokenizers=None, verbose="auto", callbacks=(),
                  strategy=None):
    """Trains an encoder-decoder on sentence pairs into `run_dir`.

    Args:
        run_dir: the run directory; an interrupted one is resumed, a
            finished one with the same settings is left alone.
        data: a pair source for `keras_lm.data.pairs.load_pairs` (None: the
            embedded date task).
        attention: "additive", "dot" or "none".
        bidirectional: bidirectional encoder.
        tokenizer: "subword", "word" or "char", used for both sides (each
            side learns its own vocabulary from its training text).
        source_vocab_size, target_vocab_size: word/subword vocabulary sizes
            (the target side gets START and END on top).
        max_source_length, max_target_length: length caps in tokens; longer
            pairs are dropped and counted.
        max_examples: use at most this many pairs (a seeded sample of a
            file; the first ones of each tfds split; the number of generated
            date pairs).
        task: "translation" or "summarization" (default: by data source);
            picks the headline metric of `evaluate_translation`.
        reverse: swap source and target (Anki files are English -> other).
        steps_per_epoch: batches per epoch (default: one pass).
        validation_steps: validation batches per epoch (default: all).
        jit_compile: compile the train step with XLA. Off by default: on
            CPU it costs about twice the compile time (tens of seconds) for
            no measurable gain per step with these LSTMs; decoding is always
            XLA-compiled.
        steps_per_execution: train steps per call into the compiled
            function (fewer Python round trips; helps most on TPUs).
        tokenizers: `(source_tokenizer, target_tokenizer)` to use instead
            of learning new ones (e.g. to compare models on one vocabulary);
            `tokenizer` and the vocabulary sizes are then only recorded.
        callbacks: extra Keras callbacks for `fit`.
        strategy: a `tf.distribute.Strategy` or a name from
            `keras_lm.training.distribute.STRATEGIES`; the model and
            optimizer are created under its scope and each global batch of
            `batch_size` pairs is split across its replicas.

    Returns:
        a `TrainingResult`.

    Example:

    >>> train_seq2seq("runs/dates", tokenizer="char", max_source_length=40,
    ...               max_target_length=10, epochs=2)   # doctest: +SKIP
    """
    if attention not in ATTENTION_KINDS:
        raise KerasLMError(f"unknown attention {attention!r}; choose one of "
                           f"{', '.join(ATTENTION_KINDS)}")
    if tokenizer not in TOKENIZER_KINDS:
        raise KerasLMError(f"unknown tokenizer {tokenizer!r}; known: "
                           f"{', '.join(TOKENIZER_KINDS)}")
    check_counts(batch_size=batch_size, epochs=epochs,
                 steps_per_epoch=steps_per_epoch,
                 validation_steps=validation_steps,
                 max_source_length=max_source_length,
                 max_target_length=max_target_length,
                 embedding_dim=embedding_dim, units=units,
                 max_examples=max_examples,
                 steps_per_execution=steps_per_execution)
    check_dropout(dropout)
    check_real("--learning-rate", learning_rate, 0.0, open_low=True)

    source = _data_source(data)
    data_config = {
        "source": source, "reverse": bool(reverse),
        "max_examples": max_examples, "seed": seed,
        "source_column": source_column, "target_column": target_column,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "max_source_length": max_source_length,
        "max_target_length": max_target_length,
        "task": task_of(source, task),
    }
    architecture = {"embedding_dim": embedding_dim, "units": units,
                    "attention": attention,
                    "bidirectional": bool(bidirectional),
                    "dropout": float(dropout)}
    tokenizer_config = {
        "kind": tokenizer,
        "source_vocab_size": None if tokenizer == "char" else
        source_vocab_size,
        "target_vocab_size": None if tokenizer == "char" else
        target_vocab_size}
    training = {"batch_size": batch_size, "epochs": epochs,
                "steps_per_epoch": steps_per_epoch,
                "validation_steps": validation_steps,
                "learning_rate": learning_rate, "clipnorm": clipnorm,
                "seed": seed,
                "early_stopping_patience": early_stopping_patience}
    new_config = _new_config(data_config, architecture, tokenizer_config,
                             training)

    run = runs.RunDirectory(run_dir).require_trainable()
    if run.exists():
        if run.family() != FAMILY:
            raise KerasLMError(f"{run.path} holds a {run.family()} run, not "
                               "a seq2seq one; pass a new --out")
        saved = run.read_config()
        _check_same_run(saved, new_config, run.path)
        if saved.get("finished"):
            return TrainingResult(run.path, None, saved.get("data_stats", {}))
        source_tokenizer, target_tokenizer = _load_tokenizers(run.path)
        config = saved
    else:
        config = None

    loaded = _load_data(data_config, data_dir)
    splits = loaded.splits
    if config is None and tokenizers is not None:
        source_tokenizer, target_tokenizer = tokenizers
    elif config is None:
        source_tokenizer = make_tokenizer(
            tokenizer, "\n".join(s for s, _ in splits.train),
            tokenizer_config["source_vocab_size"])
        target_tokenizer = make_tokenizer(
            tokenizer, "\n".join(t for _, t in splits.train),
            tokenizer_config["target_vocab_size"])
    encoded = {name: _encode(getattr(splits, name), source_tokenizer,
                             target_tokenizer, data_config)
               for name in ("train", "validation", "test")}
    stats = {"source": loaded.source.name, "loaded": len(loaded.source.pairs)
             + sum(len(p) for k, p in (loaded.source.splits or {}).items()
                   if k != "train"),
             "skipped_lines": loaded.source.skipped,
             "sampled_from": loaded.sampled_from}
    for name, enc in encoded.items():
        stats[name] = len(enc)
        stats[name + "_filtered"] = enc.num_filtered
    if verbose:
        print(f"data: {_describe_stats(stats)}")
    train_pairs, val_pairs = encoded["train"], encoded["validation"]
    if len(train_pairs) < batch_size:
        raise KerasLMError(
            f"only {len(train_pairs)} training pairs fit the length caps "
            f"({stats['train_filtered']} were longer), fewer than one batch "
            f"of {batch_size}; raise --max-source-length/--max-target-length "
            "or lower --batch-size")
    if not len(val_pairs):
        raise KerasLMError("no validation pair fits the length caps; raise "
                           "--max-source-length/--max-target-length")

    if config is None:
        specials = target_specials(target_tokenizer)
        model_config = {"source_vocab_size": source_tokenizer.vocab_size,
                        "target_vocab_size": specials.vocab_size,
                        **architecture, "start_id": specials.start_id,
                        "end_id": specials.end_id}
        config = {**new_config, "model": {"family": FAMILY,
                                          "config": model_config}}
    config["data_stats"] = stats

    strategy = make_strategy(strategy)
    check_global_batch(strategy, batch_size)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = Seq2Seq.from_config(config["model"]["config"])
        model((train_pairs.source_ids[:1], train_pairs.decoder_input_ids[:1]))
        adam, _ = adam_classes(strategy.num_replicas_in_sync)
        compile_seq2seq(model, optimizer=adam(learning_rate, clipnorm=clipnorm),
                        jit_compile=jit_compile and use_xla(strategy),
                        steps_per_execution=steps_per_execution)
    steps = epoch_steps(steps_per_epoch, len(train_pairs) // batch_size,
                        steps_per_execution)

    if not run.exists():
        os.makedirs(run.path, exist_ok=True)
        for folder, tok in ((SOURCE_TOKENIZER_DIR, source_tokenizer),
                            (TARGET_TOKENIZER_DIR, target_tokenizer)):
            os.makedirs(os.path.join(run.path, folder), exist_ok=True)
            tok.save(os.path.join(run.path, folder))
    run.write_config(config)

    initial_epoch = lm_callbacks.read_backup_epoch(run.backup_dir)
    train_ds = pairs_dataset(train_pairs, batch_size, shuffle=True, seed=seed,
                             start_batch=initial_epoch * steps,
                             num_batches=(epochs - initial_epoch) * steps)
    val_ds = pairs_dataset(val_pairs, batch_size, drop_remainder=False)
    if validation_steps:
        val_ds = val_ds.take(validation_steps)

    all_callbacks = lm_callbacks.run_callbacks(run, early_stopping_patience,
                                               extra=callbacks)
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps,
                        validation_data=val_ds, callbacks=all_callbacks,
                        verbose=verbose, shuffle=False)
    run.finish(model, config)
    return TrainingResult(run.path, history, stats)


# ----------------------------------------------------------------------------
# Loading and translating


@dataclasses.dataclass
class Translator:
    """A trained seq2seq model with its tokenizers and length caps."""

    model: Seq2Seq
    source_tokenizer: object
    target_tokenizer: object
    config: dict
    run_dir: str = None

    @property
    def max_source_length(self):
        return self.config["data"]["max_source_length"]

    @property
    def max_target_length(self):
        return self.config["data"]["max_target_length"]

    @property
    def specials(self):
        return target_specials(self.target_tokenizer)


def _load_tokenizers(run_dir):
    return tuple(load_tokenizer(os.path.join(run_dir, folder))
                 for folder in (SOURCE_TOKENIZER_DIR, TARGET_TOKENIZER_DIR))


def load_translator(run_dir, which="best"):
    """Loads a seq2seq run directory's `which` checkpoint as a `Translator`.

    Example:

    >>> translator = load_translator("runs/dates")   # doctest: +SKIP
    """
    run = runs.RunDirectory(run_dir).require()
    if run.family() != FAMILY:
        raise KerasLMError(f"{run.path} is a {run.family()} language-model "
                           "run, not a seq2seq run")
    config = run.read_config()
    source_tokenizer, target_tokenizer = _load_tokenizers(run.path)
    model = Seq2Seq.from_config(config["model"]["config"])
    specials = target_specials(target_tokenizer)
    if (model.source_vocab_size != source_tokenizer.vocab_size
            or model.target_vocab_size != specials.vocab_size):
        raise KerasLMError(f"{run.path}: the model's vocabularies do not "
                           "match its tokenizers; the run is inconsistent")
    model((np.ones((1, 2), "int32"), np.ones((1, 2), "int32")))
    weights = run.weights_path(which)
    if weights is None:
        raise KerasLMError(f"{run.path} has no checkpoint yet; train it first "
                           f"(`keras-lm train seq2seq ... --out {run.path}`)")
    runs.load_weights_checked(model, weights)
    return Translator(model, source_tokenizer, target_tokenizer, config,
                      run.path)


def _as_translator(run_dir_or_model):
    if isinstance(run_dir_or_model, Translator):
        return run_dir_or_model
    if isinstance(run_dir_or_model, (str, os.PathLike)):
        return load_translator(run_dir_or_model)
    raise KerasLMError("pass a seq2seq run directory or a Translator from "
                       "load_translator()")


def _source_ids(translator, texts):
    """int32 `(len(texts), max_source_length)`; one error for a source that
    is empty or longer than the cap."""
    cap = translator.max_source_length
    ids = np.zeros([len(texts), cap], np.int32)
    for row, text in enumerate(texts):
        if not isinstance(text, str):
            raise KerasLMError(f"source {row + 1} is not a string: {text!r}")
        tokens = translator.source_tokenizer.encode(text)
        if not tokens:
            raise KerasLMError(f"source {row + 1} is empty; give some text")
        if len(tokens) > cap:
            raise KerasLMError(
                f"source {row + 1} has {len(tokens)} tokens, more than the "
                f"model's max_source_length of {cap}; shorten or split it")
        ids[row, :len(tokens)] = tokens
    return ids


def _decode_ids(model, source_ids, beam_width, max_length, length_penalty,
                batch_size=DECODE_BATCH):
    """Best sequence per row, `(n, max_length)`, decoding in chunks of
    `batch_size` rows; a smaller batch is padded up to a power of two, so
    XLA compiles a handful of programs, not one per batch size."""
    n = len(source_ids)
    chunk = min(batch_size, 1 << max(n - 1, 0).bit_length())  # 1, 2, 4, ..
    out = []
    for start in range(0, n, chunk):
        part = source_ids[start:start + chunk]
        real = len(part)
        if real < chunk:
            part = np.concatenate(
                [part, np.zeros((chunk - real, part.shape[1]), np.int32)])
        sequences = best_sequences(model, part, beam_width, max_length,
                                   length_penalty)
        out.append(sequences.numpy()[:real])
    if not out:
        return np.zeros((0, max_length), np.int32)
    return np.concatenate(out)


def translate(run_dir_or_model, texts, beam_width=4, length_penalty=0.6,
              max_length=None, batch_size=DECODE_BATCH):
    """Translates (or summarizes) `texts` with beam search.

    Args:
        run_dir_or_model: a seq2seq run directory or a `Translator`.
        texts: a string or a list of strings.
        beam_width: hypotheses kept per source (1 decodes greedily).
        length_penalty: GNMT alpha (0 ranks by log-probability alone).
        max_length: target tokens to generate at most, END included
            (default: the run's `max_target_length + 1`).

    Returns:
        a list of strings (a string for a string input).

    Raises:
        KerasLMError: beam width < 1, or a source that is empty or longer
            than the run's `max_source_length` tokens.

    Example:

    >>> translate("runs/dates", "3rd of March 2021")   # doctest: +SKIP
    '2021-03-03'
    """
    check_decoding(beam_width, max_length, length_penalty)
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    translator = _as_translator(run_dir_or_model)
    max_length = max_length or translator.max_target_length + 1
    ids = _source_ids(translator, texts)
    sequences = _decode_ids(translator.model, ids, int(beam_width),
                            int(max_length), length_penalty, batch_size)
    specials = translator.specials
    outputs = [specials.decode(translator.target_tokenizer, row)
               for row in sequences]
    return outputs[0] if single else outputs


def _token_label(tokenizer, token_id):
    text = tokenizer.decode([int(token_id)])
    return text.replace("\n", "\\n") if text.strip() else repr(text)


def translate_with_attention(run_dir_or_model, text, beam_width=4,
                             length_penalty=0.6, max_length=None):
    """Translates one text and returns what the decoder attended to.

    The translation comes from beam search; its attention weights are those
    the decoder computes when it is fed that very translation (attention
    comes after the decoder LSTM, so teacher forcing reproduces the decoding
    steps exactly).

    Returns:
        `(translation, weights, source_labels, target_labels)`, `weights`
        of shape `(len(target_labels), len(source_labels))`; the last target
        label is `</s>` when the translation ended with END.
    """
    check_decoding(beam_width, max_length, length_penalty)
    translator = _as_translator(run_dir_or_model)
    model, specials = translator.model, translator.specials
    max_length = max_length or translator.max_target_length + 1
    ids = _source_ids(translator, [text])
    row = _decode_ids(model, ids, int(beam_width), int(max_length),
                      length_penalty)[0]
    produced = []
    for token in row.tolist():
        if token == 0:
            break
        produced.append(token)
        if token == specials.end_id:
            break
    decoder_inputs = np.asarray([[specials.start_id] + produced[:-1]],
                                np.int32)
    weights = model.attention_weights((ids, decoder_inputs)).numpy()[0]
    tokens = [t for t in ids[0].tolist() if t]
    source_labels = [_token_label(translator.source_tokenizer, t)
                     for t in tokens]
    target_labels = [END_LABEL if t == specials.end_id else
                     _token_label(translator.target_tokenizer, t)
                     for t in produced]
    translation = specials.decode(translator.target_tokenizer, row)
    return (translation, weights[:len(target_labels), :len(tokens)],
            source_labels, target_labels)


def plot_translation_attention(run_dir_or_model, text, path, beam_width=4,
                               length_penalty=0.6, max_length=None):
    """Translates `text` and writes its attention heatmap to `path`, labelled
    with the source and generated tokens. Returns the translation."""
    from keras_lm.evaluation.attention_plot import plot_attention

    translator = _as_translator(run_dir_or_model)
    if translator.model.attention == "none":
        raise KerasLMError("this model has no attention (attention='none'); "
                           "train with --attention additive or dot to plot it")
    translation, weights, source_labels, target_labels = \
        translate_with_attention(translator, text, beam_width,
                                 length_penalty, max_length)
    title = f"{text[:40]} -> {translation[:40]}".replace("$", r"\$")
    plot_attention(weights, source_labels, target_labels, path, title=title)
    return translation


# ----------------------------------------------------------------------------
# Evaluation


def evaluate_translation(run_dir, data=None, *, beam_width=4,
                         length_penalty=0.6, max_pairs=None, data_dir=None,
                         task=None, batch_size=DECODE_BATCH, verbose=0):
    """Scores a seq2seq run's best checkpoint on held-out pairs.

    The pairs are the run's own test split (re-derived from config.json:
    same source, seed and fractions), or, with `data`, the test split of a
    tfds source or every pair of a file. Pairs over the run's length caps
    are left out (counted in `filtered`); `max_pairs` keeps the first ones.

    Returns a dict: `task`, `pairs`, `filtered`, `loss` and `token_accuracy`
    (teacher-forced, padding masked), `bleu` (sacreBLEU corpus BLEU, 0-100),
    `rouge1`/`rouge2`/`rougeL` (F-measures, 0-1), `exact_match` (0-1),
    `headline` (the name of the metric that matters for the task: "bleu"
    for translation, "rougeL" for summarization), `beam_width`,
    `translations_per_second` (decoding only, batches of `batch_size`,
    compilation excluded) and `examples` (three `(source, reference,
    hypothesis)` triples).
    """
    from keras_lm.evaluation.translation_metrics import translation_metrics

    check_decoding(beam_width, None, length_penalty)
    check_counts(max_pairs=max_pairs)
    translator = load_translator(run_dir)
    config = translator.config
    data_config = dict(config["data"])
    if data is None:
        pairs = _load_data(data_config, data_dir).splits.test
        if not pairs:
            raise KerasLMError(f"{run_dir} has no test split (test fraction "
                               "0); pass --data")
    else:
        data_config["source"] = _data_source(data)
        data_config["max_examples"] = None
        source = load_pairs(data_config["source"],
                            reverse=data_config.get("reverse", False),
                            source_column=data_config.get("source_column"),
                            target_column=data_config.get("target_column"),
                            data_dir=data_dir)
        pairs = (source.splits or {}).get("test") or source.pairs
    task = task_of(data_config["source"], task or (
        config["data"].get("task") if data is None else None))

    cap_s, cap_t = translator.max_source_length, translator.max_target_length
    kept, filtered = [], 0
    for source_text, target_text in pairs:
        s = translator.source_tokenizer.encode(source_text)
        t = translator.target_tokenizer.encode(target_text)
        if not s or not t or len(s) > cap_s or len(t) > cap_t:
            filtered += 1
        else:
            kept.append((source_text, target_text))
    if max_pairs:
        kept = kept[:max_pairs]
    if not kept:
        raise KerasLMError(f"no evaluation pair fits the run's length caps "
                           f"({filtered} filtered)")
    encoded = encode_pairs(kept, translator.source_tokenizer,
                           translator.target_tokenizer, cap_s, cap_t + 1)
    model = translator.model
    compile_seq2seq(model, jit_compile=False)
    loss, accuracy = model.evaluate(
        pairs_dataset(encoded, batch_size, drop_remainder=False),
                                    verbose=verbose)
    # One chunk first, so the timing below leaves XLA compilation out.
    _decode_ids(model, encoded.source_ids[:batch_size], int(beam_width),
                cap_t + 1, length_penalty, batch_size)
    start = time.perf_counter()
    sequences = _decode_ids(model, encoded.source_ids, int(beam_width),
                            cap_t + 1, length_penalty, batch_size)
    seconds = time.perf_counter() - start
    specials = translator.specials
    hypotheses = [specials.decode(translator.target_tokenizer, row)
                  for row in sequences]
    references = [t for _, t in kept]
    metrics = translation_metrics(hypotheses, references)
    return {"task": task, "pairs": len(kept), "filtered": filtered,
            "loss": float(loss), "token_accuracy": float(accuracy),
            **metrics,
            "headline": "rougeL" if task == "summarization" else "bleu",
            "beam_width": int(beam_width),
            "translations_per_second": len(kept) / max(seconds, 1e-9),
            "examples": [(s, r, h) for (s, r), h in
                         zip(kept[:3], hypotheses[:3])]}


# ----------------------------------------------------------------------------
# SavedModel export

_TEXT = tf.TensorSpec([None], tf.string, name="text")
_ALPHA = tf.TensorSpec([], tf.float32, name="length_penalty")


def _beam_with_weights(model, beam_width, max_length, weights, source_ids,
                       alpha):
    """Beam search reading the weights from `weights` (tensors in
    `model.weights` order), never from Keras variables; see
    `keras_lm.generation.loop._decode_loop` for why."""
    with keras.StatelessScope(state_mapping=list(zip(model.weights, weights))):
        sequences, _, _ = _beam_loop(model, source_ids, alpha, beam_width,
                                     max_length)
    return sequences[:, 0]


class TranslatorModule(tf.Module):
    """A `tf.Module` that translates raw strings: source tokenizer, encoder,
    in-graph beam search (XLA) and target detokenizer in one graph."""

    def __init__(self, model, source_tokenizer, target_tokenizer,
                 max_source_length, max_length, beam_width=4,
                 length_penalty=0.6):
        super().__init__()
        # A partial is not trackable, so the Keras variables stay out of the
        # SavedModel; `serving_weights` (unique names) are what is saved and
        # what the compiled search reads, so TF1 sessions can restore them.
        self._search = functools.partial(tf.function(
            functools.partial(_beam_with_weights, model, int(beam_width),
                              int(max_length)),
            jit_compile=True, autograph=False))
        self.serving_weights = serving_weights(model)
        self.source_tokenizer = source_tokenizer.graph_module()
        self.target_tokenizer = target_tokenizer.graph_module()
        specials = target_specials(target_tokenizer)
        self._target_vocab = specials.tokenizer_vocab_size
        self._end_id = specials.end_id
        self._max_source_length = int(max_source_length)
        self._length_penalty = float(length_penalty)

    def _translate(self, text, length_penalty):
        ragged = self.source_tokenizer.encode(text)
        check = tf.debugging.assert_positive(
            ragged.row_lengths(), message="every text must be non-empty")
        with tf.control_dependencies([check]):
            # Documented truncation: longer sources keep their first tokens.
            ids = tf.cast(ragged.to_tensor(
                default_value=0, shape=[None, self._max_source_length]),
                tf.int32)
        best = self._search([tf.convert_to_tensor(w)
                             for w in self.serving_weights], ids,
                            length_penalty)
        # Drop END, whatever follows it, and any non-tokenizer id.
        ended = tf.cumsum(tf.cast(best == self._end_id, tf.int32), axis=1) > 0
        best = tf.where(ended | (best >= self._target_vocab), 0, best)
        return {"translation": self.target_tokenizer.decode(best)}

    @tf.function(input_signature=[_TEXT])
    def serving_default(self, text):
        return self._translate(text, tf.constant(self._length_penalty))

    @tf.function(input_signature=[_TEXT, _ALPHA])
    def translate(self, text, length_penalty):
        return self._translate(text, length_penalty)


def export_translator(run_dir, path=None, beam_width=4, length_penalty=0.6,
                      max_length=None):
    """Writes a SavedModel of a seq2seq run to `path`, atomically.

    `path` defaults to `saved_models/<run directory name>`. Signatures:
    `serving_default(text)` and `translate(text, length_penalty)`, each
    returning `{"translation": tf.string}`; `beam_width` and `max_length`
    are fixed at export. Sources longer than the run's
    `max_source_length` tokens are truncated to it; empty ones fail. A
    subword export needs `import tensorflow_text` before loading it.

    Example:

    >>> export_translator("runs/dates")   # doctest: +SKIP
    >>> loaded = tf.saved_model.load("saved_models/dates")
    >>> loaded.signatures["serving_default"](text=tf.constant(["3 May 2001"]))
    {'translation': <tf.Tensor: ... [b'2001-05-03']>}
    """
    check_decoding(beam_width, max_length, length_penalty)
    translator = load_translator(run_dir)
    max_length = max_length or translator.max_target_length + 1
    module = TranslatorModule(
        translator.model, translator.source_tokenizer,
        translator.target_tokenizer, translator.max_source_length,
        max_length, beam_width, length_penalty)
    signatures = {
        "serving_default": module.serving_default.get_concrete_function(),
        "translate": module.translate.get_concrete_function(),
    }
    path = path or default_export_path(run_dir)
    info = {"family": FAMILY, "beam_width": int(beam_width),
            "length_penalty": float(length_penalty),
            "max_length": int(max_length),
            "max_source_length": translator.max_source_length,
            "source_tokenizer": translator.source_tokenizer.kind,
            "target_tokenizer": translator.target_tokenizer.kind,
            "needs_tensorflow_text": "subword" in (
                translator.source_tokenizer.kind,
                translator.target_tokenizer.kind)}
    with atomic_directory(path, is_saved_model, "SavedModel") as tmp:
        tf.saved_model.save(module, tmp, signatures=signatures)
        # The whole folder appears atomically, so a plain write suffices.
        with open(os.path.join(tmp, "keras_lm_translator.json"), "w") as f:
            json.dump(info, f, indent=2)
    return os.path.abspath(path)
