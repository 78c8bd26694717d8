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
            # "assertion failed: [MESSAGE] [Condition ...] [x ...] ..."
            rest = line.split("assertion failed:", 1)[1].strip()
            if not rest.startswith("["):
                return rest
            first = rest[1:].split("] [", 1)
            return first[0] if len(first) > 1 else first[0][:-1]
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


def check_real(flag, value, low=float("-inf"), high=float("inf"), *,
               open_low=False, open_high=False, hint=""):
    """A one-line error unless `value` is a finite number in the interval
    from `low` to `high` (either end excluded when `open_...`); NaN and
    infinity are always refused."""
    import math
    import numbers

    if (not isinstance(value, bool) and isinstance(value, numbers.Real)
            and math.isfinite(value)
            and (low < value if open_low else low <= value)
            and (value < high if open_high else value <= high)):
        return
    if math.isinf(low) and math.isinf(high):
        wanted = "a finite number"
    else:
        left = "(" if open_low or math.isinf(low) else "["
        right = ")" if open_high or math.isinf(high) else "]"
        wanted = f"in {left}{low:g}, {high:g}{right}"
    raise KerasLMError(f"{flag} must be {wanted}{hint}, got {value!r}")


def check_counts(**counts):
    """`check_int(name, value, 1)` for each count given (None: unset)."""
    for name, value in counts.items():
        if value is not None:
            check_int(name, value, 1)


def check_dropout(rate):
    check_real("dropout", rate, 0.0, 1.0, open_high=True)


def a_run(family):
    """"a gru run", "an encoder run": a family's run, for messages."""
    article = "an" if str(family)[:1].lower() in "aeiou" else "a"
    return f"{article} {family} run"


def check_choice(name, value, choices):
    """A one-line error unless `value` is one of `choices`."""
    if value not in choices:
        raise KerasLMError(f"{name} must be one of {', '.join(map(str, choices))}"
                           f", got {value!r}")
