"""The contract every decoder-only language model in keras-lm fulfils.

A `CausalLM` is a `keras.Model` whose `call(token_ids)` returns next-token
logits `(batch, time, vocab_size)` for `model.fit`, and which advances one
token at a time through the decoder protocol of every decodable model
(`keras_lm.generation.protocol`). Nothing but its prompt conditions a
language model, so a family supplies only `initial_cache(batch_size,
max_length)` and `decode_step`; the cache (an RNN's state, a Transformer's
keys and values) is passed in and returned, never kept in layer variables.
"""

import keras


class CausalLM(keras.Model):
    """Base class of the decoder-only language models: subclasses implement
    `call`, `initial_cache` and `decode_step`."""

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
