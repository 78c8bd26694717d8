"""Library settings that `keras-lm train` offers as flags, read off the
library itself, so that a new model family, task option or training field
is a flag with no change to the CLI:

* a model's constructor arguments that have a default (`inspect.signature`),
  except those its family marks `derived`; their help is the class's (or a
  base class's) docstring `Args:` entry;
* the fields of a task's `Options` dataclass (`source` is `--data`);
* the `TrainingConfig` fields the task uses, with the task's defaults.

A dataclass field's help is its `metadata["help"]` or its `#:` comment.
Turning a `Setting` into an argparse flag is `keras_lm.cli.flags`' job.
"""

import dataclasses
import inspect
import re
import sys
import typing

from keras_lm.training.config import TrainingConfig

#: `TrainingConfig` fields set from Python only (no `keras-lm` flag).
PYTHON_ONLY_TRAINING_FIELDS = ("final_learning_rate_ratio", "clipnorm",
                               "validation_fraction")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One library setting offered as a flag: its `name` (also the parsed
    arguments' attribute), its default and annotation (for the flag's type
    and help), and its documentation."""

    name: str
    default: object = None
    annotation: object = None
    doc: str = ""

    @property
    def flag(self):
        return flag_of(self.name)


def flag_of(name):
    """The flag of the setting called `name` ("seq_len" -> "--seq-len")."""
    return "--" + name.replace("_", "-")


def model_settings(family):
    """The `Setting`s of a registered family's model: its constructor's
    arguments that have a default, except the `derived` ones."""
    init = family.model_class.__init__
    hints = _type_hints(init)
    docs = docstring_args(family.model_class)
    return [Setting(p.name, p.default, hints.get(p.name), docs.get(p.name, ""))
            for p in list(inspect.signature(init).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.default is not p.empty and p.name not in family.derived]


def option_settings(task_class):
    """The `Setting`s of a task's `Options` dataclass; its `source` field is
    the `--data` flag (the setting "data")."""
    return [dataclasses.replace(s, name="data") if s.name == "source" else s
            for s in dataclass_settings(task_class.Options)]


def training_settings(task_class=None):
    """The `Setting`s of `TrainingConfig` that `task_class` uses (all of them
    without one), with the task's own defaults."""
    unused = getattr(task_class, "UNUSED_TRAINING_FIELDS", ())
    defaults = getattr(task_class, "TRAINING_DEFAULTS", {})
    return [dataclasses.replace(s, default=defaults.get(s.name, s.default))
            for s in dataclass_settings(TrainingConfig)
            if s.name not in (*PYTHON_ONLY_TRAINING_FIELDS, *unused)]


def dataclass_settings(cls):
    hints = _type_hints(cls)
    docs = field_comments(cls)
    return [Setting(f.name, None if f.default is dataclasses.MISSING
                    else f.default, hints.get(f.name),
                    f.metadata.get("help") or docs.get(f.name, ""))
            for f in dataclasses.fields(cls)]


def _type_hints(obj):
    try:
        return typing.get_type_hints(obj)
    except (NameError, TypeError, AttributeError):
        # An annotation that does not evaluate: the defaults tell the types.
        return {}


def docstring_args(cls):
    """`{argument: description}` from the `Args:` sections of the docstrings
    of `cls` and its bases (the nearest class wins)."""
    docs = {}
    for klass in reversed(cls.__mro__):
        for name, text in _parse_args_section(
                inspect.getdoc(klass) or "").items():
            docs[name] = _referred(klass, name) or text
    return docs


def _referred(klass, name):
    """The text "as for `Other`" refers to: `Other`'s own entry for `name`
    (`Other` a name in `klass`'s module)."""
    other = re.fullmatch(r"as for `(\w+)`\.?",
                         _parse_args_section(inspect.getdoc(klass))[name])
    other = other and getattr(sys.modules[klass.__module__], other.group(1),
                              None)
    return other and docstring_args(other).get(name)


def _parse_args_section(docstring):
    """An entry documents one argument or several ("a, b: text"), its names
    wrapped over lines ending in a comma if need be."""
    docs, name, inside, wrapped = {}, None, False, []
    for line in docstring.splitlines():
        if line.strip() == "Args:":
            inside = True
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):  # the section ended
            break
        names_only = re.fullmatch(r"    (\w+(?:, \w+)*),", line)
        if names_only:
            wrapped += names_only.group(1).split(", ")
            continue
        entry = re.match(r"    (\*{0,2}\w+(?:, \w+)*):\s*(.*)", line)
        if entry:
            names, text = entry.groups()
            name, wrapped = wrapped + names.split(", "), []
            for each in name:
                docs[each] = text
        elif name and line.strip():
            for each in name:
                docs[each] += " " + line.strip()
    return docs


def field_comments(cls):
    """`{field: text}` of the `#:` comments above a dataclass's fields (the
    documentation convention Sphinx reads); {} without source."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    docs, pending = {}, []
    for line in lines:
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        field = re.match(r"(\w+)\s*:", text)
        if field and pending:
            docs[field.group(1)] = " ".join(pending)
        pending = []
    return docs
