"""`train()`: from a data source to a trained run directory with `model.fit`.

The same function backs `keras-lm train`, `keras-lm finetune` and the Python
API. Running it again on an interrupted run directory resumes it: the
`CrashSafeBackupAndRestore` backup restores weights, optimizer and epoch, and
the data pipeline restarts at exactly the batch the interrupted run would
have read next, so the resumed run ends with the same weights as an
uninterrupted one. (Early stopping is the exception: Keras' `EarlyStopping`
forgets its patience count across a restart, so a resumed run may stop an
epoch or two later than an uninterrupted one would have.)
"""

import dataclasses
import math
import os

import keras
import numpy as np
import tensorflow as tf

from keras_lm import runs
from keras_lm.data import language_model_dataset, load_text_corpus
from keras_lm.data.text_sources import recorded_source
from keras_lm.errors import (INT32_MAX, KerasLMError, check_counts, check_int,
                             check_real)
from keras_lm.tokenizers import make_tokenizer
from keras_lm.training import callbacks as lm_callbacks
from keras_lm.training import optimizers
from keras_lm.training.distribute import check_global_batch, make_strategy
from keras_lm.training.metrics import language_model_metrics


@dataclasses.dataclass
class TrainingConfig:
    """How to train; most fields are `keras-lm train` flags (not
    `final_learning_rate_ratio`, `clipnorm` and `validation_fraction`)."""

    seq_len: int = 100
    batch_size: int = 64
    epochs: int = 10
    #: Batches per epoch; None means one pass over the training text.
    steps_per_epoch: int | None = None
    #: Validation batches per epoch (at most one pass over validation text).
    validation_steps: int = 50
    learning_rate: float = 2e-3
    warmup_steps: int = 0
    #: Cosine decay ends at learning_rate * final_learning_rate_ratio.
    final_learning_rate_ratio: float = 0.1
    weight_decay: float = 0.0
    #: Adam's first-moment decay. Below Keras' 0.9 the update follows the
    #: latest gradients more closely: on nanoGPT's 2000-step tiny Shakespeare
    #: run 0.7 is worth about 0.02 in validation loss (benchmarks/README.md).
    beta_1: float = 0.9
    #: Validate, checkpoint and end with an exponential moving average of
    #: the weights at this momentum (0: off; 0.99 gained 0.005-0.009 in
    #: validation loss on nanoGPT's 2000-step run). Training itself and the
    #: crash backup keep the raw weights (see `callbacks.AveragedWeights`).
    ema_momentum: float = 0.0
    clipnorm: float = 1.0
    stateful: bool = False
    seed: int = 0
    early_stopping_patience: int = 5
    steps_per_execution: int = 1
    validation_fraction: float = 0.1
    #: Start each training window at a uniformly random position instead of
    #: on a shuffled grid (see `keras_lm.data.language_model_dataset`).
    random_offsets: bool = False

    def steps_per_call(self):
        """Train steps per call into the compiled function: one for a
        stateful RNN, whose streams are reset from Python between batches."""
        return 1 if self.stateful else self.steps_per_execution

    def check(self):
        """One-line errors for out-of-range fields (NaN included); returns
        self."""
        def flag(name):
            return "--" + name.replace("_", "-")

        check_counts(**{name: getattr(self, name) for name in (
            "seq_len", "batch_size", "epochs", "steps_per_epoch",
            "validation_steps", "steps_per_execution")})
        for name in ("warmup_steps", "early_stopping_patience"):
            check_int(flag(name), getattr(self, name), 0)
        check_int("--seed", self.seed, -INT32_MAX - 1)
        check_real("--learning-rate", self.learning_rate, 0.0, open_low=True)
        for name in ("beta_1", "ema_momentum"):
            check_real(flag(name), getattr(self, name), 0.0, 1.0,
                       open_high=True)
        for name in ("weight_decay", "clipnorm", "final_learning_rate_ratio"):
            check_real(flag(name), getattr(self, name) or 0.0, 0.0)
        return self


def epoch_steps(steps_per_epoch, batches_per_pass, steps_per_execution):
    """Train steps per epoch: `steps_per_epoch`, or one pass over the data
    rounded down to whole executions of `steps_per_execution` steps.

    Keras always runs whole executions, so 200 steps an epoch at 16 per
    execution would train 208, and the epochs, the learning-rate schedule and
    a resumed run's place in the data would drift from those planned.

    >>> epoch_steps(None, 100, 16)
    96
    """
    if steps_per_epoch:
        if steps_per_epoch % steps_per_execution:
            raise KerasLMError(
                f"--steps-per-epoch {steps_per_epoch} is not a multiple of "
                f"--steps-per-execution {steps_per_execution} (Keras runs "
                "whole executions); make it one")
        return steps_per_epoch
    steps = batches_per_pass - batches_per_pass % steps_per_execution
    if not steps:
        raise KerasLMError(
            f"one pass over the training data is {batches_per_pass} "
            f"batches, fewer than --steps-per-execution "
            f"{steps_per_execution}; lower it")
    return steps


def learning_rate_schedule(config, total_steps):
    """Linear warm-up to `learning_rate`, then cosine decay."""
    decay_steps = max(total_steps - config.warmup_steps, 1)
    if config.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=decay_steps,
            alpha=config.final_learning_rate_ratio,
            warmup_target=config.learning_rate,
            warmup_steps=config.warmup_steps)
    return keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps,
        alpha=config.final_learning_rate_ratio)


def make_optimizer(config, total_steps, replicas=1, model=None):
    """Adam, or AdamW when `weight_decay` is set, with the LR schedule.

    Both take `config.beta_1`; AdamW takes nanoGPT's beta2 of 0.99, Adam
    keeps Keras' 0.999 (the recurrent models' long-standing default). With
    `config.ema_momentum` both keep a moving average of the weights
    (`use_ema`), which `fit` copies into the model when it ends.

    AdamW decays only the matrices (kernels and embeddings), not biases or
    LayerNorm scales and offsets, as GPT-2 and nanoGPT do: decaying a
    LayerNorm scale towards zero fights the normalisation (on nanoGPT's
    tiny Shakespeare run it cost 0.015 in validation loss, see
    benchmarks/README.md). The 1-D variables of `model` (once built) are
    excluded, and any variable named like a bias or a LayerNorm parameter.

    Across several replicas the variants that all-reduce dense gradients are
    used (see `keras_lm.training.optimizers`).
    """
    schedule = learning_rate_schedule(config, total_steps)
    adam, adamw = optimizers.adam_classes(replicas)
    common = dict(beta_1=config.beta_1, clipnorm=config.clipnorm,
                  use_ema=bool(config.ema_momentum),
                  ema_momentum=config.ema_momentum or 0.99)
    if not config.weight_decay:
        return adam(schedule, **common)
    optimizer = adamw(schedule, weight_decay=config.weight_decay, beta_2=0.99,
                      **common)
    vectors = [v for v in (model.trainable_variables if model else [])
               if len(v.shape) < 2]
    optimizer.exclude_from_weight_decay(
        var_list=vectors, var_names=["bias", "gamma", "beta"])
    return optimizer


def use_xla(strategy=None):
    """XLA for the train step, except across several CPU/GPU replicas.

    Keras' "auto" leaves XLA off on the CPU, so it is set explicitly. A
    mirrored multi-device step cannot be one XLA program (each replica's
    variables live on its own device); TPUStrategy compiles with XLA anyway.
    """
    strategy = strategy or tf.distribute.get_strategy()
    return strategy.num_replicas_in_sync == 1


def compile_model(model, config, total_steps, chars_per_token=1.0,
                  jit_compile=True):
    """Compiles a language model for `fit`: `make_optimizer`'s (Adam)W with
    the warm-up/decay schedule over `total_steps`, cross-entropy on logits,
    perplexity and bits per character (`chars_per_token` converts)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    model.compile(
        optimizer=make_optimizer(config, total_steps, replicas, model),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=language_model_metrics(chars_per_token),
        jit_compile=jit_compile,
        steps_per_execution=config.steps_per_call(),
    )


def _build_and_compile(config, training, train_ids, val_ids, corpus,
                       init_from, freeze_embeddings):
    """Builds, (re)loads and compiles the model; call under a strategy scope.
    Returns `(model, steps per epoch, train layout, validation layout)`."""
    model = runs.build_model(config["model"])
    context = model.max_sequence_length
    if context is not None and training.seq_len > context:
        raise KerasLMError(
            f"--seq-len {training.seq_len} is longer than the model's context "
            f"(--max-sequence-length {context}); lower one or raise the other")
    probe, layout = language_model_dataset(
        train_ids, training.seq_len, training.batch_size,
        stateful=training.stateful, num_batches=1, what="training text")
    _, val_layout = language_model_dataset(
        val_ids, training.seq_len, training.batch_size,
        stateful=training.stateful, num_batches=1, what="validation text")
    steps = epoch_steps(training.steps_per_epoch, layout.batches_per_pass,
                        training.steps_per_call())
    total_steps = steps * training.epochs
    per_token = chars_per_token(corpus.train, train_ids)
    model(next(iter(probe))[0])  # build: BackupAndRestore needs the weights
    if init_from:
        runs.load_weights_checked(model, init_from[0])
        if freeze_embeddings:
            token_embedding(model).trainable = False
    compile_model(model, training, total_steps, per_token,
                  jit_compile=use_xla())
    return model, steps, layout, val_layout


def new_run_config(family, data, model_config, training, tokenizer_kind,
                   vocab_size):
    """The config.json of a new run directory (see `keras_lm.runs`);
    `training` is a `TrainingConfig`, `data` the source as given."""
    from keras_lm import __version__

    return {
        "keras_lm_version": __version__,
        "model": {"family": family, "config": model_config},
        "tokenizer": {"kind": tokenizer_kind, "vocab_size": vocab_size},
        "data": {"source": recorded_source(data)},
        "training": dataclasses.asdict(training),
    }


def _check_same_run(saved, new, run_dir):
    """`runs.check_same_run` after bringing configs of older runs up to date
    (a relative data path, a training field added since)."""
    saved = dict(saved)
    if "data" in saved:
        saved["data"] = {**saved["data"],
                         "source": recorded_source(saved["data"]["source"])}
    if "training" in saved:
        saved["training"] = dataclasses.asdict(
            TrainingConfig(**saved["training"]))
    runs.check_same_run(saved, new, run_dir)


def token_embedding(model):
    """The token embedding layer of any keras-lm language model."""
    for name in ("embedding", "token_embedding"):
        if hasattr(model, name):
            return getattr(model, name)
    raise KerasLMError(f"{type(model).__name__} has no token embedding to "
                       "freeze")


def encode_corpus(tokenizer, text):
    """`text` as an int32 array of token ids."""
    return np.asarray(tokenizer.encode(text), dtype=np.int32)


def chars_per_token(text, ids):
    """Characters per token of `text` encoded as `ids` (for bits/char)."""
    return len(text) / max(len(ids), 1)


def train(family, run_dir, *, data=None, model_config=None, training=None,
          tokenizer="char", vocab_size=None, data_dir=None, verbose="auto",
          init_from=None, freeze_embeddings=False, callbacks=(),
          strategy=None):
    """Trains a model of `family` ("gru", ...) into `run_dir`.

    Args:
        family: a key of `keras_lm.models.FAMILIES`.
        run_dir: the run directory; an interrupted one is resumed.
        data: text source (see `keras_lm.data.load_text_corpus`).
        model_config: constructor arguments of the model (vocab_size is
            filled in from the tokenizer).
        training: a `TrainingConfig`.
        tokenizer: tokenizer kind ("char", "word", "subword").
        vocab_size: vocabulary size for word/subword tokenizers.
        data_dir: tfds data directory.
        init_from: `(weights_path, tokenizer)` to fine-tune from.
        freeze_embeddings: with `init_from`, keep the embedding fixed.
        callbacks: extra Keras callbacks for `fit`.
        strategy: a `tf.distribute.Strategy` or a name from
            `keras_lm.training.distribute.STRATEGIES`; the model, optimizer
            and metrics are created under its scope and each global batch of
            `training.batch_size` is split across its replicas.

    Returns:
        The `keras.callbacks.History` of this call's `fit`, or None when
        `run_dir` already holds this very run, finished (nothing to do).

    Example:

    >>> train("gru", "runs/demo", training=TrainingConfig(
    ...     epochs=1, steps_per_epoch=5, batch_size=8))   # doctest: +SKIP
    """
    training = (training or TrainingConfig()).check()
    run = runs.RunDirectory(run_dir).require_trainable()
    corpus = load_text_corpus(data, training.validation_fraction, data_dir)
    if run.exists():
        saved = run.require_language_model().read_config()
        text_tokenizer = run.tokenizer()
        config = dict(saved)
        _check_same_run(saved, new_run_config(
            family, data, {**saved["model"]["config"], **(model_config or {})},
            training, init_from[1].kind if init_from else tokenizer,
            vocab_size), run.path)
        if saved.get("finished"):
            return None  # the same command again: nothing left to do
    else:
        text_tokenizer = (init_from[1] if init_from else
                          make_tokenizer(tokenizer, corpus.train, vocab_size))
        full_model_config = {**(model_config or {}),
                             "vocab_size": text_tokenizer.vocab_size}
        config = new_run_config(family, data, full_model_config, training,
                                 text_tokenizer.kind, vocab_size)
        if init_from:
            config["finetuned_from"] = os.path.abspath(init_from[0])

    strategy = make_strategy(strategy)
    check_global_batch(strategy, training.batch_size, training.stateful)
    train_ids = encode_corpus(text_tokenizer, corpus.train)
    val_ids = encode_corpus(text_tokenizer, corpus.validation)
    keras.utils.set_random_seed(training.seed)
    with strategy.scope():
        model, steps, layout, val_layout = _build_and_compile(
            config, training, train_ids, val_ids, corpus, init_from,
            freeze_embeddings)

    if not run.exists():
        os.makedirs(run.path, exist_ok=True)
        text_tokenizer.save(run.path)
        run.write_config(config)

    initial_epoch = lm_callbacks.read_backup_epoch(run.backup_dir)
    train_ds, _ = language_model_dataset(
        train_ids, training.seq_len, training.batch_size,
        stateful=training.stateful, seed=training.seed,
        random_offsets=training.random_offsets,
        start_batch=initial_epoch * steps,
        num_batches=(training.epochs - initial_epoch) * steps)
    val_batches = min(training.validation_steps, val_layout.batches_per_pass)
    val_ds, _ = language_model_dataset(
        val_ids, training.seq_len, training.batch_size,
        stateful=training.stateful, shuffle=False, num_batches=val_batches)

    stream_resets = ([lm_callbacks.ResetStatesAtStreamStart(
        layout.batches_per_pass, steps)] if training.stateful else [])
    callbacks = lm_callbacks.run_callbacks(
        run, training.early_stopping_patience, extra=callbacks,
        before_backup=stream_resets)
    history = model.fit(train_ds, epochs=training.epochs, steps_per_epoch=steps,
                        validation_data=val_ds, callbacks=callbacks,
                        verbose=verbose, shuffle=False)
    run.finish(model, config)
    return history


def finetune(source_run, out, *, data, training=None, freeze_embeddings=False,
             max_unknown_fraction=0.005, data_dir=None, verbose="auto",
             strategy=None):
    """Continues training `source_run` on new text, into a new run `out`.

    The new run keeps the source's model config and tokenizer; text that the
    tokenizer cannot represent (more than `max_unknown_fraction` unknown
    tokens) is refused rather than silently changing the vocabulary. The
    source run directory is only read. `training` defaults to the source
    run's own training config (for an imported GPT-2, a fine-tuning recipe).

    Example:

    >>> finetune("runs/pretrained", "runs/shakespeare",
    ...          data="shakespeare.txt")   # doctest: +SKIP
    """
    source = runs.RunDirectory(source_run).require_language_model()
    if os.path.abspath(out) == source.path:
        raise KerasLMError("--out must differ from the source run directory "
                           "(fine-tuning never modifies the source run)")
    weights = source.weights_path()
    if weights is None:
        raise KerasLMError(f"{source.path} has no checkpoint to fine-tune")
    config = source.read_config()
    tokenizer = source.tokenizer()
    if data is None:
        raise KerasLMError("fine-tuning needs --data (the new text)")
    training = training or TrainingConfig(**config["training"])
    corpus = load_text_corpus(data, training.validation_fraction, data_dir)
    ids = encode_corpus(tokenizer, corpus.train)
    unknown = float((ids == tokenizer.unk_id).mean()) if len(ids) else 0.0
    if unknown > max_unknown_fraction:
        raise KerasLMError(
            f"{unknown:.1%} of the new text's tokens are unknown to the "
            f"{tokenizer.kind} tokenizer of {source.path}; it cannot represent "
            "this text (train a new run instead)")
    model_config = dict(config["model"]["config"])
    model_config.pop("vocab_size")
    return train(config["model"]["family"], out, data=data,
                 model_config=model_config, training=training,
                 data_dir=data_dir, verbose=verbose,
                 init_from=(weights, tokenizer),
                 freeze_embeddings=freeze_embeddings, strategy=strategy)


def describe_history(history):
    """The last epoch's metrics as `name=value` pairs, for printing."""
    if not history.history:
        return ""
    last = {k: v[-1] for k, v in history.history.items()}
    return "  ".join(f"{k}={v:.4f}" for k, v in sorted(last.items())
                     if isinstance(v, float) and math.isfinite(v))
