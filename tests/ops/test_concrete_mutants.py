"""Mutation-testing follow-ups for `kreg.ops.concrete`: the documented defaults (temperature 0.1, strengths 1e-6 and
1e-5), a custom `epsilon` reaching the formula, and float32 results whatever `keras.config.floatx()` is."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.ops.concrete import concrete_dropout, concrete_dropout_mask, concrete_dropout_regularizer, relaxed_bernoulli
from tests.floatx import floatx


def numpy_mask(u, p, temperature, eps):
    u = u.astype(np.float64)
    logit = np.log(p + eps) - np.log(1 - p + eps) + np.log(u + eps) - np.log(1 - u + eps)
    return 1.0 / (1.0 + np.exp(-logit / temperature))


def _np(x):
    return ops.convert_to_numpy(x)


def test_the_default_temperature_is_the_papers_0_1():
    u = np.linspace(0.05, 0.95, 7).astype("float32")
    np.testing.assert_allclose(_np(relaxed_bernoulli(u, 0.3)), numpy_mask(u, 0.3, 0.1, 1e-7), rtol=1e-5, atol=1e-6)
    x = np.ones((64,), "float32")
    np.testing.assert_array_equal(
        _np(concrete_dropout_mask(x, 0.3, seed=11)), _np(concrete_dropout_mask(x, 0.3, temperature=0.1, seed=11))
    )


def test_a_custom_epsilon_reaches_the_formula():
    # A large epsilon moves every entry far from the default's; p near 1 makes `1 - p + e` vs `1 - p - e` visible.
    u = np.linspace(0.02, 0.98, 9).astype("float32")
    for p in (0.3, 0.9):
        expected = numpy_mask(u, p, 0.5, 0.05)
        np.testing.assert_allclose(_np(relaxed_bernoulli(u, p, 0.5, epsilon=0.05)), expected, rtol=1e-5, atol=1e-6)
    x = np.ones((256,), "float32")
    noise = _np(keras.random.uniform((256,), dtype="float32", seed=5))
    mask = _np(concrete_dropout_mask(x, 0.3, 0.5, seed=5, epsilon=0.05))
    np.testing.assert_allclose(mask, numpy_mask(noise, 0.3, 0.5, 0.05), rtol=1e-5, atol=1e-6)
    y = _np(concrete_dropout(x, 0.3, 0.5, seed=5, epsilon=0.05))
    np.testing.assert_allclose(y, (1.0 - numpy_mask(noise, 0.3, 0.5, 0.05)) / 0.7, rtol=1e-5, atol=1e-6)


def test_the_regularizer_default_strengths_are_the_reference_codes():
    kernel = np.arange(6, dtype="float32").reshape(2, 3) / 4.0
    p, k = 0.2, 3
    expected = 1e-6 * np.sum(kernel.astype(np.float64) ** 2) / (1 - p) + 1e-5 * k * (
        p * np.log(p) + (1 - p) * np.log(1 - p)
    )
    np.testing.assert_allclose(float(_np(concrete_dropout_regularizer(kernel, p, k))), expected, rtol=1e-5)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs without x64 here")
def test_everything_is_float32_even_when_floatx_is_float64():
    x = np.ones((128,), "float32")
    reference_noise = _np(keras.random.uniform((128,), dtype="float32", seed=3))
    with floatx("float64"):
        mask = concrete_dropout_mask(x, 0.3, seed=3)
        relaxed = relaxed_bernoulli(np.full((4,), 0.5, "float64"), ops.convert_to_tensor(0.3, "float64"))
        y = concrete_dropout(np.ones((4,), "float64"), 0.3, seed=3)
        penalty = concrete_dropout_regularizer(np.ones((2, 2), "float32"), 0.3, 4)
        penalty_from_float64 = concrete_dropout_regularizer(np.ones((2, 2), "float64"), np.float64(0.3), np.float64(4))
    for value in (mask, relaxed, penalty, penalty_from_float64):
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
    assert keras.backend.standardize_dtype(y.dtype) == "float64"
    # The uniform draw is float32 too: the same seed gives the same mask as under the default floatx.
    np.testing.assert_allclose(_np(mask), numpy_mask(reference_noise, 0.3, 0.1, 1e-7), rtol=1e-5, atol=1e-6)
    # The scale (1 - z) / (1 - p) is computed in float32, then cast to x's dtype.
    z = _np(concrete_dropout_mask(np.ones((4,)), 0.3, seed=3))
    np.testing.assert_array_equal(_np(y), ((np.float32(1.0) - z) / np.float32(0.7)).astype("float64"))
