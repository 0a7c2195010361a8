"""Noise on activations and on weights, as pure functions `fn(x, value, training, seed)` (timm's `drop.py` shape).

Each function returns `x` itself, at no cost, when `training` is false or when its strength is the Python number 0;
otherwise it draws from `seed` (an integer, a `keras.random.SeedGenerator`, or `None`) with `keras.random`. The
strength is a Python number, checked here, or a scalar tensor (a schedule's current value), used as it is.

- `gaussian_noise`: `x + stddev * N(0, 1)`, additive Gaussian noise. Bishop 1995, "Training with noise is equivalent
  to Tikhonov regularization" (Neural Computation 7(1)); Srivastava et al. 2014, "Dropout: a simple way to prevent
  neural networks from overfitting" (JMLR 15), section 10 (Gaussian noise as a dropout variant). On a kernel it is
  weight noise: An 1996, "The effects of adding noise during backpropagation training on a generalization
  performance" (Neural Computation 8(3)); Graves 2011, "Practical variational inference for neural networks".
- `multiplicative_noise`: `x * (1 + stddev * N(0, 1))`, Gaussian noise of mean 1 (Srivastava et al. 2014, section 10).
- `uniform_noise`: `x + U(-scale, scale)`, additive uniform noise (standard deviation `scale / sqrt(3)`).
- `drop_connect`: every entry of a kernel dropped with probability `rate`, the kept ones scaled by `1 / (1 - rate)`.
  Wan, Zeiler, Zhang, LeCun & Fergus 2013, "Regularization of neural networks using DropConnect" (ICML).

All of them work on tensors of any rank and shape: the noise is drawn element by element, in the dtype of `x` (the
compute dtype under mixed precision; a non-float `x` is first cast to `keras.config.floatx()`).
"""

import numbers

import keras
from keras import ops

from kreg import validation

#: Largest drop rate a tensor rate (a schedule's value) is clipped to, so `1 / (1 - rate)` stays finite.
MAX_TENSOR_RATE = 1.0 - 1e-6


def _is_number(value):
    """Anything but a tensor or array is a number to check (NumPy scalars included; a string fails the check)."""
    is_tensor = hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, numbers.Number)
    return not is_tensor


def _float_input(x):
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype:
        x = ops.cast(x, keras.config.floatx())
    return x


def _inactive(training, value):
    """Whether a function returns its input: not training, or a strength that is the Python number 0."""
    return not training or (_is_number(value) and value == 0)


def _checked_strength(name, value):
    """A Python number is checked non-negative; a tensor (a schedule's value) is returned as it is."""
    if _is_number(value):
        return validation.check_float(name, value, low=0.0)
    return value


def _checked_rate(rate):
    """A Python number is checked in [0, 1); a tensor (a schedule's value) is clipped to [0, `MAX_TENSOR_RATE`]."""
    if _is_number(rate):
        return validation.check_float("rate", rate, low=0.0, high=1.0, high_inclusive=False)
    return ops.clip(ops.cast(rate, "float32"), 0.0, MAX_TENSOR_RATE)


def gaussian_noise(x, stddev, training=False, seed=None):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` to `x` when `training`.

    Args:
        x: a tensor of any shape.
        stddev: standard deviation, a non-negative Python number or a scalar tensor.
        training: whether to add the noise; when false, `x` is returned itself.
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        `x + stddev * N(0, 1)` (same shape, float dtype of `x`), or `x` itself.

    Example:

    >>> y = kreg.ops.gaussian_noise(x, 0.1, training=True, seed=0)

    Reference: Bishop 1995, "Training with noise is equivalent to Tikhonov regularization".
    """
    stddev = _checked_strength("stddev", stddev)
    if _inactive(training, stddev):
        return x
    x = _float_input(x)
    noise = keras.random.normal(ops.shape(x), dtype=x.dtype, seed=seed)
    return x + ops.cast(stddev, x.dtype) * noise


def multiplicative_noise(x, stddev, training=False, seed=None):
    """Multiplies `x` by Gaussian noise of mean 1 and standard deviation `stddev` when `training`.

    Args:
        x: a tensor of any shape.
        stddev: standard deviation of the factor, a non-negative Python number or a scalar tensor.
        training: whether to apply the noise; when false, `x` is returned itself.
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        `x * (1 + stddev * N(0, 1))`, or `x` itself.

    Example:

    >>> y = kreg.ops.multiplicative_noise(x, 0.2, training=True, seed=0)

    Reference: Srivastava et al. 2014, "Dropout: a simple way to prevent neural networks from overfitting",
    section 10 (multiplicative Gaussian noise).
    """
    stddev = _checked_strength("stddev", stddev)
    if _inactive(training, stddev):
        return x
    x = _float_input(x)
    noise = keras.random.normal(ops.shape(x), dtype=x.dtype, seed=seed)
    return x * (1 + ops.cast(stddev, x.dtype) * noise)


def uniform_noise(x, scale, training=False, seed=None):
    """Adds noise drawn uniformly from `[-scale, scale)` to `x` when `training`.

    Args:
        x: a tensor of any shape.
        scale: half-width of the noise interval, a non-negative Python number or a scalar tensor (the noise's
            standard deviation is `scale / sqrt(3)`).
        training: whether to add the noise; when false, `x` is returned itself.
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        `x + U(-scale, scale)`, or `x` itself.

    Example:

    >>> y = kreg.ops.uniform_noise(x, 0.05, training=True, seed=0)

    Reference: An 1996, "The effects of adding noise during backpropagation training on a generalization
    performance" (additive noise, uniform among others).
    """
    scale = _checked_strength("scale", scale)
    if _inactive(training, scale):
        return x
    x = _float_input(x)
    noise = keras.random.uniform(ops.shape(x), minval=-1.0, maxval=1.0, dtype=x.dtype, seed=seed)
    return x + ops.cast(scale, x.dtype) * noise


def _keep_mask(shape, rate, seed=None):
    """The keep mask of `drop_connect`: a boolean tensor of `shape`, each entry true with probability `1 - rate`."""
    return keras.random.uniform(shape, dtype="float32", seed=seed) >= ops.cast(rate, "float32")


def drop_connect(kernel, rate, training=False, seed=None):
    """Drops each entry of `kernel` with probability `rate` and scales the kept entries by `1 / (1 - rate)`.

    One mask per call (so per batch when called once per step), not one per example as in Wan et al.'s own
    implementation: the kernel's expected value is unchanged, and the cost is one uniform draw per kernel entry. A
    kept entry is exactly `kernel / (1 - rate)` (one division, in the kernel's dtype), a dropped one exactly 0, and
    the gradient reaches the kept entries only (scaled by `1 / (1 - rate)`). (A non-finite kernel entry that is
    dropped gives NaN, not 0.)

    Args:
        kernel: a tensor of any shape (a layer's kernel).
        rate: drop probability, a Python number in [0, 1) or a scalar tensor (clipped to [0, `MAX_TENSOR_RATE`]).
        training: whether to drop; when false, `kernel` is returned itself.
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        The dropped and rescaled kernel, or `kernel` itself.

    Example:

    >>> effective = kreg.ops.drop_connect(layer.kernel, 0.5, training=True, seed=0)

    Reference: Wan et al. 2013, "Regularization of neural networks using DropConnect" (ICML).
    """
    rate = _checked_rate(rate)
    if _inactive(training, rate):
        return kernel
    kernel = _float_input(kernel)
    keep = ops.cast(1.0 - rate, kernel.dtype)
    mask = _keep_mask(ops.shape(kernel), rate, seed=seed)
    # `(kernel * mask) / keep`: a kept entry is exactly `kernel / keep`, a dropped one 0 (a signed zero, which
    # compares equal to 0). Multiplying by the mask rather than selecting with `where` (same values) saves a third of
    # the cost on PyTorch, whose CPU `where` is several times slower than a multiplication; XLA fuses either.
    return kernel * ops.cast(mask, kernel.dtype) / keep


__all__ = [
    "MAX_TENSOR_RATE",
    "drop_connect",
    "gaussian_noise",
    "multiplicative_noise",
    "uniform_noise",
]
