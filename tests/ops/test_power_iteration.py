"""Power iteration against numpy.linalg.svd."""

import keras
import numpy as np
import pytest

from kreg.ops import as_matrix, l2_normalize, power_iteration


def test_converges_to_the_largest_singular_value():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 8)).astype("float32")
    sigma, u, v = power_iteration(keras.ops.convert_to_tensor(w), rng.standard_normal(20).astype("float32"), 50)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(sigma)), np.linalg.svd(w)[1][0], rtol=1e-4)
    assert keras.ops.shape(u) == (20,) and keras.ops.shape(v) == (8,)


def test_persistent_vector_converges_one_iteration_at_a_time():
    rng = np.random.default_rng(1)
    w = keras.ops.convert_to_tensor(rng.standard_normal((16, 6)).astype("float32"))
    exact = np.linalg.svd(keras.ops.convert_to_numpy(w))[1][0]
    u = rng.standard_normal(16).astype("float32")
    errors = []
    for _ in range(30):
        sigma, u, _ = power_iteration(w, u, 1)
        errors.append(abs(float(keras.ops.convert_to_numpy(sigma)) - exact) / exact)
    assert errors[-1] < 1e-3 and errors[-1] < errors[0]


def test_zero_matrix_stays_finite():
    sigma, u, v = power_iteration(keras.ops.zeros((4, 3)), np.ones(4, "float32"), 2)
    assert float(keras.ops.convert_to_numpy(sigma)) == 0.0
    assert np.isfinite(keras.ops.convert_to_numpy(u)).all() and np.isfinite(keras.ops.convert_to_numpy(v)).all()


def test_as_matrix_puts_units_last():
    assert keras.ops.shape(as_matrix(keras.ops.zeros((3, 3, 4, 8)))) == (36, 8)
    assert keras.ops.shape(as_matrix(keras.ops.zeros((5,)))) == (5, 1)


def numpy_power_iteration(a, u, iterations, epsilon):
    """The documented algorithm in float64: `v = u A / max(|u A|, eps)`, `u = A v / max(|A v|, eps)`."""
    a, u = a.astype("float64"), u.astype("float64")
    for _ in range(iterations):
        v = u @ a
        v = v / max(np.linalg.norm(v), epsilon)
        u = a @ v
        u = u / max(np.linalg.norm(u), epsilon)
    return abs(u @ a @ v), u, v


def test_defaults_are_one_iteration_and_a_tiny_epsilon():
    rng = np.random.default_rng(2)
    a = (1e-3 * rng.standard_normal((6, 4))).astype("float32")  # norms far below 1: epsilon must not matter
    u = rng.standard_normal(6).astype("float32")
    sigma, u1, v1 = power_iteration(keras.ops.convert_to_tensor(a), u)
    expected_sigma, expected_u, expected_v = numpy_power_iteration(a, u, 1, 1e-12)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(sigma)), expected_sigma, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(u1), expected_u, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(v1), expected_v, rtol=1e-5, atol=1e-7)


def test_epsilon_is_used_by_both_normalizations():
    # Every norm below epsilon = 1: nothing is scaled up, each product is divided by 1.
    a = np.array([[0.1, 0.0], [0.0, 0.2], [0.0, 0.0]], "float32")
    u = np.array([0.6, 0.8, 0.0], "float32")
    sigma, u1, v1 = power_iteration(keras.ops.convert_to_tensor(a), u, iterations=1, epsilon=1.0)
    expected_sigma, expected_u, expected_v = numpy_power_iteration(a, u, 1, 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(v1), expected_v, rtol=1e-6)  # [0.06, 0.16]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(u1), expected_u, rtol=1e-6)  # [0.006, 0.032, 0]
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(sigma)), expected_sigma, rtol=1e-6)


def test_l2_normalize_default_epsilon_and_dtype():
    x = np.array([0.3, 0.4], "float32")  # norm 0.5 < 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(l2_normalize(keras.ops.convert_to_tensor(x))), [0.6, 0.8])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(l2_normalize(keras.ops.convert_to_tensor(x), 1.0)), x)
    zero = keras.ops.convert_to_numpy(l2_normalize(keras.ops.zeros((3,))))
    np.testing.assert_array_equal(zero, np.zeros(3))


def test_float64_stays_float64():
    if keras.backend.backend() != "tensorflow":
        # JAX runs without x64 here; Keras 3.15's torch `ops.matmul` returns float32 for float64 operands.
        pytest.skip("float64 matmul is TensorFlow-only here")
    rng = np.random.default_rng(3)
    a = keras.ops.convert_to_tensor(rng.standard_normal((5, 3)), dtype="float64")
    sigma, u, v = power_iteration(a, rng.standard_normal(5).astype("float32"), 40)
    assert {keras.backend.standardize_dtype(t.dtype) for t in (sigma, u, v)} == {"float64"}
    assert keras.backend.standardize_dtype(l2_normalize(a[0]).dtype) == "float64"
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(sigma)), np.linalg.svd(keras.ops.convert_to_numpy(a))[1][0], rtol=1e-12
    )


def test_as_matrix_of_a_scalar_and_of_a_conv1d_kernel():
    assert keras.ops.shape(as_matrix(keras.ops.convert_to_tensor(2.0))) == (1, 1)
    assert float(keras.ops.convert_to_numpy(as_matrix(keras.ops.convert_to_tensor(2.0)))[0, 0]) == 2.0
    kernel = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(as_matrix(kernel)), kernel.reshape(6, 4))
