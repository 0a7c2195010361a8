"""`kreg.ops.conv_spectrum` against the SVD of the explicit circular-convolution operator (NumPy)."""

import itertools

import keras
import numpy as np
import pytest

from kreg.ops.conv_spectrum import conv_singular_values, conv_spectral_norm, conv_transfer_matrices


def circular_correlation_matrix(kernel, input_size):
    """The matrix of Keras's stride-1 cross-correlation with circular padding, built column by column in NumPy."""
    spatial = kernel.shape[:-2]
    c_in, c_out = kernel.shape[-2:]
    columns = []
    for index in itertools.product(*(range(n) for n in input_size), range(c_in)):
        x = np.zeros(tuple(input_size) + (c_in,))
        x[index] = 1.0
        y = np.zeros(tuple(input_size) + (c_out,))
        for position in itertools.product(*(range(n) for n in input_size)):
            for offset in itertools.product(*(range(k) for k in spatial)):
                source = tuple((p + o) % n for p, o, n in zip(position, offset, input_size))
                y[position] += x[source] @ kernel[offset]
        columns.append(y.ravel())
    return np.stack(columns, axis=1)


@pytest.mark.parametrize(
    "kernel_shape, input_size",
    [((3, 2, 3), (7,)), ((3, 3, 2, 3), (4, 5)), ((1, 1, 3, 2), (3, 3)), ((2, 2, 2, 1, 2), (3, 3, 2))],
)
def test_singular_values_match_the_explicit_operator(kernel_shape, input_size):
    kernel = np.random.default_rng(0).standard_normal(kernel_shape).astype("float32")
    expected = np.linalg.svd(circular_correlation_matrix(kernel.astype("float64"), input_size), compute_uv=False)
    values = keras.ops.convert_to_numpy(conv_singular_values(kernel, input_size))
    assert values.shape == (int(np.prod(input_size)), min(kernel_shape[-2:]))
    # The operator has min(c_in, c_out) * prod(n) singular values; the ones beyond are zeros of the tall matrix.
    np.testing.assert_allclose(np.sort(values.ravel())[::-1], expected[: values.size], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(conv_spectral_norm(kernel, input_size))), expected[0], rtol=1e-5
    )


def test_transfer_matrices_are_the_padded_dft():
    kernel = np.random.default_rng(1).standard_normal((3, 2, 2, 4)).astype("float32")
    real, imag = conv_transfer_matrices(kernel, (5, 4))
    expected = np.fft.fft2(kernel, s=(5, 4), axes=(0, 1)).reshape(20, 2, 4)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(real), expected.real, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(imag), expected.imag, atol=1e-5)


def test_a_1x1_convolution_is_its_channel_matrix():
    kernel = np.random.default_rng(2).standard_normal((1, 1, 4, 3)).astype("float32")
    expected = np.linalg.svd(kernel[0, 0], compute_uv=False)[0]
    assert float(keras.ops.convert_to_numpy(conv_spectral_norm(kernel, (6, 6)))) == pytest.approx(expected, rel=1e-5)


def test_a_kernel_larger_than_the_input_is_rejected():
    with pytest.raises(ValueError, match="exceeds the input size 2"):
        conv_spectral_norm(np.ones((3, 3, 1, 1), "float32"), (2, 4))


def test_the_kernel_rank_must_match_the_input_size():
    with pytest.raises(ValueError, match="must have rank 4"):
        conv_spectral_norm(np.ones((3, 1, 1), "float32"), (4, 4))


@pytest.mark.parametrize("padding, circular_size", [("valid", (5, 5)), ("same", (7, 7))])
def test_circular_norm_bounds_zero_padded_convolutions(padding, circular_size):
    """A "valid" convolution is a subset of the circular operator's rows on the same size; a "same" one a restriction
    of the circular operator on the input padded by `k - 1`: the circular norm bounds both (docs/constraints.md)."""
    kernel = np.random.default_rng(3).standard_normal((3, 3, 2, 3)).astype("float32")
    basis = np.eye(5 * 5 * 2, dtype="float32").reshape(-1, 5, 5, 2)
    columns = keras.ops.convert_to_numpy(keras.ops.conv(basis, kernel, padding=padding))
    operator_norm = np.linalg.svd(columns.reshape(len(basis), -1), compute_uv=False)[0]
    bound = float(keras.ops.convert_to_numpy(conv_spectral_norm(kernel, circular_size)))
    assert operator_norm <= bound * (1 + 1e-5)
    assert operator_norm > 0.5 * bound
