"""A Hugging Face tokenizer.json of a byte-level BPE (SmolLM2, Qwen2 style)
encodes to the `tokenizers` library's ids, in Python and in the graph, with
its added tokens matched literally and its BOS as `prefix_ids`."""

import json

import pytest
import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers import load_tokenizer
from keras_lm.tokenizers.byte_bpe import ByteBPETokenizer
from tiny_checkpoints import SENTENCES, byte_level_bpe

pytest.importorskip("transformers")


@pytest.fixture(scope="module", params=["digits+bos", "gpt2"])
def pair(request, tmp_path_factory):
    """(transformers tokenizer, ours) from one saved folder."""
    folder = tmp_path_factory.mktemp("tokenizer")
    digits = request.param == "digits+bos"
    hf = byte_level_bpe(folder, digits=digits, bos=digits)
    ours = ByteBPETokenizer.from_tokenizer_json(str(folder),
                                                end_of_text="<|im_end|>")
    return hf, ours


def test_ids_equal_the_tokenizers_library_in_python_and_in_the_graph(pair):
    hf, ours = pair
    expected = [hf(text, add_special_tokens=False)["input_ids"]
                for text in SENTENCES]
    assert [ours.encode(text) for text in SENTENCES] == expected
    graph = ours.graph_module()
    assert graph.encode(tf.constant(SENTENCES)).to_list() == expected
    # The whole prompt, BOS included, is what transformers feeds a model.
    assert ours.encode_prompt("Hi there") == hf("Hi there")["input_ids"]


def test_added_tokens_are_single_ids_and_decode_back(pair):
    hf, ours = pair
    im_end = hf.convert_tokens_to_ids("<|im_end|>")
    assert ours.token_ids_of("<|im_end|>") == [im_end]
    assert ours.stop_id("<|im_end|>") == im_end
    assert ours.end_of_text_id == im_end
    assert ours.default_stop_ids() == [im_end]
    for text in SENTENCES:
        assert ours.decode(ours.encode(text)) == text
    graph = ours.graph_module()
    ids = tf.ragged.constant([ours.encode(t) for t in SENTENCES[:4]])
    assert [t.decode() for t in graph.decode(ids.to_tensor(-1)).numpy()] == (
        SENTENCES[:4])


def test_round_trips_through_a_run_directory(pair, tmp_path):
    _, ours = pair
    ours.extra_stop_ids = [3]
    ours.save(str(tmp_path))
    again = load_tokenizer(str(tmp_path))
    assert again.get_config() == ours.get_config()
    assert again.default_stop_ids() == ours.default_stop_ids()
    assert again.encode(SENTENCES[7]) == ours.encode(SENTENCES[7])


def _write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["model"].update(type="Unigram"), "holds a Unigram model"),
    (lambda d: d["model"].update(byte_fallback=True), "SentencePiece-style"),
    (lambda d: d.update(pre_tokenizer={"type": "Metaspace"}),
     "no ByteLevel pre-tokenizer"),
    (lambda d: d.update(normalizer={"type": "Lowercase"}),
     "normalizer Lowercase is not supported"),
])
def test_other_tokenizer_kinds_are_one_line_errors(pair, tmp_path, change,
                                                   message):
    hf, _ = pair
    data = json.loads(hf.backend_tokenizer.to_str())
    change(data)
    with pytest.raises(KerasLMError, match=message) as info:
        ByteBPETokenizer.from_tokenizer_json(_write(tmp_path / "t.json", data))
    assert "\n" not in str(info.value)


#: Llama 3's and Qwen2's Split regexes, as their tokenizer.json files hold them.
SPLIT_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|DIGITS"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPLITS = {"llama3": SPLIT_REGEX.replace("DIGITS", r"\p{N}{1,3}"),
          "qwen2": SPLIT_REGEX.replace("DIGITS", r"\p{N}"),
          "unknown": r"\p{N}{1,3}"}
#: Where the look-ahead of ``\s+(?!\S)`` meets the other alternatives.
HARD_CASES = ["!\n\n\nx", "a \n\nb", "\n  x", "x 's 'S  's", "\t!", "\t\tword",
              "a\n \tb", "end \n", "12345678 9", " \u00a0\u3000x", "?!\r\n  y",
              "  \n \n  z", "word\n\n", "don't  DON'T", "é  ü  世界  🌸"]


def _split_tokenizer(pair, tmp_path, regex):
    """A tokenizer.json like `pair`'s, pre-tokenized by a Split `regex`
    then a ByteLevel without a regex (Llama 3, Qwen2); returns the
    tokenizers library's tokenizer and ours."""
    from tokenizers import Tokenizer

    hf, _ = pair
    data = json.loads(hf.backend_tokenizer.to_str())
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False,
         "trim_offsets": False, "use_regex": False}]}
    reference = Tokenizer.from_str(json.dumps(data))
    ours = ByteBPETokenizer.from_tokenizer_json(_write(tmp_path / "t.json",
                                                       data))
    return reference, ours


@pytest.mark.parametrize("name", ["llama3", "qwen2"])
def test_llama3_and_qwen2_split_regexes_encode_alike_in_the_graph(
        pair, tmp_path, name):
    reference, ours = _split_tokenizer(pair, tmp_path, SPLITS[name])
    texts = SENTENCES + HARD_CASES
    expected = [reference.encode(t, add_special_tokens=False).ids
                for t in texts]
    assert [ours.encode(t) for t in texts] == expected
    graph = ours.graph_module()
    assert graph.encode(tf.constant(texts)).to_list() == expected


def test_another_split_regex_tokenizes_in_python_but_refuses_the_graph(
        pair, tmp_path):
    reference, ours = _split_tokenizer(pair, tmp_path, SPLITS["unknown"])
    for text in SENTENCES:
        assert ours.encode(text) == reference.encode(
            text, add_special_tokens=False).ids
    with pytest.raises(KerasLMError, match="no in-graph form"):
        ours.graph_module()
