"""Labeled texts for classification: files, folders or tfds, with splits.

`load_labeled_text(source)` returns `LabeledSplits`: train, validation and
test `LabeledTexts` (texts and int32 label ids), the label names (id i is
`label_names[i]`), a name and a note on where the splits came from.
Sources:

- a `.csv`/`.tsv`/`.jsonl` table, a folder of class folders (aclImdb), a
  folder or list of class files (rt-polarity): see `labeled_sources`.
- anything else: a TensorFlow Datasets name, loaded with the real builder
  (downloads into `data_dir`), e.g. `"imdb_reviews"` (text/label,
  train/test) or `"glue/sst2"` (sentence/label; its test split has no
  labels, so its validation split is the test split here). Label names come
  from the builder's `ClassLabel`.

Labels given as strings keep their names, sorted; integer labels are named
by their values ("0", "1", ...), sorted by value. A source with its own
test split keeps it and validation is carved from train; a source without
one is split here. Held-out splits are stratified by class and reproducible
from `seed`; their sizes are the fractions of the texts split, rounded, so
rt-polarity's 10,662 texts give 8,530 / 1,066 / 1,066.
"""

import dataclasses
import os
import re

import numpy as np

from keras_lm.data.labeled_sources import (TABLE_SUFFIXES, TEXT_COLUMNS,
                                           RawLabeled, pick_columns,
                                           read_class_files, read_folder,
                                           read_table)
from keras_lm.data.text_sources import prepared_tfds_builder
from keras_lm.errors import KerasLMError, check_real

#: tfds name -> (text feature, its labeled splits: train first, then the
#: one used as the test split).
TFDS_LABELED_TEXT = {
    "imdb_reviews": ("text", ("train", "test")),
    "glue/sst2": ("sentence", ("train", "validation")),
}
_PATH_SUFFIXES = TABLE_SUFFIXES + (".txt", ".pos", ".neg")


@dataclasses.dataclass
class LabeledTexts:
    """Texts and their label ids (`int32`, one per text)."""

    texts: list
    labels: np.ndarray

    def __len__(self):
        return len(self.texts)


@dataclasses.dataclass
class LabeledSplits:
    """Train/validation/test `LabeledTexts`, `label_names[id]` for each id,
    the source's `name` and a `split_note` saying where the splits came
    from (and how a file was read, if not as UTF-8)."""

    train: LabeledTexts
    validation: LabeledTexts
    test: LabeledTexts
    label_names: list
    name: str
    split_note: str

    @property
    def num_classes(self):
        return len(self.label_names)

    def describe(self):
        """One line: sizes, labels and the split note."""
        sizes = " / ".join(f"{len(s):,}" for s in
                           (self.train, self.validation, self.test))
        return (f"{self.name}: {sizes} texts, labels "
                f"{', '.join(self.label_names)} ({self.split_note})")


def check_fractions(validation_fraction, test_fraction):
    """One-line errors unless both fractions are in [0, 1) and leave
    texts for training."""
    check_real("validation_fraction", validation_fraction, 0.0, 1.0,
               open_high=True)
    check_real("test_fraction", test_fraction, 0.0, 1.0, open_high=True)
    if validation_fraction + test_fraction >= 1.0:
        raise KerasLMError(
            "validation_fraction + test_fraction must be below 1 so texts "
            f"are left for training, got {validation_fraction} + "
            f"{test_fraction}")


def encode_labels(raw_labels):
    """`(label_names, ids)` of raw labels (strings or integers), the names
    sorted (integers by value) and `ids` an int32 array.

    Example:

    >>> encode_labels(["pos", "neg", "pos"])
    (['neg', 'pos'], array([1, 0, 1], dtype=int32))
    >>> encode_labels([10, 2, "2"])[0]
    ['2', '10']
    """
    keys = [str(label) for label in raw_labels]
    distinct = set(keys)
    if all(re.fullmatch(r"-?\d+", key) for key in distinct):
        names = sorted(distinct, key=int)
    else:
        names = sorted(distinct)
    index = {name: i for i, name in enumerate(names)}
    return names, np.array([index[key] for key in keys], dtype=np.int32)


def _allocate(counts, total):
    """`total` spread over classes in proportion to `counts` (largest
    remainder), never more than a class has."""
    quotas = counts * total / counts.sum()
    sizes = np.floor(quotas).astype(int)
    order = np.argsort(-(quotas - sizes), kind="stable")
    sizes[order[:total - sizes.sum()]] += 1
    return np.minimum(sizes, counts)


def stratified_split(labels, fractions, seed=0):
    """Index arrays `[rest, *held_out]`, one held-out array per fraction.

    Each held-out split takes `round(fraction * len(labels))` indices (at
    least one for a fraction above 0), spread over the classes in
    proportion to their sizes; each class is shuffled by `seed` before it
    is cut, and each split is shuffled so the classes are mixed.

    Example:

    >>> rest, held = stratified_split([0] * 8 + [1] * 2, [0.5])
    >>> sorted(len(part) for part in (rest, held))
    [5, 5]
    >>> int(sum(label for label in np.array([0] * 8 + [1] * 2)[held]))
    1
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    sizes = []
    for fraction in fractions:
        total = 0 if fraction == 0 else max(1, round(len(labels) * fraction))
        sizes.append(_allocate(counts, total))
    rest = counts - np.sum(sizes, axis=0)
    if np.any(rest < 0) or rest.sum() == 0:
        raise KerasLMError(
            f"only {len(labels)} texts: too few to hold out validation and "
            "test splits; add texts or lower validation_fraction/"
            "test_fraction")
    parts = [[] for _ in range(len(fractions) + 1)]
    for k, label in enumerate(classes):
        indices = rng.permutation(np.flatnonzero(labels == label))
        cuts = np.cumsum([s[k] for s in sizes])
        held = np.split(indices, cuts)
        parts[0].append(held[-1])
        for j in range(len(fractions)):
            parts[j + 1].append(held[j])
    return [rng.permutation(np.concatenate(part)) for part in parts]


def _subset(texts, labels, indices):
    return LabeledTexts([texts[i] for i in indices], labels[indices])


def _assemble(name, label_names, splits, seed, validation_fraction,
              test_fraction, notes, source_note):
    """LabeledSplits from `{"all": (texts, ids)}` or `{"train": ...,
    "test": ...[, "validation": ...]}`, holding out what the source lacks."""
    present = sorted({int(i) for _, ids in splits.values() for i in ids})
    if len(present) < 2:
        only = label_names[present[0]] if present else "none"
        raise KerasLMError(f"{name} has only one class ({only}); a "
                           "classifier needs texts of two or more labels")
    where = f"stratified, seed {seed}"
    if "all" in splits:
        texts, ids = splits["all"]
        train, validation, test = (
            _subset(texts, ids, part) for part in stratified_split(
                ids, [validation_fraction, test_fraction], seed))
        note = f"no held-out split in the source: made one, {where}"
    else:
        test = LabeledTexts(*splits["test"])
        texts, ids = splits["train"]
        if "validation" in splits:
            train, validation = LabeledTexts(texts, ids), LabeledTexts(
                *splits["validation"])
            note = source_note or "the source's train/validation/test splits"
        else:
            train, validation = (_subset(texts, ids, part) for part in
                                 stratified_split(ids, [validation_fraction],
                                                  seed))
            own = source_note or "the source's train/test split"
            note = f"{own}; validation carved from train, {where}"
    note = "; ".join([note, *notes])
    return LabeledSplits(train, validation, test, list(label_names), name,
                         note)


def _encode_all(raw):
    """`(label_names, {split: (texts, ids)})` with one naming for all."""
    order = list(raw.splits)
    names, ids = encode_labels([label for split in order
                                for label in raw.splits[split][1]])
    encoded, start = {}, 0
    for split in order:
        texts = raw.splits[split][0]
        encoded[split] = (texts, ids[start:start + len(texts)])
        start += len(texts)
    return names, encoded


def _looks_like_path(source):
    # tfds names are "name", "name/config" or "name/config:version".
    return (source.startswith((".", "/", "~")) or source.count("/") > 1
            or os.sep != "/" and os.sep in source
            or source.lower().endswith(_PATH_SUFFIXES))


def _read_tfds_split(builder, split, text_key, label_key, name):
    dataset = builder.as_dataset(split=split).map(
        lambda example: (example[text_key], example[label_key]))
    texts, labels = [], []
    for batch_texts, batch_labels in dataset.batch(4096).as_numpy_iterator():
        for text in batch_texts:
            text = text.decode("utf-8").strip()
            if not text:
                raise KerasLMError(f"tfds dataset {name!r} split {split!r} "
                                   f"has an empty text (example "
                                   f"{len(texts)}); use another dataset")
            texts.append(text)
        labels.append(batch_labels)
    return texts, np.concatenate(labels) if labels else np.zeros(0, int)


def _tfds_splits(builder, name, text_key, label_key):
    """`{split: (texts, labels)}` of the labeled splits (train first), and
    the source note when the test split is the source's validation."""
    known = TFDS_LABELED_TEXT.get(name.split(":")[0])
    candidates = known[1] if known else (
        [s for s in ("train", "validation", "test")
         if s in builder.info.splits] or ["train", "validation", "test"])
    splits = {}
    for split in candidates:
        try:
            texts, labels = _read_tfds_split(builder, split, text_key,
                                             label_key, name)
        except KerasLMError:
            raise
        except Exception as e:
            if split not in builder.info.splits:
                continue  # the dataset lacks it (info.splits is empty
                # under tfds.testing.mock_data, so each one is tried)
            raise KerasLMError(f"could not read tfds dataset {name!r} split "
                               f"{split!r}: {type(e).__name__}: "
                               f"{str(e).splitlines()[0][:160]}") from None
        if labels.dtype.kind in "SO":  # string labels: names, not ids
            splits[split] = (texts, [v.decode("utf-8") for v in labels])
            continue
        if len(labels) and np.all(labels < 0):  # GLUE's unlabeled tests
            continue
        if np.any(labels < 0):
            raise KerasLMError(f"tfds dataset {name!r} split {split!r} has "
                               "unlabeled examples (label -1)")
        splits[split] = (texts, labels)
    if "train" not in splits:
        raise KerasLMError(f"tfds dataset {name!r} has no labeled train "
                           "split; use a labeled dataset")
    note = None
    if "test" not in splits and "validation" in splits:
        splits["test"] = splits.pop("validation")
        note = (f"{name} has no labeled test split: its validation split "
                "is the test split here")
    elif "test" in splits and "validation" in splits:
        note = f"{name}'s own train/validation/test splits"
    elif "test" in splits:
        note = f"{name}'s own train/test split"
    else:
        splits = {"all": splits["train"]}
    return splits, note


def load_tfds_labeled_text(name, text_column=None, label_column=None,
                           data_dir=None):
    """`(label_names, {split: (texts, ids)}, note)` from a tfds dataset."""
    import tensorflow_datasets as tfds

    builder = prepared_tfds_builder(
        name, data_dir, f"{name!r} is neither an existing file or folder "
                        "nor a TensorFlow Datasets name (try imdb_reviews, "
                        "glue/sst2, or a .csv/.tsv/.jsonl file)")
    features = builder.info.features
    known = TFDS_LABELED_TEXT.get(name.split(":")[0])
    if text_column is None and known:
        text_column = known[0]
    text_key, label_key = pick_columns(
        list(features), text_column, label_column, f"tfds dataset {name!r}")
    splits, note = _tfds_splits(builder, name, text_key, label_key)
    feature = features[label_key]
    if isinstance(feature, tfds.features.ClassLabel):
        names = list(feature.names)
        splits = {k: (t, ids.astype(np.int32)) for k, (t, ids)
                  in splits.items()}
    else:
        names, splits = _encode_all(RawLabeled(
            name, {k: (t, [v if isinstance(v, str) else int(v) for v in ids])
                   for k, (t, ids) in splits.items()}))
    return names, splits, note


def _read_local(source, text_column, label_column):
    """A `RawLabeled` from a table, a folder or a list of class files."""
    is_list = isinstance(source, (list, tuple))
    if is_list or os.path.isdir(source):
        if text_column is not None or label_column is not None:
            raise KerasLMError(
                "text_column and label_column apply to .csv/.tsv/.jsonl "
                "files and tfds datasets; leave them unset for a folder or "
                "class files")
        if is_list:
            return read_class_files([os.fspath(path) for path in source])
        return read_folder(source)
    if source.lower().endswith(TABLE_SUFFIXES):
        return read_table(source, text_column, label_column)
    raise KerasLMError(
        f"{source}: unknown format; pass a .csv, .tsv or .jsonl file, a "
        "folder of class folders, or a folder/list of class files (one "
        "text a line)")


def load_labeled_text(source, *, text_column=None, label_column=None,
                      validation_fraction=0.1, test_fraction=0.1, seed=0,
                      data_dir=None):
    """Loads labeled texts from `source` (see the module docstring).

    `text_column` defaults to the first of `TEXT_COLUMNS` present,
    `label_column` to `"label"`. `validation_fraction` and `test_fraction`
    size the held-out splits the source lacks (a source's own test split is
    kept; validation is then that fraction of train).

    Example:

    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/tiny.jsonl"
    >>> lines = [f'{{"text": "review {i}", "label": {i % 2}}}'
    ...          for i in range(20)]
    >>> _ = open(path, "w").write("\\n".join(lines))
    >>> data = load_labeled_text(path)
    >>> data.describe().split(" (")[0]
    'tiny.jsonl: 16 / 2 / 2 texts, labels 0, 1'
    >>> data.split_note
    'no held-out split in the source: made one, stratified, seed 0'
    >>> data.train.labels.dtype
    dtype('int32')
    """
    check_fractions(validation_fraction, test_fraction)
    source_note, notes = None, []
    if not isinstance(source, (list, tuple)):
        source = os.fspath(source)
    if isinstance(source, (list, tuple)) or os.path.exists(source):
        raw = _read_local(source, text_column, label_column)
        label_names, splits = _encode_all(raw)
        name, notes = raw.name, raw.notes
    else:
        if _looks_like_path(source):
            raise KerasLMError(
                f"{source} does not exist; pass an existing .csv/.tsv/.jsonl "
                "file, a folder, or a TensorFlow Datasets name")
        label_names, splits, source_note = load_tfds_labeled_text(
            source, text_column, label_column, data_dir)
        name = source
    return _assemble(name, label_names, splits, seed, validation_fraction,
                     test_fraction, notes, source_note)


__all__ = ["LabeledSplits", "LabeledTexts", "TEXT_COLUMNS",
           "TFDS_LABELED_TEXT", "load_labeled_text", "stratified_split"]
