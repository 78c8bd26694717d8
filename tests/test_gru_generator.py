"""GRUGenerator: the model, its stateful mode and its config round trip."""

import numpy as np

import keras
from keras_lm.models import GRUGenerator


def tiny_gru(**kwargs):
    config = dict(vocab_size=23, embedding_dim=8, rnn_units=16)
    config.update(kwargs)
    return GRUGenerator(**config)


def test_outputs_float32_logits_over_the_vocabulary():
    logits = tiny_gru()(np.zeros((3, 7), "int32"))
    assert logits.shape == (3, 7, 23)
    assert logits.dtype == "float32"


def test_num_layers_really_stacks_layers():
    sizes = []
    for num_layers in (1, 2, 3):
        model = tiny_gru(num_layers=num_layers)
        model(np.zeros((1, 2), "int32"))
        sizes.append(model.count_params())
        assert len(model.rnn_layers) == num_layers
    assert sizes[0] < sizes[1] < sizes[2]


def test_stateful_two_chunks_equal_one_whole_pass():
    tokens = np.random.default_rng(0).integers(0, 23, (4, 20)).astype("int32")
    stateless = tiny_gru(num_layers=2)
    whole = stateless(tokens).numpy()

    stateful = tiny_gru(num_layers=2, stateful=True)
    stateful(tokens[:, :10])  # build with the fixed batch size
    stateful.set_weights(stateless.get_weights())
    stateful.reset_rnn_states()
    first = stateful(tokens[:, :10]).numpy()
    second = stateful(tokens[:, 10:]).numpy()
    np.testing.assert_allclose(np.concatenate([first, second], 1), whole,
                               atol=1e-5)

    stateful.reset_rnn_states()  # after a reset the second chunk starts afresh
    restarted = stateful(tokens[:, 10:]).numpy()
    assert not np.allclose(restarted, second, atol=1e-3)


def test_decode_step_carries_state_like_a_full_pass():
    model = tiny_gru(num_layers=2)
    tokens = np.random.default_rng(1).integers(0, 23, (2, 9)).astype("int32")
    whole = model(tokens).numpy()
    cache = model.initial_cache(2, 9)
    for t in range(9):
        logits, cache = model.decode_step(tokens[:, t], cache, t)
        np.testing.assert_allclose(logits.numpy(), whole[:, t], atol=1e-5)


def test_config_round_trip_and_keras_file(tmp_path):
    model = tiny_gru(num_layers=2, dropout=0.1)
    tokens = np.arange(12, dtype="int32").reshape(2, 6)
    expected = model(tokens).numpy()
    clone = GRUGenerator.from_config(model.get_config())
    assert clone.get_config() == model.get_config()

    path = str(tmp_path / "gru.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GRUGenerator)
    np.testing.assert_allclose(loaded(tokens).numpy(), expected, atol=1e-6)
