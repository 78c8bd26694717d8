"""Metrics for generated sequences: BLEU, ROUGE, exact match, token accuracy.

The corpus-level scores compare detokenized strings, so they mean the same
for any tokenizer: BLEU is sacrebleu's corpus BLEU (0-100, its standard
"13a" tokenization), ROUGE-1/2/L are rouge-score F-measures (0-1) averaged
over sentences. rouge-score's default tokenizer lowercases and keeps only
ASCII letters and digits, so it suits English targets (summaries, Spanish ->
English) better than accented ones.
"""

import keras
from keras import ops

from keras_lm.errors import KerasLMError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def _check(hypotheses, references):
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise KerasLMError(f"{len(hypotheses)} hypotheses but "
                           f"{len(references)} references; pass one each")
    if not hypotheses:
        raise KerasLMError("no sentences to score")
    return hypotheses, references


def corpus_bleu(hypotheses, references):
    """Corpus BLEU (0-100) of `hypotheses` against one reference each.

    Example:

    >>> round(corpus_bleu(["the cat sat on the mat"],
    ...                   ["the cat sat on the mat"]), 1)
    100.0
    """
    import sacrebleu

    hypotheses, references = _check(hypotheses, references)
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def rouge_scores(hypotheses, references, use_stemmer=False):
    """Mean ROUGE-1/2/L F-measures: `{"rouge1": .., "rouge2": .., "rougeL": ..}`.
    """
    from rouge_score import rouge_scorer

    hypotheses, references = _check(hypotheses, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES),
                                      use_stemmer=use_stemmer)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for hypothesis, reference in zip(hypotheses, references):
        scores = scorer.score(reference, hypothesis)  # (target, prediction)
        for key in ROUGE_TYPES:
            totals[key] += scores[key].fmeasure
    return {key: value / len(hypotheses) for key, value in totals.items()}


def exact_match(hypotheses, references):
    """Fraction of hypotheses equal to their reference (after `strip()`)."""
    hypotheses, references = _check(hypotheses, references)
    hits = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references))
    return hits / len(hypotheses)


def translation_metrics(hypotheses, references):
    """BLEU, ROUGE-1/2/L and exact match in one dict."""
    metrics = {"bleu": corpus_bleu(hypotheses, references),
               "exact_match": exact_match(hypotheses, references)}
    metrics.update(rouge_scores(hypotheses, references))
    return metrics


def masked_token_accuracy(y_true, y_pred, pad_id=0):
    """Accuracy of argmax(`y_pred`) over the positions where `y_true` is not
    padding, for one batch (as a Keras metric use `MaskedTokenAccuracy`).

    `y_true` int `(batch, T)`, `y_pred` logits `(batch, T, vocab)`.
    """
    hits, tokens = _hits_and_tokens(y_true, y_pred, pad_id)
    return hits / ops.maximum(tokens, 1.0)


def _hits_and_tokens(y_true, y_pred, pad_id):
    """How many non-padding positions argmax(`y_pred`) gets right, and how
    many non-padding positions there are (float32 scalars)."""
    y_true = ops.cast(y_true, "int32")
    predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
    mask = ops.cast(ops.not_equal(y_true, pad_id), "float32")
    hits = ops.cast(ops.equal(predicted, y_true), "float32") * mask
    return ops.sum(hits), ops.sum(mask)


@keras.saving.register_keras_serializable(package="keras_lm")
class MaskedTokenAccuracy(keras.metrics.Metric):
    """Running `masked_token_accuracy` over batches (counts hits and real
    tokens, so long and short batches weigh by their tokens)."""

    def __init__(self, pad_id=0, name="masked_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.hits = self.add_variable(shape=(), initializer="zeros",
                                      name="hits")
        self.tokens = self.add_variable(shape=(), initializer="zeros",
                                        name="tokens")

    def update_state(self, y_true, y_pred, sample_weight=None):
        del sample_weight  # padding is the only weighting
        hits, tokens = _hits_and_tokens(y_true, y_pred, self.pad_id)
        self.hits.assign_add(hits)
        self.tokens.assign_add(tokens)

    def result(self):
        return self.hits / ops.maximum(self.tokens, 1.0)

    def reset_state(self):
        self.hits.assign(0.0)
        self.tokens.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
