"""Spectral normalization as a reparametrization: the wrapped layer computes with `W / sigma(W)`.

Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral normalization for generative adversarial networks" (ICLR):
`W_SN = W / sigma(W)`, with `sigma` estimated by one power iteration per training step on persistent vectors `u`,
`v`, and the gradient taken through `sigma` (their equation 12: `d sigma / d W = u v^T`), as PyTorch's
`torch.nn.utils.parametrizations.spectral_norm` does.
"""

import copy

import keras
from keras import ops

from kreg import validation
from kreg.layers.kernel_swap import call_with_kernel, kernel_of
from kreg.ops.power_iteration import as_matrix, l2_normalize, power_iteration, start_vector


@keras.saving.register_keras_serializable(package="kreg")
class SpectralNormalization(keras.layers.Wrapper):
    """Wraps a layer with a `kernel` so that it computes with `kernel / sigma(kernel)`, differentiably.

    The wrapped layer's trainable kernel `W` stays unnormalized; every call computes `W / sigma` (with `W` reshaped
    to `(prod(other axes), units)` for `sigma`) and runs the wrapped layer with it, so the gradient reaches `W`
    through both the numerator and `sigma` (Miyato et al. 2018, eq. 12). Keras's own
    `keras.layers.SpectralNormalization` instead assigns `W / sigma` into the kernel and stops the gradient through
    `sigma`.

    The power-iteration vectors `u` and `v` are non-trainable weights of this wrapper, warm-started at build with
    the exact leading singular vectors of the initial kernel (PyTorch runs 15 power iterations instead), and updated
    by `power_iterations` iterations at each training call only; at inference (`training=False`) they are read,
    not updated, and `sigma = u^T W v`. Every trainer threads them like any non-trainable weight (e.g. batch-norm
    statistics), including JAX's jitted stateless step.

    Args:
        layer: a Keras layer with a `kernel` weight whose last axis holds the output units (`Dense`, `Conv1D/2D/3D`).
        power_iterations: power iterations per training call, an integer >= 1.
        epsilon: guard against division by zero, a positive float.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = kreg.layers.SpectralNormalization(keras.layers.Dense(64))
    >>> y = layer(x, training=True)

    Reference: Miyato et al. 2018, "Spectral normalization for generative adversarial networks".
    """

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise validation.invalid("layer", "a `keras.layers.Layer` instance", layer)
        super().__init__(layer, **kwargs)
        self.power_iterations = validation.check_int("power_iterations", power_iterations, low=1)
        self.epsilon = validation.check_float("epsilon", epsilon, low=0.0, low_inclusive=False)
        # The wrapper computes `W / sigma` in the variable dtype (float32 under mixed precision); the wrapped
        # layer casts its inputs and the normalized kernel to its own compute dtype.
        self.autocast = False

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = kernel_of(self, self.layer)
        rows, units = as_matrix(ops.zeros(kernel.shape, "float32")).shape
        # `autocast=False`: read in float32 under mixed precision even where Keras opens an autocast scope despite
        # the wrapper's `autocast = False` (a wrapper called on its own, outside a model).
        self.u = self.add_weight(
            shape=(rows,), initializer="zeros", trainable=False, name="u", dtype="float32", autocast=False
        )
        self.v = self.add_weight(
            shape=(units,), initializer="zeros", trainable=False, name="v", dtype="float32", autocast=False
        )
        # Warm start: the exact leading singular vectors of the initial kernel (one SVD).
        left, _, right = ops.svd(as_matrix(ops.cast(kernel.value, "float32")), full_matrices=False)
        self.u.assign(left[:, 0])
        self.v.assign(right[0, :])
        self.built = True

    def normalized_kernel(self, training=False):
        """`W / sigma(W)` in float32, updating `u` and `v` when `training` is true."""
        kernel = self.layer.kernel
        matrix = as_matrix(ops.cast(kernel.value, "float32"))
        if training:
            u = self.u.value
            # A vector that collapsed to zero (a zero kernel) restarts from a fixed start vector.
            start = ops.convert_to_tensor(start_vector(u.shape[0]))
            u = ops.where(ops.sum(ops.square(u)) > ops.cast(self.epsilon, u.dtype), u, start)
            sigma, u, v = power_iteration(matrix, u, self.power_iterations, self.epsilon)
            self.u.assign(u)
            self.v.assign(v)
        else:
            u = ops.stop_gradient(self.u.value)
            v = ops.stop_gradient(l2_normalize(self.v.value, self.epsilon))
            sigma = ops.abs(ops.sum(u * ops.matmul(matrix, v)))
        sigma = ops.maximum(sigma, ops.cast(self.epsilon, sigma.dtype))
        return ops.cast(kernel.value, "float32") / sigma

    def call(self, inputs, training=False):
        normalized = self.normalized_kernel(training=bool(training) if training is not None else False)
        # Run the wrapped layer with `W / sigma` in place of `W`; the gradient flows to `W` through it.
        return call_with_kernel(self, self.layer, normalized, inputs, training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"power_iterations": self.power_iterations, "epsilon": self.epsilon})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # `keras.layers.Wrapper.from_config` pops "layer" from the dict it receives: work on a copy.
        return super().from_config(copy.deepcopy(config), custom_objects=custom_objects)
