"""Group norms and block soft thresholding against NumPy."""

import keras
import numpy as np
import pytest

from kreg.ops.group_threshold import group_norms, group_soft_threshold


@pytest.mark.parametrize("shape, axis", [((4, 3), -1), ((4, 3), 0), ((2, 3, 5), 1), ((6,), 0)])
def test_group_norms_match_numpy(shape, axis):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    expected = np.linalg.norm(np.moveaxis(x, axis, -1).reshape(-1, shape[axis]), axis=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(group_norms(x, axis)), expected, rtol=1e-6)


@pytest.mark.parametrize("axis", [-1, 0])
def test_block_soft_threshold_matches_formula(axis):
    w = np.array([[3.0, 0.1, 1.0], [4.0, 0.1, 0.0]], "float32")
    out = keras.ops.convert_to_numpy(group_soft_threshold(w, 1.0, axis))
    norms = np.linalg.norm(w, axis=1 - (axis % 2), keepdims=True)
    expected = w * np.maximum(1 - 1.0 / norms, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    if axis == -1:
        assert np.all(out[:, 1:] == 0.0)  # groups with norm <= threshold become exactly zero
    assert out.dtype == np.float32


def test_zero_threshold_is_identity_and_zero_groups_stay_finite():
    w = np.array([[0.0, 2.0], [0.0, -1.0]], "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(group_soft_threshold(w, 0.0)), w)
    out = keras.ops.convert_to_numpy(group_soft_threshold(w, 0.5))
    assert np.all(np.isfinite(out)) and np.all(out[:, 0] == 0.0)


def _gradient(fn, x):
    """d fn(x) / dx on the current backend (the library uses keras.ops only; the test needs a gradient)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    import torch

    x = torch.tensor(x, requires_grad=True)
    fn(x).backward()
    return x.grad.numpy()


def test_gradient_at_a_zero_group_is_zero_not_nan():
    # The documented subgradient: sqrt's derivative is infinite at 0, so a plain sqrt(sum(x^2)) gives NaN there.
    w = np.array([[0.0, 3.0], [0.0, 4.0]], "float32")
    gradient = _gradient(lambda x: keras.ops.sum(group_norms(x)), w)
    np.testing.assert_allclose(gradient, [[0.0, 0.6], [0.0, 0.8]], rtol=1e-6)


def test_block_soft_threshold_of_groups_shorter_than_one():
    # Norms below 1 (0.5 and 0.1): the scale is 1 - t / ||w_g||, not 1 - t.
    w = np.array([[0.3, 0.06], [0.4, 0.08]], "float32")
    out = keras.ops.convert_to_numpy(group_soft_threshold(w, 0.2))
    np.testing.assert_allclose(out, [[0.3 * 0.6, 0.0], [0.4 * 0.6, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_dtype_is_kept(dtype):
    if dtype == "float64" and keras.backend.backend() == "jax":
        pytest.skip("JAX runs without x64 here")
    w = keras.ops.convert_to_tensor(np.array([[3.0, 0.1], [4.0, 0.1]]), dtype=dtype)
    out = group_soft_threshold(w, 1.0)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    expected = np.array([[2.4, 0.0], [3.2, 0.0]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")), expected, rtol=1e-2)
