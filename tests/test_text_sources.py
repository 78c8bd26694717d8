"""Where text comes from: tfds (real builder, offline), files, the default."""

import pytest

from keras_lm.data import load_text_corpus
from keras_lm.data.text_sources import default_text
from keras_lm.errors import KerasLMError


def test_default_corpus_needs_no_network_and_is_large():
    corpus = load_text_corpus()
    assert corpus.name == "default"
    assert len(corpus.train) > 400_000 and len(corpus.validation) > 40_000
    assert corpus.train + corpus.validation == default_text()


def test_split_never_overlaps(corpus_file):
    corpus = load_text_corpus(corpus_file, validation_fraction=0.2)
    text = open(corpus_file, encoding="utf-8").read()
    assert corpus.train + corpus.validation == text
    assert len(corpus.validation) == pytest.approx(0.2 * len(text), abs=1)


def test_folder_of_text_files(tmp_path):
    (tmp_path / "b.txt").write_text("second file " * 50)
    (tmp_path / "a.txt").write_text("first file " * 50)
    (tmp_path / "notes.md").write_text("ignored")
    corpus = load_text_corpus(str(tmp_path))
    assert (corpus.train + corpus.validation).startswith("first file")
    assert "ignored" not in corpus.train + corpus.validation


def test_tiny_shakespeare_through_the_real_tfds_builder(tfds_data_dir,
                                                        shakespeare_text):
    corpus = load_text_corpus("tiny_shakespeare", data_dir=tfds_data_dir)
    assert corpus.train.startswith("First Citizen:")
    # tfds splits 90% / 5% / 5%; train is exactly the first 90%.
    assert corpus.train == shakespeare_text[:int(len(shakespeare_text) * 0.9)]
    assert corpus.validation and corpus.validation not in corpus.train


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"   \n\n", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    (b"caf\xe9 au lait", "not valid UTF-8"),
])
def test_bad_files_get_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(KerasLMError, match=message) as error:
        load_text_corpus(str(path))
    assert "\n" not in str(error.value)


def test_missing_file_and_unknown_tfds_name():
    with pytest.raises(KerasLMError, match="does not exist"):
        load_text_corpus("no/such/file.txt")
    with pytest.raises(KerasLMError, match="neither a file nor a TensorFlow"):
        load_text_corpus("no_such_dataset_xyz")
