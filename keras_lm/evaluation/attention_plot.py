"""Heatmap of a seq2seq model's attention: which source token each output
token looked at. Uses matplotlib's Agg backend, so it needs no display.
"""

import os

import numpy as np

from keras_lm.errors import KerasLMError


IMAGE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def check_image_path(path):
    """A one-line error unless `path` names an image file matplotlib writes
    (checked before any work, so nothing is computed for nothing)."""
    path = str(path)
    if os.path.isdir(path) or not path.lower().endswith(IMAGE_SUFFIXES):
        raise KerasLMError(f"{path} is not an image file name; end it in "
                           f"{', '.join(IMAGE_SUFFIXES)}")


def plot_attention(weights, source_tokens, target_tokens, path, title=None):
    """Writes an attention heatmap (target rows x source columns) to `path`.

    Args:
        weights: `(target_length, source_length)` array (one example of
            `greedy_decode(..., return_attention=True).attention` or of
            `Seq2Seq.attention_weights`); it is cropped to the token lists,
            so padded rows and columns may be passed as they are.
        source_tokens: labels of the source positions (x axis).
        target_tokens: labels of the generated positions (y axis).
        path: image file to write (.png, .svg, .pdf); folders are created.
        title: optional title.

    Returns:
        `path`.
    """
    check_image_path(path)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2:
        raise KerasLMError(f"attention weights must be 2-D (target, source), "
                           f"got shape {weights.shape}; pick one example")
    source_tokens, target_tokens = list(source_tokens), list(target_tokens)
    if (len(target_tokens) > weights.shape[0]
            or len(source_tokens) > weights.shape[1]):
        raise KerasLMError(f"{len(target_tokens)} x {len(source_tokens)} "
                           f"labels do not fit weights of shape "
                           f"{weights.shape}")
    weights = weights[:len(target_tokens), :len(source_tokens)]
    width = max(4.0, 0.35 * len(source_tokens) + 2.0)
    height = max(3.0, 0.35 * len(target_tokens) + 1.5)
    figure, axes = plt.subplots(figsize=(width, height))
    try:
        image = axes.imshow(weights, cmap="viridis", aspect="auto",
                            vmin=0.0, vmax=max(float(weights.max(initial=0)),
                                               1e-6))
        axes.set_xticks(range(len(source_tokens)))
        axes.set_xticklabels([str(t) for t in source_tokens], rotation=90)
        axes.set_yticks(range(len(target_tokens)))
        axes.set_yticklabels([str(t) for t in target_tokens])
        axes.set_xlabel("source tokens")
        axes.set_ylabel("generated tokens")
        if title:
            axes.set_title(title)
        figure.colorbar(image, ax=axes, label="attention weight")
        figure.tight_layout()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path


def plot_translation_attention(translator, text, path, beam_width=4,
                               length_penalty=0.6, max_length=None):
    """Translates `text` with a `Translator` and writes its attention
    heatmap to `path`, labelled with the source and generated tokens.
    Returns the translation."""
    translation, weights, source_labels, target_labels = \
        translator.translate_with_attention(text, beam_width, length_penalty,
                                            max_length)
    title = f"{text[:40]} -> {translation[:40]}".replace("$", r"\$")
    plot_attention(weights, source_labels, target_labels, path, title=title)
    return translation
