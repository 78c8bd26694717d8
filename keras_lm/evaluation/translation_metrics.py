"""Metrics for generated sequences: BLEU, ROUGE and exact match.

The corpus-level scores compare detokenized strings, so they mean the same
for any tokenizer: BLEU is sacrebleu's corpus BLEU (0-100, its standard
"13a" tokenization), ROUGE-1/2/L are rouge-score F-measures (0-1) averaged
over sentences. rouge-score's default tokenizer lowercases and keeps only
ASCII letters and digits, so it suits English targets (summaries, Spanish ->
English) better than accented ones.

The per-token metric a sequence-to-sequence model trains with
(`MaskedTokenAccuracy`) is in `keras_lm.training.metrics`: a saved model's
compile config names it, and models and training come before evaluation.
"""

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
