"""Power iteration against numpy.linalg.svd."""

import keras
import numpy as np

from kreg.ops import as_matrix, power_iteration


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
