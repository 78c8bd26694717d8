"""Tests of keras_lm.layers.MultiHeadSelfAttention."""

import keras
import numpy as np
import pytest

from keras_lm.layers.multi_head_self_attention import MultiHeadSelfAttention

D_MODEL, NUM_HEADS, HEAD_DIM = 8, 2, 4
BATCH, TIME = 2, 6


def random_inputs(seed=0, time=TIME):
    return np.random.default_rng(seed).normal(
        size=(BATCH, time, D_MODEL)).astype("float32")


def make_layer(**kwargs):
    keras.utils.set_random_seed(1)
    layer = MultiHeadSelfAttention(D_MODEL, NUM_HEADS, **kwargs)
    layer.build((None, None, D_MODEL))
    # Non-zero biases, so that the bias copy is checked too.
    for dense in (layer.query_dense, layer.key_dense, layer.value_dense,
                  layer.output_dense):
        if dense.use_bias:
            dense.bias.assign(
                np.random.default_rng(2).normal(size=dense.bias.shape) * 0.1)
    return layer


def keras_mha_with_weights_of(layer):
    """A keras.layers.MultiHeadAttention holding `layer`'s weights."""
    mha = keras.layers.MultiHeadAttention(NUM_HEADS, key_dim=HEAD_DIM)
    mha.build((None, None, D_MODEL), (None, None, D_MODEL))
    for theirs, ours in ((mha.query_dense, layer.query_dense),
                         (mha.key_dense, layer.key_dense),
                         (mha.value_dense, layer.value_dense)):
        theirs.kernel.assign(np.reshape(ours.kernel.numpy(),
                                        (D_MODEL, NUM_HEADS, HEAD_DIM)))
        theirs.bias.assign(np.reshape(ours.bias.numpy(),
                                      (NUM_HEADS, HEAD_DIM)))
    mha.output_dense.kernel.assign(np.reshape(
        layer.output_dense.kernel.numpy(), (NUM_HEADS, HEAD_DIM, D_MODEL)))
    mha.output_dense.bias.assign(layer.output_dense.bias.numpy())
    return mha


def test_matches_keras_multi_head_attention_causal():
    layer = make_layer()
    mha = keras_mha_with_weights_of(layer)
    x = random_inputs()
    expected = mha(x, x, use_causal_mask=True)
    np.testing.assert_allclose(layer(x, causal=True), expected, atol=1e-5)


def test_matches_keras_multi_head_attention_with_padding_mask():
    layer = make_layer()
    mha = keras_mha_with_weights_of(layer)
    x = random_inputs()
    padding = np.array([[True] * TIME, [True] * 4 + [False] * 2])
    attention_mask = np.repeat(padding[:, None, :], TIME, axis=1)
    expected = mha(x, x, attention_mask=attention_mask)
    got = layer(x, padding_mask=padding, causal=False)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("pair", [False, True], ids=["tensor", "pair"])
def test_cached_decoding_matches_full_causal_pass(pair):
    layer = make_layer()
    x = random_inputs()
    full = layer(x, causal=True)
    cache = layer.initial_cache(BATCH, max_length=TIME + 3)
    assert tuple(cache.shape) == (BATCH, 2, NUM_HEADS, TIME + 3, HEAD_DIM)
    if pair:
        cache = (cache[:, 0], cache[:, 1])
    # A two-token prefill at position 0, then one token at a time.
    first, cache = layer.call_with_cache(x[:, :2], cache, 0)
    outputs = [first]
    for i in range(2, TIME):
        out, cache = layer.call_with_cache(x[:, i:i + 1], cache,
                                           np.int32(i))
        outputs.append(out)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full,
                               atol=1e-5)
    if pair:
        assert isinstance(cache, tuple) and len(cache) == 2


def test_cached_decoding_across_cache_blocks_matches_full_pass():
    # Decoding reads only the filled 64-position blocks of the cache; 150
    # positions cross two block boundaries and end in a partial block.
    layer = make_layer()
    x = random_inputs(time=150)
    full = layer(x, causal=True)
    cache = layer.initial_cache(BATCH, max_length=150)
    outputs = []
    for i in range(150):
        out, cache = layer.call_with_cache(x[:, i:i + 1], cache, np.int32(i))
        outputs.append(out)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full,
                               atol=1e-5)


def test_padded_positions_never_influence_real_ones():
    layer = make_layer()
    x = random_inputs(seed=0)
    other = random_inputs(seed=5)
    padding = np.array([[True] * 3 + [False] * 3, [False] * 2 + [True] * 4])
    changed = np.where(padding[..., None], x, other)  # only padded differ
    for causal in (False, True):
        a = np.asarray(layer(x, padding_mask=padding, causal=causal))
        b = np.asarray(layer(changed, padding_mask=padding, causal=causal))
        np.testing.assert_allclose(a[padding], b[padding], atol=1e-6)
        assert np.all(np.isfinite(a))  # rows with no visible key stay finite


def test_scale_is_one_over_sqrt_head_dim():
    layer = make_layer(use_bias=False)
    x = random_inputs(time=3)
    q = x @ layer.query_dense.kernel.numpy()
    k = x @ layer.key_dense.kernel.numpy()
    v = x @ layer.value_dense.kernel.numpy()

    def split(t):
        return t.reshape(BATCH, 3, NUM_HEADS, HEAD_DIM).transpose(0, 2, 1, 3)

    scores = split(q) @ split(k).transpose(0, 1, 3, 2) / np.sqrt(HEAD_DIM)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    merged = (weights @ split(v)).transpose(0, 2, 1, 3).reshape(BATCH, 3, -1)
    expected = merged @ layer.output_dense.kernel.numpy()
    np.testing.assert_allclose(layer(x, causal=False), expected, atol=1e-5)


def test_num_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="num_heads=3 does not divide "
                                         "d_model=8"):
        MultiHeadSelfAttention(d_model=8, num_heads=3)


def test_get_config_round_trip():
    layer = MultiHeadSelfAttention(16, 4, dropout=0.1, use_bias=False,
                                   name="attn")
    config = layer.get_config()
    clone = MultiHeadSelfAttention.from_config(config)
    assert clone.get_config() == config
    assert (clone.d_model, clone.num_heads, clone.head_dim) == (16, 4, 4)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, MultiHeadSelfAttention)
    assert restored.get_config() == config


def test_grouped_query_attention_is_attention_with_shared_key_heads():
    # 4 query heads reading 2 key/value heads equal 4 full heads whose key
    # and value kernels repeat each key/value head for its group of 2.
    keras.utils.set_random_seed(1)
    grouped = MultiHeadSelfAttention(D_MODEL, 4, num_kv_heads=2,
                                     rope_theta=100.0)
    full = MultiHeadSelfAttention(D_MODEL, 4, rope_theta=100.0)
    for layer in (grouped, full):
        layer.build((None, None, D_MODEL))
    head_dim = D_MODEL // 4

    def repeat_heads(kernel):  # (rows, 2 * head_dim) -> (rows, 4 * ...)
        heads = kernel.reshape(len(kernel), 2, 1, head_dim)
        return np.repeat(heads, 2, axis=2).reshape(len(kernel), D_MODEL)

    for name in ("query_dense", "output_dense"):
        getattr(full, name).set_weights(getattr(grouped, name).get_weights())
    for name in ("key_dense", "value_dense"):
        kernel, _ = getattr(grouped, name).get_weights()
        bias = np.random.default_rng(3).normal(size=2 * head_dim)
        getattr(grouped, name).set_weights([kernel, bias])
        getattr(full, name).set_weights(
            [repeat_heads(kernel), repeat_heads(bias[None])[0]])
    x = random_inputs()
    np.testing.assert_allclose(grouped(x), full(x), atol=1e-5)


def test_grouped_rotary_cached_decoding_matches_full_pass():
    # With rotary positions and 2 key/value heads (a cache of 2 heads), a
    # prefill and then single steps across cache blocks equal one full pass.
    keras.utils.set_random_seed(1)
    layer = MultiHeadSelfAttention(D_MODEL, 4, num_kv_heads=2,
                                   rope_theta=10000.0)
    x = random_inputs(time=70)
    full = layer(x, causal=True)
    cache = layer.initial_cache(BATCH, max_length=70)
    assert tuple(cache.shape) == (BATCH, 2, 2, 70, D_MODEL // 4)
    first, cache = layer.call_with_cache(x[:, :3], cache, 0)
    outputs = [first]
    for i in range(3, 70):
        out, cache = layer.call_with_cache(x[:, i:i + 1], cache, np.int32(i))
        outputs.append(out)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full,
                               atol=1e-5)
