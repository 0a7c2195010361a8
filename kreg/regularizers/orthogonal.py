"""Orthogonality penalties for kernels of any rank: SO, DSO and SRIP.

Reference: Bansal, Chen & Wang 2018, "Can we gain more from orthogonality regularizations in training deep CNNs?"
(NeurIPS 2018): soft orthogonality (SO), double soft orthogonality (DSO) and spectral restricted isometry (SRIP).
"""

import math

import keras
import numpy as np
from keras import ops

from kreg import schedules, validation
from kreg.ops.power_iteration import as_matrix, power_iteration
from kreg.regularizers.base import Regularizer, as_penalty_input

MODES = ("so", "dso", "srip")


def _gram_residual(matrix, transpose):
    """`W^T W - I` (or `W W^T - I` when `transpose`)."""
    gram = ops.matmul(matrix, ops.transpose(matrix)) if transpose else ops.matmul(ops.transpose(matrix), matrix)
    return gram - ops.eye(ops.shape(gram)[0], dtype=matrix.dtype)


def start_vector(size, dtype="float32"):
    """The fixed start vector of SRIP's power iteration: a unit Gaussian vector drawn with seed `size`.

    Fixed (not a variable) so that the penalty is a pure function of the weight on every backend and under `jit`;
    a random vector is orthogonal to the leading singular vector with probability 0.
    """
    vector = np.random.default_rng(size).standard_normal(size)
    return ops.convert_to_tensor((vector / np.linalg.norm(vector)).astype(dtype))


def largest_singular_value(matrix, iterations):
    """The largest singular value of a square `matrix`, by power iteration accelerated by repeated squaring.

    `ceil(log2(iterations))` squarings of the (gradient-stopped, normalized) matrix give `P = matrix^(2^k)`, whose
    leading singular vectors are those of `matrix`; one power iteration on `P` from a fixed start vector
    (`kreg.ops.power_iteration`) then finds them as `2^k` power iterations on `matrix` would, with `k` matrix
    products instead of `2^k` matrix-vector products (much fewer kernel launches, the cost that dominates on small
    matrices). The value `||matrix u||` carries the gradient through `matrix` only.
    """
    power = ops.stop_gradient(matrix)
    for _ in range(max(math.ceil(math.log2(iterations)), 0)):
        power = ops.matmul(power, power)
        power = power / ops.maximum(ops.max(ops.abs(power)), ops.cast(1e-30, power.dtype))
    start = start_vector(int(ops.shape(matrix)[0]), keras.backend.standardize_dtype(matrix.dtype))
    # `P` is symmetric positive semi-definite (an even power of a symmetric matrix), so its left singular vector
    # `u`, which has seen `P` twice, is also the right one: the best of the two estimates.
    _, u, _ = power_iteration(power, start, 1)
    return ops.sqrt(ops.sum(ops.square(ops.matmul(matrix, u))))


@keras.saving.register_keras_serializable(package="kreg")
class Orthogonal(Regularizer):
    """Orthogonality penalty on a kernel reshaped to a matrix `W` of shape `(prod(other axes), units)`.

    - `mode="so"` (soft orthogonality): `factor * ||W^T W - I||_F^2`.
    - `mode="dso"` (double soft orthogonality): `factor * (||W^T W - I||_F^2 + ||W W^T - I||_F^2)`, which also
      covers kernels with more units than inputs.
    - `mode="srip"` (spectral restricted isometry): `factor * sigma_max(W^T W - I)^2`, the largest singular value
      estimated by power iteration (`iterations` of them, run as `ceil(log2(iterations))` repeated squarings,
      see `largest_singular_value`) from a fixed start vector; gradients flow through the matrix, not through the
      singular vectors. The strongest of the three in the paper.

    A Conv2D kernel of shape `(kh, kw, in, out)` becomes a `(kh * kw * in, out)` matrix: the penalty asks the
    filters to be orthonormal.

    Args:
        factor: non-negative strength, or a schedule of the training step (`kreg.schedules`).
        mode: `"so"`, `"dso"` or `"srip"`.
        iterations: effective power iterations for `"srip"` (an integer >= 1), rounded up to a power of 2; they
            cost `ceil(log2(iterations))` products of `(units, units)` matrices.

    Example:

    >>> layer = keras.layers.Conv2D(64, 3, kernel_regularizer=kreg.regularizers.Orthogonal(1e-4, mode="srip"))

    Reference: Bansal, Chen & Wang 2018, "Can we gain more from orthogonality regularizations in training deep
    CNNs?".
    """

    def __init__(self, factor=0.01, mode="so", iterations=128):
        super().__init__()
        self.factor = schedules.check_strength("factor", factor)
        self.mode = validation.check_choice("mode", mode, MODES)
        self.iterations = validation.check_int("iterations", iterations, low=1)

    def penalty(self, x, step):
        if len(ops.shape(x)) < 2:
            raise ValueError(
                f"Orthogonal needs a weight of rank >= 2 (a kernel whose last axis holds the units); received a weight "
                f"of rank {len(ops.shape(x))} (shape {tuple(ops.shape(x))}). Put it on a `kernel_regularizer`, not on "
                "a bias or an activity."
            )
        x = as_penalty_input(x)
        factor = schedules.strength_value(self.factor, step, x.dtype)
        matrix = as_matrix(x)
        if self.mode == "srip":
            sigma = largest_singular_value(_gram_residual(matrix, transpose=False), self.iterations)
            return factor * ops.square(sigma)
        penalty = ops.sum(ops.square(_gram_residual(matrix, transpose=False)))
        if self.mode == "dso":
            penalty = penalty + ops.sum(ops.square(_gram_residual(matrix, transpose=True)))
        return factor * penalty

    def get_config(self):
        return {"factor": schedules.strength_config(self.factor), "mode": self.mode, "iterations": self.iterations}
