"""Shared fixtures: small corpora, real tfds data seeded offline, tiny runs."""

import os
import pathlib
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
TINY_SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"
# Scripts that tests run in a fresh process; importing them (as
# --doctest-modules would) runs them.
collect_ignore = ["distributed_check.py", "multi_worker_check.py"]


@pytest.fixture(scope="session")
def shakespeare_text():
    return TINY_SHAKESPEARE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tfds_data_dir(tmp_path_factory):
    """A tfds data dir whose download cache holds the real tiny_shakespeare
    file, so `tfds.load("tiny_shakespeare")` runs the real builder offline."""
    from keras_lm.data.tfds_offline import place_in_download_cache

    data_dir = tmp_path_factory.mktemp("tfds")
    place_in_download_cache("tiny_shakespeare", str(TINY_SHAKESPEARE),
                            str(data_dir))
    return str(data_dir)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory, shakespeare_text):
    """A 60 KB slice of tiny Shakespeare as a local .txt file."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(shakespeare_text[:60_000], encoding="utf-8")
    return str(path)


TINY_GRU_FLAGS = ["--embedding-dim", "16", "--rnn-units", "32",
                  "--batch-size", "8", "--seq-len", "32", "--verbose", "0"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, corpus_file):
    """A small GRU run directory trained for a few steps (shared, read-only)."""
    from keras_lm.cli import main

    run_dir = str(tmp_path_factory.mktemp("runs") / "gru")
    assert main(["train", "gru", "--data", corpus_file, "--out", run_dir,
                 "--epochs", "2", "--steps-per-epoch", "30",
                 *TINY_GRU_FLAGS]) == 0
    return run_dir


class Started:
    """A process started now and waited for later, so that its start-up
    (a TensorFlow import, mostly) overlaps with other work; its output goes
    to temporary files, so it never blocks on a full pipe."""

    def __init__(self, argv, **kwargs):
        import tempfile

        self._files = [tempfile.TemporaryFile("w+", encoding="utf-8")
                       for _ in range(2)]
        self.process = subprocess.Popen(
            argv, stdout=self._files[0], stderr=self._files[1], text=True,
            **kwargs)
        self._result = None

    def result(self, timeout=600):
        """The finished process, as `subprocess.run` returns it."""
        if self._result is None:
            try:
                code = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.stop()
                raise
            for f in self._files:
                f.seek(0)
            out, err = (f.read() for f in self._files)
            self._result = subprocess.CompletedProcess(
                self.process.args, code, out, err)
            self.stop()
        return self._result

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for f in self._files:
            f.close()


def run_cli(*args, cwd=None, timeout=600):
    """Runs `python -m keras_lm ARGS` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "keras_lm", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


BLOCK_KERAS_LM = """
import sys
sys.modules["keras_lm"] = None  # `import keras_lm` now raises ImportError
"""


def start_without_keras_lm(code, tmp_path, name="standalone"):
    """Starts Python `code` in a process where keras_lm cannot be imported;
    a `Started` process.

    The package is installed in this environment (editable), so the script
    starts by making every `import keras_lm...` fail, as in a process where it
    was never installed; -I and another cwd keep the source tree off the path.
    """
    script = tmp_path / f"{name}.py"
    script.write_text(BLOCK_KERAS_LM + code)
    return Started(
        [sys.executable, "-I", str(script)], cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"})


def run_without_keras_lm(code, tmp_path, timeout=300):
    """Runs Python `code` in a process where keras_lm cannot be imported
    (see `start_without_keras_lm`) and waits for it."""
    return start_without_keras_lm(code, tmp_path).result(timeout)


def start_saved_model_cli(saved_model, inputs):
    """Starts `saved_model_cli run` on the serving_default signature of
    `saved_model` with `--input_exprs INPUTS`; a `Started` process."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return Started(
        [cli, "run", "--dir", str(saved_model), "--tag_set", "serve",
         "--signature_def", "serving_default", "--input_exprs", inputs],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
