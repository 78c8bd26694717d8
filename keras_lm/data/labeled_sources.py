"""Readers for labeled text on disk: tables, class folders, class files.

Three layouts (`load_labeled_text` in `labeled_text` picks one):

- a table: `.csv` or `.tsv` with a header row, or `.jsonl` (one JSON object
  a line); the text column defaults to the first of `TEXT_COLUMNS` that
  exists, the label column to `"label"` (`read_table`).
- one folder per class holding `.txt` files, one text each: the aclImdb
  layout that `keras.utils.text_dataset_from_directory` reads; a folder with
  `train/` and `test/` sub-folders of class folders keeps those splits
  (`read_class_folders`). aclImdb's `unsup/` is ignored.
- one file per class, one text a line, such as rt-polarity's
  `rt-polarity.pos`/`rt-polarity.neg` (`read_class_files`). The label is
  the file's extension (`pos`, `neg`), or its stem when every file has the
  same extension (`neg.txt`, `pos.txt`).

Each reader returns a `RawLabeled`: texts with their labels as the source
spells them (a string or an integer), per split: `"all"` when the source has
no held-out split, else `"train"` and `"test"`. Texts are stripped of
surrounding whitespace; an empty text is an error naming its file and line,
never skipped, so a label can never drift onto the wrong text.
"""

import csv
import dataclasses
import io
import json
import os

from keras_lm.data.text_sources import read_text_file
from keras_lm.errors import KerasLMError
from keras_lm.io_utils import decode_utf8

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")
LABEL_COLUMN = "label"
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl")
#: Sub-folders that hold no class: aclImdb's unlabeled reviews.
IGNORED_FOLDERS = ("unsup",)


@dataclasses.dataclass
class RawLabeled:
    """Texts and raw labels per split (`"all"`, or `"train"`/`"test"`),
    the source's short name, and notes on how it was read."""

    name: str
    splits: dict
    notes: list = dataclasses.field(default_factory=list)


def read_bytes(path):
    """A file's bytes, refusing a missing, binary or empty file."""
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} does not exist; pass an existing file")
    with open(path, "rb") as f:
        raw = f.read()
    if b"\x00" in raw[:65536]:
        raise KerasLMError(f"{path} looks like a binary file (it has NUL "
                           "bytes); pass a UTF-8 text file")
    if not raw.strip():
        raise KerasLMError(f"{path} is empty; pass a file with text in it")
    return raw


def decode_or_latin1(raw, path, notes):
    """UTF-8 text, or Latin-1 (every byte is a character) with a note in
    `notes` when the bytes are not UTF-8: old copies of rt-polarity are."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        notes.append(f"{os.path.basename(path)} is not UTF-8 (byte "
                     f"{e.start}): read as Latin-1")
        return raw.decode("latin-1")


def _clean_text(value, where):
    if not isinstance(value, str):
        raise KerasLMError(f"{where}: the text must be a string, got "
                           f"{type(value).__name__}")
    text = value.strip()
    if not text:
        raise KerasLMError(f"{where} has an empty text; remove that line or "
                           "give it text")
    return text


def _clean_label(value, where):
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None or value == "":
        raise KerasLMError(f"{where} has an empty label; give every text a "
                           "label")
    raise KerasLMError(f"{where}: a label must be a string or an integer, "
                       f"got {value!r}")


def pick_columns(columns, text_column, label_column, where):
    """The `(text, label)` column names, checked against `columns`."""
    shown = ", ".join(map(str, columns)) or "none"
    if text_column is None:
        text_column = next((c for c in TEXT_COLUMNS if c in columns), None)
        if text_column is None:
            raise KerasLMError(
                f"{where} has none of the text columns "
                f"{', '.join(TEXT_COLUMNS)} (columns: {shown}); set "
                "text_column to the one holding the text")
    elif text_column not in columns:
        raise KerasLMError(f"{where} has no text column {text_column!r} "
                           f"(columns: {shown}); set text_column to one "
                           "of them")
    label_column = LABEL_COLUMN if label_column is None else label_column
    if label_column not in columns:
        raise KerasLMError(f"{where} has no label column {label_column!r} "
                           f"(columns: {shown}); set label_column to one "
                           "of them")
    return text_column, label_column


def _csv_records(text, path, delimiter):
    # TSV files (GLUE's among them) do not quote: a leading '"' is text.
    tsv = delimiter == "\t"
    quoting = csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL
    reader = csv.DictReader(io.StringIO(text, newline=""),
                            delimiter=delimiter, quoting=quoting)
    try:
        header = reader.fieldnames or []
        yield header
        for row in reader:
            yield reader.line_num, row
    except csv.Error as e:
        raise KerasLMError(f"{path} line {reader.line_num} is not valid "
                           f"{'TSV' if tsv else 'CSV'} ({e}); fix that row")


def _jsonl_records(text, path):
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise KerasLMError(f"{path} line {number} is not valid JSON "
                               f"({e.msg}); pass one object per line")
        if not isinstance(record, dict):
            raise KerasLMError(f"{path} line {number} is not a JSON object; "
                               "pass one object per line")
        records.append((number, record))
    if not records:
        raise KerasLMError(f"{path} has no JSON objects; pass one per line")
    yield list(records[0][1])
    yield from records


def read_table(path, text_column=None, label_column=None):
    """Texts and labels from a `.csv`/`.tsv` (with a header) or `.jsonl`.

    Example:

    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/reviews.csv"
    >>> rows = ['review,label', '"Fine, really",pos', 'Bad,neg']
    >>> _ = open(path, "w").write("\\n".join(rows))
    >>> read_table(path).splits["all"]
    (['Fine, really', 'Bad'], ['pos', 'neg'])
    """
    raw = read_bytes(path)
    text = decode_utf8(raw, path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".jsonl":
        records = _jsonl_records(text, path)
    else:
        records = _csv_records(text, path, "\t" if suffix == ".tsv" else ",")
    columns = next(records)
    text_key, label_key = pick_columns(columns, text_column, label_column,
                                       path)
    texts, labels = [], []
    for number, record in records:
        where = f"{path} line {number}"
        if record.get(text_key) is None:
            raise KerasLMError(f"{where} has no {text_key!r} value; give "
                               "every row a text")
        texts.append(_clean_text(record[text_key], where))
        labels.append(_clean_label(record.get(label_key), where))
    if not texts:
        raise KerasLMError(f"{path} has a header but no rows; pass a file "
                           "with labeled texts")
    return RawLabeled(os.path.basename(path), {"all": (texts, labels)})


def _visible(name):
    return not name.startswith((".", "_"))


def _txt_files(folder):
    return sorted(
        os.path.join(root, name)
        for root, dirs, names in os.walk(folder)
        for name in names
        if name.endswith(".txt") and _visible(name))


def _class_folders(folder):
    """`{class name: [.txt files]}` of the sub-folders holding .txt files."""
    classes = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if (os.path.isdir(path) and _visible(name)
                and name not in IGNORED_FOLDERS):
            files = _txt_files(path)
            if files:
                classes[name] = files
    return classes


def _read_class_folders(classes):
    texts, labels = [], []
    for label, files in classes.items():
        for path in files:
            texts.append(_clean_text(read_text_file(path), path))
            labels.append(label)
    return texts, labels


def read_class_folders(folder):
    """One sub-folder per class of `.txt` files, or `train/` and `test/`
    sub-folders laid out that way (aclImdb); see the module docstring."""
    name = os.path.basename(os.path.normpath(folder))
    splits = {split: _class_folders(os.path.join(folder, split))
              for split in ("train", "test")
              if os.path.isdir(os.path.join(folder, split))}
    if splits.get("train") and not splits.get("test"):
        raise KerasLMError(f"{folder}/train has class folders but there is "
                           f"no {folder}/test like it; add one, or pass "
                           f"{folder}/train itself to hold out splits from it")
    if splits.get("train"):
        unknown = sorted(set(splits["test"]) - set(splits["train"]))
        if unknown:
            raise KerasLMError(f"{folder}/test has class folders that "
                               f"{folder}/train lacks ({', '.join(unknown)});"
                               " give both the same classes")
        return RawLabeled(name, {split: _read_class_folders(classes)
                                 for split, classes in splits.items()})
    return RawLabeled(name, {"all": _read_class_folders(
        _class_folders(folder))})


def class_file_labels(paths):
    """The label of each class file: its extension, or its stem when the
    extensions are all the same.

    Example:

    >>> class_file_labels(["rt-polarity.neg", "rt-polarity.pos"])
    ['neg', 'pos']
    >>> class_file_labels(["data/neg.txt", "data/pos.txt"])
    ['neg', 'pos']
    """
    stems, extensions = zip(*(os.path.splitext(os.path.basename(p))
                              for p in paths))
    if len(set(extensions)) == len(paths) and all(extensions):
        labels = [extension[1:] for extension in extensions]
    else:
        labels = list(stems)
    if len(set(labels)) != len(labels):
        raise KerasLMError(
            f"class files {', '.join(map(str, paths))} do not name distinct "
            "classes (by extension or by name); rename them, one per class")
    return labels


def read_class_files(paths, name=None):
    """Texts and labels from one file per class, one text a line (see the
    module docstring); a blank line is an error naming its file and line."""
    if not paths:
        raise KerasLMError("no class files given; pass a folder or a list "
                           "of files, one per class")
    texts, labels, notes = [], [], []
    for path, label in zip(paths, class_file_labels(paths)):
        lines = decode_or_latin1(read_bytes(path), path, notes).split("\n")
        if lines[-1].strip() == "":
            lines.pop()  # the final newline
        for number, line in enumerate(lines, start=1):
            texts.append(_clean_text(line, f"{path} line {number}"))
            labels.append(label)
    if name is None:
        stems = {os.path.splitext(os.path.basename(p))[0] for p in paths}
        name = stems.pop() if len(stems) == 1 else "+".join(
            os.path.basename(p) for p in paths)
    return RawLabeled(name, {"all": (texts, labels)}, notes)


def read_folder(folder):
    """Class folders, or (when the folder holds no class folders) one file
    per class; anything else is a one-line error saying what to pass."""
    if _class_folders(folder):
        return read_class_folders(folder)
    files = sorted(
        os.path.join(folder, name) for name in os.listdir(folder)
        if os.path.isfile(os.path.join(folder, name)) and _visible(name)
        and not name.lower().startswith("readme"))
    if not files:
        raise KerasLMError(
            f"{folder} has neither class folders of .txt files nor class "
            "files; pass one folder per class, or one file per class")
    return read_class_files(files,
                            name=os.path.basename(os.path.normpath(folder)))
