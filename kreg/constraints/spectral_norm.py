"""Spectral-norm constraint: after each update, the kernel's largest singular value is at most `max_value`.

References:
    Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral normalization for generative adversarial networks" (ICLR):
    the power iteration whose vector persists across training steps, so one iteration per step is enough.
    Sedghi, Gupta & Long 2019, "The singular values of convolutional layers" (ICLR): the exact spectral norm of a
    convolution operator by the FFT (`mode="conv"`).

Where the power-iteration vector lives
--------------------------------------
A Keras constraint has no weights, and Keras applies it inside the optimizer step (`optimizer.apply`, or
`optimizer.stateless_apply` in the JAX trainer). In the JAX trainer, the only state threaded through that step is
the model's trainable variables and the optimizer's variables. A vector kept anywhere else is lost: a loose
`keras.Variable` is read as a constant frozen into the jitted step and its assignments are dropped; a non-trainable
weight of the layer is threaded through the forward pass only, and its value is detached from the variable during
`fit`, so the optimizer step cannot even read it. So the vector `u` of each constrained kernel is an optimizer
variable, created by `attach_state(model)` after `compile` (warm-started there with the exact leading singular
vector of the current kernel, by one SVD), and updated by one assignment per step on every backend: TensorFlow and
PyTorch assign it in place, JAX threads it with the rest of the optimizer state.

Without `attach_state`, or when called on a plain tensor, the constraint computes the exact largest singular value
(`keras.ops.svd`) instead: always correct, but an SVD per kernel per step.
"""

import math
import warnings

import keras
import numpy as np
from keras import ops

from kreg import validation
from kreg.ops.conv_spectrum import conv_spectral_norm
from kreg.ops.power_iteration import as_matrix, power_iteration


@keras.saving.register_keras_serializable(package="kreg")
class SpectralNorm(keras.constraints.Constraint):
    """Scales a kernel by `max_value / sigma` whenever its largest singular value `sigma` exceeds `max_value`.

    The kernel keeps its direction (Miyato et al.'s `W / sigma`, applied only outside the ball; the Frobenius-nearest
    point of the ball would instead clip every singular value above `max_value`): a kernel already inside the ball
    is returned unchanged, and the projection is idempotent.

    `mode="matrix"` measures the kernel reshaped to `(prod(other axes), units)`, as in Miyato et al. 2018. Its
    `sigma` comes from a power iteration whose vector persists across steps in the optimizer's state; call
    `kreg.constraints.attach_state(model)` once after `compile` to create it. A power-iteration estimate never
    exceeds the true `sigma`; with the vector kept across steps it converges to it as training proceeds.

    `mode="conv"` measures the convolution operator itself (circular padding, stride 1) on inputs of spatial size
    `input_size`, exactly, by the FFT method of Sedghi et al. 2019. It needs no state.

    Args:
        max_value: the largest allowed singular value, a positive float.
        power_iterations: power iterations per training step in `"matrix"` mode (an integer >= 1; Miyato et al.
            use 1).
        mode: `"matrix"` (the reshaped kernel) or `"conv"` (the exact convolution operator).
        input_size: for `"conv"` mode, the input's spatial size: a list of positive integers, one per spatial axis
            of the kernel (e.g. `[32, 32]` for a `Conv2D` on 32x32 images). Must be `None` in `"matrix"` mode.
        epsilon: guard against division by zero in the power iteration, a positive float.

    Example:

    >>> model = keras.Sequential([keras.Input((16,)),
    ...                           keras.layers.Dense(32, kernel_constraint=kreg.constraints.SpectralNorm(1.0))])
    >>> model.compile("adam", "mse")
    >>> kreg.constraints.attach_state(model)  # the persistent power-iteration vectors, in the optimizer
    >>> model.fit(x, y)

    Reference: Miyato et al. 2018, "Spectral normalization for generative adversarial networks"; Sedghi et al. 2019,
    "The singular values of convolutional layers".
    """

    def __init__(
        self,
        max_value=1.0,
        power_iterations=1,
        mode="matrix",
        input_size=None,
        epsilon=1e-12,
    ):
        self.max_value = validation.check_float("max_value", max_value, low=0.0, low_inclusive=False)
        self.power_iterations = validation.check_int("power_iterations", power_iterations, low=1)
        self.mode = validation.check_choice("mode", mode, ("matrix", "conv"))
        self.input_size = _check_input_size(input_size, self.mode)
        self.epsilon = validation.check_float("epsilon", epsilon, low=0.0, low_inclusive=False)
        # id(kernel variable) -> (kernel variable, u variable, optimizer). Filled by `attach_state`.
        self._states = {}
        self._warned_stateless = False

    # State ---------------------------------------------------------------------------------------------------

    def state_for(self, variable):
        """The persistent power-iteration vector attached to `variable` by `attach_state`, or `None`."""
        entry = self._states.get(id(variable))
        if entry is None or entry[0] is not variable:
            return None
        return entry[1]

    def _attach(self, variable, optimizer):
        """Creates the vector of `variable` in `optimizer`'s state, warm-started exactly on its current value."""
        entry = self._states.get(id(variable))
        if entry is not None and entry[0] is variable and entry[2] is optimizer:
            return None
        matrix = as_matrix(ops.cast(ops.convert_to_tensor(variable), "float32"))
        u = _leading_left_vector(matrix)
        name = "spectral_norm_u_" + variable.path.replace("/", "_")
        u_variable = optimizer.add_variable(shape=(matrix.shape[0],), initializer="zeros", dtype="float32", name=name)
        u_variable.assign(u)
        self._states[id(variable)] = (variable, u_variable, optimizer)
        return u_variable

    # Projection ----------------------------------------------------------------------------------------------

    def sigma(self, w):
        """The largest singular value this constraint measures for `w`, updating `w`'s persistent vector if any.

        Args:
            w: the kernel (a `keras.Variable` or a tensor).

        Returns:
            A float32 scalar (float64 for a float64 kernel).
        """
        value = ops.convert_to_tensor(w)
        value = value if _is_float64(value) else ops.cast(value, "float32")
        # Measured on `w / max|w|`, then scaled back: no overflow of the squares for huge kernels (a diverging fit).
        magnitude = ops.max(ops.abs(value))
        magnitude = ops.where(magnitude > 0, magnitude, ops.ones_like(magnitude))
        value = value / magnitude
        if self.mode == "conv":
            return conv_spectral_norm(value, self.input_size) * magnitude
        matrix = as_matrix(value)
        u_variable = self.state_for(w)
        if u_variable is None:
            if isinstance(w, keras.Variable) and not self._warned_stateless:
                self._warned_stateless = True
                warnings.warn(
                    "SpectralNorm(mode='matrix') has no persistent power-iteration vector for kernel "
                    f"{w.path!r} and computes an exact SVD at every step instead. Call "
                    "`kreg.constraints.attach_state(model)` after `compile` for the one-iteration-per-step estimate.",
                    UserWarning,
                    stacklevel=2,
                )
            return ops.max(ops.svd(matrix, compute_uv=False)) * magnitude
        u = ops.cast(u_variable, matrix.dtype)
        # A vector that collapsed to zero (a zero kernel) restarts from the fixed start vector.
        start = ops.cast(start_vector(matrix.shape[0]), matrix.dtype)
        u = ops.where(ops.sum(ops.square(u)) > ops.cast(self.epsilon, matrix.dtype), u, start)
        sigma, u, _ = power_iteration(matrix, u, self.power_iterations, self.epsilon)
        u_variable.assign(ops.cast(u, "float32"))
        return sigma * magnitude

    def __call__(self, w):
        sigma = self.sigma(w)
        value = ops.convert_to_tensor(w)
        sigma = ops.cast(sigma, "float64" if _is_float64(value) else "float32")
        max_value = ops.cast(self.max_value, sigma.dtype)
        # `where` rather than `maximum`: keras.ops.maximum of two 0-d float64 tensors rounds to float32 on torch.
        scale = max_value / ops.where(sigma > max_value, sigma, max_value)
        return ops.cast(ops.cast(value, sigma.dtype) * scale, value.dtype)

    def get_config(self):
        return {
            "max_value": self.max_value,
            "power_iterations": self.power_iterations,
            "mode": self.mode,
            "input_size": None if self.input_size is None else list(self.input_size),
            "epsilon": self.epsilon,
        }


def _is_float64(x):
    return keras.backend.standardize_dtype(x.dtype) == "float64"


def _leading_left_vector(matrix):
    """The exact leading left singular vector of `matrix` (`keras.ops.svd`), or the start vector for a zero matrix."""
    left, values, _ = ops.svd(matrix, full_matrices=False)
    start = ops.convert_to_tensor(start_vector(matrix.shape[0]))
    return ops.where(values[0] > 0, left[:, 0], start)


def start_vector(size):
    """A fixed unit vector of length `size`, entries of both signs (a seeded Gaussian draw), as a NumPy array.

    Deterministic, so a constraint traced several times starts from the same vector, and almost surely not
    orthogonal to the leading singular vector (a constant vector would be for kernels whose rows sum to zero).
    """
    vector = np.random.default_rng(20180216).standard_normal(size).astype("float32")
    return vector / np.linalg.norm(vector)


def _check_input_size(input_size, mode):
    expected = "a list of 1 to 3 positive integers (the input's spatial size)"
    if mode == "matrix":
        if input_size is not None:
            raise validation.invalid(
                "input_size", "None when mode='matrix' (it is only used by mode='conv')", input_size
            )
        return None
    if input_size is None:
        raise validation.invalid("input_size", expected + " when mode='conv'", input_size)
    if (
        not isinstance(input_size, (list, tuple))
        or not 1 <= len(input_size) <= 3
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in input_size)
    ):
        raise validation.invalid("input_size", expected, input_size)
    return tuple(int(n) for n in input_size)


def spectral_norm_constraints(variable):
    """The `SpectralNorm` constraints of `variable`, following wrappers that keep the original in `.constraint`."""
    found = []
    constraint = getattr(variable, "constraint", None)
    seen = set()
    while constraint is not None and id(constraint) not in seen:
        seen.add(id(constraint))
        if isinstance(constraint, SpectralNorm):
            found.append(constraint)
        constraint = getattr(constraint, "constraint", None)
    return found


def attach_state(model):
    """Creates the persistent power-iteration vectors of every `SpectralNorm(mode="matrix")` kernel of `model`.

    Each vector is an optimizer variable (so every trainer, including JAX's stateless jitted step, carries it from
    step to step), warm-started with the exact leading left singular vector of the kernel's current value (one
    SVD). Call it once after `model.compile`; calling it again is a no-op for kernels that already have a vector in
    the current optimizer, and creates new ones after a re-`compile` with a new optimizer. A train function traced
    before is re-traced.

    Note that the vectors are saved with the optimizer's state: a `.keras` file written after `attach_state`
    restores its optimizer state into a model on which `attach_state` was called before the weights are loaded
    (`model.load_weights`); `keras.saving.load_model` warns and starts the optimizer afresh.

    Args:
        model: a compiled `keras.Model`.

    Returns:
        The list of vectors created (empty if none was needed).

    Example:

    >>> model.compile("adam", "mse")
    >>> kreg.constraints.attach_state(model)
    >>> model.fit(x, y)
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError("attach_state needs a compiled model: call `model.compile(optimizer=...)` first.")
    # A loss-scale optimizer threads its inner optimizer's variables through the inner optimizer's own step.
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    created = []
    for variable in model.trainable_variables:
        for constraint in spectral_norm_constraints(variable):
            if constraint.mode == "matrix" and math.prod(variable.shape) > 0:
                u = constraint._attach(variable, inner)
                if u is not None:
                    created.append(u)
    if created and getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
    return created
