"""Which commands a run directory takes, decided by what its task can do.

A command asks for a capability of the run's task (it continues text, it
translates, it fine-tunes), never for a family by name, so a new family
works with every command its task supports. A run whose task lacks the
capability gets one line naming the commands that do apply to it.
"""

from keras_lm.cli.flags import refuse_unaccepted
from keras_lm.errors import KerasLMError, a_run
from keras_lm.registry import family as find_family
from keras_lm.runs import RunDirectory
from keras_lm.tasks import Task


def _overrides(name):
    return lambda task_class: getattr(task_class, name) is not getattr(
        Task, name)


#: `command: (kind of run it needs, test on the task class)`.
NEEDS = {
    # Continues a text (and shows a sample of it after training).
    "generate": ("language-model", lambda c: hasattr(c, "sample")),
    "translate": ("seq2seq", lambda c: hasattr(c, "translator")),
    "evaluate": ("trained", _overrides("evaluate")),
    "export": ("trained", _overrides("export")),
    "finetune": ("language-model", lambda c: hasattr(c, "unknown_fraction")),
    "classify": ("classifier", lambda c: hasattr(c, "predict_proba")),
    "embed": ("encoder or classifier", lambda c: hasattr(c, "embed")),
}


def task_class_for(path, command):
    """The task class of the run directory `path`, which `command` needs to
    be able to handle; one-line errors for a folder that is no run and for
    a run of the wrong kind."""
    run = RunDirectory(path).require()
    name = run.family()
    if name is None:
        run.read_config()  # the one-line error: what is wrong with it
    task_class = find_family(name).task_class
    kind, can = NEEDS[command]
    if not can(task_class):
        others = [c for c, (_, test) in NEEDS.items()
                  if c != command and test(task_class)]
        raise KerasLMError(f"{run.path}: this is {a_run(name)}, which is not "
                           f"a {kind} run; use {_listing(others)} on it")
    return task_class


def _listing(commands):
    """"`keras-lm a`, `b` or `c`"."""
    if not commands:
        return "no other `keras-lm` command"
    names = [f"`keras-lm {commands[0]}`"] + [f"`{c}`" for c in commands[1:]]
    return (", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1
            else names[0])


def describe(path):
    """"RUN, a gru run" (for "--flag does not apply to ...")."""
    return f"{path}, {a_run(RunDirectory(path).family())}"


def load_task(path, command, options, method):
    """The run's task with its model loaded, once `command` applies to it
    and its `method` takes every one of the given `options`."""
    task_class = task_class_for(path, command)
    refuse_unaccepted(options, getattr(task_class, method), describe(path))
    return RunDirectory(path).load()
