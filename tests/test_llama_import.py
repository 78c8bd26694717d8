"""Importing Llama-family checkpoints (Llama, Qwen2, Mistral): the logits,
greedy tokens, tokenizer ids and chat prompts of transformers; `keras-lm
import`, `keras-lm chat`, the pipeline on messages; an export that chats in
a process without keras-lm; one-line errors for bad checkpoints and chats."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import start_without_keras_lm
from keras_lm.checkpoints import load_llama
from keras_lm.cli import main
from keras_lm.errors import KerasLMError
from keras_lm.generation import generate_ids
from keras_lm.generation.chat import Chat
from tiny_checkpoints import (FAMILIES, SENTENCES, llama_family,
                              sentencepiece_llama)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

CONVERSATION = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello there! 12 déjà vu?"}]


#: The byte-level BPE families, and a Llama with a SentencePiece
#: tokenizer.model (TinyLlama's layout).
CHECKPOINTS = (*FAMILIES, "sentencepiece")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """family -> (folder, transformers model, transformers tokenizer)."""
    made = {}
    for family in CHECKPOINTS:
        folder = str(tmp_path_factory.mktemp(family))
        made[family] = (folder, *(sentencepiece_llama(folder)
                                  if family == "sentencepiece"
                                  else llama_family(folder, family)))
    return made


@pytest.fixture(scope="module")
def imported(checkpoints):
    """family -> `load_llama(folder)`: (model, tokenizer, info)."""
    return {family: load_llama(folder)
            for family, (folder, _, _) in checkpoints.items()}


def _greedy_hf(hf_model, ids, new_tokens, stop=None):
    hf_model.generation_config.eos_token_id = stop
    with torch.no_grad():
        out = hf_model.generate(
            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids)),
            do_sample=False, max_new_tokens=new_tokens, pad_token_id=0)
    return out[0, len(ids):].tolist()


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_logits_greedy_tokens_and_tokenizer_match_transformers(
        checkpoints, imported, family):
    _, hf_model, hf_tokenizer = checkpoints[family]
    model, tokenizer, _ = imported[family]
    for text in SENTENCES:
        assert tokenizer.encode_prompt(text) == hf_tokenizer(text)["input_ids"]
    ids = tokenizer.encode_prompt("To be, or not to be: 42 東京 🌸")
    with torch.no_grad():
        expected = hf_model(torch.tensor([ids])).logits.numpy()
    np.testing.assert_allclose(np.asarray(model(np.array([ids]))), expected,
                               atol=1e-4, rtol=1e-4)
    ours = generate_ids(model, [ids], [len(ids)], 16, temperature=0.0,
                        stop_token_ids=[]).numpy()[0].tolist()
    assert ours == _greedy_hf(hf_model, ids, 16)


@pytest.mark.parametrize("family", CHECKPOINTS)
def test_chat_prompt_and_reply_match_transformers(checkpoints, imported,
                                                  family):
    _, hf_model, hf_tokenizer = checkpoints[family]
    model, tokenizer, info = imported[family]
    chat = Chat(model, tokenizer, info["chat_template"])
    text, ids = chat.prompt_ids(CONVERSATION, 12)
    assert text == hf_tokenizer.apply_chat_template(
        CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert ids == hf_tokenizer(text, add_special_tokens=False)["input_ids"]
    im_end = hf_tokenizer.convert_tokens_to_ids(
        "</s>" if family == "sentencepiece" else "<|im_end|>")
    assert im_end in chat.stop_token_ids
    expected = _greedy_hf(hf_model, ids, 12, stop=im_end)
    expected = expected[:expected.index(im_end)] if im_end in expected else (
        expected)
    reply = chat.reply(CONVERSATION, 12, temperature=0.0)
    assert reply == hf_tokenizer.decode(expected)
    assert "".join(chat.stream(CONVERSATION, 12, chunk_tokens=5,
                               temperature=0.0)) == reply


def test_settings_come_from_the_checkpoint(imported, checkpoints):
    llama_info, qwen_info = imported["llama"][2], imported["qwen2"][2]
    assert llama_info["sampling"] == {"temperature": 0.7, "top_k": 20,
                                      "top_p": 0.9}
    assert imported["llama"][0].rope_scaling["rope_type"] == "llama3"
    qwen_tokenizer = imported["qwen2"][1]
    hf_qwen = checkpoints["qwen2"][2]
    assert qwen_tokenizer.default_stop_ids() == [
        hf_qwen.convert_tokens_to_ids("<|im_end|>"), hf_qwen.pad_token_id]
    assert qwen_info["model_config"]["qkv_bias"]
    assert imported["mistral"][0].max_sequence_length == 96  # the window


def test_conversation_longer_than_the_context_drops_whole_turns(imported):
    model, tokenizer, info = imported["qwen2"]
    chat = Chat(model, tokenizer, info["chat_template"])
    turns = [{"role": role, "content": "lorem ipsum dolor " * 4}
             for _ in range(6) for role in ("user", "assistant")]
    messages = [CONVERSATION[0], *turns, CONVERSATION[1]]
    text, ids = chat.prompt_ids(messages, 16)
    assert len(ids) + 16 <= model.max_sequence_length
    assert chat.dropped > 0 and chat.dropped % 2 == 0
    assert text.startswith("<|im_start|>system\nBe brief.")
    with pytest.raises(KerasLMError, match="more than the model's context"):
        chat.prompt_ids([{"role": "user", "content": "word " * 200}], 16)


@pytest.fixture(scope="module")
def run_dir(checkpoints, tmp_path_factory):
    """The Llama checkpoint imported with `keras-lm import FOLDER --out RUN`."""
    out = str(tmp_path_factory.mktemp("runs") / "llama")
    assert main(["import", checkpoints["llama"][0], "--out", out]) == 0
    return out


@pytest.fixture(scope="module")
def greedy_reply(imported):
    model, tokenizer, info = imported["llama"]
    return Chat(model, tokenizer, info["chat_template"]).reply(
        CONVERSATION, 12, temperature=0.0)


@pytest.fixture(scope="module")
def saved_model(run_dir, tmp_path_factory):
    """The imported run exported with `keras-lm export RUN --out PATH`."""
    path = str(tmp_path_factory.mktemp("sm") / "llama")
    assert main(["export", run_dir, "--out", path]) == 0
    return path


def test_import_and_pipeline_on_folder_run_and_export(
        checkpoints, run_dir, saved_model, standalone_chat, greedy_reply):
    from keras_lm.pipelines import pipeline

    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        generation = json.load(f)["generation"]
    assert generation["sampling"]["temperature"] == 0.7
    assert generation["chat_template"]["special_tokens"]["bos_token"] == "<s>"
    with open(os.path.join(saved_model, "assets", "chat_template.json"),
              encoding="utf-8") as f:
        assert json.load(f)["end_of_turn"] == "<|im_end|>"
    for source in (checkpoints["llama"][0], run_dir, saved_model):
        out = pipeline("text-generation", model=source)(
            CONVERSATION, max_new_tokens=12, temperature=0.0)
        assert out == [{"generated_text": CONVERSATION + [
            {"role": "assistant", "content": greedy_reply}]}], source


# The README's recipe for a server: render the exported template with
# jinja2 as transformers does and send the text to the `chat` signature.
STANDALONE = """
import json, os
import jinja2.ext, jinja2.sandbox
import tensorflow as tf
import tensorflow_text  # the byte-level BPE tokenizer's ops
path = {path!r}
with open(os.path.join(path, "assets", "chat_template.json")) as f:
    chat = json.load(f)
env = jinja2.sandbox.ImmutableSandboxedEnvironment(
    trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
prompt = env.from_string(chat["template"]).render(
    messages={messages!r}, add_generation_prompt=True, **chat["special_tokens"])
out = tf.saved_model.load(path).signatures["chat"](
    prompt=tf.constant([prompt]), max_new_tokens=tf.constant(12),
    temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
    seed=tf.constant(0), beam_width=tf.constant(1),
    length_penalty=tf.constant(0.0), stop=tf.constant([], tf.string))
print(json.dumps(out["completion"].numpy()[0].decode("utf-8")))
"""


@pytest.fixture(scope="module")
def standalone_chat(saved_model, tmp_path_factory):
    """The recipe run on the export in a process without keras-lm, started
    as soon as the export exists so that it overlaps the tests before it."""
    script = STANDALONE.format(path=saved_model, messages=CONVERSATION)
    return start_without_keras_lm(script, tmp_path_factory.mktemp("chat"))


@pytest.mark.slow
def test_export_chats_without_keras_lm(standalone_chat, greedy_reply):
    result = standalone_chat.result()
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == greedy_reply


def test_generate_takes_the_checkpoints_sampling_unless_told(run_dir, capsys):
    from keras_lm.pipelines import pipeline

    generator = pipeline("text-generation", model=run_dir)
    for flags, knobs in (([], {}), (["--temperature", "0"],
                                    {"temperature": 0.0})):
        assert main(["generate", run_dir, "--prompt", "To be", "--seed", "3",
                     "--max-new-tokens", "8", *flags]) == 0
        expected = generator("To be", max_new_tokens=8, seed=3, **knobs)
        assert capsys.readouterr().out == expected[0]["generated_text"] + "\n"


def test_chat_command_streams_and_keeps_the_conversation(run_dir, capsys,
                                                         greedy_reply):
    assert main(["chat", run_dir, "--system", "Be brief.", "--message",
                 CONVERSATION[1]["content"], "--message", "And then?",
                 "--max-new-tokens", "12", "--temperature", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == greedy_reply
    assert len(lines) == 2


def _broken_copy(folder, target, edit=None, skip=()):
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns(*skip))
    if edit:
        name, change = edit
        path = os.path.join(target, name)
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        change(data)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
    return str(target)


BAD_CHECKPOINTS = {
    "missing shard": (dict(skip=("model-00002-of-00005.safetensors",)),
                      "model-00002-of-00005.safetensors"),
    "shape mismatch": (dict(edit=("config.json", lambda c: c.update(
        intermediate_size=80))), "mlp.gate_proj.weight"),
    "unsupported model": (dict(edit=("config.json", lambda c: c.update(
        model_type="gemma"))), "is not a GPT-2, Llama"),
    "no tokenizer": (dict(skip=("tokenizer.json",)),
                     "has no tokenizer.json or tokenizer.model"),
    "corrupt tokenizer.model": (dict(skip=("tokenizer.json",)),
                                "is not a SentencePiece model"),
}


@pytest.mark.parametrize("case", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_one_line_errors(checkpoints, tmp_path, capsys,
                                             case):
    how, message = BAD_CHECKPOINTS[case]
    broken = _broken_copy(checkpoints["llama"][0], tmp_path / "broken", **how)
    if case == "corrupt tokenizer.model":
        (tmp_path / "broken" / "tokenizer.model").write_bytes(b"\x0a\x05ab")
    out = str(tmp_path / "run")
    assert main(["import", broken, "--out", out]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1, error
    assert not os.path.exists(out)


def test_bad_chats_are_one_line_errors(checkpoints, tmp_path, capsys):
    failing = _broken_copy(
        checkpoints["qwen2"][0], tmp_path / "no-system",
        edit=("tokenizer_config.json", lambda c: c.update(chat_template=(
            "{% if messages[0].role == 'system' %}{{ raise_exception("
            "'System role not supported') }}{% endif %}"))))
    os.remove(os.path.join(failing, "chat_template.jinja"))
    for argv, message in (
            (["chat", failing, "--system", "x", "--message", "hi"],
             "System role not supported"),
            (["chat", checkpoints["qwen2"][0], "--message", "word " * 200],
             "more than the model's context")):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    from keras_lm.pipelines import pipeline

    with pytest.raises(KerasLMError, match="unknown role 'robot'"):
        pipeline("text-generation", model=checkpoints["qwen2"][0])(
            [{"role": "robot", "content": "beep"}])
