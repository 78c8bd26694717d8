"""SavedModel export: strings in, strings out, no keras-lm needed to run it."""

import json
import os
import threading

import pytest
import tensorflow as tf

from conftest import start_saved_model_cli, start_without_keras_lm
from keras_lm.cli import main
from keras_lm.errors import KerasLMError
from keras_lm.runs import export_run


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    return export_run(trained_run, str(tmp_path_factory.mktemp("sm") / "gru"))


STANDALONE = """
import json, tensorflow as tf
try:
    import keras_lm
    raise SystemExit("keras_lm should not be importable here")
except ImportError:
    pass
loaded = tf.saved_model.load({path!r})
default = loaded.signatures["serving_default"](prompt=tf.constant(["ROMEO:", "To be"]))
args = dict(prompt=tf.constant(["ROMEO:"]), max_new_tokens=tf.constant(40),
            temperature=tf.constant(0.9), top_k=tf.constant(10),
            top_p=tf.constant(0.95), seed=tf.constant(7),
            beam_width=tf.constant(1), length_penalty=tf.constant(0.0),
            stop=tf.constant([], tf.string))
first = loaded.signatures["generate"](**args)["text"].numpy()[0].decode()
second = loaded.signatures["generate"](**args)["text"].numpy()[0].decode()
args["stop"] = tf.constant([" "])
stopped = loaded.signatures["generate"](**args)["text"].numpy()[0].decode()
print(json.dumps({{"default": [t.decode() for t in default["text"].numpy()],
                  "first": first, "second": second, "stopped": stopped}}))
"""


@pytest.fixture(scope="module")
def fresh_processes(exported, tmp_path_factory):
    """The two checks of the export in processes of their own, started
    together so that their TensorFlow imports overlap (with each other and
    with the in-process tests)."""
    started = {
        "standalone": start_without_keras_lm(
            STANDALONE.format(path=exported),
            tmp_path_factory.mktemp("standalone")),
        "saved_model_cli": start_saved_model_cli(
            exported, 'prompt=["First Citizen:"]'),
    }
    yield started
    for process in started.values():
        process.stop()


def test_runs_with_tensorflow_alone_and_is_reproducible(fresh_processes):
    result = fresh_processes["standalone"].result()
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["default"][0].startswith("ROMEO:")
    assert out["default"][1].startswith("To be")
    assert len(out["default"][0]) > len("ROMEO:")
    assert out["first"] == out["second"]  # same seed, same text
    assert len(out["first"]) == len("ROMEO:") + 40  # char model: 1 token = 1 char
    # A stop string ends the row there, and is left out.
    assert " " in out["first"][len("ROMEO:"):]
    assert out["stopped"] == out["first"][:out["first"].index(" ", 6)]


def test_concurrent_calls_do_not_affect_each_other(exported):
    loaded = tf.saved_model.load(exported)
    generate = loaded.signatures["generate"]

    def call(seed, prompt):
        return generate(prompt=tf.constant([prompt]),
                        max_new_tokens=tf.constant(30),
                        temperature=tf.constant(1.0), top_k=tf.constant(0),
                        top_p=tf.constant(1.0),
                        seed=tf.constant(seed),
                        beam_width=tf.constant(1),
                        length_penalty=tf.constant(0.0),
                        stop=tf.constant([], tf.string))["text"].numpy()[0]

    jobs = [(seed, prompt) for seed in range(4) for prompt in ("A", "Be")]
    alone = {job: call(*job) for job in jobs}
    together = {}
    threads = [threading.Thread(target=lambda j=job: together.__setitem__(
        j, call(*j))) for job in jobs * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone


def test_saved_model_cli_runs_it(fresh_processes):
    result = fresh_processes["saved_model_cli"].result()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "First Citizen:" in result.stdout


def test_bad_arguments_fail_inside_the_graph_with_a_clear_message(exported):
    generate = tf.saved_model.load(exported).signatures["generate"]
    good = dict(prompt=tf.constant(["x"]), max_new_tokens=tf.constant(5),
                temperature=tf.constant(1.0), top_k=tf.constant(0),
                top_p=tf.constant(1.0), seed=tf.constant(0),
                beam_width=tf.constant(1), length_penalty=tf.constant(0.0),
                stop=tf.constant([], tf.string))
    for bad, message in [({"prompt": tf.constant([""])}, "non-empty"),
                         ({"stop": tf.constant(["\n\n"])}, "one token"),
                         ({"top_p": tf.constant(1.5)}, "top_p"),
                         ({"temperature": tf.constant(-1.0)}, "temperature")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            generate(**{**good, **bad})


def test_an_interrupted_export_leaves_the_previous_one_intact(
        trained_run, exported, monkeypatch):
    before = sorted(os.listdir(exported))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        export_run(trained_run, exported)
    assert sorted(os.listdir(exported)) == before
    leftovers = [n for n in os.listdir(os.path.dirname(exported))
                 if n.startswith(".tmp")]
    assert leftovers == []


def test_export_never_overwrites_what_is_not_an_export(trained_run, tmp_path):
    """--out may be new, empty or an earlier SavedModel; a folder with other
    files, a file, or the run itself is refused and left as it was."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "important.txt").write_text("keep", encoding="utf-8")
    a_file = tmp_path / "five.txt"
    a_file.write_text("12345", encoding="utf-8")
    for target in (folder, a_file, trained_run, tmp_path):
        with pytest.raises(KerasLMError, match="not a previous SavedModel"):
            export_run(trained_run, str(target))
    assert (folder / "important.txt").read_text(encoding="utf-8") == "keep"
    assert a_file.read_text(encoding="utf-8") == "12345"
    assert os.path.isfile(os.path.join(trained_run, "config.json"))


def test_cli_export_defaults_to_saved_models(trained_run, tmp_path, capsys,
                                            monkeypatch):
    # `keras-lm` in-process (test_cli.py runs it as a module): a fresh
    # process would only add a TensorFlow import.
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["export", trained_run]) == 0, capsys.readouterr().err
    name = os.path.basename(trained_run)
    assert os.path.isfile(tmp_path / "saved_models" / name / "saved_model.pb")
    # readable by others, like a folder made with mkdir (e.g. TF Serving's user)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (os.stat(tmp_path / "saved_models" / name).st_mode
            == os.stat(plain).st_mode)
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "saved_models" / name),
                 "--prompt", "KING:", "--max-new-tokens", "12",
                 "--seed", "1"]) == 0
    assert capsys.readouterr().out.startswith("KING:")


def test_keras_lm_export_stays_the_function_once_everything_is_imported():
    import keras_lm
    import keras_lm.runs
    import keras_lm.serving  # noqa: F401
    import keras_lm.tasks  # noqa: F401

    assert keras_lm.export is keras_lm.serving.export
    assert keras_lm.export_run is keras_lm.runs.export_run


def test_the_generate_signature_runs_beam_search(trained_run, exported):
    """`beam_width` is an input of `generate`: the export gives the run's
    own beam search."""
    from keras_lm.runs import RunDirectory

    beams = tf.saved_model.load(exported).signatures["generate"](
        prompt=tf.constant(["ROMEO:", "To be"]), max_new_tokens=tf.constant(8),
        temperature=tf.constant(1.0), top_k=tf.constant(0),
        top_p=tf.constant(1.0), seed=tf.constant(0),
        beam_width=tf.constant(3), length_penalty=tf.constant(0.0),
        stop=tf.constant([], tf.string))
    expected = RunDirectory(trained_run).load().predict_text(
        ["ROMEO:", "To be"], 8, beam_width=3)
    assert [t.decode() for t in beams["text"].numpy()] == expected
