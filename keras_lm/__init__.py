"""keras-lm: classic and modern language models in plain Keras 3."""

__version__ = "0.1.0"

from keras_lm import generation, models, tokenizers  # noqa: E402
from keras_lm.errors import KerasLMError  # noqa: E402
