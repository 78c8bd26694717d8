"""`keras-lm embed SOURCE --text TEXT`: one vector per text from an
encoder or classifier run directory (or its SavedModel), printed or saved
as a NumPy `.npy` file.

    keras-lm embed runs/bert --text "a fine film" --text "a dull one"
    keras-lm embed runs/bert --file reviews.txt --pooling cls --normalize \\
        --out embeddings.npy
"""

import numpy as np

from keras_lm.cli import flags


def add_parser(commands):
    parser = commands.add_parser(
        "embed", help="sentence embeddings from an encoder or classifier")
    parser.add_argument("source", help="encoder/classifier run directory "
                                       "or SavedModel folder")
    flags.add_texts(parser, "text to embed")
    parser.add_argument("--pooling", choices=("mean", "cls"),
                        help="pool the tokens' hidden states by their mean "
                             "or take [CLS] (default: the model's own)")
    parser.add_argument("--normalize", action="store_true", default=None,
                        help="scale each vector to unit length")
    parser.add_argument("--out", help="write the vectors to this .npy file "
                                      "instead of printing them")
    return parser


def run(args):
    from keras_lm.cli.capabilities import load_task
    from keras_lm.serving.encoders import load_encoder_export, run_export
    from keras_lm.errors import KerasLMError
    from keras_lm.io_utils import atomic_path
    from keras_lm.serving import is_saved_model

    if args.out and not args.out.endswith(".npy"):
        raise KerasLMError(f"--out {args.out}: give a file name ending in "
                           ".npy")
    texts = flags.read_texts(args)
    options = flags.given(args, ("pooling", "normalize"))
    if is_saved_model(args.source):
        flags.refuse(options, ("pooling", "normalize"),
                     f"{args.source}, a SavedModel (its pooling was fixed "
                     "at export)")
        vectors = run_export(load_encoder_export(args.source, "embed"),
                             texts)["embedding"]
    else:
        vectors = load_task(args.source, "embed", {}, "embed").embed(
            texts, **options)
    if args.out:
        with atomic_path(args.out) as tmp, open(tmp, "wb") as f:
            np.save(f, np.asarray(vectors, np.float32))
        print(f"wrote {len(vectors)} vectors of {vectors.shape[1]} numbers "
              f"to {args.out}")
        return
    for text, vector in zip(texts, vectors):
        print(f"{text}\t" + " ".join(f"{x:.5f}" for x in vector))
