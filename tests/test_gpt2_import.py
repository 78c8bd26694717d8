"""Importing a Hugging Face GPT-2 checkpoint: same logits and greedy tokens as
PyTorch, a run directory the CLI takes, a SavedModel that runs without
keras-lm, the `pipeline` API, and one-line errors for bad checkpoints."""

import argparse
import json
import os
import shutil

import numpy as np
import pytest

from conftest import start_without_keras_lm
from keras_lm.checkpoints import import_gpt2, is_gpt2_checkpoint, load_gpt2
from keras_lm.errors import KerasLMError
from keras_lm.generation import generate_ids
from keras_lm.runs import load_run
from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer
from test_byte_bpe import write_bpe_files

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

PROMPTS = ["The quick brown fox", "hello world, the"]


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A small random GPT-2 saved by transformers, with its BPE files."""
    directory = str(tmp_path_factory.mktemp("hf") / "tiny-gpt2")
    vocab_size = write_bpe_files(directory)
    torch.manual_seed(0)
    # A wide initialisation spreads the logits, so greedy decoding has no
    # near-ties that float round-off could flip.
    config = transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=4, n_positions=64, vocab_size=vocab_size,
        initializer_range=0.3, bos_token_id=vocab_size - 1,
        eos_token_id=vocab_size - 1)
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(directory, safe_serialization=True)
    return directory


@pytest.fixture(scope="module")
def hf_model(hf_dir):
    return transformers.GPT2LMHeadModel.from_pretrained(hf_dir).eval()


@pytest.fixture(scope="module")
def run_dir(hf_dir, tmp_path_factory):
    """The checkpoint imported by `keras-lm import-gpt2 HF_DIR --out RUN`."""
    from keras_lm.cli import import_gpt2 as cli_import

    parser = argparse.ArgumentParser()
    cli_import.add_parser(parser.add_subparsers(dest="command"))
    out = str(tmp_path_factory.mktemp("runs") / "gpt2")
    cli_import.run(parser.parse_args(["import-gpt2", hf_dir, "--out", out]))
    return out


@pytest.fixture(scope="module")
def loaded(run_dir):
    return load_run(run_dir)


def test_run_directory_layout(run_dir):
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["finished"] is True
    assert config["model"]["family"] == "transformer"
    assert config["model"]["config"]["max_sequence_length"] == 64
    assert config["tokenizer"]["kind"] == "byte_bpe"
    for name in ("tokenizer.json", "model.keras",
                 "checkpoints/best.weights.h5", "checkpoints/last.weights.h5"):
        assert os.path.isfile(os.path.join(run_dir, name)), name


def test_logits_match_pytorch(hf_model, loaded):
    model, tokenizer, _ = loaded
    ids = np.array([tokenizer.encode("The quick brown fox jumps over")],
                   dtype=np.int32)
    with torch.no_grad():
        expected = hf_model(torch.tensor(ids, dtype=torch.long)).logits.numpy()
    ours = np.asarray(model(ids))
    np.testing.assert_allclose(ours, expected, atol=1e-4, rtol=1e-4)


def test_keras_file_holds_the_same_model(run_dir, loaded):
    import keras

    model = loaded[0]
    restored = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    ids = np.arange(10, dtype=np.int32)[None]
    np.testing.assert_allclose(np.asarray(restored(ids)),
                               np.asarray(model(ids)), atol=1e-6)


def test_greedy_generation_matches_transformers(hf_model, loaded):
    model, tokenizer, _ = loaded
    new_tokens = 20
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt)
        with torch.no_grad():
            expected = hf_model.generate(
                torch.tensor([ids]), attention_mask=torch.ones(1, len(ids)),
                do_sample=False, max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=tokenizer.pad_id)[0, len(ids):].tolist()
        ours = generate_ids(model, [ids], [len(ids)], new_tokens,
                            temperature=0.0).numpy()[0].tolist()
        assert ours == expected


STANDALONE = """
import json
import tensorflow as tf
import tensorflow_text  # the byte-level BPE tokenizer's regex_split op
loaded = tf.saved_model.load({path!r})
out = loaded.signatures["generate"](
    prompt=tf.constant({prompts!r}), max_new_tokens=tf.constant(12),
    temperature=tf.constant(0.0), top_k=tf.constant(0),
    top_p=tf.constant(1.0), seed=tf.constant(0),
    beam_width=tf.constant(1), length_penalty=tf.constant(0.0),
    stop=tf.constant([], tf.string))
print(json.dumps([t.decode("utf-8") for t in out["text"].numpy()]))
"""


@pytest.fixture(scope="module")
def saved_model(run_dir, tmp_path_factory):
    from keras_lm.runs import export_run

    return export_run(run_dir, str(tmp_path_factory.mktemp("sm") / "gpt2"))


@pytest.fixture(scope="module")
def greedy_texts(loaded):
    """12 greedy tokens after each of PROMPTS, from the imported Keras model."""
    from keras_lm.generation import generate_text

    model, tokenizer, _ = loaded
    return generate_text(model, tokenizer, PROMPTS, 12, temperature=0.0)


@pytest.fixture(scope="module")
def standalone(saved_model, tmp_path_factory):
    """The export's `generate` run in a process without keras-lm, started
    as soon as the export exists so that it overlaps the tests before it."""
    script = STANDALONE.format(path=saved_model, prompts=PROMPTS)
    return start_without_keras_lm(script, tmp_path_factory.mktemp("gpt2"))


def test_pipeline_on_run_saved_model_and_hf_folder(run_dir, saved_model,
                                                   standalone, hf_dir,
                                                   greedy_texts):
    from keras_lm.pipelines import pipeline

    expected = [[{"generated_text": text}] for text in greedy_texts]
    generators = {}
    for source, path in (("run", run_dir), ("saved_model", saved_model),
                         ("gpt2", hf_dir)):
        generator = pipeline("text-generation", model=path)
        assert generator.source == source
        assert generator(PROMPTS, max_new_tokens=12,
                         temperature=0.0) == expected, source
        generators[source] = generator
    single = generators["run"](PROMPTS[0], max_new_tokens=8, temperature=0.9,
                               top_k=20, top_p=0.9, seed=3)
    assert len(single) == 1 and single[0]["generated_text"].startswith(
        PROMPTS[0])
    again = generators["run"](PROMPTS[0], max_new_tokens=8, temperature=0.9,
                              top_k=20, top_p=0.9, seed=3,
                              return_full_text=False)
    assert PROMPTS[0] + again[0]["generated_text"] == (
        single[0]["generated_text"])


@pytest.mark.slow
def test_saved_model_generates_without_keras_lm(standalone, greedy_texts):
    result = standalone.result()
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == greedy_texts


def test_pipeline_errors():
    from keras_lm.pipelines import pipeline

    with pytest.raises(KerasLMError, match="unknown pipeline task"):
        pipeline("summarization", model=".")
    with pytest.raises(KerasLMError, match="not a folder"):
        pipeline("text-generation", model="/no/such/folder")


@pytest.mark.slow
def test_evaluate_and_finetune_commands_on_the_imported_run(
        run_dir, corpus_file, tmp_path, capsys):
    from keras_lm import cli

    # (`generate` is `load_run` + `generate_text`, as the pipeline above.)
    assert cli.main(["evaluate", run_dir, "--data", corpus_file,
                     "--max-batches", "2"]) == 0
    assert "perplexity" in capsys.readouterr().out
    tuned = str(tmp_path / "tuned")
    assert cli.main(["finetune", run_dir, "--data", corpus_file, "--out",
                     tuned, "--epochs", "1", "--steps-per-epoch", "2",
                     "--validation-steps", "1", "--batch-size", "2",
                     "--seq-len", "32", "--verbose", "0"]) == 0
    assert os.path.isfile(os.path.join(tuned, "checkpoints",
                                       "best.weights.h5"))
    assert isinstance(load_run(tuned)[1], ByteBPETokenizer)


def test_is_gpt2_checkpoint(hf_dir, run_dir):
    assert is_gpt2_checkpoint(hf_dir)
    assert not is_gpt2_checkpoint(run_dir)


def _copy_checkpoint(hf_dir, target, skip=()):
    os.makedirs(target)
    for name in os.listdir(hf_dir):
        if name not in skip and os.path.isfile(os.path.join(hf_dir, name)):
            shutil.copy(os.path.join(hf_dir, name), target)
    return str(target)


@pytest.mark.parametrize("missing", ["model.safetensors", "config.json",
                                     "merges.txt", "vocab.json"])
def test_missing_files_are_one_line_errors(hf_dir, tmp_path, missing):
    broken = _copy_checkpoint(hf_dir, tmp_path / "broken", skip=(missing,))
    with pytest.raises(KerasLMError) as error:
        import_gpt2(broken, str(tmp_path / "run"))
    message = str(error.value)
    assert missing in message and "\n" not in message
    assert not os.path.exists(tmp_path / "run")


def test_shape_mismatch_names_the_tensor_and_both_shapes(hf_dir, tmp_path):
    broken = _copy_checkpoint(hf_dir, tmp_path / "broken")
    config_path = os.path.join(broken, "config.json")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config["n_positions"] = 128  # the checkpoint's wpe has 64 rows
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(KerasLMError) as error:
        load_gpt2(broken)
    message = str(error.value)
    assert "wpe.weight" in message and "(64, 32)" in message
    assert "(128, 32)" in message and "\n" not in message


def test_vocabulary_size_mismatch_and_existing_output(hf_dir, run_dir,
                                                      tmp_path):
    broken = _copy_checkpoint(hf_dir, tmp_path / "broken")
    config_path = os.path.join(broken, "config.json")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config["vocab_size"] += 1
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(KerasLMError, match="vocab_size"):
        load_gpt2(broken)
    with pytest.raises(KerasLMError, match="not a previous keras-lm run"):
        import_gpt2(hf_dir, run_dir)
    # --overwrite replaces an earlier run, never a folder that is not one
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me", encoding="utf-8")
    with pytest.raises(KerasLMError, match="not a previous keras-lm run"):
        import_gpt2(hf_dir, str(precious), overwrite=True)
    assert (precious / "thesis.tex").read_text(encoding="utf-8") == "keep me"
    again = import_gpt2(hf_dir, str(tmp_path / "run"))
    assert import_gpt2(hf_dir, again, overwrite=True) == again


def test_generation_stops_at_end_of_text_unless_told_otherwise(loaded):
    """GPT-2's <|endoftext|> ends a row by default (as in transformers'
    generation config); `stop_token_ids=[]` turns that off, and the stop
    string "<|endoftext|>" names the token itself."""
    from keras_lm.generation import generate_text
    from keras_lm.generation.text import stop_ids

    model, tokenizer, _ = loaded
    end = tokenizer.end_of_text_id
    assert end == tokenizer.vocab_size - 1
    assert stop_ids(tokenizer) == [end]
    assert stop_ids(tokenizer, "<|endoftext|>", []) == [end]
    free = generate_ids(model, [tokenizer.encode(PROMPTS[0])],
                        [len(tokenizer.encode(PROMPTS[0]))], 12,
                        temperature=0.0).numpy()[0].tolist()
    # Stopping at the third token keeps what comes before its first use.
    stopped = generate_text(model, tokenizer, PROMPTS[0], 12, temperature=0.0,
                            stop_token_ids=[free[2]])
    kept = free[:free.index(free[2])]
    assert stopped == PROMPTS[0] + tokenizer.decode(kept)


def test_bfloat16_decoding_is_close_to_float32(loaded, run_dir, tmp_path,
                                               capsys):
    from keras_lm.cli import main
    from keras_lm.generation import quantize_for_decoding

    model, tokenizer, _ = loaded
    small = quantize_for_decoding(model, "bfloat16")
    assert {w.dtype for w in small.weights} == {"bfloat16"}
    assert {w.dtype for w in model.weights} == {"float32"}  # left alone
    ids = np.array([tokenizer.encode(PROMPTS[0])], "int32")
    full, half = model(ids).numpy(), small(ids).numpy()
    assert np.abs(half - full).max() < 0.02 * np.abs(full).max()
    assert main(["generate", run_dir, "--prompt", "The", "--quantize",
                 "bfloat16", "--kv-cache", "float16",
                 "--max-new-tokens", "5"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("The") and "bfloat16 weights" in err
    assert "float16 key/value cache" in err
    export = str(tmp_path / "bf16")
    assert main(["export", run_dir, "--out", export, "--quantize", "bf16",
                 "--kv-cache", "float16", "--max-new-tokens", "5"]) == 0
    from keras_lm.serving import generate_with_export, load_export

    text, = generate_with_export(load_export(export), ["The"], 5)
    assert text.startswith("The") and len(text) > 3
    assert main(["export", run_dir, "--out", str(tmp_path / "bad"),
                 "--quantize", "int4"]) == 2
    assert "unknown quantize mode 'int4'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
