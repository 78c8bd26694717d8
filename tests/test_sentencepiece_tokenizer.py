"""A Llama-family `tokenizer.model` (TinyLlama, Llama 2, Mistral v0.1)
encodes to transformers 5's `LlamaTokenizer` ids and decodes to its text, in
Python, in the graph and after a SavedModel round trip, with its special
tokens matched literally and ``<s>`` as `prefix_ids`."""

import io
import json

import pytest
import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers import load_tokenizer
from keras_lm.tokenizers.sentencepiece_model import SentencePieceTokenizer

spm = pytest.importorskip("sentencepiece")
transformers = pytest.importorskip("transformers")

TRAINING_LINES = [
    "To be, or not to be, that is the question:",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune,",
    "Café déjà vu señor Müller naïve",
    "東京 北京 晴れ 欢迎 你 今日",
    "Hello world, hello there! numbers 12345",
] * 40

#: Accents, CJK (some of it, and the emoji, not in the training text, so
#: bytes), runs of spaces and newlines, special tokens in the text.
SENTENCES = [
    "Hello world",
    "Café naïve, déjà vu — señor Müller!",
    "東京は今日も晴れです。北京欢迎你 한국어",
    "emoji 🌸🎉 and 👩‍👩‍👧 family",
    "  leading spaces,   runs of   spaces  \n\n\n  and\ttabs\t\t\n",
    "trailing spaces   ",
    "\nnewline first",
    "numbers 12345 and 3.14159",
    "a</s>b <s> c",
    "</s>",
    "<s>Hi</s><s> there",
    "x <unk> y",
    "",
]

CONFIG = {  # TinyLlama-1.1B-Chat-v1.0's, without the chat template
    "add_bos_token": True, "add_eos_token": False,
    "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
    "pad_token": "</s>", "clean_up_tokenization_spaces": False,
    "model_max_length": 2048, "tokenizer_class": "LlamaTokenizer",
    "added_tokens_decoder": {
        str(i): {"content": token, "lstrip": False, "normalized": False,
                 "rstrip": False, "single_word": False, "special": True}
        for i, token in enumerate(["<unk>", "<s>", "</s>"])}}


@pytest.fixture(scope="module")
def model_proto():
    """A tiny Llama-style SentencePiece BPE (byte fallback, digits split,
    whitespace kept), trained offline."""
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_LINES), model_writer=proto,
        vocab_size=400, model_type="bpe", byte_fallback=True,
        character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        split_digits=True, allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity",
        minloglevel=2)
    return proto.getvalue()


def _folder(path, proto, **config):
    (path / "tokenizer.model").write_bytes(proto)
    (path / "tokenizer_config.json").write_text(json.dumps({**CONFIG,
                                                            **config}))
    return str(path)


@pytest.fixture(scope="module", params=[False, True], ids=["legacy=false",
                                                           "legacy=true"])
def pair(request, model_proto, tmp_path_factory):
    """(transformers' tokenizer, ours) of one folder holding tokenizer.model
    and tokenizer_config.json only."""
    folder = _folder(tmp_path_factory.mktemp("tinyllama"), model_proto,
                     legacy=request.param)
    hf = transformers.AutoTokenizer.from_pretrained(folder)
    return hf, SentencePieceTokenizer.from_folder(folder)


def test_ids_equal_transformers(pair):
    hf, ours = pair
    for text in SENTENCES:
        assert ours.encode(text) == hf(text, add_special_tokens=False)[
            "input_ids"], text
    # The prompt a model is fed starts with <s>, as in transformers.
    assert ours.encode_prompt("Hi there") == hf("Hi there")["input_ids"]
    assert ours.prefix_ids == [1]


def test_the_dummy_prefix_follows_transformers_not_sentencepiece(
        pair, model_proto):
    """SentencePiece puts a ▁ before every text; transformers 5 (and so
    keras-lm) not before one that starts with a space, and, unless
    tokenizer_config.json says legacy, not after a special token."""
    hf, ours = pair
    processor = spm.SentencePieceProcessor(model_proto=model_proto)
    assert ours.encode("Hello world") == processor.encode("Hello world")
    assert ours.encode(" x") == processor.encode("x")
    if ours.prefix_space == "always":  # legacy: "▁b", as SentencePiece
        assert ours.encode("</s>b") == [2] + processor.encode("b")
    else:
        assert ours.encode("</s>b") == [2, processor.piece_to_id("b")]


def test_decode_equals_transformers_with_special_tokens_kept(pair):
    hf, ours = pair
    cut_off = hf.convert_tokens_to_ids(["<0xE3>", "<0x81>"])
    samples = [ours.encode(t) for t in SENTENCES] + [
        ours.encode_prompt("Hi there"), [2, 1] + ours.encode(" x"),
        ours.encode("a") + cut_off,  # a character cut off: one � per byte
        cut_off + ours.encode("a") + cut_off[:1]]
    for ids in samples:
        assert ours.decode(ids) == hf.decode(ids, skip_special_tokens=False)


def test_the_graph_gives_the_python_ids_and_text(pair, tmp_path):
    _, ours = pair
    expected = [ours.encode(text) for text in SENTENCES]
    texts = [ours.decode(ids) for ids in expected]
    graph = ours.graph_module()
    assert graph.encode(tf.constant(SENTENCES)).to_list() == expected
    ragged = tf.ragged.constant(expected, tf.int32, row_splits_dtype=tf.int64)
    assert [t.decode() for t in graph.decode(ragged).numpy()] == texts
    padded = ragged.to_tensor(-1)  # -1 padding is dropped
    assert [t.decode() for t in graph.decode(padded).numpy()] == texts
    assert graph.decode(padded[:2, :0]).numpy().tolist() == [b"", b""]

    module = tf.Module()
    module.tokenizer = graph
    module.encode = tf.function(graph.encode, input_signature=[
        tf.TensorSpec([None], tf.string)])
    ids_spec = tf.RaggedTensorSpec([None, None], tf.int32,
                                   row_splits_dtype=tf.int64)
    module.decode = tf.function(graph.decode, input_signature=[ids_spec])
    tf.saved_model.save(module, str(tmp_path / "export"))
    del module, graph
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    assert loaded.encode(tf.constant(SENTENCES)).to_list() == expected
    assert [t.decode() for t in loaded.decode(ragged).numpy()] == texts


def test_stops_and_config_round_trip(pair, tmp_path):
    hf, ours = pair
    assert ours.end_of_text_id == hf.eos_token_id == 2
    assert ours.stop_id("</s>") == 2
    assert ours.stop_id("\n") == hf.convert_tokens_to_ids("<0x0A>")
    assert ours.unk_id == 0 and ours.pad_id == 2  # pad_token "</s>"
    assert ours.vocab_size == len(hf) == 400
    ours.extra_stop_ids = [5]
    ours.save(str(tmp_path))
    again = load_tokenizer(str(tmp_path))
    ours.extra_stop_ids = []
    assert isinstance(again, SentencePieceTokenizer)
    assert again.get_config()["extra_stop_ids"] == [5]
    assert again.default_stop_ids() == [2, 5]
    assert again.encode(SENTENCES[8]) == ours.encode(SENTENCES[8])
    assert again.prefix_ids == ours.prefix_ids


def test_a_bad_tokenizer_model_is_one_clear_line(model_proto, tmp_path):
    for name, data in [("corrupt", b"version https://git-lfs.github.com"),
                       ("cut", model_proto[:1000])]:
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises(KerasLMError, match="not a SentencePiece model"
                           ) as info:
            SentencePieceTokenizer.from_folder(_folder(folder, data))
        assert "\n" not in str(info.value)
    with pytest.raises(KerasLMError, match="tokenizer.model not found"):
        SentencePieceTokenizer.from_folder(str(tmp_path))
