"""Text in, text out: the Python face of the compiled decoding loops."""

import numpy as np

from keras_lm.errors import KerasLMError, check_int, check_real
from keras_lm.generation.loop import BUCKET, generate_ids
from keras_lm.generation.sampling import check_sampling_knobs


def check_sampling_args(max_new_tokens, temperature, top_k, top_p, seed=0,
                        beam_width=1, length_penalty=0.0):
    """`check_sampling_knobs`, and the token count and beam-search knobs."""
    check_int("max_new_tokens", max_new_tokens, 1)
    check_sampling_knobs(temperature, top_k, top_p, seed)
    check_int("beam_width", beam_width, 1, hint=" (1 samples)")
    check_real("length_penalty", length_penalty)


def encode_prompts(tokenizer, prompts):
    """Encodes prompts into a right-padded id matrix and their lengths.

    The width is rounded up to `BUCKET`, so prompts of similar length share
    one compiled program.
    """
    encoded = [tokenizer.encode_prompt(p) for p in prompts]
    for prompt, ids in zip(prompts, encoded):
        if not ids:
            raise KerasLMError(f"prompt {prompt!r} is empty after tokenizing; "
                               "give at least one character")
    width = -(-max(len(ids) for ids in encoded) // BUCKET) * BUCKET
    matrix = np.zeros((len(encoded), width), dtype=np.int32)
    for row, ids in enumerate(encoded):
        matrix[row, :len(ids)] = ids
    return matrix, np.array([len(ids) for ids in encoded], dtype=np.int32)


def stop_ids(tokenizer, stop=(), stop_token_ids=None):
    """The ids generation stops at: `stop_token_ids` (by default the
    tokenizer's `default_stop_ids()`, e.g. its end-of-text id) and the id
    of each stop string in `stop` (a string or a list; each one token).

    >>> from keras_lm.tokenizers import CharTokenizer
    >>> tokenizer = CharTokenizer.from_text("ab.")
    >>> stop_ids(tokenizer, ".") == [tokenizer.encode(".")[0]]
    True
    """
    if stop_token_ids is None:
        stop_token_ids = tokenizer.default_stop_ids()
    elif isinstance(stop_token_ids, int):
        stop_token_ids = [stop_token_ids]
    for token_id in stop_token_ids:
        check_int("stop token id", token_id, 0)
    stop = [stop] if isinstance(stop, str) else list(stop or ())
    return list(stop_token_ids) + [tokenizer.stop_id(text) for text in stop]


def cut_at_stop(new_ids, stops):
    """`new_ids` up to (not including) the first id in `stops`."""
    for position, token_id in enumerate(new_ids):
        if token_id in stops:
            return new_ids[:position]
    return new_ids


def generate_text(model, tokenizer, prompts, max_new_tokens=200,
                  temperature=1.0, top_k=0, top_p=1.0, seed=0, beam_width=1,
                  length_penalty=0.0, stop=(), stop_token_ids=None):
    """Continues each prompt and returns prompt + continuation strings.

    `beam_width > 1` runs beam search (GNMT `length_penalty`) instead of
    sampling, and ignores `temperature`, `top_k`, `top_p` and `seed`.

    A row ends at its first stop token, which is left out of the text: the
    ids in `stop_token_ids` (by default the tokenizer's end-of-text id, when
    it has one; `[]` for none) and the stop strings in `stop` (each one
    token, e.g. `"\n"` for a character model). The call returns as soon as
    every row has stopped.

    Example:

    >>> model, tokenizer, _ = keras_lm.runs.load_run("runs/gru")  # doctest: +SKIP
    >>> generate_text(model, tokenizer, ["ROMEO:"], 50, temperature=0.8)  # doctest: +SKIP
    ['ROMEO:\\nWhat say you...']
    """
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    if not prompts:
        raise KerasLMError("give at least one prompt")
    check_sampling_args(max_new_tokens, temperature, top_k, top_p, seed,
                        beam_width, length_penalty)
    stops = stop_ids(tokenizer, stop, stop_token_ids)
    max_length = model.max_sequence_length
    ids, lengths = encode_prompts(tokenizer, prompts)
    if max_length is not None and lengths.max() + max_new_tokens > max_length:
        raise KerasLMError(
            f"prompt ({lengths.max()} tokens) plus max_new_tokens "
            f"({max_new_tokens}) exceeds the model's context of {max_length} "
            "tokens; shorten the prompt or ask for fewer tokens")
    new_ids = generate_ids(model, ids, lengths, max_new_tokens, temperature,
                           top_k, top_p, seed, beam_width=beam_width,
                           length_penalty=length_penalty,
                           stop_token_ids=stops).numpy()
    texts = [prompt + completion_text(tokenizer, prompt, row[:n].tolist(),
                                      cut_at_stop(new.tolist(), stops))
             for prompt, row, n, new in zip(prompts, ids, lengths, new_ids)]
    return texts[0] if single else texts


def completion_text(tokenizer, prompt, prompt_ids, new_ids):
    """The text that `new_ids` add after `prompt` (encoded as `prompt_ids`).

    Decoding the two together and cutting off the prompt's own text lets the
    tokenizer's joining rules apply at the boundary: a word tokenizer puts a
    space between two words but none before a comma, which decoding
    `new_ids` alone cannot know. When the prompt itself ends in whitespace
    that its tokens dropped, that whitespace already separates, and the
    joining space is left out.

    >>> from keras_lm.tokenizers import WordTokenizer
    >>> tokenizer = WordTokenizer.from_text("to be or not to be, that is it")
    >>> new = tokenizer.encode("to be,")
    >>> completion_text(tokenizer, "or not", tokenizer.encode("or not"), new)
    ' to be,'
    >>> completion_text(tokenizer, "or not ", tokenizer.encode("or not"), new)
    'to be,'
    """
    before = tokenizer.decode(prompt_ids)
    both = tokenizer.decode(list(prompt_ids) + list(new_ids))
    if both.startswith(before):
        rest = both[len(before):]
    else:  # the joining rules rewrote the end of the prompt
        rest = tokenizer.decode(new_ids)
    if (prompt[-1:].isspace() and not before[-1:].isspace()
            and rest.startswith(" ")):
        rest = rest[1:]
    return rest
