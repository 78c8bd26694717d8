"""The encoder side: TransformerEncoder, RecurrentEncoder, MaskedLanguageModel
and TextClassifier, stated as equivalences (padding changes nothing real,
gathered logits equal full logits, saved equals loaded)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_lm.errors import KerasLMError
from keras_lm.layers import TransformerBlock
from keras_lm.models import (MaskedLanguageModel, RecurrentEncoder,
                             TextClassifier, TransformerEncoder)

VOCAB = 31
TINY = dict(max_sequence_length=16, num_layers=2, num_heads=2, d_model=16,
            dropout=0.0)
IDS = np.array([[2, 5, 6, 7, 3, 0, 0], [2, 8, 9, 10, 11, 12, 3]], "int32")
LENGTHS = (5, 7)


def padded(ids, extra=3):
    return np.pad(ids, ((0, 0), (0, extra)))


def numpy(x):
    return ops.convert_to_numpy(x)


#: The classifier variants: each backbone, each pooling, pre- and post-LN.
CLASSIFIERS = {
    "transformer-cls": TINY,
    "transformer-mean-preln": dict(TINY, pooling="mean", norm_first=True),
    "lstm-cls": dict(backbone="lstm", d_model=16, rnn_units=8, dropout=0.0),
    "gru-mean": dict(backbone="gru", pooling="mean", d_model=16,
                     num_layers=2, rnn_units=8, dropout=0.0),
}


@pytest.fixture(scope="module")
def mlm():
    keras.utils.set_random_seed(0)
    return MaskedLanguageModel(VOCAB, **TINY)


def test_block_keeps_its_old_config_defaults():
    block = TransformerBlock(16, 2, 32)
    assert block.norm_first is True
    config = block.get_config()
    del config["norm_first"]  # a v0.1 config, written before the flag
    assert TransformerBlock.from_config(config).norm_first is True


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_shapes_padding_and_bidirectionality(norm_first):
    encoder = TransformerEncoder(VOCAB, norm_first=norm_first, **TINY)
    hidden = numpy(encoder(IDS))
    assert hidden.shape == (2, 7, 16) and np.isfinite(hidden).all()
    # Appending padding changes no real token's hidden state.
    longer = numpy(encoder(padded(IDS)))
    for row, length in enumerate(LENGTHS):
        np.testing.assert_allclose(longer[row, :length],
                                   hidden[row, :length], atol=1e-5)
    # The first position sees the last one: the encoder is bidirectional.
    changed = IDS.copy()
    changed[1, 6] = 20
    first = numpy(encoder(changed))[:, 0]
    assert np.abs(first[1] - hidden[1, 0]).max() > 1e-4
    np.testing.assert_allclose(first[0], hidden[0, 0], atol=1e-6)


def test_segment_ids_change_the_output():
    encoder = TransformerEncoder(VOCAB, **TINY)
    plain = numpy(encoder(IDS))
    segments = numpy(encoder(IDS, segment_ids=np.ones_like(IDS)))
    assert np.abs(plain - segments).max() > 1e-4
    np.testing.assert_allclose(
        numpy(encoder(IDS, segment_ids=np.zeros_like(IDS))), plain, atol=1e-6)


def test_too_long_input_raises():
    with pytest.raises(KerasLMError, match="max_sequence_length=16"):
        TransformerEncoder(VOCAB, **TINY)(np.ones((1, 17), "int32"))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_encoder_padding_invariance(cell):
    encoder = RecurrentEncoder(VOCAB, d_model=8, rnn_units=4, num_layers=2,
                               cell=cell, dropout=0.0)
    hidden, final = map(numpy, encoder(IDS, return_state=True))
    assert hidden.shape == (2, 7, 8) and final.shape == (2, 8)
    longer, longer_final = map(numpy, encoder(padded(IDS),
                                              return_state=True))
    np.testing.assert_allclose(longer_final, final, atol=1e-5)
    for row, length in enumerate(LENGTHS):
        np.testing.assert_allclose(longer[row, :length],
                                   hidden[row, :length], atol=1e-5)
    # The backward final state is the state after the first token.
    np.testing.assert_allclose(final[:, 4:], hidden[:, 0, 4:], atol=1e-5)


def test_mask_positions_gather_equals_full_logits(mlm):
    full = numpy(mlm(IDS))
    assert full.shape == (2, 7, VOCAB) and full.dtype == np.float32
    positions = np.array([[1, 3], [6, 0]])
    gathered = numpy(mlm({"token_ids": IDS, "mask_positions": positions}))
    assert gathered.shape == (2, 2, VOCAB)
    np.testing.assert_allclose(
        gathered, np.take_along_axis(full, positions[:, :, None], axis=1),
        atol=1e-5)


def test_mlm_embed_ignores_padding(mlm):
    for pooling in ("mean", "cls"):
        vectors = numpy(mlm.embed(IDS, pooling=pooling, normalize=True))
        assert vectors.shape == (2, 16) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0,
                                   atol=1e-5)
        np.testing.assert_allclose(
            numpy(mlm.embed(padded(IDS), pooling=pooling, normalize=True)),
            vectors, atol=1e-5)


@pytest.mark.parametrize("variant", CLASSIFIERS)
def test_classifier_logits_and_padding_invariance(variant):
    model = TextClassifier(3, VOCAB, **CLASSIFIERS[variant])
    logits = numpy(model(IDS))
    assert logits.shape == (2, 3) and logits.dtype == np.float32
    np.testing.assert_allclose(numpy(model(padded(IDS))), logits, atol=1e-5)
    features = numpy(model.embed(IDS))
    assert features.shape == (2, model.features)
    np.testing.assert_allclose(numpy(model.embed(padded(IDS))), features,
                               atol=1e-5)


@pytest.mark.parametrize("variant", CLASSIFIERS)
def test_classifier_keras_round_trip(variant, tmp_path):
    model = TextClassifier(3, VOCAB, **CLASSIFIERS[variant])
    expected = numpy(model(IDS))
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(numpy(loaded(IDS)), expected, atol=1e-6)


def test_mlm_keras_round_trip(mlm, tmp_path):
    path = str(tmp_path / "mlm.keras")
    mlm.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == mlm.get_config()
    np.testing.assert_allclose(numpy(loaded(IDS)), numpy(mlm(IDS)),
                               atol=1e-6)


def test_encoder_transfers_from_mlm_to_classifier(mlm):
    classifier = TextClassifier(2, VOCAB, **TINY)
    classifier.build()
    classifier.encoder.set_weights(mlm.encoder.get_weights())
    np.testing.assert_allclose(numpy(classifier.encoder(IDS)),
                               numpy(mlm.encoder(IDS)), atol=1e-6)


def test_freeze_backbone_trains_the_head_only():
    model = TextClassifier(2, VOCAB, pooling="cls", **TINY)  # with a pooler
    model.build()
    everything = len(model.trainable_weights)
    model.freeze_backbone()
    head = {id(w) for w in (*model.pooler.weights, *model.classifier.weights)}
    assert {id(w) for w in model.trainable_weights} == head < set(
        map(id, model.weights))
    before = [numpy(w) for w in model.encoder.weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    model.fit(IDS, np.array([0, 1]), epochs=1, verbose=0)
    for old, new in zip(before, model.encoder.weights):
        np.testing.assert_array_equal(old, numpy(new))
    model.freeze_backbone(False)
    assert len(model.trainable_weights) == everything


def test_mixed_precision_gives_float32_outputs():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        mlm = MaskedLanguageModel(VOCAB, **TINY)
        classifier = TextClassifier(2, VOCAB, pooling="mean", **TINY)
        assert mlm.encoder.compute_dtype == "bfloat16"
        assert ops.convert_to_numpy(mlm(IDS)).dtype == np.float32
        assert ops.convert_to_numpy(mlm.embed(IDS)).dtype == np.float32
        assert ops.convert_to_numpy(classifier(IDS)).dtype == np.float32
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def test_bad_arguments_raise_one_line_errors():
    for make, match in [
            (lambda: TextClassifier(2, VOCAB, backbone="rnn"), "backbone"),
            (lambda: TextClassifier(2, VOCAB, pooling="max"), "pooling"),
            (lambda: TextClassifier(1, VOCAB), "num_classes"),
            (lambda: RecurrentEncoder(VOCAB, cell="rnn"), "cell"),
            (lambda: TransformerEncoder(VOCAB, num_heads=3, d_model=16),
             "num_heads")]:
        with pytest.raises(KerasLMError, match=match) as info:
            make()
        assert "\n" not in str(info.value)
