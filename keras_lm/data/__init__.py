"""Text sources, labeled texts and `tf.data` pipelines."""

from keras_lm.data.labeled_text import (LabeledSplits, LabeledTexts,
                                        load_labeled_text)
from keras_lm.data.pipelines import Layout, language_model_dataset
from keras_lm.data.text_sources import (TextCorpus, default_text,
                                        load_text_corpus)

__all__ = ["LabeledSplits", "LabeledTexts", "Layout", "TextCorpus",
           "default_text", "language_model_dataset", "load_labeled_text",
           "load_text_corpus"]
