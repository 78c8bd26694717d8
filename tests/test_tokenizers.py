"""Tokenizers: Python/graph agreement, round trips, save/load and export."""

import json
import os
import random
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import tensorflow as tf

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers import (SubwordTokenizer, WordTokenizer,
                                 load_tokenizer, make_tokenizer)
from keras_lm.tokenizers.word import split_words

SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    'She said "the value is (in fact) an object"; then she stopped.',
    "It's a class, isn't it? Yes: the class.\nA new line follows.",
]
UNSEEN = "Emoji 🙂 and Cyrillic Привет, naïve café\ttab  two spaces ▁ ##"


@pytest.fixture(scope="module")
def corpus():
    from pydoc_data.topics import topics
    text = "".join(topics[k] for k in sorted(topics))[:30000]
    return text + "\n" + "\n".join(SENTENCES)


@pytest.fixture(scope="module")
def tokenizers(corpus):
    return {
        "char": make_tokenizer("char", corpus),
        "word": make_tokenizer("word", corpus, 5000),
        "subword": make_tokenizer("subword", corpus, 800),
    }


def graph_encode(module, strings):
    return [row.tolist() for row in
            module.encode(tf.constant(strings)).numpy()]


def graph_decode(module, rows):
    dense = tf.ragged.constant(rows, dtype=tf.int32,
                               row_splits_dtype=tf.int64).to_tensor()
    if dense.shape.rank == 1:  # all rows empty
        dense = tf.zeros([len(rows), 0], tf.int32)
    return [s.decode("utf-8") for s in module.decode(dense).numpy()]


def test_make_tokenizer_kinds(tokenizers):
    assert {k: t.kind for k, t in tokenizers.items()} == {
        "char": "char", "word": "word", "subword": "subword"}
    for tokenizer in tokenizers.values():
        assert (tokenizer.pad_id, tokenizer.unk_id) == (0, 1)


def test_make_tokenizer_unknown_kind():
    with pytest.raises(KerasLMError, match="unknown tokenizer 'bpe'") as info:
        make_tokenizer("bpe", "text")
    assert "\n" not in str(info.value)


def test_char_round_trip_and_unknown(tokenizers, corpus):
    char = tokenizers["char"]
    for text in SENTENCES + [corpus[:2000]]:
        assert char.decode(char.encode(text)) == text
    assert char.count_unknown("Hello 🙂🙂") == 2
    assert char.encode("🙂") == [char.unk_id]


def test_word_split_rule():
    assert split_words("Hello, world!\n") == ["Hello", ",", "world", "!", "\n"]
    assert split_words("don't  snake_case\t3.5") == [
        "don", "'", "t", "snake_case", "3", ".", "5"]


def test_word_round_trip_and_unknown(tokenizers):
    word = tokenizers["word"]
    assert word.vocab_size <= 5000
    for text in SENTENCES:
        ids = word.encode(text)
        assert word.unk_id not in ids
        assert split_words(word.decode(ids)) == split_words(text)
        assert word.decode(ids) == text  # ordinary prose comes back as is
    ids = word.encode("the zyzzyva snorkels.")
    assert ids[1] == ids[2] == word.unk_id
    assert word.count_unknown("the zyzzyva snorkels.") == 2
    assert word.decode(ids) == "the <unk> <unk>."


def test_word_vocabulary_is_most_frequent():
    word = WordTokenizer.from_text("b a b c b a .", vocab_size=4)
    assert word.tokens == ["b", "a"]
    assert word.encode("a b c") == [3, 2, 1]
    with pytest.raises(KerasLMError):
        WordTokenizer.from_text("a", vocab_size=2)


def test_subword_vocab_size_and_round_trip(tokenizers, corpus):
    subword = tokenizers["subword"]
    assert 400 <= subword.vocab_size <= 800
    for text in SENTENCES + [corpus[:3000], UNSEEN, "", " ", "\n\n"]:
        assert subword.decode(subword.encode(text)) == text
    # Pieces, not characters: the training text needs far fewer ids.
    assert len(subword.encode(corpus[:3000])) < 0.6 * 3000
    # Unseen characters fall back to bytes: never the unknown id.
    assert subword.count_unknown(UNSEEN) == 0
    assert len(subword.encode("🙂")) == 4
    with pytest.raises(KerasLMError, match="at least"):
        SubwordTokenizer.from_text(corpus, vocab_size=100)


def test_subword_decodes_invalid_bytes(tokenizers):
    subword = tokenizers["subword"]
    ids = [2 + 0xE2, 2 + 0x82, 2 + ord("A"), 0, 10**6]
    assert subword.decode(ids) == "\ufffdA"
    assert graph_decode(subword.graph_module(), [ids]) == ["\ufffdA"]


def random_strings(count, seed=0):
    alphabet = list("aAbeist  \n\t.,'\"()-_#<>▁0123") + ["é", "🙂", "П", "\u00a0"]
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
            for _ in range(count)]


@pytest.mark.parametrize("kind", ["char", "word", "subword"])
def test_python_and_graph_agree(tokenizers, kind, corpus):
    tokenizer = tokenizers[kind]
    module = tokenizer.graph_module()
    texts = SENTENCES + [UNSEEN, "", corpus[5000:9000]] + random_strings(300)
    ids = [tokenizer.encode(t) for t in texts]
    assert graph_encode(module, texts) == ids
    assert graph_decode(module, ids) == [tokenizer.decode(i) for i in ids]


@pytest.mark.parametrize("kind", ["char", "word", "subword"])
def test_save_and_load(tokenizers, kind, tmp_path):
    tokenizer = tokenizers[kind]
    tokenizer.save(str(tmp_path))
    loaded = load_tokenizer(str(tmp_path))
    assert type(loaded) is type(tokenizer)
    assert loaded.vocab_size == tokenizer.vocab_size
    for text in SENTENCES + [UNSEEN]:
        assert loaded.encode(text) == tokenizer.encode(text)
        assert loaded.decode(loaded.encode(text)) == tokenizer.decode(
            tokenizer.encode(text))


class _Export(tf.Module):
    """What an export does: a tf.Module that holds the graph tokenizer."""

    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer.graph_module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def encode(self, strings):
        return self.tokenizer.encode(strings)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def decode(self, ids):
        return self.tokenizer.decode(ids)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def round_trip(self, strings):
        return {"text": self.tokenizer.decode(
            self.tokenizer.encode(strings).to_tensor())}


_LOADER = textwrap.dedent("""
    import json, sys
    sys.path.append(sys.argv[1])  # site-packages, without its .pth files
    try:
        import keras_lm
    except ImportError:
        pass
    else:
        sys.exit("keras_lm is importable: " + keras_lm.__file__)
    import tensorflow as tf
    texts = json.loads(sys.argv[2])
    results = {}
    for kind, path in json.loads(sys.argv[3]):
        if kind == "subword":
            import tensorflow_text  # registers the WordPiece ops
        else:
            assert "tensorflow_text" not in sys.modules
        model = tf.saved_model.load(path)
        ids = model.encode(tf.constant(texts))
        text = model.decode(ids.to_tensor())
        serving = model.signatures["serving_default"]
        results[kind] = {
            "ids": ids.to_list(),
            "text": [t.decode() for t in text.numpy()],
            "serving": [t.decode() for t in
                        serving(strings=tf.constant(texts))["text"].numpy()],
        }
    print("RESULTS" + json.dumps(results))
""")


def test_export_loads_without_keras_lm(tokenizers, tmp_path):
    exports = []
    for kind, tokenizer in tokenizers.items():
        path = str(tmp_path / kind)
        export = _Export(tokenizer)
        tf.saved_model.save(export, path,
                            signatures={"serving_default": export.round_trip})
        exports.append((kind, path))
    texts = SENTENCES[:2] + ["Привет 🙂", ""]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LOADER,
         sysconfig.get_paths()["purelib"], json.dumps(texts),
         json.dumps(exports)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.split("RESULTS", 1)[1])
    for kind, tokenizer in tokenizers.items():
        expected_ids = [tokenizer.encode(t) for t in texts]
        expected = [tokenizer.decode(i) for i in expected_ids]
        assert results[kind]["ids"] == expected_ids, kind
        assert results[kind]["text"] == expected, kind
        assert results[kind]["serving"] == expected, kind
    assert results["char"]["text"][0] == SENTENCES[0]
    assert results["word"]["text"][:2] == SENTENCES[:2]
    assert results["subword"]["text"] == texts
