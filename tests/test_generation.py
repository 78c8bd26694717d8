"""The compiled decoding loops: correctness, reproducibility, knobs, and
beam search for language models."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lm.generation import (beam_search_ids, compiled_decode_loop,
                                 generate_ids, generate_text, truncate_logits,
                                 with_kv_cache_dtype)
from keras_lm.errors import KerasLMError
from keras_lm.generation.loop import sampling_loop
from keras_lm.generation.protocol import PREFILL_CHUNK, prompt_buffer
from keras_lm.generation.sharding import decode_shards
from keras_lm.models import GRUGenerator, LSTMLanguageModel, TransformerLM
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


def tiny_lm(family):
    keras.utils.set_random_seed(1)
    if family == "transformer":
        return TransformerLM(vocab_size=40, max_sequence_length=512,
                             num_layers=2, num_heads=2, d_model=16)
    return {"gru": GRUGenerator, "lstm": LSTMLanguageModel}[family](
        vocab_size=40, embedding_dim=8, rnn_units=16, num_layers=2)


@pytest.mark.parametrize("family", ["gru", "transformer"])  # (LSTM: as GRU)
def test_prefilled_prompts_give_the_step_by_step_tokens(family, monkeypatch):
    """Prompts longer than a prefill chunk, batched with a one-token one
    (which needs no prefill), give what re-running the prefix gives, and
    what feeding the prompts one token per step gave before prefill."""
    model = tiny_lm(family)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(1, 40, n).tolist()
               for n in (PREFILL_CHUNK + 30, 1, 2 * PREFILL_CHUNK + 7)]
    ids = np.zeros((3, max(map(len, prompts))), "int32")
    for row, prompt in enumerate(prompts):
        ids[row, :len(prompt)] = prompt
    lengths = [len(p) for p in prompts]
    batch = generate_ids(model, ids, lengths, 4, temperature=0.0).numpy()
    for row, prompt in enumerate(prompts):
        assert batch[row].tolist() == naive_greedy(model, prompt, 4)
    owner = next(c for c in type(model).__mro__ if "prefill" in vars(c))
    monkeypatch.delattr(owner, "prefill")
    step_by_step = generate_ids(  # (a new loop: the cached one has prefill)
        model, ids, lengths, 4, temperature=0.0,
        decode_loop=tf.function(lambda *args: sampling_loop(model, *args)))
    np.testing.assert_array_equal(step_by_step.numpy(), batch)


class CountingLM(TransformerLM):
    """Counts its decode steps and prefill calls (in plain TF graphs)."""

    def decode_step(self, token_ids, cache, index, context=()):
        CALLS["decode_step"].assign_add(1)
        return super().decode_step(token_ids, cache, index, context)

    def prefill(self, token_ids, cache, start, feed, context=()):
        CALLS["prefill"].assign_add(1)
        return super().prefill(token_ids, cache, start, feed, context)


CALLS = {}


def counted_calls(model, prompt_length, max_new_tokens, **options):
    for name in ("decode_step", "prefill"):
        CALLS[name] = tf.Variable(0)
    prompt = np.arange(1, prompt_length + 1, dtype="int32")[None] % 40
    loop = compiled_decode_loop(model, jit_compile=False)
    new = generate_ids(model, prompt, [prompt_length], max_new_tokens,
                       temperature=0.0, decode_loop=loop, **options)
    return new.numpy()[0], {k: int(v.numpy()) for k, v in CALLS.items()}


def test_a_long_prompt_costs_a_few_prefill_calls_not_a_step_per_token():
    model = CountingLM(vocab_size=40, max_sequence_length=512, num_layers=1,
                       num_heads=2, d_model=16)
    _, calls = counted_calls(model, 300, 5)
    # 299 prompt positions in chunks of PREFILL_CHUNK; then one step feeds
    # the prompt's last token and each further step a new one.
    assert calls == {"prefill": -(-299 // PREFILL_CHUNK), "decode_step": 5}


def test_the_loop_ends_when_every_row_has_stopped():
    model = CountingLM(vocab_size=40, max_sequence_length=512, num_layers=1,
                       num_heads=2, d_model=16)
    free, _ = counted_calls(model, 4, 40)
    stop = int(free[2])
    stopped, calls = counted_calls(model, 4, 40, stop_token_ids=[39, stop])
    first = int(np.flatnonzero(np.isin(free, [39, stop]))[0])
    assert calls["decode_step"] == first + 1
    np.testing.assert_array_equal(stopped[:first + 1], free[:first + 1])
    assert not stopped[first + 1:].any()


def ragged_prompts(rows):
    lengths = np.arange(rows) % 5 + 1
    prompts = np.zeros((rows, 5), "int32")
    for row, length in enumerate(lengths):
        prompts[row, :length] = np.arange(1, length + 1) + row
    return prompts, lengths


def test_a_large_cpu_batch_decodes_in_two_concurrent_loops(model):
    """When a batch's KV caches outweigh the weights, the batch is split in
    two loops that run at once; each row decodes as in one loop."""
    lm = tiny_lm("transformer")
    lm.build()
    prompts, lengths = ragged_prompts(16)
    buffer, _, _ = prompt_buffer(lm, prompts, lengths, 100)
    assert decode_shards(lm, None, buffer) == 2
    assert decode_shards(lm, None, buffer[:8]) == 1  # too few rows
    assert decode_shards(lm, None, buffer[:, :64]) == 2
    assert decode_shards(model, None, buffer) == 1  # a GRU's small state
    stop = {"stop_token_ids": [7, 21]}
    whole = generate_ids(lm, prompts, lengths, 60, temperature=0.0,
                         decode_loop=compiled_decode_loop(lm), **stop).numpy()
    halves = generate_ids(lm, prompts, lengths, 60, temperature=0.0,
                          **stop).numpy()
    np.testing.assert_array_equal(halves, whole)
    assert (whole == 0).any() and (whole != 0).all(axis=1).any()
    sampled = generate_ids(lm, prompts, lengths, 60, seed=3, **stop).numpy()
    np.testing.assert_array_equal(sampled, generate_ids(
        lm, prompts, lengths, 60, seed=3, **stop).numpy())


def test_a_float16_kv_cache_decodes_like_float32(model):
    lm = tiny_lm("transformer")
    lm.build()
    half = with_kv_cache_dtype(lm, "float16")
    assert half.get_config()["kv_cache_dtype"] == "float16"
    assert half.initial_cache(1, 8)[0].dtype.name == "float16"
    prompts, lengths = ragged_prompts(4)
    np.testing.assert_array_equal(
        generate_ids(half, prompts, lengths, 30, temperature=0.0),
        generate_ids(lm, prompts, lengths, 30, temperature=0.0))
    with pytest.raises(KerasLMError, match="'int8' is not a cache dtype"):
        with_kv_cache_dtype(lm, "int8")
    with pytest.raises(KerasLMError, match="keeps no key/value cache"):
        with_kv_cache_dtype(model, "float16")


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
                         (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"),
                         (dict(top_k=-1), "top_k"),
                         (dict(max_new_tokens=0), "max_new_tokens")]:
        with pytest.raises(KerasLMError, match=message):
            generate_text(model, tokenizer, "hi", **{"max_new_tokens": 5,
                                                     **bad})
    with pytest.raises(KerasLMError, match="empty"):
        generate_text(model, tokenizer, "", 5)


def test_a_stop_string_ends_its_row_only(model):
    """Each row ends at its first stop token (left out of the text); a row
    that stops early gives the text it gives alone, and the others go on."""
    tokenizer = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz ."))
    prompts = ["to be", "or not", "that is"]
    free = generate_text(model, tokenizer, prompts, 30, temperature=0.0)
    stop = free[0][len("to be")]  # row 0 stops at once
    stopped = generate_text(model, tokenizer, prompts, 30, temperature=0.0,
                            stop=stop)
    for prompt, whole, cut in zip(prompts, free, stopped):
        new = whole[len(prompt):]
        assert cut == prompt + new[:new.index(stop)] if stop in new else whole
        assert cut == generate_text(model, tokenizer, prompt, 30,
                                    temperature=0.0, stop=[stop])
    assert stopped[0] == "to be"


@pytest.mark.parametrize("stop, message", [
    ("ab", "is 2 tokens"), ("日", "cannot be encoded"), ("", "empty")])
def test_a_stop_string_must_be_one_known_token(model, stop, message):
    tokenizer = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz ."))
    with pytest.raises(KerasLMError, match=message):
        generate_text(model, tokenizer, "hi", 5, stop=stop)


# -- the decoder protocol: beam search for language models, stop ids ---------

def teacher_forced_log_prob(model, prompt, new):
    """Summed log-probability of `new` after `prompt`, from one full pass."""
    tokens = np.array([list(prompt) + list(new)], "int32")
    log_probs = tf.nn.log_softmax(model(tokens)[0]).numpy()
    start = len(prompt) - 1
    return sum(log_probs[start + i, token] for i, token in enumerate(new))


PROMPTS = np.array([[3, 4, 5, 6], [7, 8, 0, 0], [9, 0, 0, 0]], "int32")
LENGTHS = np.array([4, 2, 1], "int32")


def sharpened(model, weight, factor):
    """`model` with `weight` (which scales its logits) times `factor`: the
    candidates of a beam search lie far apart, so the float noise between
    batch shapes cannot flip a near-tie (the weights are seeded, too)."""
    weight.assign(weight * factor)
    return model


@pytest.fixture(scope="module")
def sharp():
    keras.utils.set_random_seed(3)
    model = GRUGenerator(vocab_size=30, embedding_dim=8, rnn_units=32,
                         num_layers=2)
    model(np.zeros((1, 1), "int32"))
    return sharpened(model, model.output_layer.kernel, 20.0)


def test_beam_width_one_equals_greedy_sampling(sharp):
    greedy, greedy_log_probs = generate_ids(
        sharp, PROMPTS, LENGTHS, 12, temperature=0.0, return_log_probs=True)
    beam = beam_search_ids(sharp, PROMPTS, LENGTHS, 12, beam_width=1)
    np.testing.assert_array_equal(beam.sequences.numpy()[:, 0],
                                  greedy.numpy())
    np.testing.assert_allclose(beam.log_probs.numpy()[:, 0],
                               greedy_log_probs.numpy(), atol=1e-4)


def test_beam_scores_are_the_log_probabilities_of_distinct_hypotheses(
        sharp):
    beam = beam_search_ids(sharp, PROMPTS, LENGTHS, 10, beam_width=4)
    assert beam.sequences.shape == (3, 4, 10)
    assert np.all(np.diff(beam.scores.numpy(), axis=1) <= 1e-6)  # best first
    for row, length in enumerate(LENGTHS):
        prompt = PROMPTS[row, :length]
        for hypothesis, log_prob in zip(beam.sequences.numpy()[row],
                                        beam.log_probs.numpy()[row]):
            np.testing.assert_allclose(
                log_prob, teacher_forced_log_prob(sharp, prompt, hypothesis),
                atol=1e-3)
        # the beams are different hypotheses, not copies of one
        assert len({tuple(b) for b in beam.sequences.numpy()[row]}) == 4


def test_a_beam_as_wide_as_the_vocabulary_finds_the_best_continuation(
        sharp):
    """Two new tokens and a beam of `vocab_size` make beam search exact, so
    its best beam beats greedy decoding and every other continuation."""
    vocab = sharp.vocab_size
    greedy = generate_ids(sharp, PROMPTS, LENGTHS, 2, temperature=0.0)
    beam = beam_search_ids(sharp, PROMPTS, LENGTHS, 2, beam_width=vocab)
    pairs = np.stack(np.meshgrid(np.arange(vocab), np.arange(vocab),
                                 indexing="ij"), -1).reshape(-1, 2)
    for row, length in enumerate(LENGTHS):
        tokens = np.concatenate(
            [np.tile(PROMPTS[row, :length], (len(pairs), 1)), pairs], 1)
        log_probs = tf.nn.log_softmax(sharp(tokens.astype("int32"))).numpy()
        every = (log_probs[:, length - 1][np.arange(len(pairs)), pairs[:, 0]]
                 + log_probs[:, length][np.arange(len(pairs)), pairs[:, 1]])
        best = beam.sequences.numpy()[row, 0]
        assert best.tolist() == pairs[np.argmax(every)].tolist()
        np.testing.assert_allclose(beam.log_probs.numpy()[row, 0],
                                   every.max(), atol=1e-3)
        greedy_pair = greedy.numpy()[row]
        assert every.max() >= every[greedy_pair[0] * vocab + greedy_pair[1]]


@pytest.mark.parametrize("family", ["gru", "transformer"])
def test_beam_search_rows_of_different_lengths_match_alone(sharp, family):
    model = sharp
    if family == "transformer":
        keras.utils.set_random_seed(4)
        model = TransformerLM(vocab_size=30, max_sequence_length=32,
                              num_layers=2, num_heads=2, d_model=16)
        model.build()
        model = sharpened(model, model.token_embedding.embeddings, 40.0)
    together = beam_search_ids(model, PROMPTS, LENGTHS, 8, beam_width=3,
                               length_penalty=0.6)
    for row, length in enumerate(LENGTHS):
        alone = beam_search_ids(model, PROMPTS[row:row + 1, :length],
                                [length], 8, beam_width=3,
                                length_penalty=0.6)
        np.testing.assert_array_equal(together.sequences.numpy()[row],
                                      alone.sequences.numpy()[0])
        np.testing.assert_allclose(together.scores.numpy()[row],
                                   alone.scores.numpy()[0], atol=1e-4)


def test_rows_that_emit_the_stop_id_continue_with_padding(sharp):
    free = generate_ids(sharp, PROMPTS, LENGTHS, 12, temperature=0.0).numpy()
    stop = int(free[0, 3])  # row 0 reaches it after a few tokens
    stopped = generate_ids(sharp, PROMPTS, LENGTHS, 12, temperature=0.0,
                           stop_token_ids=stop).numpy()
    for row in range(3):
        hits = np.flatnonzero(free[row] == stop)
        end = hits[0] + 1 if len(hits) else 12
        np.testing.assert_array_equal(stopped[row, :end], free[row, :end])
        assert not stopped[row, end:].any()
    beams = beam_search_ids(sharp, PROMPTS, LENGTHS, 12, beam_width=3,
                            stop_token_ids=stop).sequences.numpy()
    for hypothesis in beams.reshape(-1, 12):
        hits = np.flatnonzero(hypothesis == stop)
        if len(hits):
            assert not hypothesis[hits[0] + 1:].any()
    # every row stops at once: the loops end early and still pad
    one = generate_ids(sharp, [[1]], [1], 12, temperature=0.0).numpy()
    first = generate_ids(sharp, [[1]], [1], 12, temperature=0.0,
                         stop_token_ids=int(one[0, 0])).numpy()
    assert first[0, 0] == one[0, 0] and not first[0, 1:].any()


def test_beam_search_with_and_without_xla_and_a_tensor_width(sharp):
    jitted = beam_search_ids(sharp, PROMPTS, LENGTHS, 9, beam_width=3,
                             length_penalty=0.6, jit_compile=True)
    plain = beam_search_ids(sharp, PROMPTS, LENGTHS, 9, beam_width=3,
                            length_penalty=0.6, jit_compile=False)
    tensor = beam_search_ids(sharp, PROMPTS, LENGTHS, 9,
                             beam_width=tf.constant(3),
                             length_penalty=tf.constant(0.6))
    for other in (plain, tensor):
        np.testing.assert_array_equal(other.sequences.numpy(),
                                      jitted.sequences.numpy())
        np.testing.assert_allclose(other.scores.numpy(),
                                   jitted.scores.numpy(), atol=1e-4)
    with pytest.raises(KerasLMError, match="tensor beam width"):
        beam_search_ids(sharp, PROMPTS, LENGTHS, 9, tf.constant(3),
                        jit_compile=True)


def test_a_traced_signature_takes_the_beam_width_as_an_input(sharp):
    """As a SavedModel signature would: unknown shapes, width a tensor."""
    @tf.function(input_signature=[
        tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
    def generate(prompt_ids, prompt_lengths, beam_width, temperature):
        return generate_ids(sharp, prompt_ids, prompt_lengths, 6,
                            temperature, beam_width=beam_width,
                            length_penalty=0.6)

    beam = beam_search_ids(sharp, PROMPTS, LENGTHS, 6, beam_width=3,
                           length_penalty=0.6).sequences.numpy()[:, 0]
    np.testing.assert_array_equal(
        generate(PROMPTS, LENGTHS, tf.constant(3), tf.constant(1.0)), beam)
    greedy = generate_ids(sharp, PROMPTS, LENGTHS, 6, temperature=0.0)
    np.testing.assert_array_equal(
        generate(PROMPTS, LENGTHS, tf.constant(1), tf.constant(0.0)), greedy)


def test_generate_text_with_beam_search(model):
    tokenizer = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz ."))
    beam = generate_text(model, tokenizer, ["to", "b"], 8, beam_width=3)
    assert all(text.startswith(p) for text, p in zip(beam, ["to", "b"]))
    assert beam == generate_text(model, tokenizer, ["to", "b"], 8,
                                 beam_width=3, seed=5, temperature=2.0)
    with pytest.raises(KerasLMError, match="beam_width"):
        generate_text(model, tokenizer, "hi", 5, beam_width=0)
