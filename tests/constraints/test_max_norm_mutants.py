"""Mutation-testing follow-ups for `kreg.constraints.max_norm`: the axis range `[-rank, rank - 1]` and its exact
message, and float64 weights projected in float64."""

import keras
import numpy as np
import pytest

from kreg.constraints import MaxNorm


def test_axis_minus_rank_is_accepted_and_rank_is_rejected_with_the_exact_message():
    w = np.array([[3.0, 4.0], [6.0, 8.0]], "float32")
    out = keras.ops.convert_to_numpy(MaxNorm(5.0, axis=-2)(w))
    np.testing.assert_allclose(out, w * np.minimum(1.0, 5.0 / np.linalg.norm(w, axis=0, keepdims=True)), rtol=1e-6)
    with pytest.raises(ValueError) as info:
        MaxNorm(5.0, axis=2)(w)
    assert str(info.value) == (
        "MaxNorm(axis=2) cannot be applied to a weight of rank 2 (shape (2, 2)): Invalid value received for argument "
        "`axis`. Expected axes in [-2, 1], each once. Received: axis=2"
    )


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs without x64 here")
def test_a_float64_weight_is_projected_in_float64():
    w = np.array([[0.1, 0.2], [0.3, 0.4]], "float64") * 10.0
    out = MaxNorm(1.0, axis=0)(keras.ops.convert_to_tensor(w, "float64"))
    assert keras.backend.standardize_dtype(out.dtype) == "float64"
    expected = w / np.linalg.norm(w, axis=0, keepdims=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), expected, rtol=1e-13)


def test_a_float16_weight_is_measured_in_float32():
    # 300 ** 2 overflows float16 (max 65504): the norms must be taken in float32.
    w = np.full((2, 2), 300.0, "float16")
    out = MaxNorm(3.0, axis=0)(keras.ops.convert_to_tensor(w, "float16"))
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out).astype("float32"), np.full((2, 2), 3.0 / np.sqrt(2)), rtol=1e-3
    )


@pytest.mark.parametrize("axis", [[0, 1.5], [True], (0.0,), [1, 1]])
def test_an_axis_list_of_non_integers_is_rejected_with_the_exact_message(axis):
    with pytest.raises(ValueError) as info:
        MaxNorm(3.0, axis=axis)
    assert str(info.value).startswith(
        "Invalid value received for argument `axis`. Expected None, an integer or a non-empty list of distinct "
        "integers. Received: axis="
    )


def test_the_defaults_are_keras_max_norm_defaults():
    assert MaxNorm().get_config() == {"max_value": 3.0, "axis": None}
