"""`keras-lm classify SOURCE --text TEXT`: label texts with a classifier
run directory, or with the SavedModel `keras-lm export` wrote from one.
Prints one line per text: the label, its probability and the text.

    keras-lm classify runs/sentiment --text "a gorgeous, witty film"
    keras-lm classify saved_models/sentiment --file reviews.txt
"""

from keras_lm.cli import flags


def add_parser(commands):
    parser = commands.add_parser(
        "classify", help="label texts with a classifier run or SavedModel")
    parser.add_argument("source", help="classifier run directory or "
                                       "SavedModel folder")
    flags.add_texts(parser, "text to classify")
    return parser


def run(args):
    from keras_lm.cli.capabilities import load_task
    from keras_lm.serving.encoders import load_encoder_export, run_export
    from keras_lm.serving import is_saved_model

    texts = flags.read_texts(args)
    if is_saved_model(args.source):
        outputs = run_export(
            load_encoder_export(args.source, "serving_default"), texts)
        labels = [label.decode("utf-8") for label in outputs["label"]]
        probabilities = outputs["probabilities"]
    else:
        task = load_task(args.source, "classify", {}, "predict_proba")
        probabilities = task.predict_proba(texts)
        labels = [task.label_names[i] for i in probabilities.argmax(-1)]
    for text, label, row in zip(texts, labels, probabilities):
        print(f"{label}\t{row.max():.4f}\t{text}")
