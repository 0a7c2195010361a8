"""Soft thresholding against its NumPy formula."""

import keras
import numpy as np

from kreg.ops import soft_threshold


def test_soft_threshold_matches_numpy():
    x = np.random.default_rng(0).standard_normal((6, 4)).astype("float32")
    expected = np.sign(x) * np.maximum(np.abs(x) - 0.5, 0)
    actual = keras.ops.convert_to_numpy(soft_threshold(keras.ops.convert_to_tensor(x), 0.5))
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    assert (actual == 0).sum() == (np.abs(x) <= 0.5).sum()


def test_zero_threshold_is_identity_and_dtype_is_kept():
    x = keras.ops.convert_to_tensor(np.array([-1.0, 0.0, 2.0], "float16"))
    out = soft_threshold(x, 0.0)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), [-1.0, 0.0, 2.0])
