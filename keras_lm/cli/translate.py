"""`keras-lm translate RUN_DIR --text TEXT`: translate (or summarize) with a
run whose task translates (`task.translator()`), optionally plotting the
attention of the first text.

    keras-lm translate runs/dates --text "3rd of March 2021" --beam-width 4
"""

import sys

from keras_lm.cli import flags
from keras_lm.cli.capabilities import describe, task_class_for

#: The flags passed on to `Translator.translate` (when given; one it does
#: not take is refused).
SETTINGS = ("beam_width", "length_penalty", "max_length", "temperature",
            "top_k", "top_p", "seed")


def add_parser(commands):
    parser = commands.add_parser(
        "translate", help="translate text with a seq2seq run (beam search)")
    parser.add_argument("run_dir", help="a run directory whose model "
                                        "translates (`train seq2seq`)")
    parser.add_argument("--text", required=True, action="append",
                        help="source text (repeat for a batch)")
    flags.add_beam_search(parser)
    flags.add_sampling(parser, what="the decoder's")
    parser.add_argument("--plot-attention", metavar="PNG",
                        help="write an attention heatmap of the first --text")
    return parser


def run(args):
    from keras_lm.evaluation.attention_plot import (
        check_image_path, plot_translation_attention)
    from keras_lm.runs import RunDirectory

    if args.plot_attention:
        check_image_path(args.plot_attention)
    task_class_for(args.run_dir, "translate")
    options = flags.given(args, SETTINGS)
    translator = RunDirectory(args.run_dir).load().translator()
    flags.refuse_unaccepted(options, translator.translate,
                            describe(args.run_dir))
    if args.plot_attention:
        flags.refuse_unaccepted(options, plot_translation_attention,
                                "--plot-attention")
    for text in translator.translate(args.text, **options):
        print(text)
    if args.plot_attention:
        plot_translation_attention(translator, args.text[0],
                                   args.plot_attention, **options)
        print(f"attention plot: {args.plot_attention}", file=sys.stderr)
