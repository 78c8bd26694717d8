"""`keras-lm generate SOURCE --prompt TEXT`: continue text with a run
directory whose task continues text, or with a SavedModel that `keras-lm
export` wrote from one.

    keras-lm generate runs/gru --prompt "ROMEO:" --temperature 0.8 --seed 1
"""

import sys

from keras_lm.cli import flags
from keras_lm.cli.capabilities import load_task

#: The flags passed on to the task's `predict_text` (when given).
SETTINGS = ("max_new_tokens", "temperature", "top_k", "top_p", "seed",
            "beam_width", "length_penalty", "stop")


def add_parser(commands):
    parser = commands.add_parser(
        "generate", help="sample text from a run directory or SavedModel")
    parser.add_argument("source", help="run directory or SavedModel folder")
    parser.add_argument("--prompt", required=True, action="append",
                        help="text to continue (repeat for a batch)")
    parser.add_argument("--max-new-tokens", type=int,
                        help="tokens to generate after each prompt")
    flags.add_sampling(parser)
    flags.add_beam_search(parser, max_length=False)
    flags.add_stop(parser)
    flags.add_quantize(parser)
    flags.add_kv_cache(parser)
    return parser


def run(args):
    from keras_lm.errors import KerasLMError
    from keras_lm.serving import (generate_with_export, is_saved_model,
                                  load_export)

    if any(not prompt for prompt in args.prompt):
        raise KerasLMError("--prompt is empty; give at least one character")
    options = flags.given(args, SETTINGS)
    flags.check_decoding_copy(args.quantize, args.kv_cache)
    if is_saved_model(args.source):
        flags.refuse_unaccepted(options, generate_with_export,
                                f"{args.source}, a SavedModel")
        for flag, value in (("--quantize", args.quantize),
                            ("--kv-cache", args.kv_cache)):
            if value is not None:
                raise KerasLMError(
                    f"{flag} does not apply to a SavedModel, whose program "
                    f"is fixed; export the run with {flag} instead")
        texts = generate_with_export(load_export(args.source), args.prompt,
                                     **options)
    else:
        task = load_task(args.source, "generate", options, "predict_text")
        flags.quantize_task(task, args.quantize, args.kv_cache)
        warn_about_unknown_tokens(task.tokenizer, args.prompt)
        texts = task.predict_text(args.prompt,
                                  **flags.with_run_sampling(task, options))
    for text in texts:
        print(text)


def warn_about_unknown_tokens(tokenizer, prompts):
    """Text the tokenizer cannot represent still generates (it reads as the
    unknown token), but the user should know the model never saw it."""
    unknown = sum(tokenizer.count_unknown(p) for p in prompts)
    if unknown:
        print(f"keras-lm: warning: {unknown} prompt token(s) are unknown to "
              f"this run's {tokenizer.kind} tokenizer and read as <unk>",
              file=sys.stderr)
