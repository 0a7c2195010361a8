"""Wrappers that perturb a layer's kernel in training: `WeightNoise` (Gaussian) and `DropConnect` (dropped entries).

Both run the wrapped layer with a replaced kernel through `keras.StatelessScope`, the technique of
`kreg.layers.SpectralNormalization`: the kernel variable is mapped to the perturbed tensor for the length of one call,
so the wrapped layer computes with it and the gradient reaches the kernel through it; the variable itself is never
overwritten. At inference (or with a strength of 0) the wrapped layer runs as it is. The perturbations are the pure
functions of `kreg.ops.noise`.

References: Wan, Zeiler, Zhang, LeCun & Fergus 2013, "Regularization of neural networks using DropConnect" (ICML);
Graves 2011, "Practical variational inference for neural networks" (NeurIPS); An 1996, "The effects of adding
noise during backpropagation training on a generalization performance" (Neural Computation 8(3)).
"""

import copy

import keras

from kreg import schedules, validation
from kreg.layers.kernel_swap import call_with_kernel
from kreg.layers.scheduled_layer import ScheduledLayer, is_zero
from kreg.ops import noise

_KERNEL_LAYER = "a layer with a `kernel` weight (Dense, EinsumDense, Conv1D/2D/3D, ...)"


def _non_negative(name, value):
    return validation.check_float(name, value, low=0.0)


def _rate(name, value):
    return validation.check_float(name, value, low=0.0, high=1.0, high_inclusive=False)


def _schedule_values(schedule):
    """The values a kreg schedule takes (its extremes), or `None` for a schedule kreg cannot inspect."""
    if isinstance(schedule, (schedules.Linear, schedules.Cosine)):
        return [schedule.start, schedule.end]
    if isinstance(schedule, schedules.Step):
        return list(schedule.values)
    if isinstance(schedule, schedules.Constant):
        return [schedule.constant]
    return None


class _KernelWrapper(ScheduledLayer, keras.layers.Wrapper):
    """Runs the wrapped layer with `perturb(kernel)` in place of its kernel in training (one scheduled parameter)."""

    PARAMETER = None

    def __init__(self, layer, value, check, seed=None, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise validation.invalid("layer", "a `keras.layers.Layer` instance", layer)
        if layer.built:
            self._kernel_of(layer)
        super().__init__(layer=layer, seed=seed, **kwargs)
        setattr(self, self.PARAMETER, self.scheduled_parameter(self.PARAMETER, value, check))
        # The kernel is perturbed in its own (variable) dtype, float32 under mixed precision; the wrapped layer
        # casts its inputs and the perturbed kernel to its compute dtype.
        self.autocast = False

    @staticmethod
    def _kernel_of(layer):
        kernel = getattr(layer, "kernel", None)  # `Dense.kernel` raises AttributeError before build
        if not isinstance(kernel, keras.Variable):
            raise validation.invalid("layer", _KERNEL_LAYER, layer)
        return kernel

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        self._kernel_of(self.layer)
        self.built = True

    def perturbed_kernel(self, training=True):
        """The kernel the wrapped layer computes with: perturbed when `training` (drawing new noise), else itself.

        Does not advance the step; reads the parameter's current value.
        """
        kernel = self.layer.kernel
        if not training or is_zero(self._rate_parameters[self.PARAMETER]):
            return kernel.value
        return self.perturb(kernel.value, self.current(self.PARAMETER))

    def perturb(self, kernel, value):
        raise NotImplementedError

    def call(self, inputs, training=False):
        if not training or is_zero(self._rate_parameters[self.PARAMETER]):
            return self.layer(inputs, training=training)
        perturbed = self.perturbed_kernel(training=True)
        self.advance(training)
        # The wrapped layer computes with the perturbed kernel; the gradient flows to the kernel through it.
        return call_with_kernel(self, self.layer, perturbed, inputs, training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # `keras.layers.Wrapper.from_config` pops "layer" from the dict it receives: work on a copy.
        return super().from_config(copy.deepcopy(config), custom_objects=custom_objects)


@keras.saving.register_keras_serializable(package="kreg")
class WeightNoise(_KernelWrapper):
    """Adds Gaussian noise of standard deviation `stddev` to the wrapped layer's kernel in training only.

    Each training call draws new noise `N` and runs the wrapped layer with `kernel + stddev * N` (the bias and any
    other weight unchanged); the gradient reaches the kernel through the noisy kernel. At inference the wrapped
    layer's plain output. The kernel variable is never overwritten.

    Args:
        layer: a Keras layer with a `kernel` weight (`Dense`, `EinsumDense`, `Conv1D/2D/3D`, ...).
        stddev: standard deviation of the weight noise, a non-negative float, or a schedule (`kreg.schedules` or any
            `keras.optimizers.schedules.LearningRateSchedule`) of the wrapper's training step.
        seed: an integer seed for the wrapper's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = kreg.layers.WeightNoise(keras.layers.Dense(64), stddev=0.01)
    >>> annealed = kreg.layers.WeightNoise(keras.layers.Conv2D(32, 3), kreg.schedules.Linear(0.05, 0.0, steps=2000))

    Reference: An 1996, "The effects of adding noise during backpropagation training on a generalization
    performance"; Graves 2011, "Practical variational inference for neural networks".
    """

    PARAMETER = "stddev"

    def __init__(self, layer, stddev, seed=None, **kwargs):
        super().__init__(layer, stddev, _non_negative, seed=seed, **kwargs)

    def perturb(self, kernel, value):
        return noise.gaussian_noise(kernel, value, training=True, seed=self.seed_generator)


@keras.saving.register_keras_serializable(package="kreg")
class DropConnect(_KernelWrapper):
    """Drops individual entries of the wrapped layer's kernel in training, the kept ones scaled by `1 / (1 - rate)`.

    Each training call draws a new mask (one per call, shared by the batch) and runs the wrapped layer with
    `(kernel * mask) / (1 - rate)`: every entry of the effective kernel is exactly 0 or `kernel / keep`, and
    the gradient reaches the kept entries only. At inference the wrapped layer's plain output (the mean of the
    training-time kernel; Wan et al. use a moment-matched Gaussian at inference instead). The bias is not dropped.

    Args:
        layer: a Keras layer with a `kernel` weight (`Dense`, `EinsumDense`, `Conv1D/2D/3D`, ...).
        rate: drop probability of each kernel entry, a float in [0, 1), or a schedule of the wrapper's training step
            (a kreg schedule's values are checked in [0, 1); any other schedule's value is clipped to [0, 1) at run
            time).
        seed: an integer seed for the wrapper's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = kreg.layers.DropConnect(keras.layers.Dense(128), rate=0.5)
    >>> warmed_up = kreg.layers.DropConnect(keras.layers.Dense(128), kreg.schedules.Linear(0.0, 0.5, steps=1000))

    Reference: Wan, Zeiler, Zhang, LeCun & Fergus 2013, "Regularization of neural networks using DropConnect".
    """

    PARAMETER = "rate"

    def __init__(self, layer, rate, seed=None, **kwargs):
        super().__init__(layer, rate, _rate, seed=seed, **kwargs)
        values = _schedule_values(self._rate_parameters["rate"])
        if values is not None and not all(0.0 <= v < 1.0 for v in values):
            raise validation.invalid("rate", "a float in [0, 1) or a schedule with values in [0, 1)", rate)

    def perturb(self, kernel, value):
        return noise.drop_connect(kernel, value, training=True, seed=self.seed_generator)


__all__ = ["DropConnect", "WeightNoise"]
