"""The one exception type that keras-lm raises for bad input.

Every message is a single line that says what was wrong and what to do, so the
command line can print it as-is (``keras-lm: error: ...``) instead of a
traceback from deep inside TensorFlow.
"""


class KerasLMError(ValueError):
    """Bad input from the user: a file, a flag, a prompt, a run directory."""


def graph_check_message(error):
    """The one-line message of a failed in-graph check (`tf.debugging.assert_*`
    in an exported model), from the `InvalidArgumentError` it raised."""
    message = getattr(error, "message", str(error))
    for line in message.splitlines():
        if "assertion failed:" in line:
            return line.split("assertion failed:", 1)[1].strip(" []")
    return message.splitlines()[0] if message else type(error).__name__
