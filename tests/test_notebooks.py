"""Runs every notebook in notebooks/ end to end, in fast mode.

Each notebook is executed with nbclient in a fresh kernel that runs this very
interpreter (a kernelspec written to a temporary folder, so a `python3`
kernelspec installed elsewhere cannot pick another Python), with
`KERAS_LM_FAST=1` and its working directory in a temporary folder, so the
runs and SavedModels it writes never land in the checkout. A cell that
raises fails the test with the cell's traceback.

The notebooks are committed without outputs; that is checked too.
"""

import json
import os
import pathlib
import sys
import time

import pytest

from conftest import SHARED_DATA

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
KERNEL_NAME = "keras-lm-test"
CELL_TIMEOUT_S = 600


def notebook_id(path):
    return path.stem


@pytest.fixture(scope="session")
def kernel_spec_manager(tmp_path_factory):
    """A kernelspec for `sys.executable`, fast mode and this checkout."""
    from jupyter_client.kernelspec import KernelSpecManager

    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    python_path = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                 "{connection_file}"],
        "display_name": "keras-lm tests",
        "language": "python",
        # The sentiment notebook reads rt-polarity (offline) instead of
        # downloading glue/sst2.
        "env": {"KERAS_LM_FAST": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
                "KERAS_LM_SENTIMENT_DATA": str(SHARED_DATA / "rt-polarity"),
                "PYTHONPATH": python_path, "MPLBACKEND": "Agg"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(kernels)])


def test_notebooks_exist():
    names = {path.stem for path in NOTEBOOKS}
    assert {"gru_text_generation", "lstm_language_model", "transformer_lm",
            "seq2seq_translation", "colab_tpu",
            "sentiment_classifier"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: clear the outputs"
            assert cell.execution_count is None, f"{path.name}: clear counts"


#: Notebooks executed at once, each in its own kernel: much of a fast-mode
#: run is single-threaded (kernel start, imports, XLA compilation), so two
#: overlap well even on two cores.
CONCURRENT_KERNELS = 2
#: Started first, so that the others fill the second slot meanwhile (it
#: takes about as long as two others together).
SLOWEST_FIRST = ("transformer_lm",)


@pytest.fixture(scope="session")
def fast_mode_runs(tmp_path_factory, kernel_spec_manager):
    """Every notebook executed in fast mode, CONCURRENT_KERNELS at a time:
    {path: (executed notebook, its working folder, seconds, the exception
    its execution raised or None)}."""
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    async def execute(path, slots):
        async with slots:
            nb = nbformat.read(str(path), as_version=4)
            folder = tmp_path_factory.mktemp(path.stem)
            km = AsyncKernelManager(kernel_name=KERNEL_NAME,
                                    kernel_spec_manager=kernel_spec_manager)
            client = nbclient.NotebookClient(
                nb, km=km, kernel_name=KERNEL_NAME, timeout=CELL_TIMEOUT_S,
                resources={"metadata": {"path": str(folder)}})
            start = time.monotonic()
            try:
                # raises CellExecutionError with the cell's traceback;
                # shuts the kernel down either way (cleanup_kc)
                await client.async_execute(cleanup_kc=True)
                error = None
            except Exception as e:  # reported by that notebook's test
                error = e
            return path, (nb, folder, time.monotonic() - start, error)

    async def execute_all():
        slots = asyncio.Semaphore(CONCURRENT_KERNELS)
        order = sorted(NOTEBOOKS, key=lambda path: (
            path.stem not in SLOWEST_FIRST, path.stem))
        # The semaphore lets waiting notebooks in the order they asked.
        return dict(await asyncio.gather(*(execute(path, slots)
                                           for path in order)))

    return asyncio.run(execute_all())


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_runs_in_fast_mode(path, fast_mode_runs):
    nb, folder, elapsed, error = fast_mode_runs[path]
    if error is not None:
        raise error
    print(f"{path.name}: {elapsed:.1f} s in fast mode")
    outputs = [o for cell in nb.cells if cell.cell_type == "code"
               for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # The notebook really ran in fast mode, in the temporary folder.
    assert any("fast mode" in o.get("text", "") for o in outputs)
    assert (folder / "runs" / "notebooks").is_dir()
