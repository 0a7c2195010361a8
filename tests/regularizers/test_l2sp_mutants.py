"""Mutation-testing follow-ups for `kreg.regularizers.l2sp`: the no-reference warning (exact text, once per
regularizer, not during Keras's shape-only build pass)."""

import os
import warnings

import keras
import numpy as np
import pytest

import kreg
from kreg.regularizers import L2SP

NO_REFERENCE_MESSAGE = (
    "L2SP has no reference weights, so it penalizes the distance to zero (plain L2). Attach it with "
    "`kreg.attach(model, ...)`, call `regularizer.capture(variable)`, or pass "
    "`callbacks=[kreg.callbacks.TrainingBinding()]` (or any kreg callback) to `fit` to capture the weights "
    "at the start of training."
)


def _calls(regularizer, times):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = [float(regularizer(np.full((2, 2), 2.0, "float32"))) for _ in range(times)]
    return values, [w for w in caught if issubclass(w.category, UserWarning)]


def test_the_no_reference_warning_has_the_exact_text_and_comes_once():
    values, caught = _calls(L2SP(0.5), times=3)
    assert values == [8.0, 8.0, 8.0]
    assert [str(w.message) for w in caught] == [NO_REFERENCE_MESSAGE]
    # It points at the line that called the regularizer (here `_calls`), not inside kreg.
    assert os.path.abspath(caught[0].filename) == os.path.abspath(__file__)


def test_each_regularizer_warns_once_for_itself():
    first, second = L2SP(0.5), L2SP(0.5)
    assert len(_calls(first, times=2)[1]) == 1
    assert len(_calls(second, times=2)[1]) == 1
    assert len(_calls(first, times=1)[1]) == 0


def test_keras_shape_only_pass_does_not_warn_nor_use_up_the_warning():
    regularizer = L2SP(0.5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with keras.SymbolicScope():
            regularizer(keras.Variable(np.ones((2, 2), "float32")))
    assert caught == []
    # The first real call still warns.
    assert [str(w.message) for w in _calls(regularizer, times=1)[1]] == [NO_REFERENCE_MESSAGE]


def test_a_regularizer_with_a_reference_never_warns():
    assert _calls(L2SP(0.5, reference=np.ones((2, 2), "float32")), times=2) == ([2.0, 2.0], [])


def test_a_reference_that_is_not_an_array_has_the_exact_message():
    ragged = [[1.0, 2.0], [3.0]]
    with pytest.raises(ValueError) as info:
        L2SP(0.1, reference=ragged)
    assert str(info.value) == (
        "Invalid value received for argument `reference`. Expected None, an array or a dict from "
        f"`L2SP.get_config()`. Received: reference={ragged!r}"
    )


def test_a_non_finite_reference_has_the_exact_message():
    with pytest.raises(ValueError) as info:
        L2SP(0.1, reference=[1.0, float("inf")])
    assert str(info.value) == (
        "Invalid value received for argument `reference`. Expected None or an array of finite numbers. "
        "Received: reference=[1.0, inf]"
    )


@pytest.mark.parametrize(
    "reference, dtype", [(np.ones(3, "float64"), "float64"), (np.ones(3, "float16"), "float32"), ([1, 2, 3], "float32")]
)
def test_the_reference_is_stored_in_float32_and_float64_stays_float64(reference, dtype):
    assert L2SP(0.1, reference=reference).reference.dtype == np.dtype(dtype)


def test_get_config_without_a_reference():
    assert L2SP(0.25).get_config() == {"factor": 0.25, "reference": None}


def test_a_scheduled_factor_is_read_at_the_given_step():
    regularizer = L2SP(kreg.schedules.Linear(0.0, 1.0, steps=10), reference=np.zeros((2,), "float32"))
    x = np.ones((2,), "float32")
    assert float(regularizer.penalty(x, 5)) == pytest.approx(0.5 * 2.0)
    assert float(regularizer.penalty(x, None)) == 0.0


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs without x64 here")
def test_a_float64_weight_is_penalized_in_float64():
    reference = np.array([0.1, 0.2, 0.3], "float64")
    x = np.array([0.3, 0.1, 0.7], "float64")
    # 0.5 is exact in float32 (TensorFlow's `ops.cast(0.1, "float64")` rounds through float32); the reference is not.
    value = L2SP(0.5, reference=reference).penalty(keras.ops.convert_to_tensor(x, "float64"), None)
    assert keras.backend.standardize_dtype(value.dtype) == "float64"
    assert float(value) == pytest.approx(0.5 * np.sum((x - reference) ** 2), rel=1e-13)


def test_the_default_factor_is_0_01():
    assert L2SP().get_config() == {"factor": 0.01, "reference": None}
