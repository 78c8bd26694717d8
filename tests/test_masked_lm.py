"""Masked-LM pre-training (`keras-lm train encoder`) and what it feeds:
filling masks, embeddings, its SavedModel, and a classifier that starts
from its encoder (`--init`, `--freeze-backbone`)."""

import csv
import math
import os

import numpy as np
import pytest

from conftest import SHARED_DATA, run_without_keras_lm
from keras_lm import pipeline
from keras_lm.cli import main
from keras_lm.runs import RunDirectory

TINY = ["--num-layers", "1", "--d-model", "32", "--num-heads", "2",
        "--max-sequence-length", "64", "--vocab-size", "1000",
        "--batch-size", "16", "--learning-rate", "2e-3", "--warmup-steps",
        "0", "--verbose", "0"]


def history(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def encoder_run(tmp_path_factory, corpus_file):
    """A tiny encoder pre-trained on 60 KB of Shakespeare (read-only)."""
    run_dir = str(tmp_path_factory.mktemp("runs") / "encoder")
    assert main(["train", "encoder", "--data", corpus_file, "--out", run_dir,
                 "--seq-len", "32", "--epochs", "2", "--steps-per-epoch",
                 "50", *TINY]) == 0
    return run_dir


@pytest.fixture(scope="session")
def encoder_export(encoder_run, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("exports") / "encoder")
    assert main(["export", encoder_run, "--out", path]) == 0
    return path


def test_pre_training_lowers_the_masked_token_loss(encoder_run, capsys):
    rows = history(encoder_run)
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    # Below guessing uniformly among the vocabulary.
    vocab_size = RunDirectory(encoder_run).read_config()["model"]["config"][
        "vocab_size"]
    assert float(rows[-1]["val_loss"]) < math.log(vocab_size) - 0.4
    assert main(["evaluate", encoder_run]) == 0
    out = capsys.readouterr().out
    assert "masked_accuracy:" in out and "perplexity:" in out


def test_fill_mask_ranks_tokens_like_transformers(encoder_run):
    fill = pipeline("fill-mask", model=encoder_run)
    candidates = fill("the king is [MASK] , my lord .", top_k=3)
    assert len(candidates) == 3
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1
    for c in candidates:
        word = c["token_str"].removeprefix("##")
        assert word in c["sequence"] and "[MASK]" not in c["sequence"]
    assert len(fill(["[MASK] lord", "a [MASK]"])) == 2
    with pytest.raises(Exception, match=r"needs a \[MASK\]"):
        fill("no mask here")


def test_the_export_fills_masks_and_embeds_as_the_run_does(
        encoder_run, encoder_export, tmp_path):
    task = RunDirectory(encoder_run).load()
    texts = ["the king is [MASK] , my lord .", "[MASK] me not"]
    expected = task.fill_mask(texts, top_k=5)
    vectors = task.embed(["what light through yonder window breaks"])
    code = f"""
import numpy as np, tensorflow as tf, tensorflow_text
loaded = tf.saved_model.load({encoder_export!r})
out = loaded.signatures["fill_mask"](text=tf.constant({texts!r}))
print([[t.decode() for t in row] for row in out["token_str"].numpy()])
print(out["score"].numpy().round(4).tolist())
print([[s.decode() for s in row] for row in out["sequence"].numpy()])
e = loaded.signatures["embed"](text=tf.constant(["what light through yonder window breaks"]))
np.save("embedding.npy", e["embedding"].numpy())
"""
    result = run_without_keras_lm(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    tokens, scores, sequences = result.stdout.splitlines()
    assert tokens == str([[c["token_str"] for c in row] for row in expected])
    np.testing.assert_allclose(
        eval(scores), [[c["score"] for c in row] for row in expected],
        atol=2e-4)
    assert sequences == str([[c["sequence"] for c in row]
                             for row in expected])
    np.testing.assert_allclose(np.load(tmp_path / "embedding.npy"), vectors,
                               atol=1e-5)


def test_feature_extraction_gives_token_states_or_pooled_vectors(
        encoder_run):
    extract = pipeline("feature-extraction", model=encoder_run)
    tokens = extract("to be or not to be")
    # One text: [1 x tokens x features], [CLS] and [SEP] included.
    assert len(tokens) == 1 and len(tokens[0][0]) == 32
    assert len(tokens[0]) >= 2 + 6 - 1
    pooled = extract(["to be", "or not"], pooling="mean", normalize=True)
    assert np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)


def test_a_classifier_starts_from_the_pre_trained_encoder(
        encoder_run, tmp_path):
    out = str(tmp_path / "finetuned")
    rt = str(SHARED_DATA / "rt-polarity")
    assert main(["train", "classifier", "--data", rt, "--init", encoder_run,
                 "--freeze-backbone", "--out", out, "--epochs", "1",
                 "--steps-per-epoch", "10", "--max-length", "48",
                 "--batch-size", "16", "--verbose", "0"]) == 0
    encoder = RunDirectory(encoder_run).load()
    classifier = RunDirectory(out).load()
    # The run took the encoder's tokenizer and shape, and (frozen) its
    # weights unchanged; only the new head trained.
    assert classifier.tokenizer.get_config() == encoder.tokenizer.get_config()
    assert classifier.model_config["d_model"] == 32
    for mine, theirs in zip(classifier.model.encoder.weights,
                            encoder.model.encoder.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    assert classifier.predict_text("a fine film") in ("neg", "pos")


def test_a_classifier_refuses_a_shape_its_init_encoder_lacks(
        encoder_run, tmp_path, capsys):
    out = tmp_path / "clash"
    assert main(["train", "classifier", "--data",
                 str(SHARED_DATA / "rt-polarity"), "--init", encoder_run,
                 "--d-model", "64", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "d_model=64 does not fit the encoder" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
