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


def run_without_keras_lm(code, tmp_path, timeout=300):
    """Runs Python `code` in a process where keras_lm cannot be imported.

    The package is installed in this environment (editable), so the script
    starts by making every `import keras_lm...` fail, as in a process where it
    was never installed; -I and another cwd keep the source tree off the path.
    """
    script = tmp_path / "standalone.py"
    script.write_text(BLOCK_KERAS_LM + code)
    return subprocess.run(
        [sys.executable, "-I", str(script)], capture_output=True, text=True,
        cwd=tmp_path, timeout=timeout,
        env={"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"})
