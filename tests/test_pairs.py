"""Sentence-pair sources, splits, length caps and the seq2seq tf.data pipeline."""

import datetime
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras_lm.data.date_pairs import date_formats, date_pairs
from keras_lm.data.pair_dataset import encode_pairs, pairs_dataset
from keras_lm.data.pair_readers import (TFDS_PAIR_FEATURES, PairSource,
                                        load_pairs, parse_anki_lines)
from keras_lm.data.pair_splits import split_pairs
from keras_lm.errors import KerasLMError
from keras_lm.tokenizers import CharTokenizer, target_specials

SPA_ENG_ZIP = Path(__file__).parents[2] / "shared/data/spa-eng/spa-eng.zip"

ANKI_TEXT = (
    "Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\n"
    "Go.\tVete.\n"
    "\n"
    "a line without any tab\n"
    "Hi.\t   \n"
    "Thank you.\tGracias.\n"
)


def write_anki(tmp_path, name="pairs.txt"):
    path = tmp_path / name
    path.write_text(ANKI_TEXT, encoding="utf-8")
    return path


def test_anki_parsing_counts_skipped_lines(tmp_path):
    source = load_pairs(write_anki(tmp_path))
    assert source.pairs == [("Go.", "Ve."), ("Go.", "Vete."),
                            ("Thank you.", "Gracias.")]
    # empty line, line without a tab, line with an empty side
    assert source.skipped == 3


def test_anki_reverse_direction(tmp_path):
    source = load_pairs(write_anki(tmp_path), reverse=True)
    assert source.pairs[0] == ("Ve.", "Go.")
    assert source.pairs[-1] == ("Gracias.", "Thank you.")


@pytest.mark.parametrize("name", ["pairs.zip", "PAIRS.ZIP"])
def test_anki_zip_skips_about_file(tmp_path, name):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pairs/_about.txt", "not pairs\tat all\n")
        archive.writestr("pairs/spa.txt", ANKI_TEXT)
    source = load_pairs(path)
    assert len(source.pairs) == 3 and source.skipped == 3


def test_anki_without_pairs_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("no tabs here\n\n", encoding="utf-8")
    with pytest.raises(KerasLMError, match="no English<TAB>other"):
        load_pairs(path)


def test_parse_anki_lines_handles_crlf():
    assert parse_anki_lines(["Hi.\tHola.\r\n"]) == ([("Hi.", "Hola.")], 0)


@pytest.fixture(scope="module")
def spa_eng_dir(tmp_path_factory):
    if not SPA_ENG_ZIP.is_file():
        pytest.skip(f"{SPA_ENG_ZIP} is not available")
    directory = tmp_path_factory.mktemp("spa-eng")
    with zipfile.ZipFile(SPA_ENG_ZIP) as archive:
        archive.extractall(directory)
    return directory


def test_real_spa_eng_loads_every_pair(spa_eng_dir):
    source = load_pairs(spa_eng_dir / "spa-eng" / "spa.txt")
    assert len(source.pairs) == 118_964
    assert source.skipped == 0
    assert source.pairs[0] == ("Go.", "Ve.")
    # The zip itself loads the same pairs (its _about.txt is ignored).
    assert load_pairs(SPA_ENG_ZIP).pairs == source.pairs
    splits = split_pairs(source, seed=0)
    train = {s for s, _ in splits.train}
    assert not train & {s for s, _ in splits.validation}
    assert not train & {s for s, _ in splits.test}
    assert (len(splits.train) + len(splits.validation) + len(splits.test)
            == 118_964)


def test_jsonl_columns(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"en": "one", "de": "eins"}, {"en": "two"}, {"en": "", "de": "x"},
            {"en": "three", "de": "drei", "extra": 1}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n",
                    encoding="utf-8")
    source = load_pairs(path, source_column="en", target_column="de")
    assert source.pairs == [("one", "eins"), ("three", "drei")]
    assert source.skipped == 3  # missing column, empty column, blank line
    with pytest.raises(KerasLMError, match="no records"):
        load_pairs(path, source_column="fr", target_column="de")


def test_jsonl_invalid_line_is_an_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"source": "a", "target": "b"}\n{oops\n', encoding="utf-8")
    with pytest.raises(KerasLMError, match="line 2"):
        load_pairs(path)


@pytest.mark.parametrize("name", ["pairs.csv", "Pairs.CSV"])
def test_csv_columns(tmp_path, name):
    path = tmp_path / name
    path.write_text('article,summary\n"long, text",short\n,empty\nb,c\n',
                    encoding="utf-8")
    source = load_pairs(path, source_column="article",
                        target_column="summary")
    assert source.pairs == [("long, text", "short"), ("b", "c")]
    assert source.skipped == 1
    reverse = load_pairs(path, source_column="article",
                         target_column="summary", reverse=True)
    assert reverse.pairs[0] == ("short", "long, text")
    with pytest.raises(KerasLMError, match="no column 'source'"):
        load_pairs(path)


def test_tfds_ted_hrlr_with_mock_data():
    import tensorflow_datasets as tfds

    name = "ted_hrlr_translate/pt_to_en"
    with tfds.testing.mock_data(num_examples=4):
        source = load_pairs(name)
        expected = next(iter(tfds.builder(name).as_dataset(split="train")))
    assert source.name == name
    assert set(source.splits) == {"train", "validation", "test"}
    assert len(source.pairs) == 4 and source.pairs == source.splits["train"]
    assert source.pairs[0] == (expected["pt"].numpy().decode().strip(),
                               expected["en"].numpy().decode().strip())
    splits = split_pairs(source)
    assert len(splits.validation) == 4 and len(splits.test) == 4


def test_tfds_feature_table():
    assert TFDS_PAIR_FEATURES["cnn_dailymail"] == ("article", "highlights")
    assert TFDS_PAIR_FEATURES["gigaword"] == ("document", "summary")


def test_unknown_tfds_name_is_one_line_error():
    with pytest.raises(KerasLMError) as info:
        load_pairs("no_such_pair_dataset")
    assert "\n" not in str(info.value)
    assert "ted_hrlr_translate/pt_to_en" in str(info.value)
    # With columns given, the name still has to exist in tfds.
    with pytest.raises(KerasLMError) as info:
        load_pairs("no_such_pair_dataset", source_column="a",
                   target_column="b")
    assert "\n" not in str(info.value)


def test_date_task_is_deterministic_and_correct():
    assert load_pairs(None, num_date_pairs=50).pairs == date_pairs(50, seed=0)
    assert date_pairs(50, seed=0) == date_pairs(50, seed=0)
    assert date_pairs(50, seed=0) != date_pairs(50, seed=1)
    forms = date_formats(datetime.date(2021, 3, 3))
    for expected in ("3rd of March 2021", "March 3, 2021", "03/03/2021",
                     "Wednesday 3 March 2021"):
        assert expected in forms
    weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                "Saturday", "Sunday"]
    for source, target in date_pairs(500, seed=3):
        day = datetime.date.fromisoformat(target)
        assert str(day.year) in source
        named = [w for w in weekdays if w.lower()[:3] in source.lower()]
        if named:
            assert named == [weekdays[day.weekday()]]
    # day first in numeric forms
    assert "04/03/2021" in date_formats(datetime.date(2021, 3, 4))


def test_split_is_deterministic_and_never_leaks():
    pairs = [(f"s{i % 40}", f"t{i}") for i in range(200)]  # repeated sources
    splits = split_pairs(pairs, 0.2, 0.1, seed=5)
    assert splits == split_pairs(pairs, 0.2, 0.1, seed=5)
    assert splits != split_pairs(pairs, 0.2, 0.1, seed=6)
    sets = [{s for s, _ in part}
            for part in (splits.train, splits.validation, splits.test)]
    assert not sets[0] & sets[1] and not sets[0] & sets[2] \
        and not sets[1] & sets[2]
    assert (len(sets[1]), len(sets[2])) == (8, 4)
    everything = splits.train + splits.validation + splits.test
    assert sorted(everything) == sorted(pairs)


def test_split_rejects_bad_fractions():
    with pytest.raises(KerasLMError):
        split_pairs([("a", "b")] * 3, validation_fraction=1.5)
    with pytest.raises(KerasLMError):
        split_pairs([("a", "b"), ("c", "d")])


@pytest.fixture()
def tokenizers():
    return CharTokenizer.from_text("abcdefgh "), CharTokenizer.from_text("xyz")


def test_length_cap_counts_filtered_pairs(tokenizers):
    source_tokenizer, target_tokenizer = tokenizers
    pairs = [("abc", "xy"), ("abcdefgh", "x"), ("ab", "xyzxyz"), ("", "x"),
             ("a", "xyzx")]
    encoded = encode_pairs(pairs, source_tokenizer, target_tokenizer,
                           source_length=4, target_length=5)
    # too-long source, too-long target, empty source
    assert encoded.num_filtered == 3 and len(encoded) == 2
    specials = target_specials(target_tokenizer)
    assert (specials.start_id, specials.end_id) == (5, 6)
    assert specials.vocab_size == target_tokenizer.vocab_size + 2
    x, y = target_tokenizer.encode("xy")
    np.testing.assert_array_equal(encoded.source_ids[0],
                                  source_tokenizer.encode("abc") + [0])
    np.testing.assert_array_equal(encoded.decoder_input_ids[0], [5, x, y, 0, 0])
    np.testing.assert_array_equal(encoded.target_ids[0], [x, y, 6, 0, 0])
    # a target of exactly target_length - 1 tokens fits (END takes the last)
    assert encoded.target_ids[1][-1] == specials.end_id
    assert specials.decode(target_tokenizer, encoded.target_ids[0]) == "xy"
    assert specials.decode(target_tokenizer,
                           encoded.decoder_input_ids[0]) == "xy"


def test_pipeline_has_static_shapes(tokenizers):
    source_tokenizer, target_tokenizer = tokenizers
    pairs = [("abc", "xyz")] * 10
    encoded = encode_pairs(pairs, source_tokenizer, target_tokenizer, 6, 5)
    dataset = pairs_dataset(encoded, batch_size=4, shuffle=True, seed=1)
    (source, decoder_input), target = dataset.element_spec
    assert source.shape.as_list() == [4, 6]
    assert decoder_input.shape.as_list() == [4, 5]
    assert target.shape.as_list() == [4, 5]
    assert len(list(dataset)) == 2  # drop_remainder
    with pytest.raises(KerasLMError, match="fewer than one batch"):
        pairs_dataset(encoded, batch_size=64)
    evaluation = pairs_dataset(encoded, batch_size=4, drop_remainder=False)
    assert [len(t) for _, t in evaluation] == [4, 4, 2]  # every pair, once


def test_shuffled_batches_resume_at_any_batch(tokenizers):
    """Batch b is the same whether a run goes in one go or resumes at b, and
    each pass is a different permutation of every pair."""
    source_tokenizer, target_tokenizer = tokenizers
    pairs = [("abcdefgh"[i % 8] * (1 + i % 5), "xyz"[i % 3]) for i in range(20)]
    encoded = encode_pairs(pairs, source_tokenizer, target_tokenizer, 6, 3)

    def sources(take=None, **kwargs):
        batches = pairs_dataset(encoded, batch_size=4, shuffle=True, seed=3,
                                **kwargs)
        return [tuple(map(tuple, s.numpy()))
                for (s, _), _ in batches.take(take or -1)]

    one_go = sources(num_batches=12)  # 5 batches per pass: 2.4 passes
    assert sources(start_batch=7, num_batches=5) == one_go[7:]
    first, second = one_go[:5], one_go[5:10]
    assert first != second
    assert sorted(sum(first, ())) == sorted(sum(second, ()))
    assert sources(take=12, repeat=True) == one_go


def test_pair_source_from_dispatcher_on_existing_wrong_suffix(tmp_path):
    path = tmp_path / "pairs.parquet"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(KerasLMError, match="must end in"):
        load_pairs(path)
    assert isinstance(load_pairs("dates", num_date_pairs=2), PairSource)
