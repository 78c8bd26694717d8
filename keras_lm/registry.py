"""The model families keras-lm knows: a CLI name, a model class, a task.

A family is registered once, next to its task (see `keras_lm/tasks/`), and
from then on `keras-lm train NAME`, run directories, `evaluate`, `export`
and the loaders find it here; none of them names a family. Registration is
plain Python, so this module sits at the bottom of the import order and
every layer may look a family up.

Example:

>>> import keras_lm
>>> sorted(families())
['classifier', 'encoder', 'gru', 'lstm', 'seq2seq', 'transformer']
>>> family("gru").model_class.__name__
'GRUGenerator'
"""

import dataclasses

from keras_lm.errors import KerasLMError

_FAMILIES = {}


@dataclasses.dataclass(frozen=True)
class Family:
    """One registered family.

    Attributes:
        name: the CLI name (`keras-lm train NAME`), also stored in a run's
            config.json.
        model_class: the `keras.Model` subclass, built with
            `model_class.from_config(config)`.
        task_class: the `keras_lm.tasks.Task` subclass that trains, loads,
            evaluates and exports it.
        help: one line for `keras-lm train --help`.
        derived: constructor arguments the task fills in (vocabulary sizes,
            special ids), so the CLI offers no flag for them.
    """

    name: str
    model_class: type
    task_class: type
    help: str = ""
    derived: tuple = ()


def register_family(name, model_class, task_class, help="", derived=()):
    """Registers a family under `name` (once; the same call again is a
    no-op, another class under a taken name an error)."""
    new = Family(name, model_class, task_class, help, tuple(derived))
    old = _FAMILIES.get(name)
    if old is not None and old != new:
        raise KerasLMError(f"model family {name!r} is already registered "
                           f"to {old.model_class.__name__}")
    _FAMILIES[name] = new
    return new


def families():
    """`{name: Family}` of every registered family, in registration order."""
    return dict(_FAMILIES)


def family(name):
    """The `Family` called `name`, or a one-line error listing the known."""
    if name not in _FAMILIES:
        raise KerasLMError(f"unknown model family {name!r}; known: "
                           f"{', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]
