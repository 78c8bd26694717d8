"""Sentiment classification end to end: `keras-lm train classifier` on the
real rt-polarity data, then classify, evaluate, embed and export, and the
bad input of each."""

import csv
import os
import threading

import numpy as np
import pytest

from conftest import SHARED_DATA, run_without_keras_lm
from keras_lm.cli import main
from keras_lm.runs import RunDirectory

RT_POLARITY = str(SHARED_DATA / "rt-polarity")
TINY = ["--num-layers", "1", "--d-model", "32", "--num-heads", "2",
        "--vocab-size", "2000", "--max-length", "48", "--batch-size", "32",
        "--learning-rate", "2e-3", "--warmup-steps", "0", "--verbose", "0"]


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory):
    """A small Transformer classifier trained on rt-polarity (read-only)."""
    run_dir = str(tmp_path_factory.mktemp("runs") / "sentiment")
    assert main(["train", "classifier", "--data", RT_POLARITY, "--out",
                 run_dir, "--epochs", "2",
                 "--steps-per-epoch", "60", *TINY]) == 0
    return run_dir


@pytest.fixture(scope="session")
def classifier_export(classifier_run, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("exports") / "sentiment")
    assert main(["export", classifier_run, "--out", path]) == 0
    return path


def test_training_learns_and_keeps_the_label_names(classifier_run):
    run = RunDirectory(classifier_run)
    config = run.read_config()
    assert config["data"]["label_names"] == ["neg", "pos"]
    assert config["data_stats"]["train"] == 8530
    with open(os.path.join(classifier_run, "history.csv")) as f:
        history = list(csv.DictReader(f))
    assert float(history[-1]["val_loss"]) < float(history[0]["val_loss"])
    assert float(history[-1]["val_accuracy"]) > 0.58  # chance is 0.5


def test_classify_prints_a_label_and_its_probability(classifier_run,
                                                     classifier_export,
                                                     capsys):
    texts = ["a gorgeous , witty , seductive movie .",
             "the plot is nothing but boilerplate clichés ."]
    assert main(["classify", classifier_run, "--text", texts[0],
                 "--text", texts[1]]) == 0
    from_run = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[2] for line in from_run] == texts
    assert all(line.split("\t")[0] in ("neg", "pos") for line in from_run)
    assert main(["classify", classifier_export, "--text", texts[0],
                 "--text", texts[1]]) == 0
    from_export = capsys.readouterr().out.splitlines()
    for run_line, export_line in zip(from_run, from_export):
        run_label, run_p, _ = run_line.split("\t")
        export_label, export_p, _ = export_line.split("\t")
        assert run_label == export_label
        assert float(run_p) == pytest.approx(float(export_p), abs=1e-4)


def test_evaluate_reports_per_class_scores_and_draws_the_matrix(
        classifier_run, tmp_path, capsys):
    assert main(["evaluate", classifier_run]) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "neg: precision" in out
    assert "pos: precision" in out and "(1066 examples)" in out
    plot = os.path.join(classifier_run, "confusion_matrix.png")
    with open(plot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    task = RunDirectory(classifier_run).load()
    scores = task.evaluate(split="validation")
    assert sum(map(sum, scores["confusion_matrix"])) == 1066
    assert 0.0 <= scores["macro_f1"] <= 1.0
    # Other data is scored whole (nothing of it was held out).
    other = tmp_path / "reviews.jsonl"
    other.write_text('{"text": "a fine film", "label": "pos"}\n'
                     '{"text": "a dull mess", "label": "neg"}\n'
                     '{"text": "so bad", "label": "neg"}\n')
    assert task.evaluate(data=str(other))["examples"] == 3


def test_embed_gives_one_unit_vector_per_text(classifier_run, tmp_path,
                                              capsys):
    out = tmp_path / "vectors.npy"
    assert main(["embed", classifier_run, "--text", "good", "--text",
                 "a long and winding review of a film", "--normalize",
                 "--out", str(out)]) == 0
    vectors = np.load(out)
    assert vectors.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_the_export_runs_with_tensorflow_alone(classifier_run,
                                               classifier_export, tmp_path):
    code = f"""
import tensorflow as tf, tensorflow_text
loaded = tf.saved_model.load({classifier_export!r})
out = loaded.signatures["serving_default"](text=tf.constant(["fine", "bad film"]))
print([x.decode() for x in out["label"].numpy()], out["probabilities"].shape)
print(loaded.signatures["embed"](text=tf.constant(["fine"]))["embedding"].shape)
"""
    result = run_without_keras_lm(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    labels = RunDirectory(classifier_run).load().predict_text(["fine",
                                                               "bad film"])
    assert result.stdout.splitlines() == [f"{labels} (2, 2)", "(1, 32)"]


def test_concurrent_export_calls_are_independent(classifier_export):
    import tensorflow as tf

    serve = tf.saved_model.load(classifier_export).signatures[
        "serving_default"]
    texts = [f"review number {i} is {'good' if i % 2 else 'bad'}"
             for i in range(8)]
    alone = [serve(text=tf.constant([t]))["probabilities"].numpy()
             for t in texts]
    together = [None] * len(texts)

    def call(i):
        together[i] = serve(text=tf.constant([texts[i]]))[
            "probabilities"].numpy()

    threads = [threading.Thread(target=call, args=(i,))
               for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_allclose(np.concatenate(together),
                               np.concatenate(alone), atol=1e-6)


def test_long_texts_are_truncated_and_said_so_once(classifier_run, capsys):
    task = RunDirectory(classifier_run).load()
    long_text = "good " * 200
    labels = task.predict_text([long_text, long_text])
    assert len(labels) == 2
    task.predict_text([long_text])
    err = capsys.readouterr().err
    assert err.count("truncated") == 1 and "48 tokens" in err


@pytest.mark.parametrize("args, message", [
    (["classify", "RUN", "--text", " "], "--text is empty"),
    (["train", "classifier", "--data", "ONE_CLASS"], "one class"),
    (["train", "classifier", "--data", "CSV", "--label-column", "stars"],
     "stars"),
    (["train", "classifier", "--data", RT_POLARITY, "--init", "GRU_RUN"],
     "not an encoder"),
    (["train", "classifier", "--data", RT_POLARITY, "--freeze-backbone"],
     "needs init"),
    (["classify", "GRU_RUN", "--text", "hi"], "not a classifier run"),
])
def test_bad_input_is_one_line_and_writes_nothing(
        args, message, classifier_run, trained_run, tmp_path, capsys):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "reviews.pos").write_text("good\nfine\n")
    (tmp_path / "reviews.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    places = {"RUN": classifier_run, "ONE_CLASS": str(tmp_path / "one"),
              "CSV": str(tmp_path / "reviews.csv"), "GRU_RUN": trained_run}
    out = tmp_path / "out"
    args = [places.get(a, a) for a in args]
    if args[0] == "train":
        args += ["--out", str(out), *TINY]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    """Dropout included: each epoch's masks come from the seed and the
    epoch (`ReseedEachEpoch`), which Keras does not save with weights."""
    import keras

    from keras_lm.runs import train

    class KilledInSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    small = tmp_path / "rt-small"  # 150 reviews of each class
    small.mkdir()
    for label in ("pos", "neg"):
        lines = (SHARED_DATA / "rt-polarity" / f"rt-polarity.{label}"
                 ).read_text(encoding="utf-8").splitlines()[:150]
        (small / f"reviews.{label}").write_text("\n".join(lines) + "\n")
    kwargs = dict(data=str(small), vocab_size=500, max_length=32,
                  model_config={"backbone": "gru", "d_model": 8, "dropout": 0.3},
                  training={"batch_size": 8, "epochs": 2,
                            "steps_per_epoch": 3, "warmup_steps": 0},
                  verbose=0)
    train("classifier", str(tmp_path / "whole"), **kwargs)
    with pytest.raises(KeyboardInterrupt):
        train("classifier", str(tmp_path / "resumed"),
              callbacks=[KilledInSecondEpoch()], **kwargs)
    train("classifier", str(tmp_path / "resumed"), **kwargs)
    whole, resumed = (RunDirectory(tmp_path / name).load("last").model
                      for name in ("whole", "resumed"))
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
