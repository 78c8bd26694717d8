"""One contract, checked for every registered family (and a toy family
registered here, which shows that a new family needs nothing but a model
and a registration):

- decoding step by step through the one decoder protocol gives the logits
  of the full (teacher-forced) pass;
- `get_config`/`from_config` rebuilds the same model;
- a `.keras` file round-trips;
- the task's export answers in a process without keras-lm as the task
  itself does in Python.
"""

import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from conftest import run_without_keras_lm
from keras_lm import registry
from keras_lm.models import CausalLM
from keras_lm.runs import RunDirectory, new_run_config, train
from keras_lm.tasks import CausalLMTask
from keras_lm.tokenizers import CharTokenizer
from keras_lm.training import TrainingConfig

TEXT = "the quick brown fox jumps over the lazy dog. " * 20


@keras.saving.register_keras_serializable(package="keras_lm_tests")
class BigramLM(CausalLM):
    """The smallest language model: the next token from the last one."""

    def __init__(self, vocab_size, embedding_dim=8, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim)
        self.project = keras.layers.Dense(vocab_size)

    def call(self, token_ids):
        return self.project(self.embedding(token_ids))

    def initial_cache(self, batch_size, max_length):
        return ops.zeros((batch_size, 1))  # a bigram model needs no state

    def decode_step(self, token_ids, cache, index, context=()):
        return self.call(token_ids), cache

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim}


#: Tiny constructor arguments per family (vocabulary sizes come from the
#: task's tokenizers).
SIZES = {
    "gru": {"embedding_dim": 8, "rnn_units": 16},
    "lstm": {"embedding_dim": 8, "rnn_units": 16, "num_layers": 2},
    "transformer": {"num_layers": 2, "num_heads": 2, "d_model": 16,
                    "max_sequence_length": 64},
    "seq2seq": {"embedding_dim": 8, "units": 16},
    "bigram": {"embedding_dim": 8},
}


@pytest.fixture(scope="module", autouse=True)
def bigram_family():
    registry.register_family("bigram", BigramLM, CausalLMTask,
                             derived=("vocab_size",))
    yield
    registry._FAMILIES.pop("bigram")  # noqa: SLF001 (test clean-up)


def families():
    """The text-generating families (the encoder families, which do not
    decode, have their own contract tests: test_masked_lm.py,
    test_text_classifier.py, test_keras_files.py)."""
    import keras_lm.tasks  # noqa: F401 (registers the built-in families)

    generating = {name for name, family in registry.families().items()
                  if hasattr(family.model_class, "decode_step")}
    return sorted({*generating, "bigram"})


def make_task(name):
    """A task of family `name` with a random model, its tokenizers learned
    from TEXT (no training, no run directory)."""
    family = registry.family(name)
    options = family.task_class.Options(tokenizer="char")
    training = TrainingConfig()
    config = new_run_config(name, SIZES[name],
                            family.task_class.sections(options, training),
                            training)
    if name == "seq2seq":
        config["data"].update(max_source_length=12, max_target_length=8)
        tokenizers = {"source": CharTokenizer.from_text(TEXT),
                      "target": CharTokenizer.from_text("0123456789-")}
        task = family.task_class(config, tokenizers)
        sizes = dict(source_vocab_size=tokenizers["source"].vocab_size,
                     target_vocab_size=tokenizers["target"].vocab_size + 2)
        config["model"]["config"].update(sizes)
    else:
        task = family.task_class(config, {"tokenizer":
                                          CharTokenizer.from_text(TEXT)})
        config["model"]["config"]["vocab_size"] = task.tokenizer.vocab_size
    keras.utils.set_random_seed(0)
    task.model = task.build_model()
    task.model(task.example_inputs(2))
    return task


def full_and_stepwise_logits(task):
    """Logits of one teacher-forced pass and of step-by-step decoding."""
    model = task.model
    rng = np.random.default_rng(0)
    if isinstance(task.example_inputs(), tuple):  # source and target
        source = rng.integers(1, model.source_vocab_size, (2, 5), np.int32)
        tokens = rng.integers(1, model.start_id, (2, 6), np.int32)
        full = model((source, tokens))
    else:
        source = None
        tokens = rng.integers(1, model.vocab_size, (2, 6), np.int32)
        full = model(tokens)
    context, state = model.start_decoding(source, 2, 6)
    steps = []
    for index in range(tokens.shape[1]):
        logits, state = model.decode_step(tokens[:, index], state, index,
                                          context)
        steps.append(logits)
    return np.asarray(full), np.stack([np.asarray(s) for s in steps], 1)


@pytest.mark.parametrize("name", families())
def test_decoding_step_by_step_equals_the_full_pass(name):
    full, stepwise = full_and_stepwise_logits(make_task(name))
    np.testing.assert_allclose(stepwise, full, atol=1e-4)


@pytest.mark.parametrize("name", families())
def test_config_and_keras_file_round_trip(name, tmp_path):
    task = make_task(name)
    inputs = task.example_inputs(2)
    expected = np.asarray(task.model(inputs))
    rebuilt = type(task.model).from_config(task.model.get_config())
    rebuilt(inputs)
    rebuilt.set_weights(task.model.get_weights())
    np.testing.assert_allclose(np.asarray(rebuilt(inputs)), expected,
                               atol=1e-6)
    path = str(tmp_path / f"{name}.keras")
    task.model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(inputs)), expected,
                               atol=1e-6)


STANDALONE = """
import json
import tensorflow as tf
import tensorflow_text  # noqa: F401 (harmless for char tokenizers)
results = {}
for name, path, inputs in json.loads(%r):
    signature = tf.saved_model.load(path).signatures["serving_default"]
    outputs = signature(**{k: tf.constant(v) for k, v in inputs.items()})
    results[name] = {k: [t.decode() for t in v.numpy()]
                     for k, v in outputs.items()}
print(json.dumps(results))
"""


def test_every_family_exports_what_it_predicts(tmp_path):
    """One fresh process loads every family's export (TensorFlow alone)."""
    jobs, expected = [], {}
    for name in families():
        task = make_task(name)
        path = str(tmp_path / name)
        if name == "seq2seq":
            task.export(path, beam_width=2)
            texts = ["the fox", "a dog"]
            jobs.append((name, path, {"text": texts}))
            expected[name] = {"translation": task.predict_text(
                texts, beam_width=2)}
        else:
            task.export(path, max_new_tokens=5, temperature=0.0)
            prompts = ["the ", "a quick"]
            jobs.append((name, path, {"prompt": prompts}))
            expected[name] = {"text": task.predict_text(
                prompts, 5, temperature=0.0)}
    result = run_without_keras_lm(STANDALONE % json.dumps(jobs), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    for name, wanted in expected.items():
        for key, values in wanted.items():
            assert outputs[name][key] == values, name


def test_a_new_family_trains_loads_evaluates_and_exports(tmp_path,
                                                        corpus_file):
    """The toy family goes through the shared trainer, loader, evaluator
    and exporter, none of which knows it."""
    run_dir = str(tmp_path / "bigram")
    history = train("bigram", run_dir, data=corpus_file,
                    model_config={"embedding_dim": 16}, verbose=0,
                    training=TrainingConfig(batch_size=8, seq_len=16,
                                            epochs=2, steps_per_epoch=20,
                                            learning_rate=1e-2))
    assert history.history["loss"][-1] < history.history["loss"][0]
    task = RunDirectory(run_dir).load()
    assert isinstance(task.model, BigramLM)
    assert task.evaluate(max_batches=2)["loss"] < history.history["loss"][0]
    assert task.predict_text("Th", 4, temperature=0.0).startswith("Th")
    export = task.export(str(tmp_path / "sm"))
    assert os.path.isfile(os.path.join(export, "saved_model.pb"))
