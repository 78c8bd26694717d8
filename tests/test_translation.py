"""Seq2seq runs end to end: train (and resume), evaluate, translate, plot,
export (TensorFlow alone and saved_model_cli), the real spa-eng file, and
one-line errors for bad input."""

import csv
import json
import os
import re

import keras
import numpy as np
import pytest

from conftest import (SHARED_DATA, start_saved_model_cli,
                      start_without_keras_lm)
from keras_lm.cli import main
from keras_lm.errors import KerasLMError
from keras_lm.runs import RunDirectory, train

SPA_ENG_ZIP = SHARED_DATA / "spa-eng" / "spa-eng.zip"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# The embedded date task, small and fast: character tokens on both sides.
DATE_SETTINGS = dict(
    tokenizer="char", max_source_length=40, max_target_length=10,
    max_examples=4000, model_config=dict(embedding_dim=32, units=64),
    training=dict(batch_size=64, epochs=3, steps_per_epoch=40,
                  learning_rate=1e-2))
DATE_FLAGS = ["--tokenizer", "char", "--max-source-length", "40",
              "--max-target-length", "10", "--embedding-dim", "32",
              "--units", "64", "--batch-size", "64", "--epochs", "3",
              "--steps-per-epoch", "40", "--learning-rate", "0.01",
              "--max-examples", "4000", "--verbose", "0"]
SOURCES = ["3rd of March 2021", "MONDAY, JUNE 5, 2000", "14.07.1989",
           "sun, dec 31, 2000"]


class InterruptAtEpoch(keras.callbacks.Callback):
    """Stops training like Ctrl-C at the start of epoch `epoch` (0-based),
    after the backup of the previous epoch was written."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def history_epochs(run_dir):
    with open(os.path.join(run_dir, "history.csv")) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def date_run(tmp_path_factory):
    """Trained in two goes: the Python API is interrupted after two of three
    epochs, then `keras-lm train seq2seq` with the same settings resumes."""
    run_dir = str(tmp_path_factory.mktemp("s2s") / "dates")
    with pytest.raises(KeyboardInterrupt):
        train("seq2seq", run_dir, verbose=0,
              callbacks=[InterruptAtEpoch(2)], **DATE_SETTINGS)
    interrupted = history_epochs(run_dir)
    assert main(["train", "seq2seq", "--out", run_dir, *DATE_FLAGS]) == 0
    return {"run_dir": run_dir, "interrupted": interrupted}


@pytest.fixture(scope="module")
def translator(date_run):
    return RunDirectory(date_run["run_dir"]).load().translator()


def fails_with(capsys, argv, message):
    """Runs the seq2seq CLI in-process: exit 2, one line naming `message`."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("keras-lm: error:") and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_training_resumes_and_writes_a_complete_run_directory(date_run):
    run_dir = date_run["run_dir"]
    assert date_run["interrupted"] == [0, 1]
    assert history_epochs(run_dir) == [0, 1, 2]  # continued, not restarted
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    assert config["model"]["family"] == "seq2seq" and config["finished"]
    assert config["model"]["config"]["attention"] == "additive"
    stats = config["data_stats"]
    assert stats["train"] + stats["validation"] + stats["test"] == 4000
    assert stats["skipped_lines"] == 0 and stats["train_filtered"] == 0
    for path in ("source_tokenizer/tokenizer.json",
                 "target_tokenizer/tokenizer.json", "model.keras",
                 "checkpoints/best.weights.h5", "checkpoints/last.weights.h5"):
        assert os.path.isfile(os.path.join(run_dir, path)), path
    assert os.listdir(os.path.join(run_dir, "logs"))
    assert not os.path.exists(os.path.join(run_dir, "backup"))
    assert RunDirectory(run_dir).family() == "seq2seq"
    assert RunDirectory(os.path.dirname(run_dir)).family() is None
    # The same command again: nothing to do; other settings: refused.
    assert train("seq2seq", run_dir, verbose=0, **DATE_SETTINGS) is None
    with pytest.raises(KerasLMError, match="different model config"):
        train("seq2seq", run_dir, verbose=0, **{
            **DATE_SETTINGS, "model_config": {"units": 32}})


def test_evaluate_reports_bleu_and_exact_match_well_above_chance(
        date_run, capsys):
    assert main(["evaluate", date_run["run_dir"], "--beam-width", "1"]) == 0
    out = capsys.readouterr().out
    scores = dict(re.findall(r"^(\w+): ([\d.]+)", out, re.MULTILINE))
    # Chance of guessing a whole date among 100 years is 1 in 36,525.
    assert float(scores["exact_match"]) > 0.3, out
    assert float(scores["bleu"]) > 50, out
    assert float(scores["token_accuracy"]) > 0.8, out
    assert int(scores["pairs"]) == 400
    assert out.startswith("bleu:")  # the headline metric of translation


def test_translate_with_beam_search_and_plot(date_run, translator, capsys,
                                            tmp_path):
    plot = tmp_path / "plots" / "attention.png"
    argv = ["translate", date_run["run_dir"], "--beam-width", "3",
            "--plot-attention", str(plot)]
    for text in SOURCES[:2]:
        argv += ["--text", text]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(ISO_DATE.match(line) for line in lines)
    assert plot.stat().st_size > 1000

    with pytest.raises(KerasLMError, match="beam width"):
        translator.translate(SOURCES, beam_width=0)
    with pytest.raises(KerasLMError, match="max_source_length of 40"):
        translator.translate(["March 3, 2021 " * 5])


STANDALONE = """
import json
import tensorflow as tf
try:
    import keras_lm
    raise SystemExit("keras_lm should not be importable here")
except ImportError:
    pass
{extra_import}
loaded = tf.saved_model.load({path!r})
out = loaded.signatures["serving_default"](text=tf.constant({texts!r}))
result = {{"translations": [t.decode() for t in out["translation"].numpy()]}}
try:
    loaded.signatures["serving_default"](text=tf.constant(["", "x"]))
    result["empty"] = "accepted"
except tf.errors.InvalidArgumentError as e:
    result["empty"] = "non-empty" in str(e)
print(json.dumps(result))
"""


def start_standalone(path, texts, tmp_path, extra_import=""):
    return start_without_keras_lm(STANDALONE.format(
        path=path, texts=texts, extra_import=extra_import), tmp_path)


def standalone_output(started):
    result = started.result()
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_standalone(path, texts, tmp_path, extra_import=""):
    return standalone_output(start_standalone(path, texts, tmp_path,
                                              extra_import))


def test_export_translates_without_keras_lm_and_in_saved_model_cli(
        date_run, translator, tmp_path, capsys):
    path = str(tmp_path / "sm" / "dates")
    assert main(["export", date_run["run_dir"], "--out", path]) == 0
    assert capsys.readouterr().out.strip() == f"exported {path}"
    long_text = "Wednesday 3 March 2021 " * 3  # over 40 tokens: truncated
    # Both fresh processes at once: their TensorFlow imports overlap with
    # each other and with the translations computed here meanwhile.
    standalone = start_standalone(path, SOURCES + [long_text], tmp_path)
    saved_model_cli = start_saved_model_cli(
        path, f"text={json.dumps(SOURCES[:2])}")
    try:
        expected = translator.translate(SOURCES + [long_text[:40]],
                                        beam_width=4)
        out = standalone_output(standalone)
        result = saved_model_cli.result()
    finally:
        standalone.stop()
        saved_model_cli.stop()
    assert out["translations"] == expected
    assert out["empty"] is True

    assert result.returncode == 0, result.stderr[-2000:]
    assert "output key translation" in result.stdout
    for translation in expected[:2]:
        assert translation in result.stdout
    # `generate` on it (a language-model command) says what it is instead
    assert main(["generate", path, "--prompt", "x"]) == 2
    assert "is a translator export" in capsys.readouterr().err


@pytest.mark.skipif(not SPA_ENG_ZIP.is_file(), reason="no spa-eng.zip")
def test_spa_eng_trains_from_the_real_file_and_exports_subwords(tmp_path):
    run_dir = str(tmp_path / "spa_eng")
    history = train(
        "seq2seq", run_dir, data=str(SPA_ENG_ZIP), reverse=True,
        tokenizer="subword", vocab_size=600, max_examples=3000,
        max_source_length=8, max_target_length=8,
        model_config=dict(embedding_dim=16, units=32),
        training=dict(batch_size=32, epochs=1, steps_per_epoch=5), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    stats = RunDirectory(run_dir).read_config()["data_stats"]
    assert stats["source"] == "spa-eng.zip" and stats["loaded"] == 3000
    assert stats["train_filtered"] > 0  # long sentences over 8 tokens

    # The default subword tokenizers work inside the exported graph too.
    path = RunDirectory(run_dir).load().export(
        str(tmp_path / "sm" / "spa_eng"), beam_width=2)
    out = run_standalone(path, ["Hola.", "¿Dónde está el gato?"], tmp_path,
                         extra_import="import tensorflow_text")
    assert len(out["translations"]) == 2
    assert all(isinstance(t, str) for t in out["translations"])
    assert out["empty"] is True


def test_bad_inputs_give_one_line(date_run, capsys, tmp_path):
    run_dir = date_run["run_dir"]
    fails_with(capsys, ["train", "seq2seq", "--data", "no_such_pairs_xyz",
                        "--out", str(tmp_path / "a")], "unknown pair dataset")
    no_tabs = tmp_path / "pairs.txt"
    no_tabs.write_text("hello world\nno tabs here\n", encoding="utf-8")
    fails_with(capsys, ["train", "seq2seq", "--data", str(no_tabs),
                        "--out", str(tmp_path / "b")], "no English<TAB>other")
    fails_with(capsys, ["translate", run_dir, "--text", "May 1, 2000",
                        "--beam-width", "0"], "beam width must be")
    for flags, message in ((["--max-length", "4294967297"], "max length"),
                           (["--length-penalty", "nan"], "length penalty"),
                           (["--plot-attention", str(tmp_path / "a.txt")],
                            "not an image file name")):
        fails_with(capsys, ["translate", run_dir, "--text", "May 1, 2000",
                            *flags], message)
    fails_with(capsys, ["translate", run_dir, "--text", "x" * 41],
               "41 tokens, more than the model's max_source_length of 40")
    fails_with(capsys, ["translate", str(tmp_path), "--text", "x"],
               "not a keras-lm run directory")
    lm_run = tmp_path / "lm_run"  # a language-model run, by its config
    lm_run.mkdir()
    (lm_run / "config.json").write_text(
        '{"model": {"family": "gru", "config": {}}}', encoding="utf-8")
    fails_with(capsys, ["translate", str(lm_run), "--text", "x"],
               "is not a seq2seq run; use `keras-lm generate`")
    fails_with(capsys, ["train", "seq2seq", "--data", str(no_tabs),
                        "--out", str(lm_run)], "holds a gru run")
    for command in (["generate", run_dir, "--prompt", "x"],
                    ["finetune", run_dir, "--data", str(no_tabs), "--out",
                     str(tmp_path / "c")],
                    ["train", "gru", "--data", str(no_tabs), "--out", run_dir]):
        fails_with(capsys, command, "seq2seq run")
    fails_with(capsys, ["export", run_dir, "--temperature", "0.5", "--out",
                        str(tmp_path / "e")], "--temperature does not apply")
    assert not os.path.exists(tmp_path / "a")
    assert not os.path.exists(tmp_path / "b")


def test_keras_lm_command_dispatches_seq2seq(date_run, capsys):
    # The `keras-lm` entry point in-process (test_cli.py runs it as a
    # module in a fresh process).
    capsys.readouterr()
    assert main(["translate", date_run["run_dir"], "--text", SOURCES[0],
                 "--beam-width", "2"]) == 0
    out, err = capsys.readouterr()
    assert ISO_DATE.match(out.strip()), err
    assert main(["translate", date_run["run_dir"], "--text", "x",
                 "--beam-width", "0"]) == 2
    assert capsys.readouterr().err.strip().startswith(
        "keras-lm: error: beam width")


def test_help_on_every_seq2seq_command():
    for argv in (["train", "seq2seq", "--help"], ["translate", "--help"],
                 ["evaluate", "--help"], ["export", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
