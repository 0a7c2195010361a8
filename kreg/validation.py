"""Argument validation with one message shape everywhere.

Every public kreg constructor validates its arguments with these helpers, so a bad value fails at construction
with a message that names the argument, the expected range and the value received::

    Invalid value received for argument `rate`. Expected a float in [0, 1). Received: rate=1.5
"""

import math
import numbers


def invalid(name, expected, value):
    """Returns the `ValueError` kreg raises for a bad argument."""
    return ValueError(f"Invalid value received for argument `{name}`. Expected {expected}. Received: {name}={value!r}")


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_float(name, value, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """Checks that `value` is a finite real number in the given interval and returns it as a Python float.

    Args:
        name: argument name, used in the error message.
        value: the value received.
        low: lower bound, or `None` for no lower bound.
        high: upper bound, or `None` for no upper bound.
        low_inclusive: whether `low` itself is allowed.
        high_inclusive: whether `high` itself is allowed.

    Returns:
        `float(value)`.

    Raises:
        ValueError: naming the argument, the expected interval and the value received.
    """
    left = "-inf" if low is None else repr(float(low))
    right = "inf" if high is None else repr(float(high))
    expected = f"a finite float in {'[' if low_inclusive and low is not None else '('}{left}, {right}{']' if high_inclusive and high is not None else ')'}"
    if low == 0 and high is None and low_inclusive:
        expected = "a non-negative finite float"
    elif low == 0 and high is None:
        expected = "a positive finite float"
    if not _is_real(value) or not math.isfinite(float(value)):
        raise invalid(name, expected, value)
    number = float(value)
    if low is not None and (number < low or (number == low and not low_inclusive)):
        raise invalid(name, expected, value)
    if high is not None and (number > high or (number == high and not high_inclusive)):
        raise invalid(name, expected, value)
    return number


def check_int(name, value, low=None, high=None, allow_none=False):
    """Checks that `value` is an integer in [low, high] (bounds optional) and returns it as a Python int."""
    if value is None and allow_none:
        return None
    if low is not None and high is not None:
        expected = f"an integer in [{low}, {high}]"
    elif low is not None:
        expected = f"an integer >= {low}"
    elif high is not None:
        expected = f"an integer <= {high}"
    else:
        expected = "an integer"
    if allow_none:
        expected += " or None"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(name, expected, value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name, expected, value)
    return int(value)


def check_choice(name, value, choices):
    """Checks that `value` is one of `choices` (strings compared case-sensitively) and returns it."""
    if value not in choices:
        raise invalid(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_bool(name, value):
    """Checks that `value` is a bool and returns it."""
    if not isinstance(value, bool):
        raise invalid(name, "a bool (True or False)", value)
    return value
