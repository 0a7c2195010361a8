"""Power iteration for the largest singular value of a matrix (Golub & Van Loan, "Matrix Computations", 8.2).

Shared by the spectral-norm constraint, the SRIP orthogonality penalty and the regularization report. The vector
`u` is returned so callers can keep it across training steps (Miyato et al. 2018: one iteration per step converges
because the weights change slowly).
"""

import numpy as np
from keras import ops


def as_matrix(kernel):
    """Reshapes a kernel of any rank to `(prod(other axes), units)`: the last axis holds the output units."""
    shape = ops.shape(kernel)
    if len(shape) == 0:
        return ops.reshape(kernel, (1, 1))
    if len(shape) == 1:
        return ops.reshape(kernel, (-1, 1))
    return ops.reshape(kernel, (-1, shape[-1]))


def l2_normalize(x, epsilon=1e-12):
    """`x / max(||x||, epsilon)`, finite for a zero vector."""
    norm = ops.sqrt(ops.sum(ops.square(x)))
    epsilon = ops.cast(epsilon, x.dtype)
    # `where` rather than `maximum`: keras.ops.maximum of two 0-d float64 tensors rounds to float32 on torch.
    return x / ops.where(norm > epsilon, norm, epsilon)


def power_iteration(matrix, u, iterations=1, epsilon=1e-12):
    """Estimates the largest singular value of a 2-D `matrix` of shape `(m, n)`.

    Args:
        matrix: a rank-2 tensor.
        u: the current estimate of the leading left singular vector, shape `(m,)` (any non-zero start works; a
            random one is customary).
        iterations: number of power iterations (a Python int >= 1).
        epsilon: guard against division by zero for a zero matrix.

    Returns:
        `(sigma, u, v)`: the estimate `u^T A v` (non-negative), and the updated unit vectors of shapes `(m,)`,
        `(n,)`. Gradients do not flow through `u` and `v` (they are stopped), only through `matrix` in `sigma`.

    Example:

    >>> sigma, u, v = power_iteration(w, u, iterations=1)
    """
    u = ops.stop_gradient(ops.cast(u, matrix.dtype))
    v = None
    for _ in range(iterations):
        v = l2_normalize(ops.matmul(u, matrix), epsilon)
        u = l2_normalize(ops.matmul(matrix, v), epsilon)
    u = ops.stop_gradient(u)
    v = ops.stop_gradient(v)
    sigma = ops.sum(u * ops.matmul(matrix, v))
    return ops.abs(sigma), u, v


def start_vector(size):
    """A fixed unit vector of length `size`, entries of both signs (a seeded Gaussian draw), as a NumPy array.

    Deterministic, so a power iteration traced several times starts from the same vector, and almost surely not
    orthogonal to the leading singular vector (a constant vector would be for kernels whose rows sum to zero).
    """
    vector = np.random.default_rng(20180216).standard_normal(size).astype("float32")
    return vector / np.linalg.norm(vector)
