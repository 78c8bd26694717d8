"""The command line: every bad input is one clear line and a non-zero exit."""

import os

import pytest

from conftest import TINY_GRU_FLAGS, run_cli
from keras_lm.cli import main


def spellings(message):
    """`message`, and for a `--flag` also the name the library gives that
    setting in its errors (`--top-p` -> `top_p`)."""
    if message.startswith("--"):
        return message, message[2:].replace("-", "_")
    return (message,)


def fails_with(capsys, argv, message):
    """Runs the CLI in-process; asserts exit 2 and one line naming `message`
    (a flag by its name or by its setting's)."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("keras-lm: error:"), err
    assert any(m in err for m in spellings(message)), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_help_on_every_command():
    from keras_lm.registry import families

    for argv in (["--help"], ["train", "--help"],
                 *(["train", name, "--help"] for name in families()),
                 ["generate", "--help"], ["evaluate", "--help"],
                 ["export", "--help"], ["finetune", "--help"],
                 ["translate", "--help"], ["import-gpt2", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0


def help_text(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # unwrapped


def test_train_lists_every_registered_family(capsys):
    from keras_lm.registry import families

    text = help_text(capsys, "train")
    for name, family in families().items():
        assert name in text and " ".join(family.help.split()) in text


def test_train_flags_are_the_libraries_and_default_to_not_given(capsys):
    """Each family's flags are its model's constructor arguments (but the
    derived ones), its task's options and the training fields it uses; all
    parse to None when not given, so only the library holds defaults."""
    from keras_lm.cli import build_parser, settings
    from keras_lm.registry import families

    for name, family in families().items():
        text = help_text(capsys, "train", name)
        every = [*settings.model_settings(family),
                 *settings.option_settings(family.task_class),
                 *settings.training_settings(family.task_class)]
        for setting in every:
            assert setting.flag + " " in text + " ", (name, setting.flag)
        model = {s.name for s in settings.model_settings(family)}
        training = {s.name for s in
                    settings.training_settings(family.task_class)}
        assert not model & set(family.derived)
        assert not training & set(family.task_class.UNUSED_TRAINING_FIELDS)
        args = build_parser().parse_args(["train", name])
        assert all(getattr(args, s.name) is None for s in every)
    assert "--data " in help_text(capsys, "train", "gru")  # Options.source
    assert "--rnn-units RNN_UNITS width of every recurrent layer. " \
           "(default: 1024)" in help_text(capsys, "train", "gru")


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"", "is empty"),
    (b"\x00\x01\x02binary", "binary"),
    (b"\xff\xfe not utf-8", "not valid UTF-8"),
    (b"short text", "too short for one batch"),
])
def test_bad_training_text(capsys, tmp_path, content, message):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    fails_with(capsys, ["train", "gru", "--data", str(path), "--out",
                        str(tmp_path / "run"), *TINY_GRU_FLAGS], message)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unknown_tfds_name(capsys, tmp_path):
    fails_with(capsys, ["train", "gru", "--data", "no_such_corpus_xyz",
                        "--out", str(tmp_path / "run")], "TensorFlow Datasets")


@pytest.mark.parametrize("flags, message", [
    (["--learning-rate", "nan"], "--learning-rate"),
    (["--weight-decay", "-1"], "--weight-decay"),
    (["--beta-1", "1"], "--beta-1"),
    (["--ema-momentum", "1"], "--ema-momentum"),
    (["--warmup-steps", "-5"], "--warmup-steps"),
    (["--embedding-dim", "0"], "--embedding-dim"),
    (["--num-layers", "0"], "--num-layers"),
    (["--rnn-units", "-4"], "--rnn-units"),
    (["--tokenizer", "word", "--vocab-size", "0"], "vocab"),
])
def test_bad_training_and_model_flags(capsys, tmp_path, corpus_file, flags,
                                      message):
    fails_with(capsys, ["train", "gru", "--data", corpus_file, "--out",
                        str(tmp_path / "run"), *TINY_GRU_FLAGS, *flags],
               message)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_evaluate_max_batches_must_be_positive(capsys, trained_run):
    fails_with(capsys, ["evaluate", trained_run, "--max-batches", "-2"],
               "--max-batches")


def test_a_file_where_a_run_directory_belongs(capsys, tmp_path, corpus_file):
    fails_with(capsys, ["generate", corpus_file, "--prompt", "x"],
               "is a file; pass a run directory")
    fails_with(capsys, ["train", "gru", "--data", corpus_file, "--out",
                        corpus_file, *TINY_GRU_FLAGS],
               "exists and is not a run directory")


def test_not_a_run_directory(capsys, tmp_path):
    for command in (["generate", str(tmp_path), "--prompt", "x"],
                    ["evaluate", str(tmp_path)], ["export", str(tmp_path)],
                    ["finetune", str(tmp_path), "--data", "x.txt"]):
        fails_with(capsys, command, "not a keras-lm run directory")
    fails_with(capsys, ["generate", str(tmp_path / "missing"), "--prompt",
                        "x"], "does not exist")


def test_flags_of_the_other_kind_of_run_are_refused(capsys, trained_run,
                                                    tmp_path):
    """evaluate/export serve language-model and seq2seq runs alike; a flag
    for the other kind is an error, not silently ignored."""
    fails_with(capsys, ["evaluate", trained_run, "--beam-width", "2"],
               "--beam-width does not apply")
    fails_with(capsys, ["export", trained_run, "--out", str(tmp_path / "e"),
                        "--max-length", "9"], "--max-length does not apply")
    assert not (tmp_path / "e").exists()
    for flag in (["--tokenizer", "word"], ["--preset", "tiny"]):
        with pytest.raises(SystemExit):  # finetune keeps the source's
            main(["finetune", trained_run, "--data", "x.txt", *flag])
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [
    (["--prompt", ""], "empty"),
    (["--prompt", "x", "--temperature", "-0.5"], "--temperature"),
    (["--prompt", "x", "--top-p", "0"], "--top-p"),
    (["--prompt", "x", "--top-p", "1.01"], "--top-p"),
    (["--prompt", "x", "--top-k", "-1"], "--top-k"),
    (["--prompt", "x", "--max-new-tokens", "0"], "--max-new-tokens"),
    # past int32 (the compiled loop's type) and not-a-number are refused too
    (["--prompt", "x", "--max-new-tokens", "4294967298"], "--max-new-tokens"),
    (["--prompt", "x", "--temperature", "nan"], "--temperature"),
    (["--prompt", "x", "--top-p", "nan"], "--top-p"),
    (["--prompt", "x", "--seed", "99999999999999999999"], "--seed"),
    (["--prompt", "x", "--stop", "日"], "stop string '日' cannot be encoded"),
])
def test_bad_sampling_flags(capsys, trained_run, flags, message):
    fails_with(capsys, ["generate", trained_run, *flags], message)


def test_generate_from_run_directory_and_greedy_is_deterministic(capsys,
                                                                 trained_run):
    args = ["generate", trained_run, "--prompt", "ROMEO:", "--prompt", "A",
            "--max-new-tokens", "20", "--temperature", "0"]
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(args) == 0
    again = capsys.readouterr()
    assert again.out.splitlines() == first and again.err == ""
    assert first[0].startswith("ROMEO:")


def test_characters_the_run_never_saw_are_generated_from_with_a_warning(
        capsys, trained_run):
    assert main(["generate", trained_run, "--prompt", "ROMEO 日本:",
                 "--max-new-tokens", "5"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ROMEO 日本:")
    assert err.startswith("keras-lm: warning: 2 prompt token(s) are unknown")


def test_checkpoint_with_another_vocabulary_is_refused(capsys, trained_run,
                                                       tmp_path):
    import shutil

    from keras_lm.tokenizers import CharTokenizer

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    CharTokenizer(list("abc")).save(str(broken))  # vocabulary no longer fits
    fails_with(capsys, ["generate", str(broken), "--prompt", "a"],
               "does not match")
    fails_with(capsys, ["evaluate", str(broken)], "does not match")


@pytest.mark.parametrize("file, content, message", [
    ("config.json", "{not json", "config.json is not valid JSON"),
    ("config.json", '{"data": {}}', "config.json has no 'model' entry"),
    ("tokenizer.json", "", "tokenizer.json is not valid JSON"),
    ("tokenizer.json", '{"kind": "char"}', "has no 'config' entry"),
    ("checkpoints/best.weights.h5", "", "is damaged or not a weights file"),
])
def test_damaged_run_files_are_named(capsys, trained_run, tmp_path, file,
                                     content, message):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / file).write_text(content, encoding="utf-8")
    fails_with(capsys, ["generate", str(broken), "--prompt", "a"], message)


def test_evaluate_reports_loss_perplexity_and_bits(capsys, trained_run):
    assert main(["evaluate", trained_run, "--max-batches", "3"]) == 0
    out = capsys.readouterr().out
    for name in ("loss", "perplexity", "perplexity_per_word",
                 "bits_per_character"):
        assert f"\n{name}: " in "\n" + out


def test_console_entry_point_runs_as_a_module(trained_run, capsys,
                                              monkeypatch):
    result = run_cli("generate", trained_run, "--prompt", "KING", "--seed", "3",
                     "--max-new-tokens", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("KING")
    # `python -m keras_lm` exits with main's status: its __main__ module run
    # here as `-m` runs it (one fresh process above is enough to show that
    # the module starts on its own).
    import runpy

    monkeypatch.setattr("sys.argv", ["keras_lm", "generate", trained_run,
                                     "--prompt", "KING", "--top-p", "2"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("keras_lm", run_name="__main__", alter_sys=True)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() in (
        [f"keras-lm: error: {name} must be in (0, 1], got 2.0"]
        for name in spellings("--top-p"))


@pytest.mark.parametrize("flags, message", [
    (["--d-model", "30", "--num-heads", "4"], "does not divide d_model"),
    (["--seq-len", "100", "--max-sequence-length", "64"],
     "longer than the model's context"),
    (["--num-heads", "0"], "--num-heads"),
    (["--max-sequence-length", "0"], "--max-sequence-length"),
    (["--dropout", "1.5"], "--dropout"),
])
def test_bad_transformer_shapes(capsys, tmp_path, corpus_file, flags, message):
    fails_with(capsys, ["train", "transformer", "--data", corpus_file, "--out",
                        str(tmp_path / "run"), "--batch-size", "4", *flags],
               message)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_family_registered_at_run_time_is_a_train_command(
        capsys, monkeypatch, tmp_path, corpus_file):
    """A new family is a model class and a task, registered: `keras-lm train
    NAME` offers its constructor's arguments as flags and trains it, and the
    other commands take its run, with no change to the CLI."""
    import json

    from keras_lm import registry
    from keras_lm.models import GRUGenerator
    from keras_lm.tasks import CausalLMTask

    class TinyStackLM(GRUGenerator):
        """A GRU language model sized by one number.

        Args:
            vocab_size: number of token ids.
            width: embedding and GRU width.
            deep: two GRU layers instead of one.
        """

        def __init__(self, vocab_size, width=12, deep=False, **kwargs):
            super().__init__(vocab_size, embedding_dim=width, rnn_units=width,
                             num_layers=2 if deep else 1, **kwargs)
            self.width, self.deep = width, deep

        def get_config(self):
            config = super().get_config()
            for name in ("embedding_dim", "rnn_units", "num_layers"):
                config.pop(name)
            return {**config, "width": self.width, "deep": self.deep}

    # The registry has no way to unregister yet: a copy, restored after.
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry.families()))
    registry.register_family("tiny_stack", TinyStackLM, CausalLMTask,
                             help="train a test-only tiny GRU stack",
                             derived=("vocab_size", "stateful"))

    assert "tiny_stack" in help_text(capsys, "train")
    text = help_text(capsys, "train", "tiny_stack")
    assert "--width WIDTH embedding and GRU width. (default: 12)" in text
    assert "--deep two GRU layers instead of one." in text
    for flag in ("--vocab-size", "--tokenizer", "--seq-len", "--stateful"):
        assert flag + " " in text  # the task's and the training's
    run_dir = str(tmp_path / "stack")
    assert main(["train", "tiny_stack", "--data", corpus_file, "--out",
                 run_dir, "--width", "8", "--deep", "--batch-size", "8",
                 "--seq-len", "16", "--epochs", "1", "--steps-per-epoch",
                 "3", "--validation-steps", "2", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"trained {run_dir}: ") and "\nsample: The " in out
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        model = json.load(f)["model"]
    assert model["family"] == "tiny_stack"
    assert {"width": 8, "deep": True}.items() <= model["config"].items()
    assert main(["generate", run_dir, "--prompt", "KING", "--max-new-tokens",
                 "4"]) == 0
    assert capsys.readouterr().out.startswith("KING")
    fails_with(capsys, ["evaluate", run_dir, "--max-pairs", "3"],
               f"--max-pairs does not apply to {run_dir}, a tiny_stack run")


def test_quantize_is_for_transformer_runs(capsys, trained_run):
    fails_with(capsys, ["generate", trained_run, "--prompt", "x",
                        "--quantize", "bfloat16"],
               "quantize applies to Transformer models")
    fails_with(capsys, ["generate", trained_run, "--prompt", "x",
                        "--quantize", "int8"], "unknown quantize mode 'int8'")
    fails_with(capsys, ["generate", trained_run, "--prompt", "x",
                        "--kv-cache", "float16"], "keeps no key/value cache")
    fails_with(capsys, ["export", trained_run, "--kv-cache", "int8"],
               "kv_cache_dtype='int8' is not a cache dtype")
