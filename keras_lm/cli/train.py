"""`keras-lm train NAME`: train a model of a registered family.

There is one subcommand per family in `keras_lm.registry`, its flags read
off the library (`keras_lm.cli.settings`), so a family registered with
`register_family` is a `train` subcommand with no change here.

    keras-lm train gru --preset tiny --out runs/quickstart
    keras-lm train seq2seq --data spa-eng.zip --reverse --attention dot
"""

import os

from keras_lm.cli import flags, settings
from keras_lm.registry import families

#: Preset entries that are not task options (see `keras_lm.presets`).
PRESET_SECTIONS = ("family", "data", "model", "training")
#: The flags of `train` that are not library settings.
RUN_FLAGS = ("out", "preset", "data_dir", "strategy", "verbose")


def default_out(name):
    return os.path.join("runs", name)


def setting_groups(family):
    """`(title, [Setting])` of each group of a family's library flags."""
    task_class = family.task_class
    return (("data and tokenizer", settings.option_settings(task_class)),
            ("model", settings.model_settings(family)),
            ("training", settings.training_settings(task_class)))


def add_parser(commands):
    parser = commands.add_parser(
        "train", help="train a model with model.fit",
        description="Train a model with model.fit into a run directory; "
                    "the same command again resumes an interrupted run.")
    subparsers = parser.add_subparsers(dest="family", required=True)
    for family in families().values():
        _add_family(subparsers, family)
    return parser


def _add_family(subparsers, family):
    parser = subparsers.add_parser(family.name, help=family.help,
                                   description=family.help)
    groups = setting_groups(family)
    _check_unique(family.name, groups)
    for title, group in groups:
        flags.add_settings(parser.add_argument_group(title), group)
    run = parser.add_argument_group("run")
    run.add_argument("--out", help="run directory (default: "
                                   f"{default_out(family.name)})")
    run.add_argument("--preset", help="a named recipe from keras_lm.presets "
                                      "(flags still override it)")
    flags.add_data_dir(run)
    flags.add_strategy(run)
    flags.add_verbose(run)


def _check_unique(name, groups):
    """A setting of two groups (say a model argument and a task option of
    the same name) would need one flag for two values: say so at once."""
    seen = set(RUN_FLAGS)
    for _, group in groups:
        for setting in group:
            if setting.name in seen:
                raise TypeError(f"family {name!r}: {setting.flag} would set "
                                "two settings; rename one of them")
            seen.add(setting.name)


def run(args):
    from keras_lm.presets import get_preset
    from keras_lm.registry import family as find_family
    from keras_lm.runs import RunDirectory, train

    family = find_family(args.family)
    options, model, training = (flags.given(args, group)
                                for _, group in setting_groups(family))
    preset = get_preset(args.preset, family.name) if args.preset else {}
    options = {**{k: v for k, v in preset.items()
                  if k not in PRESET_SECTIONS}, **options}
    data = options.pop("data", preset.get("data"))
    out = args.out or default_out(family.name)
    history = train(
        family.name, out, data=data,
        model_config={**preset.get("model", {}), **model},
        training={**preset.get("training", {}), **training},
        **flags.given(args, ("data_dir", "strategy", "verbose")), **options)
    run_dir = RunDirectory(out)
    if history is not None and args.verbose == 0:
        line = run_dir.load_task().describe_data()  # else training said it
        if line:
            print(line)
    print_outcome("trained", out, history)
    if hasattr(family.task_class, "sample"):
        print("sample:", run_dir.load().sample())


def print_outcome(done, out, history):
    """"trained OUT: loss=... val_loss=..." or, when the run directory was
    already finished with these settings, that there was nothing to do."""
    from keras_lm.training.trainer import describe_history

    if history is None:
        print(f"{out} is already {done} with these settings; nothing to do")
    else:
        print(f"{done} {out}: {describe_history(history)}")
