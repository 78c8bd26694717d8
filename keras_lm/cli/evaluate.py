"""`keras-lm evaluate RUN_DIR`: score a run on held-out data with its
task's `evaluate` (a language model: loss, perplexity per token and per
word, bits per character; a Seq2Seq model: BLEU or ROUGE, exact match,
token accuracy, and a few examples).

    keras-lm evaluate runs/gru --max-batches 20
    keras-lm evaluate runs/dates --beam-width 1
"""

from keras_lm.cli import flags
from keras_lm.cli.capabilities import load_task

#: The flags passed on to the task's `evaluate` (when given; a flag it
#: does not take is refused).
SETTINGS = ("data", "data_dir", "max_batches", "beam_width",
            "length_penalty", "max_pairs", "task", "split", "plot", "verbose")
#: Where a classifier run's confusion matrix goes unless --plot says.
CONFUSION_PLOT = "confusion_matrix.png"


def add_parser(commands):
    parser = commands.add_parser(
        "evaluate", help="score a run on held-out data (loss, perplexity, "
                         "bits per character; BLEU/ROUGE for seq2seq)")
    parser.add_argument("run_dir")
    parser.add_argument("--data", help="data to evaluate on (default: the "
                                       "run's own held-out split)")
    flags.add_data_dir(parser)
    parser.add_argument("--max-batches", type=int,
                        help="evaluate on at most this many batches")
    flags.add_beam_search(parser, max_length=False)
    parser.add_argument("--max-pairs", type=int,
                        help="seq2seq runs: score at most this many pairs")
    parser.add_argument("--task", help="seq2seq runs: the headline metric, "
                                       "translation (BLEU) or summarization "
                                       "(ROUGE); default: by data source")
    parser.add_argument("--split", choices=("train", "validation", "test"),
                        help="classifier runs: which split of the run's "
                             "data (default: test)")
    parser.add_argument("--plot", help="classifier runs: where to write the "
                                       "confusion matrix picture (default: "
                                       f"RUN_DIR/{CONFUSION_PLOT})")
    flags.add_verbose(parser)
    return parser


def run(args):
    import inspect
    import os

    options = flags.given(args, SETTINGS)
    task = load_task(args.run_dir, "evaluate", options, "evaluate")
    if "plot" in inspect.signature(task.evaluate).parameters:
        options.setdefault("plot", os.path.join(args.run_dir, CONFUSION_PLOT))
    print_scores(task.evaluate(**options))


def print_scores(scores):
    """`name: value` lines, the `headline` score first when the task names
    one, then its `examples` (`(source, reference, output)` triples)."""
    scores = dict(scores)
    examples = scores.pop("examples", ())
    if "per_class" in scores:  # a classifier's
        from keras_lm.evaluation.classification import describe_scores

        for line in describe_scores({**scores, "examples": examples}):
            print(line)
        print_confusion_matrix(scores["confusion_matrix"],
                               scores["label_names"])
        if scores.get("confusion_matrix_plot"):
            print(f"confusion matrix: {scores['confusion_matrix_plot']}")
        return
    headline = scores.pop("headline", None)
    order = ([headline] if headline in scores else []) + [
        name for name in scores if name != headline]
    for name in order:
        value = scores[name]
        print(f"{name}: {value:.4f}" if isinstance(value, float)
              else f"{name}: {value}")
    for source, reference, output in examples:
        print(f"example: {source} -> {output} (reference: {reference})")


def print_confusion_matrix(matrix, names):
    """The matrix as a table: a row per true label, a column per predicted
    one."""
    width = max(len(str(n)) for n in names + [max(map(max, matrix))]) + 2
    print("true \\ predicted".ljust(width) + "".join(
        str(n).rjust(width) for n in names))
    for name, row in zip(names, matrix):
        print(str(name).ljust(width) + "".join(str(c).rjust(width)
                                               for c in row))
