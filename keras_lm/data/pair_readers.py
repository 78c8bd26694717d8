"""Sentence pairs for sequence-to-sequence models: files, tfds, the date task.

`load_pairs(source)` returns a `PairSource`: a list of `(source, target)`
strings plus how many input lines or records were skipped. Sources:

- `None` or `"dates"`: the embedded date-normalisation task (`date_pairs`).
- a `.txt`/`.tsv` file or a `.zip` holding one: Anki/Tatoeba pairs, one per
  line, `English<TAB>Other[<TAB>attribution]` (`read_anki_pairs`). The
  direction is English -> Other; `reverse=True` gives Other -> English.
- a `.jsonl` or `.csv` file with named source and target columns
  (`read_column_pairs`).
- anything else: a TensorFlow Datasets name whose feature keys are known
  (`TFDS_PAIR_FEATURES`), e.g. `ted_hrlr_translate/pt_to_en` (pt -> en),
  `cnn_dailymail` (article -> highlights), `gigaword` (document -> summary);
  other tfds names need `source_column`/`target_column`.

Skipping, not failing: a line of a pair file that is empty, has no tab, or
has an empty side after stripping (and a JSONL/CSV record with a missing or
empty column) is skipped and *counted* in `PairSource.skipped`, so one
stray line in a 100k-line download does not stop training and the caller can
still report how many lines it ignored. Malformed files (invalid JSON, a CSV
without the named columns, no pairs at all) raise `KerasLMError`.
"""

import csv
import dataclasses
import io
import json
import os
import zipfile

from keras_lm.data.date_pairs import date_pairs
from keras_lm.data.text_sources import prepared_tfds_builder
from keras_lm.errors import KerasLMError
from keras_lm.io_utils import decode_utf8

DATE_SOURCE = "dates"

#: tfds name -> (source feature, target feature).
TFDS_PAIR_FEATURES = {
    "ted_hrlr_translate/pt_to_en": ("pt", "en"),
    "cnn_dailymail": ("article", "highlights"),
    "gigaword": ("document", "summary"),
}

_ANKI_SUFFIXES = (".zip", ".txt", ".tsv")
_COLUMN_SUFFIXES = (".jsonl", ".csv")
_TFDS_SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class PairSource:
    """Sentence pairs and where they came from.

    `pairs` is a list of `(source, target)` strings; `skipped` counts the
    lines/records that were ignored (see the module docstring). `splits`
    holds the source's own train/validation/test pairs when it has them
    (tfds datasets); then `pairs` is the train split.
    """

    name: str
    pairs: list
    skipped: int = 0
    splits: dict = None

    def __len__(self):
        return len(self.pairs)


def parse_anki_lines(lines, reverse=False):
    """Parses `English<TAB>Other[<TAB>...]` lines.

    Returns `(pairs, skipped)`; empty lines, lines without a tab and lines
    with an empty side are skipped and counted. Extra fields (the Tatoeba
    attribution) are ignored.

    Example:

    >>> parse_anki_lines(["Go.\\tVe.\\tCC-BY", "", "no tab"])
    ([('Go.', 'Ve.')], 2)
    """
    pairs, skipped = [], 0
    for line in lines:
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) < 2:
            skipped += 1
            continue
        english, other = fields[0].strip(), fields[1].strip()
        if not english or not other:
            skipped += 1
            continue
        pairs.append((other, english) if reverse else (english, other))
    return pairs, skipped


def _zip_member(archive, path, member):
    if member is not None:
        if member not in archive.namelist():
            raise KerasLMError(f"{path} has no member {member!r}")
        return member
    candidates = [
        name for name in archive.namelist()
        if name.endswith((".txt", ".tsv"))
        and not os.path.basename(name).startswith(("_", "."))
        and not name.startswith("__MACOSX")
    ]
    if len(candidates) != 1:
        found = ", ".join(candidates) or "none"
        raise KerasLMError(f"{path} must hold exactly one .txt/.tsv pair file "
                           f"(found: {found}); unzip it and pass the file")
    return candidates[0]


def read_anki_pairs(path, reverse=False, member=None):
    """Reads an Anki pair file (`.txt`/`.tsv`, or a `.zip` holding one).

    The zip member is the only `.txt`/`.tsv` whose name does not start with
    `_` (Anki zips also hold `_about.txt`), unless `member` names it.
    """
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} does not exist; pass an Anki .txt/.zip "
                           "file of English<TAB>other lines")
    if path.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                raw = archive.read(_zip_member(archive, path, member))
        except zipfile.BadZipFile:
            raise KerasLMError(f"{path} is not a valid zip file")
    else:
        with open(path, "rb") as f:
            raw = f.read()
    pairs, skipped = parse_anki_lines(
        decode_utf8(raw, path).splitlines(), reverse=reverse)
    if not pairs:
        raise KerasLMError(f"{path} has no English<TAB>other lines "
                           f"({skipped} skipped)")
    return PairSource(os.path.basename(path), pairs, skipped)


def _usable(value):
    return isinstance(value, str) and value.strip() != ""


def read_column_pairs(path, source_column="source", target_column="target",
                      reverse=False):
    """Reads `(record[source_column], record[target_column])` pairs from a
    `.jsonl` (one JSON object a line) or `.csv` (with a header) file.

    Blank lines and records whose columns are missing or empty are skipped
    and counted; a CSV header without the columns, or invalid JSON, raises.
    """
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} does not exist; pass a .jsonl or .csv "
                           "file")
    with open(path, "rb") as f:
        text = decode_utf8(f.read(), path)
    pairs, skipped, seen_keys = [], 0, None
    if path.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        missing = [c for c in (source_column, target_column) if c not in header]
        if missing:
            raise KerasLMError(
                f"{path} has no column {missing[0]!r} (columns: "
                f"{', '.join(header) or 'none'}); name the source_column/"
                "target_column")
        records = reader
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                skipped += 1
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise KerasLMError(f"{path} line {number} is not valid JSON "
                                   f"({e.msg}); pass one object per line")
            if not isinstance(record, dict):
                skipped += 1
                continue
            seen_keys = seen_keys or list(record)
            records.append(record)
    for record in records:
        source, target = record.get(source_column), record.get(target_column)
        if not (_usable(source) and _usable(target)):
            skipped += 1
            continue
        pair = (source.strip(), target.strip())
        pairs.append(pair[::-1] if reverse else pair)
    if not pairs:
        keys = f" (keys: {', '.join(seen_keys)})" if seen_keys else ""
        raise KerasLMError(f"{path} has no records with non-empty "
                           f"{source_column!r} and {target_column!r}{keys}")
    return PairSource(os.path.basename(path), pairs, skipped)


def tfds_pair_features(name):
    """The (source, target) feature keys of a known tfds pair dataset."""
    if name in TFDS_PAIR_FEATURES:
        return TFDS_PAIR_FEATURES[name]
    base = name.split(":")[0]
    for candidate in (base, base.split("/")[0]):
        if candidate in TFDS_PAIR_FEATURES:
            return TFDS_PAIR_FEATURES[candidate]
    return None


def load_tfds_pairs(name, source_column=None, target_column=None,
                    reverse=False, data_dir=None, max_examples=None):
    """Loads pairs from a TensorFlow Datasets name, keeping its splits.

    Downloads into `data_dir` if needed. `max_examples` caps each split
    (cnn_dailymail has 287k long articles). Feature keys come from
    `TFDS_PAIR_FEATURES` unless both columns are given.
    """
    if source_column and target_column:
        keys = (source_column, target_column)
    else:
        keys = tfds_pair_features(name)
    if keys is None:
        known = ", ".join(sorted(TFDS_PAIR_FEATURES))
        raise KerasLMError(f"unknown pair dataset {name!r}: not a .txt/.tsv/"
                           f".zip/.jsonl/.csv file nor a known tfds name "
                           f"({known}); or give source and target columns")
    builder = prepared_tfds_builder(
        name, data_dir, f"{name!r} is not a TensorFlow Datasets name")
    splits, skipped = {}, 0
    for split in _TFDS_SPLITS:
        try:
            dataset = builder.as_dataset(split=split)
        except Exception:  # the dataset lacks this split
            continue
        if max_examples is not None:
            dataset = dataset.take(max_examples)
        pairs = []
        for example in dataset.as_numpy_iterator():
            missing = [k for k in keys if k not in example]
            if missing:
                raise KerasLMError(
                    f"tfds dataset {name!r} has no feature {missing[0]!r} "
                    f"(features: {', '.join(example)})")
            source, target = (example[k].decode("utf-8").strip() for k in keys)
            if not source or not target:
                skipped += 1
                continue
            pairs.append((target, source) if reverse else (source, target))
        splits[split] = pairs
    if "train" not in splits:
        raise KerasLMError(f"tfds dataset {name!r} has no train split")
    return PairSource(name, splits["train"], skipped, splits)


def load_pairs(source=None, reverse=False, source_column=None,
               target_column=None, data_dir=None, max_examples=None,
               num_date_pairs=20000, seed=0):
    """Loads sentence pairs from `source` (see the module docstring).

    Example:

    >>> pairs = load_pairs(None, num_date_pairs=3)
    >>> [target for _, target in pairs.pairs][0][4]
    '-'
    """
    if source is None or source == DATE_SOURCE:
        pairs = date_pairs(num_date_pairs, seed=seed)
        if reverse:
            pairs = [(t, s) for s, t in pairs]
        return PairSource(DATE_SOURCE, pairs, 0)
    source = os.fspath(source)
    lower = source.lower()
    if lower.endswith(_ANKI_SUFFIXES):
        return read_anki_pairs(source, reverse=reverse)
    if lower.endswith(_COLUMN_SUFFIXES):
        return read_column_pairs(source, source_column or "source",
                                 target_column or "target", reverse=reverse)
    if os.path.exists(source):
        raise KerasLMError(f"{source}: pair files must end in .txt, .tsv, "
                           ".zip (Anki), .jsonl or .csv")
    return load_tfds_pairs(source, source_column, target_column,
                           reverse=reverse, data_dir=data_dir,
                           max_examples=max_examples)
