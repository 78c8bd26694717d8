"""The one exception type that keras-lm raises for bad input.

Every message is a single line that says what was wrong and what to do, so the
command line can print it as-is (``keras-lm: error: ...``) instead of a
traceback from deep inside TensorFlow.
"""


class KerasLMError(ValueError):
    """Bad input from the user: a file, a flag, a prompt, a run directory."""
