"""Noise layers for activations or inputs: `GaussianNoise`, `MultiplicativeNoise`, `UniformNoise`.

Each layer is thin over its pure function in `kreg.ops.noise`: it stores its setting (a number, or a schedule of the
training step), owns one `keras.random.SeedGenerator`, and returns its input itself at inference. The math and its
references are in `kreg/ops/noise.py`.

References: Bishop 1995, "Training with noise is equivalent to Tikhonov regularization" (Neural Computation 7(1));
Srivastava et al. 2014, "Dropout: a simple way to prevent neural networks from overfitting" (JMLR 15), section 10;
An 1996, "The effects of adding noise during backpropagation training on a generalization performance".
"""

import keras

from kreg import validation
from kreg.layers.scheduled_layer import ScheduledLayer, is_zero
from kreg.ops import noise


def _non_negative(name, value):
    return validation.check_float(name, value, low=0.0)


class _NoiseLayer(ScheduledLayer):
    """An element-wise noise layer with one scheduled strength, `PARAMETER`, applied by `FUNCTION` in training."""

    PARAMETER = None
    FUNCTION = None

    def __init__(self, value, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.supports_masking = True
        setattr(self, self.PARAMETER, self.scheduled_parameter(self.PARAMETER, value, _non_negative))

    def call(self, inputs, training=False):
        value = self._rate_parameters[self.PARAMETER]
        if not training or is_zero(value):
            return inputs
        outputs = type(self).FUNCTION(inputs, self.current(self.PARAMETER), training=True, seed=self.seed_generator)
        self.advance(training)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="kreg")
class GaussianNoise(_NoiseLayer):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` in training; the input itself at inference.

    Works on inputs of any rank (the noise is drawn element by element). `stddev` may follow the training step:
    pass a schedule, e.g. `GaussianNoise(kreg.schedules.Linear(0.1, 0.0, steps=1000))` anneals the noise to zero
    over the first 1000 training steps.

    Args:
        stddev: standard deviation of the noise, a non-negative float, or a schedule (`kreg.schedules` or any
            `keras.optimizers.schedules.LearningRateSchedule`) of the layer's training step.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> model = keras.Sequential([keras.Input((20,)), kreg.layers.GaussianNoise(0.1), keras.layers.Dense(1)])
    >>> annealed = kreg.layers.GaussianNoise(kreg.schedules.Linear(0.1, 0.0, steps=1000))

    Reference: Bishop 1995, "Training with noise is equivalent to Tikhonov regularization"; Srivastava et al.
    2014, "Dropout: a simple way to prevent neural networks from overfitting", section 10.
    """

    PARAMETER = "stddev"
    FUNCTION = noise.gaussian_noise

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(stddev, seed=seed, **kwargs)


@keras.saving.register_keras_serializable(package="kreg")
class MultiplicativeNoise(_NoiseLayer):
    """Multiplies its input by Gaussian noise of mean 1 and standard deviation `stddev` in training.

    `y = x * (1 + stddev * N(0, 1))`, element by element, on inputs of any rank; the input itself at inference.
    (Keras's `GaussianDropout(rate)` is the same with `stddev = sqrt(rate / (1 - rate))`.)

    Args:
        stddev: standard deviation of the multiplicative factor, a non-negative float, or a schedule of the layer's
            training step.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = kreg.layers.MultiplicativeNoise(0.3)
    >>> y = layer(x, training=True)

    Reference: Srivastava et al. 2014, "Dropout: a simple way to prevent neural networks from overfitting",
    section 10 (multiplicative Gaussian noise).
    """

    PARAMETER = "stddev"
    FUNCTION = noise.multiplicative_noise

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(stddev, seed=seed, **kwargs)


@keras.saving.register_keras_serializable(package="kreg")
class UniformNoise(_NoiseLayer):
    """Adds noise drawn uniformly from `[-scale, scale)` in training; the input itself at inference.

    The noise has standard deviation `scale / sqrt(3)`; it is drawn element by element on inputs of any rank.

    Args:
        scale: half-width of the noise interval, a non-negative float, or a schedule of the layer's training step.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = kreg.layers.UniformNoise(0.05)
    >>> y = layer(x, training=True)

    Reference: An 1996, "The effects of adding noise during backpropagation training on a generalization
    performance"; Bishop 1995, "Training with noise is equivalent to Tikhonov regularization".
    """

    PARAMETER = "scale"
    FUNCTION = noise.uniform_noise

    def __init__(self, scale, seed=None, **kwargs):
        super().__init__(scale, seed=seed, **kwargs)


__all__ = ["GaussianNoise", "MultiplicativeNoise", "UniformNoise"]
