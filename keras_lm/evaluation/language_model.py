"""Scores of a trained language model on held-out text.

Per-token loss is not comparable across tokenizers (a word carries more
information than a character), so besides loss and per-token perplexity this
reports perplexity per word and bits per character, which are.
"""

import math

import keras

from keras_lm import runs
from keras_lm.data import language_model_dataset, load_text_corpus
from keras_lm.errors import check_int
from keras_lm.training.trainer import TrainingConfig, encode_corpus


def _count_words(text):
    return max(len(text.split()), 1)


def evaluate_run(run_dir, data=None, data_dir=None, max_batches=None,
                 verbose=0):
    """Evaluates a run directory's best checkpoint on validation text.

    The validation text is that of `data`, or of the run's own data source
    when `data` is None. Text is laid out as in training (streams for a
    stateful RNN, whose state then carries across windows).

    Returns a dict: loss (nats per token), perplexity (per token),
    perplexity_per_word, bits_per_character, tokens, characters,
    unknown_tokens.

    Example:

    >>> evaluate_run("runs/gru")["bits_per_character"]   # doctest: +SKIP
    2.31
    """
    if max_batches is not None:
        check_int("--max-batches", max_batches, 1)
    run = runs.RunDirectory(run_dir).require()
    config = run.read_config()
    training = TrainingConfig(**config["training"])
    model, tokenizer, _ = runs.load_run(
        run_dir, stateful=training.stateful,
        batch_size=training.batch_size if training.stateful else 1)
    corpus = load_text_corpus(data or config["data"]["source"],
                              training.validation_fraction, data_dir)
    text = corpus.validation
    ids = encode_corpus(tokenizer, text)
    dataset, layout = language_model_dataset(
        ids, training.seq_len, training.batch_size,
        stateful=training.stateful, shuffle=False, what="validation text")
    batches = layout.batches_per_pass
    if max_batches:
        batches = min(batches, max_batches)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), jit_compile=True)
    if training.stateful:
        model.reset_rnn_states()
    loss = float(model.evaluate(dataset.take(batches), verbose=verbose))
    tokens = batches * training.batch_size * training.seq_len
    # The windows cover a prefix-sized share of the text; scale counts to it.
    covered = tokens / max(len(ids), 1)
    characters = len(text) * covered
    words = _count_words(text) * covered
    nats = loss * tokens
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "perplexity_per_word": math.exp(nats / words),
        "bits_per_character": nats / (characters * math.log(2.0)),
        "tokens": tokens,
        "characters": int(characters),
        "unknown_tokens": int((ids == tokenizer.unk_id).sum()),
    }
