"""Scores of a text classifier: accuracy, macro-F1, per-class precision,
recall and F1, the confusion matrix, and a picture of it.

>>> scores = evaluate_classifier([0, 0, 1, 1], [0, 1, 1, 1], ["neg", "pos"])
>>> scores["accuracy"], round(scores["macro_f1"], 3)
(0.75, 0.733)
>>> scores["confusion_matrix"]
[[1, 1], [0, 2]]
"""

import os

import numpy as np

from keras_lm.errors import KerasLMError
from keras_lm.evaluation.attention_plot import check_image_path


def confusion_matrix(labels, predicted, num_classes):
    """Counts `(true class, predicted class)`: rows are the true labels."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predicted)), 1)
    return matrix


def evaluate_classifier(labels, predicted, label_names):
    """The scores of `predicted` class indices against `labels`.

    Returns a dict: `accuracy`, `macro_f1`, `per_class` (`{name:
    {precision, recall, f1, support}}`), `confusion_matrix` (rows = true
    labels, in `label_names` order), `label_names` and `examples`.
    A class never predicted has precision 0 (as scikit-learn's
    `zero_division=0`).
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if not len(labels):
        raise KerasLMError("no examples to evaluate")
    matrix = confusion_matrix(labels, predicted, len(label_names))
    hits = np.diag(matrix).astype(np.float64)
    precision = hits / np.maximum(matrix.sum(axis=0), 1)
    recall = hits / np.maximum(matrix.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall
                  / np.maximum(precision + recall, 1e-12), 0.0)
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]),
               "f1": float(f1[i]), "support": int(matrix[i].sum())}
        for i, name in enumerate(label_names)}
    return {"accuracy": float(hits.sum() / len(labels)),
            "macro_f1": float(f1.mean()), "per_class": per_class,
            "confusion_matrix": matrix.tolist(),
            "label_names": list(label_names), "examples": int(len(labels))}


def describe_scores(scores):
    """The scores as printable lines: the headline, then one per class."""
    lines = [f"accuracy {scores['accuracy']:.4f}  macro-F1 "
             f"{scores['macro_f1']:.4f}  ({scores['examples']} examples)"]
    for name, row in scores["per_class"].items():
        lines.append(f"  {name}: precision {row['precision']:.4f}  recall "
                     f"{row['recall']:.4f}  F1 {row['f1']:.4f}  "
                     f"({row['support']} examples)")
    return lines


def plot_confusion_matrix(scores, path, title=None):
    """Writes the confusion matrix of `scores` (`evaluate_classifier`) as
    an image to `path` (.png, .svg, .pdf), counts written in each cell;
    the file appears whole or not at all. Returns `path`."""
    check_image_path(path)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    matrix = np.asarray(scores["confusion_matrix"])
    names = scores["label_names"]
    size = max(3.5, 0.6 * len(names) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    try:
        image = axes.imshow(matrix, cmap="Blues")
        axes.set_xticks(range(len(names)), labels=names, rotation=45)
        axes.set_yticks(range(len(names)), labels=names)
        axes.set_xlabel("predicted label")
        axes.set_ylabel("true label")
        middle = matrix.max() / 2 if matrix.size else 0
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(column, row, str(count), ha="center", va="center",
                      color="white" if count > middle else "black")
        axes.set_title(title or f"accuracy {scores['accuracy']:.3f}, "
                                f"macro-F1 {scores['macro_f1']:.3f}")
        figure.colorbar(image, ax=axes, label="examples")
        figure.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        base, suffix = os.path.splitext(path)
        partial = f"{base}.partial{suffix}"
        figure.savefig(partial)
        os.replace(partial, path)
    finally:
        plt.close(figure)
    return path
