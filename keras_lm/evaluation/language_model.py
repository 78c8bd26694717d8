"""Scores of a trained language model on held-out text.

Per-token loss is not comparable across tokenizers (a word carries more
information than a character), so besides loss and per-token perplexity this
reports perplexity per word and bits per character, which are.
"""

import math

from keras_lm.data import language_model_dataset
from keras_lm.errors import check_int


def _evaluation_model(task, training):
    """The task's model, or for a stateful RNN its stateful twin (same
    weights) at the training batch size, whose state carries across the
    validation windows as it did in training."""
    if not training.stateful:
        return task.require_model()
    model = task.build_model(stateful=True)
    model(task.example_inputs(training.batch_size))
    model.set_weights(task.require_model().get_weights())
    return model


def evaluate_language_model(task, data=None, data_dir=None, max_batches=None,
                            verbose=0):
    """Evaluates a causal-LM task's model on validation text.

    The validation text is that of `data`, or of the run's own data source
    when `data` is None. Text is laid out as in training (streams for a
    stateful RNN, whose state then carries across windows).

    Returns a dict: loss (nats per token), perplexity (per token),
    perplexity_per_word, bits_per_character, tokens, characters,
    unknown_tokens.

    Example:

    >>> task = RunDirectory("runs/gru").load()              # doctest: +SKIP
    >>> task.evaluate()["bits_per_character"]               # doctest: +SKIP
    2.31
    """
    if max_batches is not None:
        check_int("max_batches", max_batches, 1)
    training = task.training()
    text = task.corpus(data_dir, source=data).validation
    ids = task.encode(text)
    dataset, layout = language_model_dataset(
        ids, training.seq_len, training.batch_size,
        stateful=training.stateful, shuffle=False, what="validation text")
    batches = layout.batches_per_pass
    if max_batches:
        batches = min(batches, max_batches)
    model = _evaluation_model(task, training)
    model.compile(loss=task.loss(), jit_compile=True)
    if training.stateful:
        model.reset_rnn_states()
    loss = float(model.evaluate(dataset.take(batches), verbose=verbose))
    tokens = batches * training.batch_size * training.seq_len
    # The windows cover a prefix-sized share of the text; scale counts to it.
    covered = tokens / max(len(ids), 1)
    characters = len(text) * covered
    words = max(len(text.split()), 1) * covered
    nats = loss * tokens
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "perplexity_per_word": math.exp(nats / words),
        "bits_per_character": nats / (characters * math.log(2.0)),
        "tokens": tokens,
        "characters": int(characters),
        "unknown_tokens": int((ids == task.tokenizer.unk_id).sum()),
    }
