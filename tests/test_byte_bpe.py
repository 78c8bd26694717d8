"""GPT-2's byte-level BPE tokenizer: exact round trips, Python == graph ==
transformers, and an in-graph form that survives a SavedModel round trip."""

import json
import os
import random

import pytest
import tensorflow as tf

from conftest import run_without_keras_lm
from keras_lm.errors import KerasLMError
from keras_lm.tokenizers import load_tokenizer
from keras_lm.tokenizers.byte_bpe import (END_OF_TEXT, ByteBPETokenizer,
                                          bytes_to_unicode)

TRAINING_TEXT = [
    "The quick brown fox jumps over the lazy dog. It's 2024, isn't it?\n",
    "hello world, hello there; the theory of the thing.  Indented   lines\n"
    "\tand tabs. They'll say we've done what I'm told.\r\n",
    "Ümlaut café naïve 日本語 🙂 — “quotes” … 1234567890",
]

WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029"
              "\u202f\u205f\u3000\u200b\ufeff")

STRINGS = [
    "Hello world", "The quick brown fox.\n\nIt's 2024!",
    "  leading spaces  and trailing  ", "tabs\tand\nnewlines\r\n",
    "emoji 🙂🙂 and 日本語 👩‍👩‍👧", "six ६ digit", "numbers 123456 and 3.14",
    "I'M SHOUTING, they'LL", "a\u00a0nbsp\u3000wide", "", " ", "\n\n\n",
    "x  \n y", "don't   stop", "  's  'sa\n 've", "a" * 300, "!!!???...,,,",
    "line one\n\n\n    indented(code): return x  # comment\n",
]


def write_bpe_files(directory, vocab_size=400):
    """Trains a tiny GPT-2-style byte-level BPE; writes vocab.json and
    merges.txt (with `<|endoftext|>` as the last id) into `directory`.

    Returns the vocabulary size.
    """
    from tokenizers import (Tokenizer, decoders, models, pre_tokenizers,
                            trainers)

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(TRAINING_TEXT * 20, trainer)
    os.makedirs(directory, exist_ok=True)
    tokenizer.model.save(str(directory))
    path = os.path.join(directory, "vocab.json")
    with open(path, encoding="utf-8") as f:
        vocab = json.load(f)
    vocab[END_OF_TEXT] = len(vocab)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    return len(vocab)


def random_strings(count, seed=0):
    """Strings of random code points (all planes up to U+2FFFF, no
    surrogates) mixed with spaces, newlines, quotes and digits."""
    rng = random.Random(seed)

    def char():
        if rng.random() < 0.5:
            return rng.choice(" \n  a'sb1.\t" + WHITESPACE)
        while True:
            c = rng.randint(0, 0x2FFFF)
            if not 0xD800 <= c < 0xE000:
                return chr(c)

    return ["".join(char() for _ in range(rng.randint(0, 30)))
            for _ in range(count)]


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bpe")
    write_bpe_files(directory)
    return str(directory)


@pytest.fixture(scope="module")
def tokenizer(bpe_dir):
    return ByteBPETokenizer.from_files(bpe_dir)


@pytest.fixture(scope="module")
def graph(tokenizer):
    return tokenizer.graph_module()


def test_round_trip_is_exact(tokenizer):
    for text in STRINGS + random_strings(300):
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_ids_and_special_ids(tokenizer):
    assert tokenizer.kind == "byte_bpe"
    assert tokenizer.pad_id == tokenizer.unk_id == tokenizer.vocab_size - 1
    assert tokenizer.vocabulary[END_OF_TEXT] == tokenizer.vocab_size - 1
    # The literal special token is ordinary text: never an unknown id.
    assert tokenizer.count_unknown("a <|endoftext|> b") == 0
    assert tokenizer.decode(tokenizer.encode(END_OF_TEXT)) == END_OF_TEXT
    assert tokenizer.decode([tokenizer.pad_id]) == END_OF_TEXT
    assert tokenizer.decode([-1, 10**6]) == ""


def test_python_matches_graph(tokenizer, graph):
    strings = STRINGS + random_strings(500, seed=1)
    for c in WHITESPACE:  # every Unicode space, alone, doubled, before 's
        strings += [f"a{c}b", f"a {c}b", f"a{c} b", f"a{c}{c}b", c,
                    f"x{c}", f"a{c}{c} 's"]
    python = [tokenizer.encode(s) for s in strings]
    assert graph.encode(tf.constant(strings)).to_list() == python
    decoded = graph.decode(tf.ragged.constant(python, dtype=tf.int32))
    assert [t.decode("utf-8") for t in decoded.numpy()] == strings


def test_graph_encode_in_tf_function(tokenizer, graph):
    encode = tf.function(graph.encode,
                         input_signature=[tf.TensorSpec([None], tf.string)])
    assert encode(tf.constant(STRINGS[:3])).to_list() == [
        tokenizer.encode(s) for s in STRINGS[:3]]


def test_matches_transformers_gpt2_tokenizer(bpe_dir, tokenizer):
    from transformers import GPT2TokenizerFast

    reference = GPT2TokenizerFast.from_pretrained(bpe_dir)
    for text in STRINGS + random_strings(50, seed=2):
        assert tokenizer.encode(text) == reference.encode(text), repr(text)
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == reference.decode(ids)


def test_saves_and_loads_through_tokenizer_json(tokenizer, tmp_path):
    tokenizer.save(str(tmp_path))
    loaded = load_tokenizer(str(tmp_path))
    assert isinstance(loaded, ByteBPETokenizer)
    assert loaded.vocabulary == tokenizer.vocabulary
    assert loaded.merges == tokenizer.merges
    for text in STRINGS:
        assert loaded.encode(text) == tokenizer.encode(text)


@pytest.mark.parametrize("missing", ["vocab.json", "merges.txt"])
def test_missing_file_is_a_one_line_error(bpe_dir, tmp_path, missing):
    for name in ("vocab.json", "merges.txt"):
        if name != missing:
            with open(os.path.join(bpe_dir, name), "rb") as f:
                (tmp_path / name).write_bytes(f.read())
    with pytest.raises(KerasLMError) as error:
        ByteBPETokenizer.from_files(str(tmp_path))
    assert missing in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_vocabularies_are_one_line_errors(tokenizer):
    chars = list(bytes_to_unicode().values())
    with pytest.raises(KerasLMError, match="byte tokens"):
        ByteBPETokenizer({c: i for i, c in enumerate(chars[:-1])}, [])
    with pytest.raises(KerasLMError, match="not in the vocabulary"):
        ByteBPETokenizer({c: i for i, c in enumerate(chars)}, ["a b"])
    with pytest.raises(KerasLMError, match="ids"):
        ByteBPETokenizer({c: 2 * i for i, c in enumerate(chars)}, [])


STANDALONE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # the in-graph tokenizer's regex_split op
loaded = tf.saved_model.load({path!r})
strings = json.loads({strings!r})
ids = loaded.encode(tf.constant(strings))
text = loaded.decode(ids)
print(json.dumps({{"ids": ids.to_list(),
                  "text": [t.decode("utf-8") for t in text.numpy()]}}))
"""


def test_graph_module_survives_saved_model_without_keras_lm(
        tokenizer, tmp_path):
    module = tokenizer.graph_module()
    module.encode_fn = tf.function(
        module.encode, input_signature=[tf.TensorSpec([None], tf.string)])
    module.decode_fn = tf.function(
        module.decode,
        input_signature=[tf.RaggedTensorSpec([None, None], tf.int32)])
    path = str(tmp_path / "tokenizer_model")
    root = tf.Module()
    root.tokenizer = module
    root.encode = module.encode_fn
    root.decode = module.decode_fn
    tf.saved_model.save(root, path)
    del root, module

    strings = STRINGS + random_strings(20, seed=3)
    script = STANDALONE.format(path=path, strings=json.dumps(strings))
    result = run_without_keras_lm(script, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ids"] == [tokenizer.encode(s) for s in strings]
    assert out["text"] == strings
