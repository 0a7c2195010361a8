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
weight of the layer is threaded through the forward pass only. So during `fit` kreg's training binding
(`kreg.callbacks.TrainingBinding`, or any kreg callback) gives each constrained kernel a vector `u` in the optimizer's
state (`optimizer.add_variable`, warm-started with the exact leading singular vector of the current kernel by one
SVD) and puts a `BoundSpectralNorm` holding it on the variable; when `fit` ends it takes both away again, so the
saved model and optimizer hold nothing of it.

`SpectralNorm` itself is a pure constraint: called on its own (without the binding, or on a plain tensor) it
projects with the exact largest singular value (`keras.ops.svd`): always correct, but an SVD per kernel per step,
and it warns once when that happens in training.
"""

import warnings

import keras
from keras import ops

from kreg import validation
from kreg.ops.conv_spectrum import conv_spectral_norm
from kreg.ops.power_iteration import as_matrix, power_iteration, start_vector


@keras.saving.register_keras_serializable(package="kreg")
class SpectralNorm(keras.constraints.Constraint):
    """Scales a kernel by `max_value / sigma` whenever its largest singular value `sigma` exceeds `max_value`.

    The kernel keeps its direction (Miyato et al.'s `W / sigma`, applied only outside the ball; the Frobenius-nearest
    point of the ball would instead clip every singular value above `max_value`): a kernel already inside the ball
    is returned unchanged, and the projection is idempotent.

    `mode="matrix"` measures the kernel reshaped to `(prod(other axes), units)`, as in Miyato et al. 2018. During a
    `fit` with kreg's training binding (`kreg.callbacks.TrainingBinding()` or any kreg callback), its `sigma` comes
    from a power iteration whose vector persists across steps in the optimizer's state (`project`); otherwise from
    an exact SVD. A power-iteration estimate never exceeds the true `sigma`; warm-started exactly and kept across
    steps it tracks it as training proceeds.

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
    >>> model.fit(x, y, callbacks=[kreg.callbacks.TrainingBinding()])  # one power iteration per step

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
        self._warned_exact = False

    # Projection ----------------------------------------------------------------------------------------------

    def _scaled(self, w):
        """`(value / magnitude, magnitude, value)`: measured on `w / max|w|`, then scaled back, so that the squares
        of a huge kernel (a diverging fit) do not overflow."""
        value = ops.convert_to_tensor(w)
        scaled = value if _is_float64(value) else ops.cast(value, "float32")
        magnitude = ops.max(ops.abs(scaled))
        magnitude = ops.where(magnitude > 0, magnitude, ops.ones_like(magnitude))
        return scaled / magnitude, magnitude, value

    def sigma(self, w):
        """The exact largest singular value this constraint measures for `w` (an SVD, or the FFT in `"conv"` mode).

        Returns:
            A float32 scalar (float64 for a float64 kernel).
        """
        scaled, magnitude, _ = self._scaled(w)
        if self.mode == "conv":
            try:
                return conv_spectral_norm(scaled, self.input_size) * magnitude
            except ValueError as error:
                raise ValueError(
                    f"SpectralNorm(mode='conv', input_size={list(self.input_size)!r}) cannot measure a kernel of shape "
                    f"{tuple(scaled.shape)}: {error}"
                ) from error
        return ops.max(ops.svd(as_matrix(scaled), compute_uv=False)) * magnitude

    def estimate(self, w, u):
        """`(sigma, u)`: the power-iteration estimate of `w`'s largest singular value from the vector `u`, and the
        updated vector (what the binding keeps between steps). `"matrix"` mode only."""
        scaled, magnitude, _ = self._scaled(w)
        matrix = as_matrix(scaled)
        u = ops.cast(u, matrix.dtype)
        # A vector that collapsed to zero (a zero kernel) restarts from the fixed start vector.
        start = ops.cast(start_vector(matrix.shape[0]), matrix.dtype)
        u = ops.where(ops.sum(ops.square(u)) > ops.cast(self.epsilon, matrix.dtype), u, start)
        sigma, u, _ = power_iteration(matrix, u, self.power_iterations, self.epsilon)
        return sigma * magnitude, u

    def _scale(self, value, sigma):
        sigma = ops.cast(sigma, "float64" if _is_float64(value) else "float32")
        max_value = ops.cast(self.max_value, sigma.dtype)
        # `where` rather than `maximum`: keras.ops.maximum of two 0-d float64 tensors rounds to float32 on torch.
        scale = max_value / ops.where(sigma > max_value, sigma, max_value)
        return ops.cast(ops.cast(value, sigma.dtype) * scale, value.dtype)

    def project(self, w, u):
        """`(projected, u)`: the projection of `w` with the power-iteration estimate from `u`, and the new `u`."""
        sigma, u = self.estimate(w, u)
        return self._scale(ops.convert_to_tensor(w), sigma), u

    def __call__(self, w):
        if self.mode == "matrix" and isinstance(w, keras.Variable) and not self._warned_exact:
            self._warned_exact = True
            warnings.warn(
                f"SpectralNorm(mode='matrix') on kernel {w.path!r} has no persistent power-iteration vector and "
                "computes an exact SVD at every step. Pass `callbacks=[kreg.callbacks.TrainingBinding()]` (or any "
                "kreg callback) to `fit` for the one-iteration-per-step estimate.",
                UserWarning,
                stacklevel=2,
            )
        return self._scale(ops.convert_to_tensor(w), self.sigma(w))

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


def leading_left_vector(kernel):
    """The exact leading left singular vector of `kernel` as a matrix (one SVD), or the start vector for a zero one."""
    matrix = as_matrix(ops.cast(ops.convert_to_tensor(kernel), "float32"))
    left, values, _ = ops.svd(matrix, full_matrices=False)
    start = ops.convert_to_tensor(start_vector(matrix.shape[0]))
    return ops.where(values[0] > 0, left[:, 0], start)


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


@keras.saving.register_keras_serializable(package="kreg")
class BoundSpectralNorm(keras.constraints.Constraint):
    """A `SpectralNorm` with its persistent power-iteration vector: what the binding puts on a kernel during `fit`.

    Each call projects with the estimate from the vector and stores the updated vector (an optimizer variable, so
    every trainer threads it; see the module docstring). Made by `kreg.callbacks.TrainingBinding`; its config is the
    wrapped constraint's, so a model saved during `fit` loads with the user's `SpectralNorm`.

    Args:
        wrapped: a `SpectralNorm` in `"matrix"` mode.
        u: its vector, a float32 `keras.Variable` of shape `(rows of the kernel matrix,)`.
    """

    is_binding_wrapper = True

    def __init__(self, wrapped, u):
        self.wrapped = wrapped
        self.u = u

    def __call__(self, w):
        projected, u = self.wrapped.project(w, self.u.value)
        self.u.assign(ops.cast(u, "float32"))
        return projected

    def get_config(self):
        return {"constraint": keras.saving.serialize_keras_object(self.wrapped)}

    @classmethod
    def from_config(cls, config):
        return keras.saving.deserialize_keras_object(config["constraint"])
