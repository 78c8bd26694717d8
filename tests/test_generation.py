"""The one compiled sampling loop: correctness, reproducibility, knobs."""

import numpy as np
import pytest
import tensorflow as tf

from keras_lm.generation import (compiled_decode_loop, generate_ids,
                                 generate_text, truncate_logits)
from keras_lm.errors import KerasLMError
from keras_lm.models import GRUGenerator
from keras_lm.tokenizers import CharTokenizer


@pytest.fixture(scope="module")
def model():
    model = GRUGenerator(vocab_size=30, embedding_dim=8, rnn_units=32,
                         num_layers=2)
    model(np.zeros((1, 1), "int32"))
    return model


def naive_greedy(model, prompt, steps):
    """Re-runs the whole prefix for every token: slow but obviously right."""
    tokens = list(prompt)
    for _ in range(steps):
        logits = model(np.array([tokens], "int32"))[0, -1].numpy()
        tokens.append(int(np.argmax(logits)))
    return tokens[len(prompt):]


def test_greedy_matches_rerunning_the_prefix(model):
    new = generate_ids(model, [[3, 4, 5]], [3], 12, temperature=0.0)
    assert new.numpy()[0].tolist() == naive_greedy(model, [3, 4, 5], 12)


def test_prompts_of_different_lengths_in_one_batch(model):
    batch = generate_ids(model, [[3, 4, 5, 6], [7, 8, 0, 0]], [4, 2], 10,
                         temperature=0.0).numpy()
    assert batch[0].tolist() == naive_greedy(model, [3, 4, 5, 6], 10)
    assert batch[1].tolist() == naive_greedy(model, [7, 8], 10)


def test_same_seed_same_text_other_seed_other_text(model):
    def sample(seed):
        return generate_ids(model, [[1, 2]], [2], 40, temperature=1.5,
                            seed=seed).numpy()
    np.testing.assert_array_equal(sample(7), sample(7))
    assert not np.array_equal(sample(7), sample(8))


def test_top_k_one_and_tiny_top_p_are_greedy(model):
    greedy = generate_ids(model, [[1, 2]], [2], 15, temperature=0.0).numpy()
    top1 = generate_ids(model, [[1, 2]], [2], 15, temperature=1.0, top_k=1,
                        seed=3).numpy()
    nucleus = generate_ids(model, [[1, 2]], [2], 15, temperature=1.0,
                           top_p=1e-6, seed=3).numpy()
    np.testing.assert_array_equal(top1, greedy)
    np.testing.assert_array_equal(nucleus, greedy)


def test_truncate_logits_keeps_top_k_and_the_nucleus():
    logits = tf.math.log([[0.5, 0.3, 0.15, 0.05]])
    kept = lambda out: (out.numpy()[0] > -1e8).tolist()  # noqa: E731
    assert kept(truncate_logits(logits, 2, 1.0)) == [True, True, False, False]
    assert kept(truncate_logits(logits, 0, 0.7)) == [True, True, False, False]
    assert kept(truncate_logits(logits, 0, 0.81)) == [True, True, True, False]
    assert kept(truncate_logits(logits, 1, 0.99)) == [True, False, False, False]


def test_new_prompt_lengths_in_a_bucket_do_not_retrace(model):
    loop = compiled_decode_loop(model)
    generate_ids(model, [[1] * 5], [5], 8, temperature=0.0)
    traces = loop.experimental_get_tracing_count()
    for length in (6, 9, 17):
        generate_ids(model, [[1] * length], [length], 8, temperature=0.0)
    assert loop.experimental_get_tracing_count() == traces


def test_generate_text_decodes_and_validates(model):
    tokenizer = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz ."))
    assert tokenizer.vocab_size == model.vocab_size
    text = generate_text(model, tokenizer, "hello", 20, seed=1)
    assert text.startswith("hello") and len(text) >= 5
    assert len(generate_text(model, tokenizer, ["a", "bc"], 5)) == 2
    # characters the tokenizer never saw still work (they become <unk>)
    generate_text(model, tokenizer, "héllo ✓", 5)
    for bad, message in [(dict(temperature=-1), "temperature"),
                         (dict(top_p=0.0), "top-p"), (dict(top_p=1.5), "top-p"),
                         (dict(top_k=-1), "top-k"),
                         (dict(max_new_tokens=0), "max-new-tokens")]:
        with pytest.raises(KerasLMError, match=message):
            generate_text(model, tokenizer, "hi", **{"max_new_tokens": 5,
                                                     **bad})
    with pytest.raises(KerasLMError, match="empty"):
        generate_text(model, tokenizer, "", 5)
