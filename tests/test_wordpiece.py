"""WordPieceTokenizer: parity with Hugging Face's BertTokenizerFast, the graph
form, vocabulary learning, save/load and SavedModel export."""

import json
import pickle
import re

import pytest
import tensorflow as tf

from conftest import SHARED_DATA
from keras_lm.errors import KerasLMError
from keras_lm.tokenizers import WordPieceTokenizer, load_tokenizer
from keras_lm.tokenizers.wordpiece import SPECIAL_TOKENS

LINES = (SHARED_DATA / "rt-polarity" / "rt-polarity.pos").read_text(
    encoding="utf-8").splitlines()[:300]
# Every kind of character BERT treats specially; also learned from, so the
# vocabulary has cased, accented and CJK pieces.
SENTENCES = [
    "Café, naïve façade — Ångström señor über Zoë.",
    "ÉCOLE Niño MÜNCHEN Åsa",
    "中文分词 and 日本語のテキスト, 한국어 문장입니다.",
    "«Quoted» — ‘single’ “double” $5^2 `code` a_b ¿qué? ¡sí!",
    "tab\there\x00null\u200bzero\r\nwindows\x0bvt\x85nel\ufffdrep\u2028ls",
    "The U.S.A. isn't 100% sure... (really?) [yes] {no} <maybe> @home #tag",
    "ΟΔΟΣ Σίσυφος İstanbul ß ﬁ Ａ € © ™ ①",
    "x" * 101, "y" * 100, "é" * 60, "ab" * 51,
    "", "   \n\t ",
]
# Characters the vocabulary never saw: each word holding one is one [UNK].
UNSEEN = ["emoji 🙂 🚀 and Привет мир", "Señor 🙂x ab🚀"]
# Where `tokenizers` (Unicode 9 tables) and TensorFlow (newer tables) differ:
# U+13430 is a format character (dropped here, a letter there) and U+2E4F is
# punctuation (split off here, not there). See the module docstring.
NEWER_UNICODE = ["\U00013430hiero", "\u2e4fpunct"]


@pytest.fixture(scope="module")
def vocab_dir(tmp_path_factory):
    learned = WordPieceTokenizer.from_text(LINES[:150] + SENTENCES * 3, 1500,
                                           lowercase=False)
    directory = tmp_path_factory.mktemp("bert")
    (directory / "vocab.txt").write_text(
        "".join(t + "\n" for t in learned.vocabulary), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def ours(vocab_dir):
    """Uncased (True) and cased (False) tokenizers on the learned vocab.txt."""
    return {lowercase: WordPieceTokenizer.from_vocab_file(
        str(vocab_dir / "vocab.txt"), lowercase=lowercase)
        for lowercase in (True, False)}


@pytest.fixture(params=[True, False], ids=["uncased", "cased"])
def pair(request, ours, vocab_dir):
    """(ours, Hugging Face's `encode`) on the same vocab.txt."""
    from transformers import BertTokenizerFast

    theirs = BertTokenizerFast.from_pretrained(str(vocab_dir),
                                               do_lower_case=request.param)
    assert theirs.vocab_size == ours[request.param].vocab_size
    return ours[request.param], lambda text: theirs(
        text, add_special_tokens=False)["input_ids"]


def test_parity_with_bert_tokenizer_fast(pair):
    ours, theirs = pair
    texts = SENTENCES + UNSEEN + LINES[:40]
    assert ours.encode_batch(texts) == [theirs(t) for t in texts]
    unk = ours.unk_id
    assert ours.encode("x" * 101) == [unk]  # > max_chars_per_word
    assert unk not in ours.encode("y" * 100)  # 100 characters: not too long
    # 120 UTF-8 bytes but 60 characters: not too long.
    assert unk not in ours.encode("é" * 60)
    assert ours.encode("Привет 🙂") == [unk, unk]
    assert ours.encode("tab\there") == ours.encode("tab here")
    assert ours.encode("a\u200bb\x00c") == ours.encode("abc")
    assert ours.count_unknown("日本語のテキスト") == 0


def test_documented_differences_from_bert_tokenizer_fast(pair):
    ours, theirs = pair
    hiero, punct = NEWER_UNICODE
    assert ours.encode(hiero) == ours.encode("hiero") == theirs("hiero")
    assert theirs(hiero) == [ours.unk_id]
    assert ours.encode(punct) == ours.encode("\u2e4f punct") == theirs(
        "\u2e4f punct")
    assert theirs(punct) != theirs("\u2e4f punct")


def test_lowercase_strips_accents_and_final_sigma(pair):
    ours, _ = pair
    if ours.lowercase:
        assert ours.encode("CAFÉ Señor") == ours.encode("cafe senor")
        assert ours.encode("ΟΔΟΣ") == ours.encode("οδοσ")
    else:
        assert ours.encode("Café") != ours.encode("cafe")


def test_graph_module_matches_python(pair):
    ours, _ = pair
    module = ours.graph_module()
    texts = SENTENCES + UNSEEN + NEWER_UNICODE
    encode = tf.function(module.encode)
    graph_ids = encode(tf.constant(texts)).to_list()
    assert graph_ids == [ours.encode(t) for t in texts]
    rows = graph_ids + [[ours.cls_id, 10, ours.sep_id, ours.pad_id],
                        [-1, ours.vocab_size, ours.mask_id, ours.unk_id]]
    ragged = tf.ragged.constant(rows, dtype=tf.int32)
    expected = [ours.decode(r) for r in rows]
    for ids in (ragged, ragged.to_tensor(default_value=ours.pad_id)):
        decoded = tf.function(module.decode)(ids).numpy()
        assert [s.decode("utf-8") for s in decoded] == expected


def test_decode_is_bert_style():
    tokenizer = WordPieceTokenizer(SPECIAL_TOKENS + ["un", "##aff", "##able",
                                                     "!"])
    assert tokenizer.decode([2, 5, 6, 7, 8, 4, 1, 3, 0, 0]) == (
        "unaffable ! [MASK] [UNK]")
    assert tokenizer.decode([6, 5, 99]) == "##aff un [UNK]"


def test_from_text_reserves_specials_and_round_trips():
    texts = [" ".join(re.findall("[a-z]+", line)) for line in LINES[:100]]
    # Unconstrained, the learner keeps about 110 ids on this text.
    tokenizer = WordPieceTokenizer.from_text(texts, vocab_size=90)
    assert tokenizer.vocabulary[:5] == SPECIAL_TOKENS
    assert (tokenizer.pad_id, tokenizer.unk_id, tokenizer.cls_id,
            tokenizer.sep_id, tokenizer.mask_id) == (0, 1, 2, 3, 4)
    assert tokenizer.special_ids == {0, 1, 2, 3, 4}
    assert 80 <= tokenizer.vocab_size <= 90
    ids = tokenizer.encode_batch(texts[:50])
    assert [tokenizer.decode(i) for i in ids] == texts[:50]
    assert tokenizer.decode(tokenizer.encode("The FILM.")) == "the film [UNK]"
    assert tokenizer.token_to_id("the") == tokenizer.encode("the")[0]
    assert tokenizer.token_to_id("not-a-token") == tokenizer.unk_id
    assert tokenizer.id_to_token(2) == "[CLS]"
    with pytest.raises(KerasLMError, match="outside the vocabulary"):
        tokenizer.id_to_token(90)
    with pytest.raises(KerasLMError, match="empty text"):
        WordPieceTokenizer.from_text(["", " \n"])
    with pytest.raises(KerasLMError, match="vocab_size"):
        WordPieceTokenizer.from_text("a b c", vocab_size=5)


def test_save_load_and_config(vocab_dir, tmp_path):
    tokenizer = WordPieceTokenizer.from_vocab_file(
        str(vocab_dir / "vocab.txt"), lowercase=False, strip_accents=True,
        split_on_cjk=False)
    tokenizer.max_chars_per_word = 7
    config = tokenizer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert WordPieceTokenizer.from_config(config).get_config() == config
    tokenizer.save(str(tmp_path))
    loaded = load_tokenizer(str(tmp_path))
    assert isinstance(loaded, WordPieceTokenizer)
    assert loaded.get_config() == config
    texts = ["Café 中文 abcdefgh abcdefg", "ÉCOLE"]
    assert loaded.encode_batch(texts) == tokenizer.encode_batch(texts)
    assert loaded.encode("abcdefgh") == [loaded.unk_id]  # > 7 characters
    assert loaded.unk_id not in loaded.encode("abcdefg")
    assert [loaded.id_to_token(i) for i in loaded.encode("中文")] == [
        "中", "##文"]  # one word: CJK is not split
    # Pickles (multiprocessing) after its compiled encoder was built.
    assert pickle.loads(pickle.dumps(loaded)).get_config() == config


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("", "is empty"),
    ("[PAD]\nthe\n##s\n", "no \\[UNK\\]"),
    ("[UNK]\nthe\nthe\n", "'the' twice"),
])
def test_vocab_file_errors(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(KerasLMError, match=message) as error:
        WordPieceTokenizer.from_vocab_file(str(path))
    assert "\n" not in str(error.value)


def test_missing_special_token_says_so():
    tokenizer = WordPieceTokenizer(["[UNK]", "a"])
    assert tokenizer.special_ids == {0}
    with pytest.raises(KerasLMError, match=r"no \[MASK\] token"):
        tokenizer.mask_id
    assert tokenizer.decode([1, 0]) == "a [UNK]"


def test_graph_module_in_saved_model(ours, tmp_path):
    ours = ours[True]

    class Export(tf.Module):
        def __init__(self):
            super().__init__()
            self.tokenizer = ours.graph_module()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def encode(self, strings):
            return self.tokenizer.encode(strings)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
        def decode(self, ids):
            return self.tokenizer.decode(ids)

    path = str(tmp_path / "export")
    tf.saved_model.save(Export(), path)
    loaded = tf.saved_model.load(path)
    texts = SENTENCES[:4] + UNSEEN
    ids = [ours.encode(t) for t in texts]
    assert loaded.encode(tf.constant(texts)).to_list() == ids
    padded = tf.ragged.constant(ids, tf.int32).to_tensor(ours.pad_id)
    text = loaded.decode(padded).numpy()
    assert [t.decode("utf-8") for t in text] == [ours.decode(i) for i in ids]


def test_the_same_text_always_learns_the_same_vocabulary():
    """(Hugging Face tokenizers' trainer does not: it breaks ties by hash
    order, so two runs of one recipe would disagree on every token id.)"""
    texts = LINES[:300]
    first = WordPieceTokenizer.from_text(texts, vocab_size=400)
    assert WordPieceTokenizer.from_text(texts, 400).vocabulary == \
        first.vocabulary
