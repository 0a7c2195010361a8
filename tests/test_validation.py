"""The argument checks behind every kreg constructor, and their one message shape."""

import re

import pytest

from kreg import validation


def test_check_float_accepts_and_converts():
    assert validation.check_float("x", 1, low=0.0) == 1.0
    assert type(validation.check_float("x", 1, low=0.0)) is float
    assert validation.check_float("rate", 0.0, low=0, high=1, high_inclusive=False) == 0.0


@pytest.mark.parametrize(
    "kwargs, value, expected",
    [
        ({"low": 0.0}, -1, "a non-negative finite float"),
        ({"low": 0.0, "low_inclusive": False}, 0.0, "a positive finite float"),
        ({"low": 0, "high": 1, "high_inclusive": False}, 1.0, "a finite float in [0.0, 1.0)"),
        ({"low": 0, "high": 1, "low_inclusive": False}, 0, "a finite float in (0.0, 1.0]"),
        ({}, float("nan"), "a finite float in (-inf, inf)"),
        ({}, "1", "a finite float in (-inf, inf)"),
    ],
)
def test_check_float_messages(kwargs, value, expected):
    with pytest.raises(ValueError) as info:
        validation.check_float("rate", value, **kwargs)
    assert str(info.value) == (
        f"Invalid value received for argument `rate`. Expected {expected}. Received: rate={value!r}"
    )


@pytest.mark.parametrize(
    "kwargs, value, expected",
    [
        ({"low": 1}, 0, "an integer >= 1"),
        ({"low": 1, "high": 3}, 4, "an integer in [1, 3]"),
        ({"high": 3}, 2.5, "an integer <= 3"),
        ({"low": 0, "allow_none": True}, True, "an integer >= 0 or None"),
    ],
)
def test_check_int_messages(kwargs, value, expected):
    with pytest.raises(ValueError, match=re.escape(f"Expected {expected}. Received: n={value!r}")):
        validation.check_int("n", value, **kwargs)


def test_check_int_none_and_choice_and_bool():
    assert validation.check_int("n", None, allow_none=True) is None
    assert validation.check_choice("mode", "so", ("so", "dso")) == "so"
    with pytest.raises(ValueError, match=r"Expected one of 'so', 'dso'. Received: mode='x'"):
        validation.check_choice("mode", "x", ("so", "dso"))
    with pytest.raises(ValueError, match=r"Expected a bool \(True or False\). Received: flag=1"):
        validation.check_bool("flag", 1)
