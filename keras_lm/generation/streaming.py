"""Streaming: new tokens (or text) handed out as they are generated.

The compiled loop returns only when it is done, so a stream runs it in
chunks of `chunk_tokens` new tokens. Each chunk is one call of
`generate_ids` on the text so far: the prompt and the tokens already
streamed are prefilled in one causal pass, then `chunk_tokens` steps run.
Every call of one stream has the same buffer length (`buffer_length`), so
one compiled program serves them all; and the sampler's seed for a position
depends on that position only, so a stream gives exactly the tokens of one
`generate_ids` call with the same seed. What streaming costs is one prefill
per chunk; `benchmarks/README.md` gives the measured tokens per second.
"""

from keras_lm.errors import check_int
from keras_lm.generation.loop import generate_ids
from keras_lm.generation.text import completion_text, cut_at_stop

#: New tokens per compiled call of a stream.
CHUNK_TOKENS = 16


def stream_ids(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=0,
               top_p=1.0, seed=0, stop_token_ids=(),
               chunk_tokens=CHUNK_TOKENS):
    """Yields the new ids of one prompt (a list of ids) in lists of up to
    `chunk_tokens`, ending at the first id of `stop_token_ids` (left out)
    or after `max_new_tokens`.

    >>> from keras_lm.models import GRUGenerator
    >>> model = GRUGenerator(vocab_size=10, embedding_dim=8, rnn_units=16)
    >>> chunks = list(stream_ids(model, [1, 2], 5, chunk_tokens=2))
    >>> [len(chunk) for chunk in chunks]
    [2, 2, 1]
    """
    check_int("chunk_tokens", chunk_tokens, 1)
    ids, stops = list(prompt_ids), list(stop_token_ids)
    buffer_length = len(ids) + max_new_tokens
    produced = 0
    while produced < max_new_tokens:
        count = min(chunk_tokens, max_new_tokens - produced)
        new = generate_ids(model, [ids], [len(ids)], count, temperature,
                           top_k, top_p, seed, stop_token_ids=stops,
                           buffer_length=buffer_length).numpy()[0].tolist()
        kept = cut_at_stop(new, stops)
        if kept:
            yield kept
        if len(kept) < len(new):
            return
        ids += new
        produced += count


def stream_text(model, tokenizer, prompt, prompt_ids, max_new_tokens,
                **options):
    """Yields the text that follows `prompt` (encoded as `prompt_ids`)
    piece by piece, as `stream_ids` (same `options`) makes its tokens.

    A piece never ends inside a character: text whose last bytes do not yet
    make a whole UTF-8 character (an emoji split over two tokens) waits for
    the next chunk.
    """
    new_ids, sent = [], ""
    for chunk in stream_ids(model, prompt_ids, max_new_tokens, **options):
        new_ids += chunk
        text = completion_text(tokenizer, prompt, prompt_ids, new_ids)
        if text.endswith("\ufffd"):
            continue
        if text.startswith(sent) and len(text) > len(sent):
            yield text[len(sent):]
            sent = text
    text = completion_text(tokenizer, prompt, prompt_ids, new_ids)
    if text.startswith(sent) and len(text) > len(sent):
        yield text[len(sent):]
