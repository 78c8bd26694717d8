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


#: The largest count a flag may hold: compiled programs take int32 inputs.
INT32_MAX = 2**31 - 1


def check_int(flag, value, minimum, maximum=INT32_MAX, hint=""):
    """A one-line error unless `value` is an integer in [minimum, maximum]
    (`flag` names it, `hint` may say what a special value means)."""
    import numbers

    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not minimum <= value <= maximum):
        raise KerasLMError(f"{flag} must be an integer from {minimum} to "
                           f"{maximum}{hint}, got {value!r}")


def check_real(flag, value, minimum, maximum=None, hint=""):
    """A one-line error unless `value` is a finite number >= `minimum`
    (and <= `maximum`, if given): NaN and infinity are refused."""
    import math
    import numbers

    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < minimum
            or (maximum is not None and value > maximum)):
        bounds = (f">= {minimum}" if maximum is None
                  else f"from {minimum} to {maximum}")
        raise KerasLMError(f"{flag} must be a finite number {bounds}{hint}, "
                           f"got {value!r}")


def check_model_sizes(dropout=0.0, **sizes):
    """One-line errors for model sizes that are not integers >= 1 and a
    dropout rate outside [0, 1), named as the `--flag` that sets them."""
    for name, value in sizes.items():
        check_int("--" + name.replace("_", "-"), value, 1)
    check_real("--dropout", dropout, 0.0, hint=" and below 1")
    if dropout >= 1:
        raise KerasLMError(f"--dropout must be below 1, got {dropout!r}")
