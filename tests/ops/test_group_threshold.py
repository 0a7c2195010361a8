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
