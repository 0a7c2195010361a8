"""Mutation-testing follow-ups for `kreg.regularizers.orthogonal`: the exact config and its round trip without a
training run, the fixed start vector, and the three penalties against NumPy (SRIP against the exact largest singular
value of `W^T W - I`)."""

import keras
import numpy as np
import pytest

import kreg
from kreg.regularizers import Orthogonal
from kreg.regularizers.orthogonal import _gram_residual, largest_singular_value, start_vector


def numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize(
    "regularizer, expected",
    [
        (Orthogonal(), {"factor": 0.01, "mode": "so", "iterations": 128}),
        (Orthogonal(0.5, mode="srip", iterations=3), {"factor": 0.5, "mode": "srip", "iterations": 3}),
        (Orthogonal(2.0, "dso", 1), {"factor": 2.0, "mode": "dso", "iterations": 1}),
    ],
)
def test_config_is_the_constructor_arguments_and_round_trips(regularizer, expected):
    assert regularizer.get_config() == expected
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(regularizer))
    assert type(restored) is Orthogonal
    assert restored.get_config() == expected


def test_a_scheduled_factor_round_trips():
    regularizer = Orthogonal(kreg.schedules.Linear(0.0, 1.0, steps=4))
    restored = Orthogonal.from_config(regularizer.get_config())
    assert restored.get_config() == regularizer.get_config()
    assert isinstance(restored.factor, kreg.schedules.Linear)


def test_start_vector_is_the_unit_gaussian_of_seed_size():
    vector = numpy(start_vector(7))
    assert vector.dtype == np.float32
    expected = np.random.default_rng(7).standard_normal(7)
    np.testing.assert_allclose(vector, (expected / np.linalg.norm(expected)).astype("float32"), rtol=1e-6)
    if keras.backend.backend() != "jax":  # JAX runs without x64 here
        assert numpy(start_vector(7, "float64")).dtype == np.float64


def test_gram_residuals_are_numpy():
    w = np.random.default_rng(0).standard_normal((5, 3)).astype("float32")
    np.testing.assert_allclose(numpy(_gram_residual(w, transpose=False)), w.T @ w - np.eye(3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(numpy(_gram_residual(w, transpose=True)), w @ w.T - np.eye(5), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("iterations", [1, 2, 5, 64])
def test_largest_singular_value_of_a_symmetric_matrix(iterations):
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    eigenvalues = np.array([-3.0, 1.0, 0.5, 0.2, -0.1, 0.05])
    matrix = (q * eigenvalues) @ q.T
    sigma = float(numpy(largest_singular_value(keras.ops.convert_to_tensor(matrix.astype("float32")), iterations)))
    # `k` squarings separate |-3| from the next eigenvalue by (1/3)^(2^k): float32-exact from 3 squarings on.
    tolerance = {1: 0.2, 2: 1e-3, 5: 1e-5, 64: 1e-5}[iterations]
    assert sigma <= 3.0 * (1 + 1e-5)
    np.testing.assert_allclose(sigma, 3.0, rtol=tolerance)


def test_the_three_penalties_are_numpy():
    w = np.random.default_rng(2).standard_normal((2, 2, 3, 4)).astype("float32") * 0.5
    m = w.reshape(-1, 4).astype("float64")
    so = np.sum((m.T @ m - np.eye(4)) ** 2)
    dso = so + np.sum((m @ m.T - np.eye(12)) ** 2)
    srip = np.linalg.norm(m.T @ m - np.eye(4), 2) ** 2
    np.testing.assert_allclose(float(numpy(Orthogonal(0.5, "so")(w))), 0.5 * so, rtol=1e-4)
    np.testing.assert_allclose(float(numpy(Orthogonal(0.5, "dso")(w))), 0.5 * dso, rtol=1e-4)
    np.testing.assert_allclose(float(numpy(Orthogonal(0.5, "srip")(w))), 0.5 * srip, rtol=1e-4)
