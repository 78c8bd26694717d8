"""Sentence pairs for sequence-to-sequence models: sources, splits, pipelines.

`load_pairs(source)` returns a `PairSource`: a list of `(source, target)`
strings plus how many input lines or records were skipped. Sources:

- `None` or `"dates"`: the embedded date-normalisation task, generated here
  with no network and no download (`date_pairs`): "3rd of March 2021",
  "March 3, 2021", "03/03/2021", "Wednesday 3 March 2021", ... ->
  "2021-03-03". Each target is a single right answer, so exact match is a
  meaningful accuracy.
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

Special tokens (target side only). The shared `Tokenizer` interface reserves
`pad_id = 0` and `unk_id = 1` and has no start/end tokens, so they are added
*after* the target tokenizer's vocabulary: `start_id = vocab_size`,
`end_id = vocab_size + 1`, and the model's target vocabulary is
`vocab_size + 2` (`TargetSpecials`). Any tokenizer plugs in unchanged, and
`TargetSpecials.decode` strips the additions before `tokenizer.decode`.
Source ids are the source tokenizer's own ids (0 = padding).

Tensor layout of the pipeline (`encode_pairs` then `pairs_dataset`), for a
target `t1 .. tn` and lengths `S = source_length`, `T = target_length`:

    source_ids        int32 (batch, S)  s1 .. sm 0 .. 0
    decoder_input_ids int32 (batch, T)  START t1 .. tn 0 .. 0
    target_ids        int32 (batch, T)  t1 .. tn END 0 .. 0

so a target may have at most `T - 1` tokens; longer pairs (or sources longer
than `S`) are filtered out and counted in `EncodedPairs.num_filtered`.
"""

import csv
import dataclasses
import datetime
import io
import json
import os
import random
import zipfile

import numpy as np
import tensorflow as tf

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


@dataclasses.dataclass
class PairSplits:
    train: list
    validation: list
    test: list


# ----------------------------------------------------------------------------
# Anki / Tatoeba tab-separated files


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


# ----------------------------------------------------------------------------
# JSONL / CSV with named columns


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
                f"{', '.join(header) or 'none'}); pass --source-column/"
                "--target-column")
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


# ----------------------------------------------------------------------------
# TensorFlow Datasets


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


# ----------------------------------------------------------------------------
# The embedded date-normalisation task

_MONTHS = ["January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
             "Saturday", "Sunday"]


def _ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(
        n % 10, "th")
    return f"{n}{suffix}"


def _date_formats(d):
    """Every surface form of date `d` (month and weekday names in English,
    built here rather than by `strftime`, which depends on the locale)."""
    month, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    weekday, wkd = _WEEKDAYS[d.weekday()], _WEEKDAYS[d.weekday()][:3]
    day, year = d.day, d.year
    return [
        f"{_ordinal(day)} of {month} {year}",          # 3rd of March 2021
        f"{month} {day}, {year}",                      # March 3, 2021
        f"{day:02d}/{d.month:02d}/{year}",             # 03/03/2021 (D/M/Y)
        f"{weekday} {day} {month} {year}",             # Wednesday 3 March 2021
        f"{day} {mon} {year}",                         # 3 Mar 2021
        f"{mon.lower()} {day} {year}",                 # mar 3 2021
        f"{wkd}, {mon} {day}, {year}",                 # Wed, Mar 3, 2021
        f"{day:02d}.{d.month:02d}.{year}",             # 03.03.2021
        f"the {_ordinal(day)} of {month.lower()}, {year}",
        f"{_ordinal(day)} {month} {year}",             # 3rd March 2021
        f"{year}/{d.month}/{day}",                     # 2021/3/3
        f"{weekday.upper()}, {month.upper()} {day}, {year}",
    ]


def date_pairs(num_pairs=20000, seed=0, first_year=1950, last_year=2049):
    """Generates `num_pairs` (written date, ISO date) pairs, the same for the
    same seed. Numeric forms are day first (`03/04/2021` is 3 April).

    Example:

    >>> date_pairs(2, seed=0) == date_pairs(2, seed=0)
    True
    >>> _date_formats(datetime.date(2021, 3, 3))[:2]
    ['3rd of March 2021', 'March 3, 2021']
    """
    rng = random.Random(seed)
    first = datetime.date(first_year, 1, 1).toordinal()
    last = datetime.date(last_year, 12, 31).toordinal()
    pairs = []
    for _ in range(num_pairs):
        d = datetime.date.fromordinal(rng.randint(first, last))
        pairs.append((rng.choice(_date_formats(d)), d.isoformat()))
    return pairs


# ----------------------------------------------------------------------------
# The dispatcher


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
    result = load_tfds_pairs(source, source_column, target_column,
                             reverse=reverse, data_dir=data_dir,
                             max_examples=max_examples)
    return result


# ----------------------------------------------------------------------------
# Splitting


def split_pairs(pairs, validation_fraction=0.1, test_fraction=0.1, seed=0):
    """Splits pairs into train/validation/test, deterministically by seed.

    Pairs are grouped by their source text and whole groups are assigned to
    one split, so the same source sentence (Anki has many with several
    translations; a generated task can repeat one) never appears in two
    splits. Fractions count distinct sources. A `PairSource` with its own
    splits (tfds) is returned as those splits.
    """
    if isinstance(pairs, PairSource):
        if pairs.splits:
            s = pairs.splits
            return PairSplits(s.get("train", []), s.get("validation", []),
                              s.get("test", []))
        pairs = pairs.pairs
    for name, fraction in (("validation", validation_fraction),
                           ("test", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise KerasLMError(f"{name} fraction must be in [0, 1), got "
                               f"{fraction}")
    if validation_fraction + test_fraction >= 1.0:
        raise KerasLMError("validation and test fractions must leave some "
                           "pairs for training")
    groups = {}
    for pair in pairs:
        groups.setdefault(pair[0], []).append(pair)
    keys = list(groups)  # first-seen order: deterministic
    np.random.default_rng(seed).shuffle(keys)

    def count(fraction):
        return 0 if fraction == 0 else max(1, int(round(len(keys) * fraction)))

    num_validation, num_test = count(validation_fraction), count(test_fraction)
    if num_validation + num_test >= len(keys):
        raise KerasLMError(f"only {len(keys)} distinct sources: too few to "
                           "split into train/validation/test")
    cuts = [num_validation, num_validation + num_test]
    parts = [keys[:cuts[0]], keys[cuts[0]:cuts[1]], keys[cuts[1]:]]
    validation, test, train = (
        [pair for key in part for pair in groups[key]] for part in parts)
    return PairSplits(train, validation, test)


# ----------------------------------------------------------------------------
# Token ids and the tf.data pipeline


@dataclasses.dataclass(frozen=True)
class TargetSpecials:
    """The target-side token ids added after a tokenizer's vocabulary."""

    tokenizer_vocab_size: int

    @property
    def start_id(self):
        return self.tokenizer_vocab_size

    @property
    def end_id(self):
        return self.tokenizer_vocab_size + 1

    @property
    def vocab_size(self):
        """The model's target vocabulary: the tokenizer's plus START/END."""
        return self.tokenizer_vocab_size + 2

    def strip(self, ids):
        """Ids up to the first END, without padding, START or END."""
        kept = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == self.end_id:
                break
            if 0 < i < self.tokenizer_vocab_size:
                kept.append(i)
        return kept

    def decode(self, tokenizer, ids):
        """The text of generated target ids (stops at the first END)."""
        return tokenizer.decode(self.strip(ids))


def target_specials(tokenizer):
    """START = vocab_size, END = vocab_size + 1 of the target tokenizer."""
    return TargetSpecials(tokenizer.vocab_size)


@dataclasses.dataclass
class EncodedPairs:
    """Padded id arrays of the pairs that fit, and how many did not."""

    source_ids: np.ndarray         # int32 (n, source_length)
    decoder_input_ids: np.ndarray  # int32 (n, target_length)
    target_ids: np.ndarray         # int32 (n, target_length)
    num_filtered: int
    specials: TargetSpecials

    def __len__(self):
        return len(self.source_ids)


def encode_pairs(pairs, source_tokenizer, target_tokenizer, source_length,
                 target_length):
    """Tokenizes pairs into fixed-length arrays (layout in module docstring).

    Pairs whose source has more than `source_length` tokens, whose target has
    more than `target_length - 1` tokens, or whose either side encodes to no
    tokens are dropped and counted in `num_filtered` (length capping is by
    tokens, after tokenization, so it means the same for any tokenizer).
    """
    if isinstance(pairs, PairSource):
        pairs = pairs.pairs
    if source_length < 1 or target_length < 2:
        raise KerasLMError("source length must be >= 1 and target length "
                           ">= 2 (room for one token and END)")
    specials = target_specials(target_tokenizer)
    sources, decoder_inputs, targets = [], [], []
    filtered = 0
    for source, target in pairs:
        source_ids = source_tokenizer.encode(source)
        target_ids = target_tokenizer.encode(target)
        if (not source_ids or not target_ids
                or len(source_ids) > source_length
                or len(target_ids) > target_length - 1):
            filtered += 1
            continue
        sources.append(source_ids + [0] * (source_length - len(source_ids)))
        pad = [0] * (target_length - 1 - len(target_ids))
        decoder_inputs.append([specials.start_id] + target_ids + pad)
        targets.append(target_ids + [specials.end_id] + pad)

    def array(rows, width):
        return np.asarray(rows, np.int32).reshape(len(rows), width)

    return EncodedPairs(array(sources, source_length),
                        array(decoder_inputs, target_length),
                        array(targets, target_length), filtered, specials)


def pairs_dataset(encoded, batch_size, shuffle=False, seed=0, repeat=False,
                  start_batch=0, num_batches=None, drop_remainder=True):
    """A `tf.data.Dataset` of `((source_ids, decoder_input_ids), target_ids)`
    batches, ready for `Seq2Seq.fit`.

    One pass over the pairs by default, forever with `repeat`, or exactly
    `num_batches` batches (as many passes as that takes). With `shuffle`,
    pass `p` is a stateless shuffle seeded by `(seed, p)`, so batch `b` is
    the same batch whether training runs in one go or resumes at
    `start_batch=b`. `drop_remainder` (the default) cuts passes into whole
    batches, which gives static shapes; evaluation keeps the last partial
    batch instead.

    Example:

    >>> from keras_lm.data.pairs import date_pairs, encode_pairs
    >>> from keras_lm.tokenizers import CharTokenizer
    >>> pairs = date_pairs(100)
    >>> source = CharTokenizer.from_text("".join(s for s, _ in pairs))
    >>> target = CharTokenizer.from_text("".join(t for _, t in pairs))
    >>> encoded = encode_pairs(pairs, source, target, 40, 12)
    >>> batches = pairs_dataset(encoded, 8, shuffle=True, start_batch=20,
    ...                         num_batches=5)
    >>> len(list(batches))
    5
    """
    n = len(encoded)
    if n < batch_size and drop_remainder:
        raise KerasLMError(f"only {n} pairs fit the length caps, fewer than "
                           f"one batch of {batch_size}; lower the batch size "
                           "or raise the length caps")
    per_pass = max(n // batch_size if drop_remainder else -(-n // batch_size),
                   1)  # no pairs at all (evaluation only): one empty pass
    first_pass = start_batch // per_pass
    if num_batches is not None:
        passes = tf.data.Dataset.range(
            first_pass, (start_batch + num_batches - 1) // per_pass + 1)
    elif repeat:
        passes = tf.data.Dataset.counter(first_pass)
    else:
        passes = tf.data.Dataset.range(first_pass, first_pass + 1)
    columns = tuple(tf.constant(a) for a in (
        encoded.source_ids, encoded.decoder_input_ids, encoded.target_ids))

    def one_pass(p):
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=tf.stack([tf.constant(seed, tf.int64), p]))
        return tf.data.Dataset.from_tensor_slices(order).batch(
            batch_size, drop_remainder=drop_remainder)

    def gather(index):
        source, decoder_input, target = (tf.gather(c, index) for c in columns)
        return (source, decoder_input), target

    batches = passes.flat_map(one_pass).skip(start_batch - first_pass * per_pass)
    if num_batches is not None:
        batches = batches.take(num_batches)
    return batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)
