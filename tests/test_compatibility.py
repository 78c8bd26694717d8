"""Run directories and SavedModels written by keras-lm 0.1.0 still work.

The fixtures in tests/fixtures/v0_1/ were written by the 0.1.0 release
(README.md there says how). These tests use only the stable entry points
(the `keras-lm` command through `keras_lm.cli.main`, `keras_lm.runs.load_run`
and `tf.saved_model.load`), so they keep passing however the package is
reorganised, as long as old runs and exports keep working. Every command
that may write runs on a copy, never on the fixtures themselves.
"""

import csv
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from keras_lm.cli import main

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "v0_1"
LM_RUNS = ("gru", "lstm", "transformer")
ALL_RUNS = (*LM_RUNS, "seq2seq")
PROMPT = "The "
# The flags `runs/gru_interrupted` was started with (README.md): a run
# resumes only with the very same ones.
RESUME_FLAGS = ["--embedding-dim", "8", "--rnn-units", "16", "--epochs", "2",
                "--steps-per-epoch", "3", "--batch-size", "4",
                "--seq-len", "16"]


@pytest.fixture(scope="module")
def old(tmp_path_factory):
    """A copy of all the 0.1.0 fixtures, shared by the read-only tests."""
    copy = tmp_path_factory.mktemp("v0_1") / "v0_1"
    shutil.copytree(FIXTURES, copy)
    return copy


class Background:
    """A Python process started now and read later, so that its TensorFlow
    start-up overlaps with the in-process tests."""

    def __init__(self, argv, cwd, env, logs):
        """Runs `argv` in `cwd` with `env`; its output goes to files named
        `logs`.out and .err."""
        self.out = open(f"{logs}.out", "w+")
        self.err = open(f"{logs}.err", "w+")
        self.process = subprocess.Popen(argv, cwd=cwd, env=env,
                                        stdout=self.out, stderr=self.err,
                                        text=True)
        self._result = None

    def wait(self, timeout=300):
        """(exit code, standard output, standard error) once it ended."""
        code = self.process.wait(timeout=timeout)
        self.out.seek(0)
        self.err.seek(0)
        return code, self.out.read(), self.err.read()

    def json(self, timeout=300):
        """The JSON object on the last line of its output; asserts that
        it exited 0."""
        if self._result is None:
            code, output, errors = self.wait(timeout)
            assert code == 0, errors[-3000:]
            self._result = json.loads(output.strip().splitlines()[-1])
        return self._result

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.out.close()
        self.err.close()


@pytest.fixture(scope="module", autouse=True)
def fresh_processes(old, tmp_path_factory):
    """The checks that need a fresh Python, started at once, and one that
    runs in a fresh process only so that it overlaps with the rest:

    - "standalone": the old SavedModels with TensorFlow alone. -I keeps the
      source tree, PYTHONPATH and user site-packages off the path, and the
      editable install is blocked in sys.modules, as in a process where
      keras-lm was never installed.
    - "load_model": `import keras_lm`, then `keras.saving.load_model` of
      each old run's model.keras, with the keras_lm under test first on the
      path.
    - "resume": `runs/gru_interrupted` resumed (`keras-lm train` with its
      recorded flags) on a copy of its own; `resumed` compares it with the
      same command run in this process.
    """
    import keras_lm

    scripts = old / "scripts"
    scripts.mkdir()
    (scripts / "standalone.py").write_text(STANDALONE)
    (scripts / "load_model.py").write_text(LOAD_MODEL_KERAS)
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        quiet["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    resume_copy = tmp_path_factory.mktemp("second") / "gru_interrupted"
    shutil.copytree(FIXTURES / "runs" / "gru_interrupted", resume_copy)
    package_root = os.path.dirname(os.path.dirname(keras_lm.__file__))
    path = os.pathsep.join(filter(None, [package_root,
                                         os.environ.get("PYTHONPATH")]))
    started = {
        "standalone": Background(
            [sys.executable, "-I", str(scripts / "standalone.py")], old,
            {"PATH": os.environ.get("PATH", ""), **quiet},
            scripts / "standalone"),
        "load_model": Background(
            [sys.executable, str(scripts / "load_model.py"), *ALL_RUNS], old,
            {**os.environ, "PYTHONPATH": path, **quiet},
            scripts / "load_model"),
        "resume": Background(
            [sys.executable, "-m", "keras_lm", "train", "gru",
             *RESUME_FLAGS, "--verbose", "0", "--out", str(resume_copy)],
            old, {**os.environ, "PYTHONPATH": path, **quiet},
            scripts / "resume"),
    }
    started["resume"].run_dir = resume_copy
    yield started
    for process in started.values():
        process.stop()


def run_cli(capsys, *argv):
    """`keras-lm ARGV` in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def scores(text):
    """The `name: number` lines of `keras-lm evaluate`'s output."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r"^(\w+): (-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|inf)(?=\s|$)", text,
        re.M)}


def read_config(run_dir):
    return json.loads((pathlib.Path(run_dir) / "config.json").read_text())


def history_rows(run_dir):
    with open(pathlib.Path(run_dir) / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_the_fixtures_are_what_the_readme_says():
    for run in (*ALL_RUNS, "gru_interrupted"):
        config = read_config(FIXTURES / "runs" / run)
        assert config["keras_lm_version"] == "0.1.0"
        assert config.get("finished", False) is (run != "gru_interrupted")
    assert not (FIXTURES / "runs" / "gru_interrupted" / "model.keras").exists()
    backup = FIXTURES / "runs" / "gru_interrupted" / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())[
        "epoch"] == 1
    readme = (FIXTURES / "README.md").read_text()
    assert "keras-lm train gru " + " ".join(RESUME_FLAGS) in readme


# ----------------------------------------------------------------------------
# Old language-model runs: generate, evaluate, load


@pytest.mark.parametrize("run", LM_RUNS)
def test_old_run_generates(capsys, old, run):
    code, out, err = run_cli(capsys, "generate", old / "runs" / run,
                             "--prompt", PROMPT, "--max-new-tokens", 5,
                             "--seed", 0)
    assert code == 0, err
    assert out.startswith(PROMPT)
    # Characters but the padding and unknown tokens (which decode to
    # nothing); the text itself may hold newlines.
    assert len(PROMPT) < len(out[:-1]) <= len(PROMPT) + 5


@pytest.mark.parametrize("run", LM_RUNS)
def test_old_run_evaluates(capsys, old, run):
    code, out, err = run_cli(capsys, "evaluate", old / "runs" / run,
                             "--max-batches", 2)
    assert code == 0, err
    loss = scores(out)["loss"]
    assert math.isfinite(loss)
    # Barely trained models score about ln(vocabulary) on any batch; a
    # wrong tokenizer or weights would not land near the recorded val_loss.
    recorded = float(history_rows(old / "runs" / run)[-1]["val_loss"])
    assert abs(loss - recorded) < 0.25, (loss, recorded)


@pytest.mark.parametrize("run", LM_RUNS)
def test_old_run_loads_with_load_run(old, run):
    import numpy as np

    from keras_lm.runs import load_run

    model, tokenizer, config = load_run(str(old / "runs" / run))
    assert config["model"]["family"] == run
    vocab = config["model"]["config"]["vocab_size"]
    logits = np.asarray(model(np.zeros((1, 3), dtype="int32")))
    assert logits.shape == (1, 3, vocab)


LOAD_MODEL_KERAS = """
import json, sys
import keras
import keras_lm  # registers the model classes, or should
results = {}
for run in sys.argv[1:]:
    try:
        model = keras.saving.load_model(f"runs/{run}/model.keras")
        results[run] = ("ok", type(model).__name__, model.count_params())
    except Exception as e:
        results[run] = ("error", type(e).__name__, str(e).splitlines()[0])
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def loaded_model_keras(fresh_processes):
    """`keras.saving.load_model(RUN/model.keras)` of every old run in a fresh
    process that did nothing but `import keras_lm` (in this one, earlier
    tests have imported the model modules already, which would hide a
    missing registration)."""
    return fresh_processes["load_model"].json()


@pytest.mark.parametrize("run", ALL_RUNS)
def test_old_model_keras_loads_after_import_keras_lm(loaded_model_keras,
                                                     run):
    outcome, name, detail = loaded_model_keras[run]
    if outcome == "error" and "Could not locate class" in detail:
        pytest.xfail("0.1.0 bug being fixed: `import keras_lm` does not "
                     "register the model classes, so keras.saving.load_model "
                     f"fails: {detail[:120]}")
    assert outcome == "ok", f"{name}: {detail}"
    assert detail > 0  # parameters


# ----------------------------------------------------------------------------
# The old seq2seq run: translate, evaluate


def test_old_seq2seq_run_translates(capsys, old):
    code, out, err = run_cli(capsys, "translate", old / "runs" / "seq2seq",
                             "--text", "3 May 2001", "--beam-width", 2)
    assert code == 0, err
    assert len(out.splitlines()) == 1  # one translation (noise: 1 epoch)


def test_old_seq2seq_run_evaluates(capsys, old):
    code, out, err = run_cli(capsys, "evaluate", old / "runs" / "seq2seq",
                             "--max-batches", 1, "--beam-width", 1)
    assert code == 0, err
    values = scores(out)
    assert values and all(math.isfinite(v) for v in values.values()), out


# ----------------------------------------------------------------------------
# Exporting old runs with today's code


@pytest.mark.parametrize("run", ALL_RUNS)
def test_old_run_exports(capsys, old, tmp_path, run):
    import tensorflow as tf

    out_dir = tmp_path / "x"
    extra = [] if run == "seq2seq" else ["--max-new-tokens", 5]
    code, out, err = run_cli(capsys, "export", old / "runs" / run,
                             "--out", out_dir, *extra)
    assert code == 0, err
    loaded = tf.saved_model.load(str(out_dir))
    serve = loaded.signatures["serving_default"]
    if run == "seq2seq":
        result = serve(text=tf.constant(["3 May 2001"]))["translation"]
        assert result.shape == (1,)
        result.numpy()[0].decode("utf-8")
    else:
        text = serve(prompt=tf.constant([PROMPT]))["text"].numpy()[0]
        assert text.decode("utf-8").startswith(PROMPT)
        assert len(text.decode("utf-8")) > len(PROMPT)


# ----------------------------------------------------------------------------
# Resuming the interrupted run


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, fresh_processes):
    """`runs/gru_interrupted` resumed, with its recorded flags, on two fresh
    copies, one in this process and one in a fresh one (started with
    `fresh_processes`): [(run directory, exit code)] of each."""
    run_dir = tmp_path_factory.mktemp("first") / "gru_interrupted"
    shutil.copytree(FIXTURES / "runs" / "gru_interrupted", run_dir)
    code = main(["train", "gru", *RESUME_FLAGS, "--verbose", "0",
                 "--out", str(run_dir)])
    other = fresh_processes["resume"]
    other_code, _, errors = other.wait()
    assert other_code == 0, errors[-3000:]
    return [(run_dir, code), (other.run_dir, other_code)]


def test_interrupted_old_run_resumes_to_completion(resumed):
    for run_dir, code in resumed:
        assert code == 0
        assert read_config(run_dir)["finished"] is True
        assert (run_dir / "model.keras").is_file()
        assert not (run_dir / "backup").exists()
        # Epoch 1 came from 0.1.0, only epoch 2 was trained now.
        assert [row["epoch"] for row in history_rows(run_dir)] == ["0", "1"]


def test_resuming_an_old_run_is_deterministic(resumed):
    import numpy as np

    from keras_lm.runs import load_run

    (first, _), (second, _) = resumed
    a, _, _ = load_run(str(first))
    b, _, _ = load_run(str(second))
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_resumed_old_run_is_then_left_alone(capsys, resumed):
    """The same command once more on the finished run does nothing."""
    run_dir, _ = resumed[0]
    files = ("config.json", "model.keras", "history.csv")
    before = [(run_dir / name).read_bytes() for name in files]
    code, _, err = run_cli(capsys, "train", "gru", *RESUME_FLAGS,
                           "--verbose", 0, "--out", run_dir)
    assert code == 0, err
    assert [(run_dir / name).read_bytes() for name in files] == before


# ----------------------------------------------------------------------------
# Old SavedModels


STANDALONE = """
import json, sys
sys.modules["keras_lm"] = None  # `import keras_lm` now raises ImportError
try:
    import keras_lm
    raise SystemExit("keras_lm should not be importable here")
except ImportError:
    pass
import tensorflow as tf
lm = tf.saved_model.load("saved_models/gru")
text = lm.signatures["serving_default"](prompt=tf.constant(["The "]))["text"]
args = dict(prompt=tf.constant(["The "]), max_new_tokens=tf.constant(5),
            temperature=tf.constant(1.0), top_k=tf.constant(0),
            top_p=tf.constant(1.0), seed=tf.constant(7))
short = lm.signatures["generate"](**args)["text"]
translator = tf.saved_model.load("saved_models/seq2seq")
dates = translator.signatures["serving_default"](
    text=tf.constant(["3 May 2001", "1st of June 1999"]))["translation"]
print(json.dumps({"text": text.numpy()[0].decode(),
                  "short": short.numpy()[0].decode(),
                  "dates": [d.decode() for d in dates.numpy()]}))
"""


def test_old_saved_models_load_with_tensorflow_alone(fresh_processes):
    """Plain `tf.saved_model.load` in a process where keras_lm cannot be
    imported (see `fresh_processes`); character models need no
    tensorflow_text."""
    out = fresh_processes["standalone"].json()
    assert out["text"].startswith(PROMPT) and len(out["text"]) > len(PROMPT)
    # At most one character a token (padding and unknown decode to "").
    assert len(PROMPT) < len(out["short"]) <= len(PROMPT) + 5
    assert len(out["dates"]) == 2


def test_generate_from_old_saved_model(capsys, old):
    code, out, err = run_cli(capsys, "generate", old / "saved_models" / "gru",
                             "--prompt", PROMPT, "--max-new-tokens", 5,
                             "--seed", 0)
    assert code == 0, err
    assert out.startswith(PROMPT)
    assert len(PROMPT) < len(out[:-1]) <= len(PROMPT) + 5
