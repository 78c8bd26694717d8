"""Labeled texts for classification: rt-polarity, tables, folders, tfds."""

import json
from collections import Counter

import numpy as np
import pytest

from conftest import SHARED_DATA
from keras_lm.data import LabeledSplits, LabeledTexts, load_labeled_text
from keras_lm.data.labeled_text import stratified_split
from keras_lm.errors import KerasLMError

RT_POLARITY = SHARED_DATA / "rt-polarity"


def _texts(splits):
    return [splits.train.texts, splits.validation.texts, splits.test.texts]


@pytest.fixture(scope="module")
def rt_polarity():
    return load_labeled_text(RT_POLARITY)


def test_rt_polarity_gives_the_common_balanced_split(rt_polarity):
    data = rt_polarity
    assert isinstance(data, LabeledSplits)
    assert isinstance(data.train, LabeledTexts)
    assert [len(s) for s in (data.train, data.validation, data.test)] == [
        8530, 1066, 1066]
    assert data.label_names == ["neg", "pos"] and data.num_classes == 2
    for split in (data.train, data.validation, data.test):
        assert split.labels.dtype == np.int32
        counts = np.bincount(split.labels)
        assert counts[0] == counts[1]
    assert data.describe() == (
        "rt-polarity: 8,530 / 1,066 / 1,066 texts, labels neg, pos (no "
        "held-out split in the source: made one, stratified, seed 0)")
    # Every line lands in exactly one split, with its file's label.
    lines = {}
    for label in ("neg", "pos"):
        path = RT_POLARITY / f"rt-polarity.{label}"
        for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
            lines.setdefault(line.strip(), set()).add(label)
    together = Counter(t for texts in _texts(data) for t in texts)
    assert sum(together.values()) == 10662 and set(together) == set(lines)
    text, label = data.test.texts[0], data.test.labels[0]
    assert data.label_names[label] in lines[text]
    # Splits come shuffled, not all of one class first.
    assert 0 < data.test.labels[:50].sum() < 50


def test_rt_polarity_split_is_reproducible_and_seeded(rt_polarity):
    again = load_labeled_text(str(RT_POLARITY))
    assert _texts(again) == _texts(rt_polarity)
    np.testing.assert_array_equal(again.test.labels, rt_polarity.test.labels)
    # A list of the class files, in any order, is the same source.
    files = [RT_POLARITY / "rt-polarity.pos", RT_POLARITY / "rt-polarity.neg"]
    listed = load_labeled_text(files)
    assert listed.label_names == ["neg", "pos"]
    assert _texts(listed) == _texts(rt_polarity)
    other = load_labeled_text(RT_POLARITY, seed=1)
    assert other.test.texts != rt_polarity.test.texts
    assert "seed 1" in other.split_note
    assert [len(s) for s in (other.train, other.validation, other.test)] == [
        8530, 1066, 1066]


def test_latin1_class_files_are_read_with_a_note(tmp_path):
    (tmp_path / "reviews.pos").write_bytes(
        "un film tr\u00e8s beau\ngood\n".encode("latin-1"))
    (tmp_path / "reviews.neg").write_bytes(b"bad\nawful\n")
    data = load_labeled_text(tmp_path, validation_fraction=0.25,
                             test_fraction=0.25)
    assert data.name == tmp_path.name and data.label_names == ["neg", "pos"]
    assert "un film tr\u00e8s beau" in sum(_texts(data), [])
    assert "reviews.pos is not UTF-8 (byte 10): read as Latin-1" in (
        data.split_note)


def test_csv_with_string_labels(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = ["review,stars,label", '"Loved it, truly",5,pos',
            "Dull,1,neg", "Fine,3,pos", "Meh,2,neg", "Great,5,pos"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = load_labeled_text(path, validation_fraction=0.2,
                             test_fraction=0.2)
    assert data.name == "reviews.csv" and data.label_names == ["neg", "pos"]
    pairs = {t: data.label_names[i] for s in (data.train, data.validation,
                                               data.test)
             for t, i in zip(s.texts, s.labels)}
    assert pairs == {"Loved it, truly": "pos", "Dull": "neg", "Fine": "pos",
                     "Meh": "neg", "Great": "pos"}
    assert len(data.validation) == 1 and len(data.test) == 1
    # Integer labels from another column: named by value, sorted by value.
    stars = load_labeled_text(path, label_column="stars",
                              validation_fraction=0.2, test_fraction=0.2)
    assert stars.label_names == ["1", "2", "3", "5"]


def test_tsv_does_not_treat_quotes_as_quoting(tmp_path):
    path = tmp_path / "train.tsv"
    rows = ["sentence\tlabel", '" the rock " is back\t1', "so bad\t0",
            "a treat\t1", "boring\t0"]
    path.write_text("\n".join(rows), encoding="utf-8")
    data = load_labeled_text(path, validation_fraction=0.25,
                             test_fraction=0.25)
    assert data.label_names == ["0", "1"]
    assert '" the rock " is back' in sum(_texts(data), [])


def test_jsonl_with_integer_labels_and_named_columns(tmp_path):
    path = tmp_path / "data.jsonl"
    records = [{"body": f"text {i}", "y": i % 3} for i in range(30)]
    path.write_text("\n".join(map(json.dumps, records)) + "\n\n",
                    encoding="utf-8")
    data = load_labeled_text(path, text_column="body", label_column="y",
                             seed=3)
    assert data.label_names == ["0", "1", "2"]
    assert [len(s) for s in (data.train, data.validation, data.test)] == [
        24, 3, 3]
    for split in (data.train, data.validation, data.test):
        for text, label in zip(split.texts, split.labels):
            assert int(text.split()[1]) % 3 == label
    assert sorted(data.validation.labels) == [0, 1, 2]


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_aclimdb_folder_keeps_its_train_test_split(tmp_path):
    root = tmp_path / "aclImdb"
    for split, n in (("train", 10), ("test", 4)):
        for label in ("neg", "pos"):
            for i in range(n):
                _write(root / split / label / f"{i}_7.txt",
                       f"{split} {label} review {i}<br />")
        _write(root / split / "urls_pos.txt", "http://example.com\n")
    _write(root / "train" / "unsup" / "0_0.txt", "no label")
    _write(root / "imdbEr.txt", "0.1\n")
    data = load_labeled_text(root)
    assert data.name == "aclImdb" and data.label_names == ["neg", "pos"]
    assert [len(s) for s in (data.train, data.validation, data.test)] == [
        18, 2, 8]
    assert sorted(np.bincount(data.validation.labels)) == [1, 1]
    assert all(t.startswith("test ") for t in data.test.texts)
    assert not any("no label" in t for t in sum(_texts(data), []))
    for split in (data.train, data.validation, data.test):
        for text, label in zip(split.texts, split.labels):
            assert text.split()[1] == data.label_names[label]
    assert data.split_note == ("the source's train/test split; validation "
                               "carved from train, stratified, seed 0")


def test_folder_of_class_folders(tmp_path):
    for label in ("ham", "spam"):
        for i in range(5):
            _write(tmp_path / "mail" / label / f"{i}.txt", f"{label} {i}")
    data = load_labeled_text(tmp_path / "mail", validation_fraction=0.2,
                             test_fraction=0.2)
    assert data.label_names == ["ham", "spam"]
    assert [len(s) for s in (data.train, data.validation, data.test)] == [
        6, 2, 2]
    assert sorted(data.test.labels) == [0, 1]


def test_tfds_imdb_reviews_and_glue_sst2_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        imdb = load_labeled_text("imdb_reviews")
        sst2 = load_labeled_text("glue/sst2")
        # A tfds name outside the table: its own splits, columns by name.
        yelp = load_labeled_text("yelp_polarity_reviews")
        message = _error("imdb_reviews", label_column="stars")
        validation = [e["sentence"].decode() for e in tfds.builder(
            "glue/sst2").as_dataset(split="validation").as_numpy_iterator()]
    assert imdb.name == "imdb_reviews"
    assert imdb.label_names == ["neg", "pos"]
    assert [len(s) for s in (imdb.train, imdb.validation, imdb.test)] == [
        18, 2, 20]
    assert imdb.split_note == ("imdb_reviews's own train/test split; "
                               "validation carved from train, stratified, "
                               "seed 0")
    assert sst2.label_names == ["negative", "positive"]
    assert sst2.test.texts == [t.strip() for t in validation]
    assert sst2.test.labels.dtype == np.int32
    assert [len(s) for s in (sst2.train, sst2.validation, sst2.test)] == [
        18, 2, 20]
    assert "no label column 'stars'" in message and "text" in message
    assert yelp.label_names == ["1", "2"]
    assert yelp.split_note == ("yelp_polarity_reviews's own train/"
                               "validation/test splits")
    assert sst2.split_note.startswith(
        "glue/sst2 has no labeled test split: its validation split is the "
        "test split here; validation carved from train")


def test_stratified_split_sizes_follow_the_fractions():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    rest, validation, test = stratified_split(labels, [0.1, 0.2], seed=5)
    assert [len(rest), len(validation), len(test)] == [70, 10, 20]
    assert list(np.bincount(labels[test])) == [14, 4, 2]
    assert sorted(np.concatenate([rest, validation, test])) == list(range(100))


def _error(source, **kwargs):
    with pytest.raises(KerasLMError) as info:
        load_labeled_text(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "--" not in message
    return message


def test_bad_files_are_one_line_errors(tmp_path):
    assert "does not exist" in _error(tmp_path / "missing.csv")
    assert "does not exist" in _error("./nowhere")
    odd = tmp_path / "data.xml"
    odd.write_text("<a/>")
    assert "unknown format" in _error(odd)
    empty = tmp_path / "empty.csv"
    empty.write_text("  \n")
    assert "is empty" in _error(empty)
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x00\x01\x02")
    assert "binary" in _error(binary)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "a", "label": 1}\n{oops\n')
    assert "line 2 is not valid JSON" in _error(bad_json)


def test_bad_columns_and_labels_are_one_line_errors(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("body,sentiment\nnice,pos\nbad,neg\n")
    message = _error(path)
    assert "none of the text columns" in message
    assert "columns: body, sentiment" in message
    message = _error(path, text_column="review")
    assert "no text column 'review'" in message and "body, sentiment" in (
        message)
    message = _error(path, text_column="body")
    assert "no label column 'label'" in message
    assert "columns: body, sentiment" in message and "label_column" in message
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\na,pos\nb,pos\nc,pos\n")
    assert "only one class (pos)" in _error(one_class)
    blank = tmp_path / "blank.csv"
    blank.write_text("text,label\na,pos\n  ,neg\nc,neg\n")
    assert f"{blank} line 3 has an empty text" in _error(blank)
    no_label = tmp_path / "nolabel.jsonl"
    no_label.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n')
    assert "line 2 has an empty label" in _error(no_label)
    assert "text_column and label_column apply" in _error(
        RT_POLARITY, text_column="text")


def test_bad_class_files_are_one_line_errors(tmp_path):
    (tmp_path / "r.pos").write_text("good\n\nfine\n")
    (tmp_path / "r.neg").write_text("bad\n")
    assert f"{tmp_path / 'r.pos'} line 2 has an empty text" in _error(
        tmp_path)
    assert "only one class (neg)" in _error([tmp_path / "r.neg"])
    assert "unknown format" in _error(tmp_path / "r.neg")
    (tmp_path / "r.pos").write_text("")
    assert "r.pos is empty" in _error(tmp_path)
    (tmp_path / "nothing").mkdir()
    assert "neither class folders" in _error(tmp_path / "nothing")


@pytest.mark.parametrize("fractions, wanted", [
    ((-0.1, 0.1), "validation_fraction must be in [0, 1)"),
    ((0.1, 1.0), "test_fraction must be in [0, 1)"),
    ((float("nan"), 0.1), "validation_fraction must be in [0, 1)"),
    ((0.5, 0.5), "must be below 1"),
])
def test_fractions_out_of_range(fractions, wanted):
    validation, test = fractions
    assert wanted in _error(RT_POLARITY, validation_fraction=validation,
                            test_fraction=test)


def test_too_few_texts_to_split(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\na,x\nb,y\n")
    assert "too few" in _error(path)


def test_unknown_tfds_name_is_one_line_error():
    message = _error("no_such_labeled_dataset")
    assert "neither an existing file or folder nor a TensorFlow Datasets" in (
        message)
    assert "imdb_reviews" in message
