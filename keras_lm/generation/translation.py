"""Text in, text out for sequence-to-sequence models: `Translator`.

A `Translator` holds a trained `Seq2Seq`, its two tokenizers and the run's
length caps, and decodes with the shared loops of `keras_lm.generation`
(beam search, greedy, or sampling) in chunks of `DECODE_BATCH` rows.
"""

import dataclasses

import numpy as np

from keras_lm.errors import KerasLMError
from keras_lm.generation.beam_search import best_sequences, check_decoding
from keras_lm.generation.seq2seq import (generated_attention,
                                         sample_sequences)
from keras_lm.tokenizers import target_specials

#: Rows per decoding call; the last chunk is padded to it, so one XLA
#: program serves every batch.
DECODE_BATCH = 64
END_LABEL = "</s>"


@dataclasses.dataclass
class Translator:
    """A trained seq2seq model with its tokenizers and length caps (read
    from `config`, a run's config.json).

    Example:

    >>> translator = RunDirectory("runs/dates").load().translator()  # doctest: +SKIP
    >>> translator.translate("3rd of March 2021")                   # doctest: +SKIP
    '2021-03-03'
    """

    model: object
    source_tokenizer: object
    target_tokenizer: object
    config: dict

    @property
    def max_source_length(self):
        return self.config["data"]["max_source_length"]

    @property
    def max_target_length(self):
        return self.config["data"]["max_target_length"]

    @property
    def specials(self):
        return target_specials(self.target_tokenizer)

    def source_ids(self, texts):
        """int32 `(len(texts), max_source_length)`; one error for a source
        that is empty or longer than the cap."""
        cap = self.max_source_length
        ids = np.zeros([len(texts), cap], np.int32)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                raise KerasLMError(f"source {row + 1} is not a string: "
                                   f"{text!r}")
            tokens = self.source_tokenizer.encode(text)
            if not tokens:
                raise KerasLMError(f"source {row + 1} is empty; give some "
                                   "text")
            if len(tokens) > cap:
                raise KerasLMError(
                    f"source {row + 1} has {len(tokens)} tokens, more than "
                    f"the model's max_source_length of {cap}; shorten or "
                    "split it")
            ids[row, :len(tokens)] = tokens
        return ids

    def decode_ids(self, source_ids, beam_width=4, max_length=None,
                   length_penalty=0.6, batch_size=DECODE_BATCH,
                   temperature=None, top_k=0, top_p=1.0, seed=0):
        """Target ids per row, `(n, max_length)`: the best beam, or with a
        `temperature` a sample (0: greedy). Decodes in chunks of
        `batch_size` rows; a smaller batch is padded up to a power of two,
        so XLA compiles a handful of programs, not one per size."""
        max_length = int(max_length or self.max_target_length + 1)
        n = len(source_ids)
        chunk = min(batch_size, 1 << max(n - 1, 0).bit_length())
        out = []
        for start in range(0, n, chunk):
            part = source_ids[start:start + chunk]
            real = len(part)
            if real < chunk:
                part = np.concatenate(
                    [part, np.zeros((chunk - real, part.shape[1]), np.int32)])
            if temperature is None:
                rows = best_sequences(self.model, part, int(beam_width),
                                      max_length, length_penalty)
            else:
                rows = sample_sequences(self.model, part, max_length,
                                        temperature, top_k, top_p,
                                        seed + start)
            out.append(np.asarray(rows)[:real])
        if not out:
            return np.zeros((0, max_length), np.int32)
        return np.concatenate(out)

    def translate(self, texts, beam_width=None, length_penalty=0.6,
                  max_length=None, batch_size=DECODE_BATCH, temperature=None,
                  top_k=0, top_p=1.0, seed=0):
        """Translates (or summarizes) `texts` with beam search, or samples
        a translation when a `temperature` is given.

        Args:
            texts: a string or a list of strings.
            beam_width: hypotheses kept per source (default 4; 1 decodes
                greedily).
            length_penalty: GNMT alpha (0 ranks by log-probability alone).
            max_length: target tokens to generate at most, END included
                (default: the run's `max_target_length + 1`).
            temperature: sample at this temperature instead of searching
                (0 is greedy); `top_k`, `top_p` and `seed` then apply.

        Returns:
            a list of strings (a string for a string input).
        """
        if temperature is not None and beam_width not in (None, 1):
            raise KerasLMError("give a beam width or a temperature, not both "
                               "(sampling draws one translation)")
        beam_width = 4 if beam_width is None else beam_width
        check_decoding(beam_width, max_length, length_penalty)
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        rows = self.decode_ids(self.source_ids(texts), beam_width, max_length,
                               length_penalty, batch_size, temperature,
                               top_k, top_p, seed)
        outputs = [self.specials.decode(self.target_tokenizer, row)
                   for row in rows]
        return outputs[0] if single else outputs

    def token_label(self, tokenizer, token_id):
        text = tokenizer.decode([int(token_id)])
        return text.replace("\n", "\\n") if text.strip() else repr(text)

    def translate_with_attention(self, text, beam_width=4, length_penalty=0.6,
                                 max_length=None):
        """Translates one text and returns what the decoder attended to.

        The translation comes from beam search, its attention weights from
        `keras_lm.generation.seq2seq.generated_attention`.

        Returns:
            `(translation, weights, source_labels, target_labels)`, `weights`
            of shape `(len(target_labels), len(source_labels))`; the last
            target label is `</s>` when the translation ended with END.
        """
        if self.model.attention == "none":
            raise KerasLMError("this model has no attention (attention="
                               "'none'); train with attention 'additive' or "
                               "'dot' to see it")
        check_decoding(beam_width, max_length, length_penalty)
        specials = self.specials
        ids = self.source_ids([text])
        row = self.decode_ids(ids, beam_width, max_length, length_penalty)[0]
        produced = [t for t in row.tolist() if t]  # END, then padding (0)
        weights = np.asarray(generated_attention(self.model, ids,
                                                 row[None]))[0]
        tokens = [t for t in ids[0].tolist() if t]
        source_labels = [self.token_label(self.source_tokenizer, t)
                         for t in tokens]
        target_labels = [END_LABEL if t == specials.end_id else
                         self.token_label(self.target_tokenizer, t)
                         for t in produced]
        translation = specials.decode(self.target_tokenizer, row)
        return (translation, weights[:len(target_labels), :len(tokens)],
                source_labels, target_labels)
