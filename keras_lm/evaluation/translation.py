"""Scores of a sequence-to-sequence model on held-out pairs: BLEU, ROUGE,
exact match, and teacher-forced loss and token accuracy."""

import time

from keras_lm.data.pair_dataset import encode_pairs, pairs_dataset
from keras_lm.errors import KerasLMError, check_counts
from keras_lm.evaluation.translation_metrics import translation_metrics
from keras_lm.generation.beam_search import check_decoding
from keras_lm.generation.translation import DECODE_BATCH
from keras_lm.models.seq2seq import masked_loss
from keras_lm.training.metrics import MaskedTokenAccuracy


def evaluate_translation(translator, pairs, *, task="translation",
                         beam_width=4, length_penalty=0.6, max_pairs=None,
                         batch_size=DECODE_BATCH, verbose=0):
    """Scores a `Translator` on `(source, reference)` pairs.

    Pairs over the translator's length caps are left out (counted in
    `filtered`); `max_pairs` keeps the first ones.

    Returns a dict: `task`, `pairs`, `filtered`, `loss` and `token_accuracy`
    (teacher-forced, padding masked), `bleu` (sacreBLEU corpus BLEU, 0-100),
    `rouge1`/`rouge2`/`rougeL` (F-measures, 0-1), `exact_match` (0-1),
    `headline` (the metric that matters for the task: "bleu" for
    translation, "rougeL" for summarization), `beam_width`,
    `translations_per_second` (decoding only, batches of `batch_size`,
    compilation excluded) and `examples` (three `(source, reference,
    hypothesis)` triples).

    Example:

    >>> RunDirectory("runs/dates").load().evaluate()["bleu"]  # doctest: +SKIP
    98.7
    """
    check_decoding(beam_width, None, length_penalty)
    check_counts(max_pairs=max_pairs)
    cap_s, cap_t = translator.max_source_length, translator.max_target_length
    encoded = encode_pairs(pairs, translator.source_tokenizer,
                           translator.target_tokenizer, cap_s, cap_t + 1)
    filtered = encoded.num_filtered
    kept = [pairs[i] for i in encoded.kept][:max_pairs]
    if not kept:
        raise KerasLMError(f"no evaluation pair fits the run's length caps "
                           f"({filtered} filtered)")
    if len(kept) < len(encoded):
        encoded = encode_pairs(kept, translator.source_tokenizer,
                               translator.target_tokenizer, cap_s, cap_t + 1)
    model = translator.model
    model.compile(loss=masked_loss(), metrics=[MaskedTokenAccuracy()])
    loss, accuracy = model.evaluate(
        pairs_dataset(encoded, batch_size, drop_remainder=False),
        verbose=verbose)
    decode = dict(beam_width=beam_width, max_length=cap_t + 1,
                  length_penalty=length_penalty, batch_size=batch_size)
    # One chunk first, so the timing below leaves XLA compilation out.
    translator.decode_ids(encoded.source_ids[:batch_size], **decode)
    start = time.perf_counter()
    sequences = translator.decode_ids(encoded.source_ids, **decode)
    seconds = time.perf_counter() - start
    hypotheses = [translator.specials.decode(translator.target_tokenizer, row)
                  for row in sequences]
    references = [t for _, t in kept]
    return {"task": task, "pairs": len(kept), "filtered": filtered,
            "loss": float(loss), "token_accuracy": float(accuracy),
            **translation_metrics(hypotheses, references),
            "headline": "rougeL" if task == "summarization" else "bleu",
            "beam_width": int(beam_width),
            "translations_per_second": len(kept) / max(seconds, 1e-9),
            "examples": [(s, r, h) for (s, r), h in
                         zip(kept[:3], hypotheses[:3])]}
