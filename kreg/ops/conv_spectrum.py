"""Exact singular values of a multi-channel circular convolution, by the FFT.

Sedghi, Gupta & Long 2019, "The singular values of convolutional layers" (ICLR), Theorem 6: for a kernel `K` of
spatial size `k_1 x ... x k_d` with `c_in` input and `c_out` output channels, applied with stride 1 and circular
("wrap-around") padding to inputs of spatial size `n_1 x ... x n_d` (each `n_i >= k_i`), the singular values of the
linear operator are the union, over the `n_1 * ... * n_d` frequencies `w`, of the singular values of the
`c_in x c_out` complex matrix `P(w) = sum_k K[k] exp(-2 pi i <k, w / n>)`, i.e. of the d-dimensional DFT of `K`
zero-padded to the input size, taken over the spatial axes.

Keras convolutions compute a cross-correlation, the convolution with the flipped kernel: its transfer matrices are
the complex conjugates of the ones above, so its singular values are the same.

The singular values of a complex matrix `A = R + iI` are those of the real matrix `[[R, -I], [I, R]]`, each
counted twice; this is how they are computed here, with `keras.ops.svd` on real tensors, on every backend.
"""

import math

import keras
from keras import ops


def _check_input_size(kernel_shape, input_size):
    rank = len(input_size)
    if len(kernel_shape) != rank + 2:
        raise ValueError(
            f"A kernel for {rank}-D inputs must have rank {rank + 2} (spatial axes, then input and output channels). "
            f"Received: kernel.shape={tuple(kernel_shape)}, input_size={tuple(input_size)}"
        )
    for axis, (k, n) in enumerate(zip(kernel_shape[:rank], input_size)):
        if k > n:
            raise ValueError(
                f"The kernel's spatial size {k} on axis {axis} exceeds the input size {n}: the circular convolution "
                f"is only defined for kernels no larger than the input. Received: kernel.shape={tuple(kernel_shape)}, "
                f"input_size={tuple(input_size)}"
            )


def conv_transfer_matrices(kernel, input_size):
    """The per-frequency channel matrices `P(w)` of a circular convolution (Sedghi et al. 2019, Theorem 6).

    Args:
        kernel: a Keras convolution kernel of shape `spatial + (c_in, c_out)` (Conv1D, Conv2D or Conv3D).
        input_size: the input's spatial size, a tuple of ints with one entry per spatial axis of the kernel.

    Returns:
        `(real, imag)`: two float tensors of shape `(prod(input_size), c_in, c_out)`.

    Example:

    >>> real, imag = conv_transfer_matrices(conv.kernel, input_size=(8, 8))
    """
    input_size = tuple(int(n) for n in input_size)
    kernel = ops.convert_to_tensor(kernel)
    _check_input_size(tuple(kernel.shape), input_size)
    rank = len(input_size)
    # (spatial..., c_in, c_out) -> (c_in, c_out, spatial...), zero-padded to the input size.
    real = ops.transpose(kernel, (rank, rank + 1) + tuple(range(rank)))
    padding = [(0, 0), (0, 0)] + [(0, n - k) for k, n in zip(kernel.shape[:rank], input_size)]
    real = ops.pad(real, padding)
    imag = ops.zeros_like(real)
    for axis in range(2, rank + 2):
        real, imag = ops.moveaxis(real, axis, -1), ops.moveaxis(imag, axis, -1)
        real, imag = ops.fft((real, imag))
        real, imag = ops.moveaxis(real, -1, axis), ops.moveaxis(imag, -1, axis)
    shape = (math.prod(input_size), kernel.shape[rank], kernel.shape[rank + 1])
    real = ops.reshape(ops.transpose(real, tuple(range(2, rank + 2)) + (0, 1)), shape)
    imag = ops.reshape(ops.transpose(imag, tuple(range(2, rank + 2)) + (0, 1)), shape)
    return real, imag


def conv_singular_values(kernel, input_size):
    """All singular values of the circular convolution by `kernel` on inputs of spatial size `input_size`.

    Args:
        kernel: a Keras convolution kernel of shape `spatial + (c_in, c_out)`.
        input_size: the input's spatial size, a tuple of ints.

    Returns:
        A tensor of shape `(prod(input_size), min(c_in, c_out))`: for each frequency, the singular values of its
        transfer matrix in decreasing order. Computed in float32 (float64 stays float64).

    Example:

    >>> conv_singular_values(conv.kernel, input_size=(8, 8)).shape  # (64, min(c_in, c_out))
    """
    kernel = ops.convert_to_tensor(kernel)
    if keras.backend.standardize_dtype(kernel.dtype) != "float64":
        kernel = ops.cast(kernel, "float32")
    real, imag = conv_transfer_matrices(kernel, input_size)
    top = ops.concatenate([real, -imag], axis=-1)
    bottom = ops.concatenate([imag, real], axis=-1)
    block = ops.concatenate([top, bottom], axis=-2)
    values = ops.svd(block, compute_uv=False)  # each singular value of P(w) appears twice, sorted decreasingly
    return values[..., ::2]


def conv_spectral_norm(kernel, input_size):
    """The exact spectral norm (largest singular value) of the circular convolution by `kernel`.

    Args:
        kernel: a Keras convolution kernel of shape `spatial + (c_in, c_out)`.
        input_size: the input's spatial size, a tuple of ints.

    Returns:
        A scalar tensor (float32, or float64 for a float64 kernel).

    Example:

    >>> conv_spectral_norm(conv.kernel, input_size=(8, 8))
    """
    return ops.max(conv_singular_values(kernel, input_size))
