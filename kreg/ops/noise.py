"""Noise on activations and on weights, as pure functions `fn(x, value, training, seed)` (timm's `drop.py` shape).

Each function returns `x` itself, at no cost, when `training` is false or when its strength is the Python number 0;
otherwise it draws from `seed` (an integer, a `keras.random.SeedGenerator`, or `None`) with `keras.random`. The
strength is a Python number, checked here, or a scalar tensor (a schedule's current value), used as it is.

On JAX, the Gaussian noise and the DropConnect mask take their random bits from a counter-based hash keyed by one
tiny `keras.random` draw per call (`kreg/ops/hashed_random.py`), which XLA fuses into one loop, instead of JAX's
threefry bits (several times the cost on a CPU); the Gaussian noise is then the Box-Muller transform of two hashed
words (Box & Muller 1958), without XLA's costly CPU `erf_inv`. On TensorFlow and PyTorch, which run one kernel per
op, the draws are `keras.random`'s.

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
from kreg.ops import hashed_random

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
    return x + _normal(ops.shape(x), x.dtype, seed, mean=0.0, stddev=stddev)


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
    return x * _normal(ops.shape(x), x.dtype, seed, mean=1.0, stddev=stddev)


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


#: `drop_connect` compares an 11-bit random level per kernel entry with the rate, so its drop rate is rounded to a
#: multiple of `1 / RATE_LEVELS`.
RATE_LEVELS = 2048


def drop_connect_keep(rate):
    """The keep probability `drop_connect` applies for `rate`: `1 - round(rate * 2048) / 2048`.

    The rate is rounded to the nearest of `RATE_LEVELS` levels (at most `2047 / 2048`), and kept entries are scaled
    by the inverse of this keep probability, so the expected kernel is exactly the kernel. The difference from
    `1 - rate` is at most `1 / 4096` (rates above 4095/4096 drop 2047/2048).

    Args:
        rate: a Python number in [0, 1) or a scalar tensor.

    Returns:
        A Python float for a Python `rate`, a float32 scalar tensor for a tensor one.
    """
    if _is_number(rate):
        return 1.0 - min(round(rate * RATE_LEVELS), RATE_LEVELS - 1) / RATE_LEVELS
    levels = ops.minimum(ops.round(ops.cast(rate, "float32") * RATE_LEVELS), RATE_LEVELS - 1.0)
    return 1.0 - levels / RATE_LEVELS


def _uses_hash():
    """Whether random bits come from `hashed_random.hashed_bits` (on JAX) rather than from `keras.random` draws.

    On a CPU, XLA computes JAX's threefry random bits at several times the cost of the arithmetic of a counter-based
    hash, which XLA fuses into one loop with its consumer: on JAX the mask and the Gaussian noise cost a fraction
    of `keras.random.uniform`/`normal` (figures in `docs/noise_layers.md`, "Performance"). PyTorch and TensorFlow run one kernel
    per op, where the dozen integer ops of the hash cost more than their generators' draws.
    """
    return keras.backend.backend() == "jax"


def _normal(shape, dtype, seed, mean, stddev):
    """`mean + stddev * N(0, 1)` of `shape` in `dtype` (hashed on JAX, `keras.random.normal` elsewhere).

    A Python `stddev` goes into `keras.random.normal` itself (PyTorch's generator scales in its own kernel: one op
    fewer per call); a tensor one (a schedule's value) scales the standard draw.
    """
    if _uses_hash():
        return mean + ops.cast(stddev, dtype) * ops.cast(hashed_random.hashed_normal(tuple(shape), seed), dtype)
    if _is_number(stddev):
        return keras.random.normal(shape, mean=mean, stddev=stddev, dtype=dtype, seed=seed)
    return mean + ops.cast(stddev, dtype) * keras.random.normal(shape, dtype=dtype, seed=seed)


def _keep_mask(shape, keep, seed=None):
    """A float32 tensor of `shape`, each entry independently 1 with probability `keep` (a multiple of 1/2048), else 0.

    An entry is kept when its 11-bit level, uniform on {0, ..., 2047}, is at least `d = 2048 (1 - keep)`. On JAX the
    level is the top 11 bits of a hashed word (`hashed_random.hashed_bits`). Elsewhere the levels come from float32
    uniform draws (multiples of 2^-24 or 2^-23 on every backend), one draw `u` giving two entries: `floor(2048 u)`
    and `floor(2048 frac(2048 u))` are independent and uniform, and the two halves are concatenated along an even-
    sized axis (or the flattened kernel is). There the mask is `floor(v + keep)` for `v` in `[u, frac(2048 u)]`: 1
    exactly when `v >= 1 - keep`, i.e. when the level reaches `d` (the sum is exact below 1, as `v` and `keep` are
    multiples of 2^-24), in three float ops: PyTorch's CPU comparisons and bool-to-float casts cost several times a
    float op.
    """
    shape = tuple(shape)
    size = 1
    for dim in shape:
        size *= dim
    if _uses_hash():
        if _is_number(keep):
            dropped = round((1.0 - keep) * RATE_LEVELS)  # a Python int: no op emitted
        else:
            dropped = ops.cast(ops.round((1.0 - ops.cast(keep, "float32")) * RATE_LEVELS), "int32")
        levels = hashed_random.logical_right_shift(hashed_random.hashed_bits(size, hashed_random.hash_key(seed)), 21)
        return ops.reshape(ops.cast(levels >= dropped, "float32"), shape)
    if _is_number(keep) and keep == 1.0:
        return ops.ones(shape, "float32")  # (`drop_connect` returns its kernel before asking for this mask)
    axis = _even_axis(shape)
    draw_shape = (size - size // 2,) if axis is None else shape[:axis] + (shape[axis] // 2,) + shape[axis + 1 :]
    high = keras.random.uniform(draw_shape, dtype="float32", seed=seed)
    scaled = high * float(RATE_LEVELS)
    low = scaled - ops.floor(scaled)  # exact: the mantissa bits below the top 11, scaled by 2048
    if axis is None:
        both = ops.concatenate([high, low], axis=0)[:size]
    else:
        both = ops.concatenate([high, low], axis=axis)
    if _is_number(keep):
        mask = ops.floor(both + keep)
    else:
        mask = ops.minimum(ops.floor(both + ops.cast(keep, "float32")), 1.0)  # a sum near 2 may round to 2
    return mask if axis is not None else ops.reshape(mask, shape)


def _even_axis(shape):
    return next((axis for axis, size in enumerate(shape) if size % 2 == 0), None)


def drop_connect(kernel, rate, training=False, seed=None):
    """Drops each entry of `kernel` with probability `rate` and scales the kept entries by `1 / keep`.

    One mask per call (so per batch when called once per step), not one per example as in Wan et al.'s own
    implementation: the kernel's expected value is unchanged. The rate is rounded to a multiple of 1/2048 and
    `keep = drop_connect_keep(rate) = 1 - round(2048 rate) / 2048` (within 1/4096 of `1 - rate`), because each entry
    is kept by comparing an 11-bit random level with the rate: on JAX the top bits of a hashed word, elsewhere half a
    float32 uniform draw (each draw gives two entries), the draw being the cost that dominates a DropConnect step.
    A kept entry is exactly `kernel / keep` (one division, in the kernel's dtype), a dropped one exactly 0, and
    the gradient reaches the kept entries only (scaled by `1 / keep`). (A non-finite kernel entry that is dropped
    gives NaN, not 0.) The kernel's shape must be static, as a layer's kernel is.

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
    if any(dim is None for dim in kernel.shape):
        raise ValueError(f"drop_connect needs a kernel of static shape; received a tensor of shape {kernel.shape}")
    keep_probability = drop_connect_keep(rate)
    if _is_number(keep_probability) and keep_probability == 1.0:
        return kernel  # a rate below 1/4096 rounds to 0: nothing is dropped
    # A Python keep divides as a Python scalar (no op to make a tensor of it; PyTorch divides by a 0-d tensor at
    # several times the cost of a Python scalar).
    keep = keep_probability if _is_number(keep_probability) else ops.cast(keep_probability, kernel.dtype)
    mask = _keep_mask(kernel.shape, keep_probability, seed=seed)
    # `(kernel * mask) / keep`: a kept entry is exactly `kernel / keep`, a dropped one 0 (a signed zero, which
    # compares equal to 0). Multiplying by the mask rather than selecting with `where` (same values) saves a third of
    # the cost on PyTorch, whose CPU `where` is several times slower than a multiplication; XLA fuses either.
    if keras.backend.standardize_dtype(kernel.dtype) != "float32":
        mask = ops.cast(mask, kernel.dtype)
    return kernel * mask / keep


__all__ = [
    "MAX_TENSOR_RATE",
    "RATE_LEVELS",
    "drop_connect",
    "drop_connect_keep",
    "gaussian_noise",
    "multiplicative_noise",
    "uniform_noise",
]
