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
            "length_penalty", "max_pairs", "task", "verbose")


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
    flags.add_verbose(parser)
    return parser


def run(args):
    options = flags.given(args, SETTINGS)
    task = load_task(args.run_dir, "evaluate", options, "evaluate")
    print_scores(task.evaluate(**options))


def print_scores(scores):
    """`name: value` lines, the `headline` score first when the task names
    one, then its `examples` (`(source, reference, output)` triples)."""
    scores = dict(scores)
    examples = scores.pop("examples", ())
    headline = scores.pop("headline", None)
    order = ([headline] if headline in scores else []) + [
        name for name in scores if name != headline]
    for name in order:
        value = scores[name]
        print(f"{name}: {value:.4f}" if isinstance(value, float)
              else f"{name}: {value}")
    for source, reference, output in examples:
        print(f"example: {source} -> {output} (reference: {reference})")
