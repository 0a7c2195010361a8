"""`kreg.ops.concrete`: the relaxed mask, concrete dropout and its regularizer against NumPy formulas."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.ops.concrete import (
    EPSILON,
    concrete_dropout,
    concrete_dropout_mask,
    concrete_dropout_regularizer,
    relaxed_bernoulli,
)


def numpy_mask(u, p, temperature, eps=EPSILON):
    u = u.astype(np.float64)
    logit = np.log(p + eps) - np.log(1 - p + eps) + np.log(u + eps) - np.log(1 - u + eps)
    return 1.0 / (1.0 + np.exp(-logit / temperature))


def numpy_regularizer(w, p, k, wr, dr):
    w = w.astype(np.float64)
    return wr * np.sum(w**2) / (1 - p) + dr * k * (p * np.log(p) + (1 - p) * np.log(1 - p))


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.mark.parametrize("p, temperature", [(0.1, 0.1), (0.5, 0.1), (0.9, 0.5), (0.3, 1.0)])
def test_relaxed_bernoulli_matches_the_formula(p, temperature):
    u = np.random.default_rng(0).random((64, 9)).astype("float32")
    z = relaxed_bernoulli(u, p, temperature)
    assert keras.backend.standardize_dtype(z.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(z), numpy_mask(u, p, temperature), rtol=1e-5, atol=1e-6)


def test_the_mask_is_the_relaxation_of_the_seeded_uniform_draw():
    x = np.zeros((4, 6, 5), "float16")
    u = to_numpy(keras.random.uniform((4, 6, 5), seed=11))
    z = to_numpy(concrete_dropout_mask(x, 0.25, temperature=0.2, seed=11))
    assert z.shape == x.shape and z.dtype == np.float32  # float32 whatever the dtype of x
    np.testing.assert_allclose(z, numpy_mask(u, 0.25, 0.2), rtol=1e-5, atol=1e-6)
    # A SeedGenerator draws the same first sample as a fresh one with the same seed, then new ones.
    generator = keras.random.SeedGenerator(5)
    first = to_numpy(concrete_dropout_mask(x, 0.25, seed=generator))
    np.testing.assert_array_equal(first, to_numpy(concrete_dropout_mask(x, 0.25, seed=keras.random.SeedGenerator(5))))
    assert not np.array_equal(first, to_numpy(concrete_dropout_mask(x, 0.25, seed=generator)))


@pytest.mark.parametrize("p", [0.05, 0.3, 0.7])
def test_the_mask_drops_a_fraction_p(p):
    """`z > 1/2` exactly when `logit(p) + logistic noise > 0`: a Bernoulli(p) event, whatever the temperature."""
    z = to_numpy(concrete_dropout_mask(np.zeros((200_000,), "float32"), p, temperature=0.1, seed=0))
    assert np.mean(z > 0.5) == pytest.approx(p, abs=0.005)
    assert np.mean(z) == pytest.approx(p, abs=0.02)  # close to binary at temperature 0.1
    assert np.all((z >= 0) & (z <= 1))


def test_a_low_temperature_gives_a_nearly_binary_mask():
    z = to_numpy(concrete_dropout_mask(np.zeros((10_000,), "float32"), 0.5, temperature=1e-3, seed=1))
    assert np.mean((z < 1e-3) | (z > 1 - 1e-3)) > 0.99


def test_concrete_dropout_matches_the_formula_and_keeps_the_dtype():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 7)).astype("float32")
    u = to_numpy(keras.random.uniform(x.shape, seed=4))
    out = to_numpy(concrete_dropout(x, 0.2, temperature=0.1, seed=4))
    np.testing.assert_allclose(out, x * (1 - numpy_mask(u, 0.2, 0.1)) / 0.8, rtol=1e-5, atol=1e-6)
    half = concrete_dropout(x.astype("float16"), ops.convert_to_tensor(0.2), seed=4)
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    np.testing.assert_allclose(to_numpy(half).astype("float32"), out, rtol=2e-3, atol=2e-3)


def test_concrete_dropout_is_unbiased_on_average():
    x = np.full((100_000,), 3.0, "float32")
    out = to_numpy(concrete_dropout(x, 0.4, temperature=0.1, seed=6))
    assert np.mean(out) == pytest.approx(3.0, rel=0.03)


@pytest.mark.parametrize(
    "shape, p, k, wr, dr",
    [((8, 4), 0.1, 8, 1e-6, 1e-5), ((3, 3, 2, 5), 0.5, 50, 1e-2, 1e-3), ((10,), 0.93, 1, 0.5, 0.0)],
)
def test_regularizer_matches_the_formula(shape, p, k, wr, dr):
    w = np.random.default_rng(3).standard_normal(shape).astype("float32")
    value = concrete_dropout_regularizer(w, p, k, weight_regularizer=wr, dropout_regularizer=dr)
    assert keras.backend.standardize_dtype(value.dtype) == "float32" and tuple(value.shape) == ()
    np.testing.assert_allclose(float(to_numpy(value)), numpy_regularizer(w, p, k, wr, dr), rtol=1e-5)


def test_regularizer_with_tensor_arguments_and_at_the_ends():
    w = np.ones((2, 3), "float16")
    rate = ops.convert_to_tensor(0.2, "float32")
    value = concrete_dropout_regularizer(w, rate, ops.convert_to_tensor(6.0), 1e-3, 1e-2)
    np.testing.assert_allclose(float(to_numpy(value)), numpy_regularizer(w, 0.2, 6, 1e-3, 1e-2), rtol=1e-5)
    # The negative entropy is smallest at p = 0.5 (-log 2) and 0 (not NaN) at p = 0.
    at_half = float(to_numpy(concrete_dropout_regularizer(w, 0.5, 1, 0.0, 1.0)))
    assert at_half == pytest.approx(-np.log(2), rel=1e-6)
    assert float(to_numpy(concrete_dropout_regularizer(w, 0.0, 1, 0.0, 1.0))) == pytest.approx(0.0, abs=1e-5)
