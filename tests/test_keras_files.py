"""A `.keras` file of every model family loads after a bare `import keras_lm`.

Each family is built small, called once and compiled as training compiles
it (a `.keras` file stores the compile config too, so the file names our
metrics and optimizer classes as well as the model's), then saved. One
fresh Python process (nothing imported but `keras_lm`) loads all of them
with `safe_mode=True` and checks the predictions and the compiled metrics
against the original's, saved beside each file as `.npy`.
"""

import ast
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from keras_lm.models import (GRUGenerator, LSTMLanguageModel,
                             MaskedLanguageModel, Seq2Seq, TextClassifier,
                             TransformerLM)
from keras_lm.models.seq2seq import masked_loss
from keras_lm.training.metrics import (MaskedTokenAccuracy,
                                       language_model_metrics)
from keras_lm.training.optimizers import adam_classes

FAMILIES = ("GRUGenerator", "LSTMLanguageModel", "TransformerLM", "Seq2Seq",
            "MaskedLanguageModel", "TextClassifier")
# A Seq2Seq file as saved before `MaskedTokenAccuracy` moved to
# keras_lm.training.metrics: its compile config names the old module.
OLD_SEQ2SEQ = "Seq2Seq_saved_before_metric_moved"
FILES = (*FAMILIES, OLD_SEQ2SEQ)
PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_lm"
VOCAB = 13

# Runs in the fresh process: argv = directory, file stems. `keras_lm` is
# imported before anything else (TensorFlow included) so that stderr up to
# the marker line shows what `import keras_lm` itself prints.
LOADER = r"""
import json, sys
import keras_lm
print("--- keras_lm imported ---", file=sys.stderr, flush=True)
import keras
import numpy as np

directory, stems = sys.argv[1], sys.argv[2:]
report = {"registered": sorted(keras.saving.get_custom_objects())}
for stem in stems:
    try:
        model = keras.saving.load_model(f"{directory}/{stem}.keras",
                                        safe_mode=True)
        inputs = np.load(f"{directory}/{stem}.inputs.npy")
        labels = np.load(f"{directory}/{stem}.labels.npy")
        x = tuple(inputs) if stem.startswith("Seq2Seq") else inputs
        predicted = keras.ops.convert_to_numpy(model(x))
        np.save(f"{directory}/{stem}.loaded.npy", predicted)
        evaluated = model.evaluate(x, labels, verbose=0, return_dict=True)
        report[stem] = {
            "optimizer": type(model.optimizer).__name__,
            "metrics": {k: float(v) for k, v in evaluated.items()},
        }
    except Exception as e:
        report[stem] = {"error": f"{type(e).__name__}: {str(e)[:400]}"}
print(json.dumps(report))
"""


def _build(family):
    """A tiny model of `family`, its inputs (one array: Seq2Seq's source and
    decoder input stacked) and labels."""
    rng = np.random.default_rng(0)
    ids = rng.integers(1, VOCAB, size=(2, 2, 6)).astype("int32")
    ids[:, 1, 4:] = 0  # padding in the second sentence
    if family == "GRUGenerator":
        model = GRUGenerator(VOCAB, embedding_dim=8, rnn_units=8, num_layers=2)
    elif family == "LSTMLanguageModel":  # tied: its TiedOutputBias layer too
        model = LSTMLanguageModel(VOCAB, embedding_dim=8, rnn_units=8,
                                  num_layers=1, tie_embeddings=True)
    elif family == "TransformerLM":
        model = TransformerLM(VOCAB, max_sequence_length=8, num_layers=1,
                              num_heads=2, d_model=8, output_bias=True)
    elif family == "MaskedLanguageModel":
        model = MaskedLanguageModel(VOCAB, max_sequence_length=8,
                                    num_layers=1, num_heads=2, d_model=8)
    elif family == "TextClassifier":  # the BERT layout: post-LN, pooler
        model = TextClassifier(3, VOCAB, pooling="cls", norm_first=False,
                               max_sequence_length=8, num_layers=1,
                               num_heads=2, d_model=8)
        return model, ids[0], np.array([0, 2])
    else:
        model = Seq2Seq(VOCAB, VOCAB, embedding_dim=8, units=8,
                        attention="dot", bidirectional=True)
        return model, ids, np.roll(ids[1], -1, axis=1)
    return model, ids[0], np.roll(ids[0], -1, axis=1)


def _compile(model, family):
    """Compiles as training does: a language model with the cross-entropy,
    perplexity and bits/char, and the multi-replica AdamW with a cosine
    schedule and weight EMA (the optimizer class most specific to us);
    Seq2Seq and the masked LM with the padding-masked loss and accuracy,
    the classifier with cross-entropy and accuracy."""
    if family in ("Seq2Seq", "MaskedLanguageModel"):
        model.compile(optimizer="adam", loss=masked_loss(),
                      metrics=[MaskedTokenAccuracy()], jit_compile=False)
        return
    if family == "TextClassifier":
        model.compile(optimizer="adamw",
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True),
                      metrics=["accuracy"], jit_compile=False)
        return
    _, adamw = adam_classes(replicas=2)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, 100, alpha=0.1, warmup_target=1e-3, warmup_steps=10)
    model.compile(
        optimizer=adamw(schedule, weight_decay=0.1, beta_2=0.99,
                        use_ema=True, ema_momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=language_model_metrics(chars_per_token=2.5),
        jit_compile=False)


@pytest.fixture(scope="module")
def saved_and_loaded(tmp_path_factory):
    """Saves every family, loads them all in one fresh process; returns
    `(directory, {stem: original optimizer/metrics}, report, stderr)`."""
    directory = tmp_path_factory.mktemp("keras_files")
    originals = {}
    for family in FAMILIES:
        keras.utils.set_random_seed(0)
        model, inputs, labels = _build(family)
        x = tuple(inputs) if family == "Seq2Seq" else inputs
        np.save(directory / f"{family}.expected.npy",
                keras.ops.convert_to_numpy(model(x)))
        _compile(model, family)
        evaluated = model.evaluate(x, labels, verbose=0, return_dict=True)
        originals[family] = {
            "optimizer": type(model.optimizer).__name__,
            "metrics": {k: float(v) for k, v in evaluated.items()}}
        model.save(directory / f"{family}.keras")
        np.save(directory / f"{family}.inputs.npy", inputs)
        np.save(directory / f"{family}.labels.npy", labels)
    _write_old_seq2seq(directory)
    originals[OLD_SEQ2SEQ] = originals["Seq2Seq"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(directory), *FILES],
        capture_output=True, text=True, timeout=600, env=env,
        cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return directory, originals, report, result.stderr


def _write_old_seq2seq(directory):
    """Copies Seq2Seq's files to `OLD_SEQ2SEQ`'s, the `.keras` one naming
    the metric's module as files saved before the move do."""
    with zipfile.ZipFile(directory / "Seq2Seq.keras") as source, \
            zipfile.ZipFile(directory / f"{OLD_SEQ2SEQ}.keras", "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                text = data.decode()
                assert '"module": "keras_lm.training.metrics"' in text
                data = text.replace(
                    '"module": "keras_lm.training.metrics"',
                    '"module": "keras_lm.evaluation.translation_metrics"')
            copy.writestr(item, data)
    for suffix in ("inputs", "labels", "expected"):
        shutil.copy(directory / f"Seq2Seq.{suffix}.npy",
                    directory / f"{OLD_SEQ2SEQ}.{suffix}.npy")


@pytest.mark.parametrize("stem", FILES)
def test_keras_file_loads_after_import_keras_lm(saved_and_loaded, stem):
    directory, originals, report, _ = saved_and_loaded
    loaded = report[stem]
    assert "error" not in loaded, loaded.get("error")
    np.testing.assert_allclose(
        np.load(directory / f"{stem}.loaded.npy"),
        np.load(directory / f"{stem}.expected.npy"), rtol=1e-5, atol=1e-6)
    original = originals[stem]
    assert loaded["optimizer"] == original["optimizer"]
    assert loaded["metrics"].keys() == original["metrics"].keys()
    for name, value in original["metrics"].items():
        assert loaded["metrics"][name] == pytest.approx(value, rel=1e-5), name


def _registered_names():
    """`package>name` of every `register_keras_serializable` class in the
    package, from its source."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call) and getattr(
                        decorator.func, "attr", getattr(decorator.func, "id",
                                                        None))
                        == "register_keras_serializable"):
                    continue
                keywords = {k.arg: k.value.value for k in decorator.keywords
                            if isinstance(k.value, ast.Constant)}
                name = (f"{keywords.get('package', 'Custom')}>"
                        f"{keywords.get('name', node.name)}")
                names[name] = path.relative_to(PACKAGE.parent).as_posix()
    return names


def test_import_keras_lm_registers_every_serializable_class(saved_and_loaded):
    _, _, report, _ = saved_and_loaded
    names = _registered_names()
    assert "keras_lm>MaskedTokenAccuracy" in names  # old files name it so
    missing = [f"{name} ({path})" for name, path in sorted(names.items())
               if name not in report["registered"]]
    assert not missing, ("`import keras_lm` leaves unregistered:\n"
                         + "\n".join(missing))


def test_import_keras_lm_is_quiet(saved_and_loaded):
    """TensorFlow's C++ start-up lines (oneDNN, CUDA probing) do not reach
    stderr while `import keras_lm` imports TensorFlow."""
    *_, stderr = saved_and_loaded
    before_marker = stderr.split("--- keras_lm imported ---")[0]
    native = [line for line in before_marker.splitlines()
              if re.match(r"[IWEF]\d{4} |WARNING: All log messages", line)]
    assert not native, "\n".join(native)
