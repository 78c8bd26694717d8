"""The contract every decoder-only language model in keras-lm fulfils.

A `CausalLM` is a `keras.Model` whose `call(token_ids)` returns next-token
logits of shape `(batch, time, vocab_size)` for training with `model.fit`, and
which can also advance one token at a time with an explicit cache, through
the decoder protocol that every decodable model shares (see
`keras_lm.generation.protocol`):

    context, cache = model.start_decoding(None, batch_size, max_length)
    logits, cache = model.decode_step(token_ids, cache, index, context)

A language model is conditioned on nothing but its prompt, so `context` is
`()`; a family supplies only `initial_cache(batch_size, max_length)` and
`decode_step`. The cache is a nested structure of batch-major tensors (the
recurrent state of an RNN, the keys and values of a Transformer) that is
*passed in and returned*, never kept in layer variables. That is what lets
one compiled sampling loop and one beam search (`keras_lm.generation`) and
one SavedModel export (`keras_lm.export`) serve every model, and it keeps
concurrent serving calls independent of each other.
"""

import keras


class CausalLM(keras.Model):
    """Base class of the decoder-only language models.

    Subclasses implement `call`, `initial_cache` and `decode_step`, and set
    `max_sequence_length` (None when the model has no context limit, as an
    RNN has none).
    """

    #: Longest sequence (prompt plus generated tokens) the model can attend
    #: over; None for recurrent models, whose state summarises any prefix.
    max_sequence_length = None
    #: A language model continues a prompt: no start token, no banned ids,
    #: and it stops only at a stop id the caller gives.
    decoding_start_id = None
    decoding_end_id = None
    decoding_banned_ids = ()

    def start_decoding(self, inputs, batch_size, max_length):
        """Returns `(context, cache)`: `()` (nothing conditions a language
        model but its prompt; `inputs` is ignored) and the empty cache for
        `batch_size` sequences of up to `max_length` tokens."""
        del inputs
        return (), self.initial_cache(batch_size, max_length)

    def initial_cache(self, batch_size, max_length):
        """Returns the empty cache for `batch_size` sequences of `max_length`."""
        raise NotImplementedError

    def decode_step(self, token_ids, cache, index, context=()):
        """Consumes `token_ids` (shape `(batch,)`) at position `index`.

        Returns `(logits, cache)`: float32 logits of shape
        `(batch, vocab_size)` for the next token, and the updated cache.
        `context` (from `start_decoding`) is `()` and unused.
        """
        raise NotImplementedError
