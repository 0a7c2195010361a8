"""Mutation-testing follow-ups for `kreg.ops.conv_spectrum`: the full singular value set when `min(c_in, c_out) >= 3`
and the documented compute dtype (float32, float64 stays float64, whatever the input dtype or `floatx`)."""

import keras
import numpy as np
import pytest

from kreg.ops.conv_spectrum import conv_singular_values
from tests.floatx import floatx


def _numpy_singular_values(kernel, input_size):
    """Sedghi et al. 2019, Theorem 6: the singular values of each transfer matrix of the zero-padded DFT."""
    spatial_axes = tuple(range(len(input_size)))
    transfer = np.fft.fftn(kernel.astype("float64"), s=input_size, axes=spatial_axes)
    transfer = transfer.reshape((int(np.prod(input_size)),) + kernel.shape[-2:])
    return np.linalg.svd(transfer, compute_uv=False)


@pytest.mark.parametrize("kernel_shape, input_size", [((3, 3, 3, 4), (4, 4)), ((2, 5, 3), (5,))])
def test_every_singular_value_of_every_frequency_with_three_or_more_channels(kernel_shape, input_size):
    # Each singular value of a frequency's complex matrix appears twice in the real block matrix; keeping every
    # second one must give all min(c_in, c_out) of them, not a subset.
    kernel = np.random.default_rng(3).standard_normal(kernel_shape).astype("float32")
    values = keras.ops.convert_to_numpy(conv_singular_values(kernel, input_size))
    expected = _numpy_singular_values(kernel, input_size)
    assert values.shape == expected.shape == (int(np.prod(input_size)), 3)
    np.testing.assert_allclose(values, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype, expected", [("float16", "float32"), ("float32", "float32"), ("float64", "float64")])
def test_values_are_computed_in_float32_and_float64_stays_float64(dtype, expected):
    if dtype == "float64" and keras.backend.backend() == "jax":
        pytest.skip("JAX runs without x64 here")
    kernel = np.random.default_rng(4).standard_normal((3, 3, 2, 2)).astype(dtype)
    values = conv_singular_values(keras.ops.convert_to_tensor(kernel, dtype=dtype), (4, 4))
    assert keras.backend.standardize_dtype(values.dtype) == expected
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(values), _numpy_singular_values(kernel, (4, 4)), rtol=2e-3, atol=2e-3
    )


def test_the_compute_dtype_does_not_follow_floatx():
    kernel = np.random.default_rng(5).standard_normal((3, 3, 2, 2)).astype("float16")
    with floatx("float64"):
        values = conv_singular_values(keras.ops.convert_to_tensor(kernel, dtype="float16"), (4, 4))
    assert keras.backend.standardize_dtype(values.dtype) == "float32"
