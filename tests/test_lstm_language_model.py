"""LSTMLanguageModel: stacked layers, tied embeddings, word/subword runs,
export without keras-lm, and fine-tuning into a new run directory."""

import filecmp
import json
import os

import numpy as np
import pytest

import keras
from conftest import run_without_keras_lm
from keras_lm.cli import main
from keras_lm.errors import KerasLMError
from keras_lm.models import LSTMLanguageModel

TINY_LSTM = ["--embedding-dim", "24", "--rnn-units", "24", "--batch-size", "8",
             "--seq-len", "24", "--verbose", "0"]


def test_num_layers_are_really_stacked():
    counts = []
    for num_layers in (1, 2, 3):
        model = LSTMLanguageModel(vocab_size=50, embedding_dim=16,
                                  rnn_units=16, num_layers=num_layers)
        model(np.zeros((1, 3), "int32"))
        assert len(model.rnn_layers) == num_layers
        counts.append(model.count_params())
    # every extra LSTM(16) on 16 inputs adds 4 * (16 + 16 + 1) * 16 weights
    assert counts[1] - counts[0] == counts[2] - counts[1] == 4 * 33 * 16


def test_tied_embeddings_share_the_matrix_and_need_equal_sizes():
    tied = LSTMLanguageModel(vocab_size=50, embedding_dim=16, rnn_units=16,
                             tie_embeddings=True)
    untied = LSTMLanguageModel(vocab_size=50, embedding_dim=16, rnn_units=16)
    for model in (tied, untied):
        model(np.zeros((1, 3), "int32"))
    assert untied.count_params() - tied.count_params() == 16 * 50
    with pytest.raises(KerasLMError, match="rnn_units == embedding_dim"):
        LSTMLanguageModel(vocab_size=50, embedding_dim=16, rnn_units=32,
                          tie_embeddings=True)


def test_stateful_chunks_and_decode_steps_match_a_full_pass(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 40, (3, 12)).astype("int32")
    model = LSTMLanguageModel(vocab_size=40, embedding_dim=8, rnn_units=8,
                              num_layers=2, tie_embeddings=True)
    whole = model(tokens).numpy()
    stateful = LSTMLanguageModel.from_config(
        {**model.get_config(), "stateful": True})
    stateful(tokens[:, :6])
    stateful.set_weights(model.get_weights())
    stateful.reset_rnn_states()
    chunks = [stateful(tokens[:, :6]).numpy(), stateful(tokens[:, 6:]).numpy()]
    np.testing.assert_allclose(np.concatenate(chunks, 1), whole, atol=1e-5)
    cache = model.initial_cache(3, 12)
    for t in range(12):
        logits, cache = model.decode_step(tokens[:, t], cache, t)
        np.testing.assert_allclose(logits.numpy(), whole[:, t], atol=1e-5)
    path = str(tmp_path / "lstm.keras")
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path)(tokens).numpy(),
                               whole, atol=1e-6)


@pytest.fixture(scope="module")
def word_run(tmp_path_factory, corpus_file):
    run_dir = str(tmp_path_factory.mktemp("lstm") / "word")
    assert main(["train", "lstm", "--data", corpus_file, "--out", run_dir,
                 "--tokenizer", "word", "--vocab-size", "500", "--epochs", "2",
                 "--steps-per-epoch", "25", "--num-layers", "2",
                 "--tie-embeddings", *TINY_LSTM]) == 0
    return run_dir


def test_word_level_text_joins_prompt_and_continuation_as_the_tokenizer_does(
        word_run, tmp_path):
    """A word tokenizer's continuation needs its leading space (or none,
    before punctuation): generated text equals decoding prompt and new ids
    together, in Python and in the exported graph."""
    import tensorflow as tf

    from keras_lm.generation import encode_prompts, generate_ids, generate_text
    from keras_lm.runs import load_run
    from keras_lm.serving import export

    model, tokenizer, _ = load_run(word_run)
    words = [t for t in tokenizer.tokens if t.isalpha()][:3]
    prompt = " ".join(words)  # known words, so the prompt round-trips
    assert tokenizer.decode(tokenizer.encode(prompt)) == prompt
    ids, lengths = encode_prompts(tokenizer, [prompt])
    new = generate_ids(model, ids, lengths, 6, temperature=0.0).numpy()[0]
    expected = tokenizer.decode(tokenizer.encode(prompt) + new.tolist())
    assert expected.startswith(prompt + " ") or expected[len(prompt)] in ",.;:!?"
    # a prompt that ends in a space already separates: no second space
    spaced = prompt + " " + expected[len(prompt):].removeprefix(" ")
    assert generate_text(model, tokenizer, [prompt, prompt + " "], 6,
                         temperature=0.0) == [expected, spaced]
    path = export(model, tokenizer, str(tmp_path / "export"), max_new_tokens=6,
                  temperature=0.0)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    texts = serve(prompt=tf.constant([prompt, prompt + " "]))["text"].numpy()
    assert [t.decode() for t in texts] == [expected, spaced]


def test_word_level_run_trains_and_evaluates_per_word(capsys, word_run):
    rows = open(os.path.join(word_run, "history.csv")).read().splitlines()
    loss = [float(r.split(",")[rows[0].split(",").index("loss")])
            for r in rows[1:]]
    assert loss[-1] < loss[0]
    assert json.load(open(os.path.join(word_run, "tokenizer.json")))[
        "kind"] == "word"
    capsys.readouterr()
    assert main(["evaluate", word_run, "--max-batches", "5"]) == 0
    scores = dict(line.split(": ") for line in
                  capsys.readouterr().out.strip().splitlines())
    # punctuation and newlines are tokens too, so a word costs >= 1 token:
    # per-word perplexity is per-token perplexity ** (tokens / word) >= it
    per_token = float(scores["perplexity"])
    per_word = float(scores["perplexity_per_word"])
    assert per_token <= per_word < per_token ** 2
    assert 0 < float(scores["bits_per_character"]) < 8


def test_subword_export_runs_with_tensorflow_and_tf_text_only(
        tmp_path, corpus_file):
    run_dir = str(tmp_path / "subword")
    assert main(["train", "lstm", "--data", corpus_file, "--out", run_dir,
                 "--tokenizer", "subword", "--vocab-size", "400",
                 "--epochs", "1", "--steps-per-epoch", "10", *TINY_LSTM]) == 0
    assert main(["export", run_dir, "--out", str(tmp_path / "sm")]) == 0
    result = run_without_keras_lm(f"""
import tensorflow as tf
import tensorflow_text  # the subword tokenizer's ops
loaded = tf.saved_model.load({str(tmp_path / "sm")!r})
out = loaded.signatures["serving_default"](prompt=tf.constant(["KING RICHARD:"]))
print(out["text"].numpy()[0].decode())
""", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith("KING RICHARD:")


def test_finetune_lowers_loss_on_new_text_and_leaves_the_source_untouched(
        tmp_path, shakespeare_text, corpus_file, capsys):
    pretrain_text = tmp_path / "pretrain.txt"
    pretrain_text.write_text(shakespeare_text[200_000:260_000])
    source = str(tmp_path / "pretrained")
    assert main(["train", "lstm", "--data", str(pretrain_text), "--out",
                 source, "--epochs", "1", "--steps-per-epoch", "30",
                 *TINY_LSTM]) == 0
    snapshot = tmp_path / "snapshot"
    import shutil

    shutil.copytree(source, snapshot)
    tuned = str(tmp_path / "tuned")
    assert main(["finetune", source, "--data", corpus_file, "--out", tuned,
                 "--epochs", "2", "--steps-per-epoch", "20",
                 "--learning-rate", "0.003", "--verbose", "0"]) == 0
    rows = open(os.path.join(tuned, "history.csv")).read().splitlines()
    header = rows[0].split(",")
    val = [float(r.split(",")[header.index("val_loss")]) for r in rows[1:]]
    assert val[-1] < val[0]
    comparison = filecmp.dircmp(source, snapshot)
    assert not comparison.diff_files and not comparison.left_only
    assert json.load(open(os.path.join(tuned, "config.json")))[
        "finetuned_from"].startswith(source)
    # the same command again finds the run finished and leaves it alone
    before = open(os.path.join(tuned, "history.csv")).read()
    assert main(["finetune", source, "--data", corpus_file, "--out", tuned,
                 "--epochs", "2", "--steps-per-epoch", "20",
                 "--learning-rate", "0.003", "--verbose", "0"]) == 0
    assert open(os.path.join(tuned, "history.csv")).read() == before
    assert "already fine-tuned with these settings" in capsys.readouterr().out


def test_finetune_refuses_text_the_tokenizer_cannot_represent(
        capsys, tmp_path, word_run):
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("Съешь же ещё этих мягких французских булок. " * 400)
    assert main(["finetune", word_run, "--data", str(foreign), "--out",
                 str(tmp_path / "tuned")]) == 2
    assert "unknown to the word tokenizer" in capsys.readouterr().err
    assert not (tmp_path / "tuned").exists()
