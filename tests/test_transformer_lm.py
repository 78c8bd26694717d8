"""Tests of keras_lm.models.TransformerLM (and its KV-cache decoding)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.generation.loop import generate_ids
from keras_lm.models.transformer_lm import TransformerLM

VOCAB, CONTEXT = 13, 24
TINY = dict(vocab_size=VOCAB, max_sequence_length=CONTEXT, num_layers=2,
            num_heads=2, d_model=16)
#: The Llama layout, every option on: rotary positions (Llama 3 scaling),
#: RMSNorm, SwiGLU, one key/value head for two query heads, Qwen2's q/k/v
#: biases without other biases, an untied output head.
LLAMA = dict(norm="rms", activation="swiglu", num_kv_heads=1,
             rope_theta=500000.0,
             rope_scaling={"rope_type": "llama3", "factor": 8.0,
                           "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 8},
             use_bias=False, qkv_bias=True, tie_embeddings=False)


def make_model(**overrides):
    keras.utils.set_random_seed(0)
    model = TransformerLM(**{**TINY, **overrides})
    model.build((None, None))
    return model


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def model(request):
    """The GPT-2 layout (with an output bias) and the Llama layout: every
    test of the shared behaviour runs on both."""
    return make_model(**({"output_bias": True} if request.param == "gpt2"
                         else LLAMA))


def random_ids(shape, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, shape).astype(
        "int32")


def test_logits_shape_and_dtype(model):
    logits = model(random_ids((2, 7)))
    assert tuple(logits.shape) == (2, 7, VOCAB)
    assert logits.dtype == "float32"


def test_decode_step_matches_call(model):
    ids = random_ids((2, 9))
    full = model(ids)
    cache = model.initial_cache(2, CONTEXT)
    steps = []
    for i in range(ids.shape[1]):
        logits, cache = model.decode_step(ids[:, i], cache, np.int32(i))
        steps.append(logits)
    np.testing.assert_allclose(np.stack(steps, axis=1), full, atol=1e-5)


def naive_greedy(model, prompt, max_new_tokens):
    """Re-runs the full model on the growing prefix; no cache."""
    tokens = list(prompt)
    for _ in range(max_new_tokens):
        logits = model(np.array([tokens], "int32"))
        tokens.append(int(np.argmax(logits[0, -1])))
    return tokens[len(prompt):]


def test_compiled_greedy_generation_matches_naive_loop(model):
    # generate_ids runs the whole loop under jit_compile=True, so this also
    # checks that decode_step and the cache compile with XLA.
    prompts = [[3, 1, 4, 1], [5, 9, 0, 0]]
    lengths = [4, 2]
    got = generate_ids(model, prompts, lengths, 6, temperature=0.0)
    expected = [naive_greedy(model, p[:n], 6)
                for p, n in zip(prompts, lengths)]
    np.testing.assert_array_equal(got.numpy(), expected)


def test_compiled_generation_across_cache_blocks_matches_naive_loop():
    # 3 + 140 positions span three 64-token blocks of the KV cache, so the
    # compiled loop switches between its block branches twice.
    model = make_model(max_sequence_length=160)
    prompt = [3, 1, 4]
    got = generate_ids(model, [prompt], [3], 140, temperature=0.0)
    np.testing.assert_array_equal(got.numpy()[0],
                                  naive_greedy(model, prompt, 140))


def test_large_batches_decode_like_single_rows():
    # Rows never mix: each row of a batch of 8 gets exactly the tokens it
    # gets alone (through three cache blocks).
    model = make_model(max_sequence_length=160)
    prompts = random_ids((8, 3), seed=4)
    together = generate_ids(model, prompts, [3] * 8, 140, temperature=0.0)
    for row, prompt in enumerate(prompts):
        alone = generate_ids(model, prompt[None], [3], 140, temperature=0.0)
        np.testing.assert_array_equal(together[row], alone[0])


def test_generation_inside_tf_function_with_unknown_shapes(model):
    # The SavedModel export traces generate_ids with unknown batch/width.
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None], tf.int32)])
    def generate(prompt_ids, prompt_lengths):
        return generate_ids(model, prompt_ids, prompt_lengths, 3,
                            temperature=0.0)

    prompts, lengths = [[3, 1, 4, 1], [5, 9, 0, 0]], [4, 2]
    np.testing.assert_array_equal(
        generate(tf.constant(prompts), tf.constant(lengths)),
        generate_ids(model, prompts, lengths, 3, temperature=0.0))


def test_same_seed_gives_same_sample(model):
    def sample(seed):
        return generate_ids(model, [[1, 2, 3]], [3], 8, temperature=1.0,
                            top_k=5, seed=seed).numpy()

    np.testing.assert_array_equal(sample(7), sample(7))


def test_loss_goes_down_on_a_repeated_sequence():
    model = make_model(dropout=0.1)
    sequence = np.tile(np.arange(8, dtype="int32"), 3)[None, :17]
    x = np.repeat(sequence[:, :-1], 4, axis=0)
    y = np.repeat(sequence[:, 1:], 4, axis=0)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=30, batch_size=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses


def test_keras_save_and_load_round_trip(model, tmp_path):
    path = str(tmp_path / "transformer_lm.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, TransformerLM)
    assert restored.get_config() == model.get_config()
    ids = random_ids((2, 5), seed=3)
    np.testing.assert_array_equal(restored(ids), model(ids))


def test_too_long_input_raises(model):
    # KerasLMError is a ValueError whose one-line message the CLI prints.
    with pytest.raises(KerasLMError, match="max_sequence_length=24"):
        model(np.zeros((1, CONTEXT + 1), "int32"))


def test_bad_num_heads_raises():
    with pytest.raises(KerasLMError, match="does not divide d_model"):
        TransformerLM(vocab_size=VOCAB, num_heads=3, d_model=16)


def test_get_config_round_trip():
    model = TransformerLM(**TINY, mlp_dim=24, dropout=0.1,
                          layer_norm_epsilon=1e-6, gelu_approximate=False,
                          use_bias=False)
    config = model.get_config()
    assert TransformerLM.from_config(config).get_config() == config


def test_mixed_bfloat16_gives_float32_logits():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = make_model()
        logits = model(random_ids((2, 5)))
        assert logits.dtype == "float32"
        cache = model.initial_cache(2, CONTEXT)
        assert cache[0].dtype == "bfloat16"
        step_logits, _ = model.decode_step(random_ids((2,)), cache, 0)
        assert step_logits.dtype == "float32"
        assert model.token_embedding.embeddings.dtype == "float32"
        assert generate_ids(model, [[1, 2]], [2], 3).shape == (1, 3)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def test_llama_layout_has_the_llama_weights_and_a_smaller_cache():
    model = make_model(**{**LLAMA, "num_heads": 4, "num_kv_heads": 2})
    names = {w.path.split("/", 1)[1] for w in model.weights}
    assert "block_0/mlp_gate/kernel" in names          # SwiGLU's gate
    assert "lm_head/kernel" in names                   # untied output
    assert "block_0/attention/query/bias" in names     # Qwen2's q/k/v bias
    assert "block_0/attention/output/bias" not in names
    assert not any(n.startswith("position_embedding") for n in names)
    # The KV cache is sized by the 2 key/value heads, not the 4 query heads.
    assert tuple(model.initial_cache(3, 8)[0].shape) == (3, 2, 2, 8, 4)


def test_bad_llama_options_raise_one_line_errors():
    with pytest.raises(KerasLMError, match="num_kv_heads=3 does not divide"):
        TransformerLM(**{**TINY, "num_heads": 4}, num_kv_heads=3)
    with pytest.raises(KerasLMError, match="rope_scaling type 'yarn'"):
        TransformerLM(**TINY, rope_theta=1e4, rope_scaling={"type": "yarn"})
    with pytest.raises(KerasLMError, match="norm must be one of layer, rms"):
        TransformerLM(**TINY, norm="batch")
