"""The Seq2Seq model, its greedy/beam decoding, metrics and attention plots."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from keras_lm.data.date_pairs import date_pairs
from keras_lm.data.pair_dataset import encode_pairs, pairs_dataset
from keras_lm.data.pair_splits import split_pairs
from keras_lm.errors import KerasLMError
from keras_lm.evaluation.attention_plot import plot_attention
from keras_lm.evaluation.translation_metrics import (corpus_bleu, exact_match,
                                                     rouge_scores,
                                                     translation_metrics)
from keras_lm.generation import (beam_search, best_sequences, greedy_decode,
                                 sample_sequences)
from keras_lm.models.seq2seq import Seq2Seq, masked_loss
from keras_lm.tokenizers import CharTokenizer, target_specials
from keras_lm.training.metrics import MaskedTokenAccuracy
from keras_lm.generation.translation import Translator

SOURCE_VOCAB, TARGET_VOCAB = 13, 11


def as_translator(model, source_tokenizer, target_tokenizer, max_source,
                  max_target):
    """A `Translator` around a model trained here (no run directory)."""
    limits = {"max_source_length": max_source, "max_target_length": max_target}
    return Translator(model, source_tokenizer, target_tokenizer,
                      {"data": limits})


def compile_seq2seq(model, learning_rate=1e-3, **kwargs):
    """Compiles as the Seq2Seq task trains: padding-masked loss and
    accuracy."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=masked_loss(), metrics=[MaskedTokenAccuracy()],
                  **kwargs)
    return model


def tiny(attention="additive", bidirectional=False, **kwargs):
    return Seq2Seq(SOURCE_VOCAB, TARGET_VOCAB, embedding_dim=8, units=16,
                   attention=attention, bidirectional=bidirectional, **kwargs)


def random_batch(batch=3, source_length=6, target_length=5, seed=0):
    rng = np.random.default_rng(seed)
    source = rng.integers(1, SOURCE_VOCAB, (batch, source_length))
    source[0, 4:] = 0  # a padded row
    decoder_input = rng.integers(1, TARGET_VOCAB, (batch, target_length))
    decoder_input[1, 3:] = 0
    return source.astype("int32"), decoder_input.astype("int32")


@pytest.mark.parametrize("attention", ["none", "additive", "dot"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes(attention, bidirectional):
    model = tiny(attention, bidirectional)
    logits = model(random_batch())
    assert tuple(logits.shape) == (3, 5, TARGET_VOCAB)
    assert logits.dtype == "float32"
    memory, (h, c) = model.start_decoding(random_batch()[0], 3, 5)
    assert tuple(h.shape) == tuple(c.shape) == (3, 16)
    assert all(t.shape[0] == 3 for t in memory)  # batch-major, for beams
    assert memory[0].shape[-1] == (32 if bidirectional else 16)


def test_unknown_attention_is_an_error():
    with pytest.raises(KerasLMError, match="unknown attention"):
        tiny("multiplicative")


def test_default_special_ids():
    model = tiny()
    assert (model.start_id, model.end_id) == (TARGET_VOCAB - 2,
                                              TARGET_VOCAB - 1)


@pytest.mark.parametrize("attention,bidirectional",
                         [("additive", True), ("dot", False), ("dot", True)])
def test_source_padding_does_not_change_logits(attention, bidirectional):
    model = tiny(attention, bidirectional)
    source, decoder_input = random_batch()
    source[:, 4:] = 0
    short = source[:, :4]
    longer = np.concatenate([source, np.zeros((3, 5), "int32")], axis=1)
    reference = model((short, decoder_input)).numpy()
    for padded in (source, longer):
        np.testing.assert_allclose(model((padded, decoder_input)).numpy(),
                                   reference, atol=1e-5)


def test_step_decoding_matches_teacher_forcing():
    model = tiny("additive", bidirectional=True)
    source, decoder_input = random_batch()
    decoder_input[1, 3:] = 1  # no padding: compare every position
    logits = model((source, decoder_input)).numpy()
    memory, state = model.start_decoding(source, 3, 5)
    for t in range(decoder_input.shape[1]):
        step_logits, state = model.decode_step(decoder_input[:, t], state, t,
                                               memory)
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t],
                                   atol=1e-5)


def test_keras_round_trip(tmp_path):
    model = tiny("dot", bidirectional=True, dropout=0.1)
    batch = random_batch()
    expected = model(batch).numpy()
    path = tmp_path / "seq2seq.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, Seq2Seq)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded(batch).numpy(), expected, atol=1e-6)


def test_masked_loss_decreases_on_reverse_task():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    n, length = 256, 5
    source = rng.integers(1, 9, (n, length)).astype("int32")
    start, end = TARGET_VOCAB - 2, TARGET_VOCAB - 1
    reversed_ = source[:, ::-1]
    decoder_input = np.concatenate([np.full((n, 1), start), reversed_], 1)
    target = np.concatenate([reversed_, np.full((n, 1), end)], 1)
    # pad the tail of half the rows on both sides
    decoder_input[::2, -1] = 0
    target[::2, -2:] = [end, 0]
    model = compile_seq2seq(tiny("additive"), learning_rate=1e-2)
    history = model.fit((source, decoder_input.astype("int32")),
                        target.astype("int32"), batch_size=32, epochs=3,
                        verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]


def test_fit_accepts_the_pipeline():
    tokenizer = CharTokenizer.from_text("abc")
    pairs = [("abc", "cba"), ("ab", "ba"), ("ca", "ac")] * 8
    encoded = encode_pairs(pairs, tokenizer, tokenizer, 4, 5)
    model = compile_seq2seq(Seq2Seq(tokenizer.vocab_size,
                                    encoded.specials.vocab_size, 8, 8))
    history = model.fit(pairs_dataset(encoded, 8), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert 0.0 <= history.history["masked_accuracy"][0] <= 1.0


@pytest.fixture(scope="module")
def date_model():
    """A small attention model fitted briefly on the embedded date task."""
    keras.utils.set_random_seed(0)
    pairs = date_pairs(3000, seed=0)
    splits = split_pairs(pairs, 0.05, 0.05, seed=0)
    source_tokenizer = CharTokenizer.from_text("".join(s for s, _ in pairs))
    target_tokenizer = CharTokenizer.from_text("0123456789-")
    train = encode_pairs(splits.train, source_tokenizer, target_tokenizer,
                         40, 11)
    test = encode_pairs(splits.test, source_tokenizer, target_tokenizer,
                        40, 11)
    model = Seq2Seq(source_tokenizer.vocab_size, train.specials.vocab_size,
                    embedding_dim=32, units=64, attention="additive")
    compile_seq2seq(model, learning_rate=1e-2)
    model.fit(pairs_dataset(train, 64, shuffle=True), epochs=3, verbose=0)
    return dict(model=model, test=test, splits=splits,
                source_tokenizer=source_tokenizer,
                target_tokenizer=target_tokenizer)


def test_greedy_decoding_beats_chance_on_dates(date_model):
    model, test = date_model["model"], date_model["test"]
    result = greedy_decode(model, test.source_ids, 11)
    sequences = result.sequences.numpy()
    real = test.target_ids > 0
    accuracy = (sequences == test.target_ids)[real].mean()
    chance = 1.0 / 11  # ten digits and "-"
    assert accuracy > 5 * chance
    translator = as_translator(model, date_model["source_tokenizer"],
                               date_model["target_tokenizer"], 40, 10)
    texts = translator.translate([s for s, _ in date_model["splits"].test],
                                 beam_width=1)
    references = [t for _, t in date_model["splits"].test]
    assert exact_match(texts, references) > 0.2
    assert np.all(result.log_probs.numpy() <= 0.0)


def test_beam_width_one_equals_greedy(date_model):
    model, source = date_model["model"], date_model["test"].source_ids[:16]
    greedy = greedy_decode(model, source, 11)
    beam = beam_search(model, source, beam_width=1, max_length=11)
    np.testing.assert_array_equal(beam.sequences.numpy()[:, 0],
                                  greedy.sequences.numpy())
    np.testing.assert_allclose(beam.log_probs.numpy()[:, 0],
                               greedy.log_probs.numpy(), atol=1e-4)


def test_wider_beam_is_at_least_as_likely_as_greedy(date_model):
    model, source = date_model["model"], date_model["test"].source_ids[:16]
    greedy = greedy_decode(model, source, 11).log_probs.numpy()
    beam = beam_search(model, source, beam_width=4, max_length=11)
    best = beam.log_probs.numpy()[:, 0]
    assert np.all(best >= greedy - 1e-4)
    assert beam.sequences.shape == (16, 4, 11)
    scores = beam.scores.numpy()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    # every finished hypothesis ends with END then padding only
    end = model.end_id
    for row in beam.sequences.numpy().reshape(-1, 11):
        if end in row:
            assert not row[list(row).index(end) + 1:].any()


def test_beam_search_compiles_with_xla():
    model = tiny("dot", bidirectional=True)
    source = random_batch()[0]
    jitted = beam_search(model, source, beam_width=3, max_length=6,
                         length_penalty=0.6, jit_compile=True)
    plain = beam_search(model, source, beam_width=3, max_length=6,
                        length_penalty=0.6, jit_compile=False)
    np.testing.assert_array_equal(jitted.sequences.numpy(),
                                  plain.sequences.numpy())
    np.testing.assert_allclose(jitted.log_probs.numpy(),
                               plain.log_probs.numpy(), atol=1e-4)
    compiled = tf.function(
        lambda ids: beam_search(model, ids, 2, 6).sequences, jit_compile=True)
    assert compiled(tf.constant(source)).shape == (3, 2, 6)


def test_sampling_at_temperature_zero_equals_greedy(date_model):
    model, source = date_model["model"], date_model["test"].source_ids[:16]
    greedy = greedy_decode(model, source, 11).sequences.numpy()
    np.testing.assert_array_equal(
        sample_sequences(model, source, 11, temperature=0.0).numpy(), greedy)
    np.testing.assert_array_equal(
        sample_sequences(model, source, 11, temperature=1.0, top_k=1,
                         seed=4).numpy(), greedy)
    np.testing.assert_array_equal(
        best_sequences(model, source, 1, 11).numpy(), greedy)


def test_sampling_is_reproducible_and_well_formed():
    model = tiny("dot", bidirectional=True)
    source = np.tile(random_batch()[0], (4, 1))  # 12 rows

    def sample(seed, **knobs):
        return sample_sequences(model, source, 8, temperature=1.5, seed=seed,
                                **knobs).numpy()

    first = sample(1)
    np.testing.assert_array_equal(sample(1), first)
    assert not np.array_equal(sample(2), first)
    assert not np.array_equal(sample(1, top_p=0.5), first)
    end = model.end_id
    for row in np.concatenate([first, sample(2), sample(3, top_k=3)]):
        ended = np.flatnonzero(row == end)
        produced = row[:ended[0]] if len(ended) else row
        assert produced.all() and model.start_id not in produced
        if len(ended):
            assert not row[ended[0] + 1:].any()  # padding after END
    with pytest.raises(KerasLMError, match="temperature"):
        sample_sequences(model, source, 8, temperature=-1.0)


def test_bad_beam_width_is_an_error():
    model = tiny()
    with pytest.raises(KerasLMError, match="beam width"):
        beam_search(model, random_batch()[0], beam_width=0)
    with pytest.raises(KerasLMError, match="max length"):
        greedy_decode(model, random_batch()[0], max_length=0)


def test_attention_weights_sum_to_one_over_real_tokens(tmp_path):
    model = tiny("additive", bidirectional=True)
    source, decoder_input = random_batch()
    weights = model.attention_weights((source, decoder_input)).numpy()
    assert weights.shape == (3, 5, 6)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[0, :, 4:] < 1e-6)  # padded source positions
    with pytest.raises(KerasLMError, match="no attention"):
        tiny("none").attention_weights((source, decoder_input))

    greedy = greedy_decode(model, source, 7, return_attention=True)
    attention = greedy.attention.numpy()
    assert attention.shape == (3, 7, 6)
    sequences = greedy.sequences.numpy()
    for row in range(3):
        produced = (sequences[row] > 0).sum()
        np.testing.assert_allclose(attention[row, :produced].sum(-1), 1.0,
                                   atol=1e-5)
        assert not attention[row, produced:].any()

    path = tmp_path / "plots" / "attention.png"
    plot_attention(attention[0], ["a", "b", "c", "d"],
                   [f"t{i}" for i in range(7)], str(path), title="test")
    assert path.stat().st_size > 1000
    with pytest.raises(KerasLMError):
        plot_attention(attention, ["a"], ["b"], str(path))


def test_translation_metrics_on_known_strings():
    references = ["the cat sat on the mat", "hello world"]
    assert corpus_bleu(references, references) == pytest.approx(100.0)
    assert corpus_bleu(["completely different words", "nope"],
                       references) < 5.0
    rouge = rouge_scores(["the cat sat on the mat", "hello there"],
                         references)
    assert rouge["rouge1"] == pytest.approx((1.0 + 0.5) / 2)
    assert rouge["rouge2"] == pytest.approx((1.0 + 0.0) / 2)
    assert set(rouge) == {"rouge1", "rouge2", "rougeL"}
    assert exact_match(["a ", "b"], ["a", "c"]) == 0.5
    metrics = translation_metrics(references, references)
    assert metrics["exact_match"] == 1.0 and metrics["rougeL"] == 1.0
    with pytest.raises(KerasLMError):
        exact_match(["a"], ["a", "b"])


def test_masked_token_accuracy():
    y_true = np.array([[2, 3, 0, 0], [4, 0, 0, 0]])
    logits = np.zeros((2, 4, 5), "float32")
    logits[0, 0, 2] = logits[0, 1, 1] = logits[1, 0, 4] = 1.0
    logits[:, 2:, 0] = 1.0  # "correct" on padding must not count
    metric = MaskedTokenAccuracy()
    metric.update_state(y_true, logits)
    assert float(metric.result()) == pytest.approx(2 / 3)
    metric.reset_state()
    metric.update_state(y_true, logits)
    metric.update_state(y_true[:1], logits[:1])
    assert float(metric.result()) == pytest.approx(3 / 5)


def test_any_tokenizer_plugs_in():
    word = pytest.importorskip("keras_lm.tokenizers.word")

    tokenizer = word.WordTokenizer.from_text("the cat sat on the mat")
    pairs = [("the cat", "mat"), ("sat on the mat", "the cat")] * 4
    encoded = encode_pairs(pairs, tokenizer, tokenizer, 4, 4)
    specials = target_specials(tokenizer)
    model = Seq2Seq(tokenizer.vocab_size, specials.vocab_size, 8, 8)
    sequences = greedy_decode(model, encoded.source_ids, 4).sequences
    assert isinstance(specials.decode(tokenizer, sequences.numpy()[0]), str)


def test_subword_tokenizer_plugs_in():
    subword = pytest.importorskip("keras_lm.tokenizers.subword")

    pairs = date_pairs(200, seed=2)
    source_tokenizer = subword.SubwordTokenizer.from_text(
        " ".join(s for s, _ in pairs), vocab_size=400)
    target_tokenizer = CharTokenizer.from_text("0123456789-")
    encoded = encode_pairs(pairs, source_tokenizer, target_tokenizer, 24, 11)
    assert len(encoded) + encoded.num_filtered == 200
    model = compile_seq2seq(Seq2Seq(source_tokenizer.vocab_size,
                                    encoded.specials.vocab_size, 8, 8))
    model.fit(pairs_dataset(encoded, 32), epochs=1, verbose=0)
    translator = as_translator(model, source_tokenizer, target_tokenizer,
                               24, 10)
    texts = translator.translate([s for s, _ in pairs[:3]], beam_width=2)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
