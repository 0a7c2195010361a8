"""Structured dropout as pure functions: stochastic depth (`drop_path`) and DropBlock (`drop_block`).

The layers `kreg.layers.DropPath`, `DropBlock1D` and `DropBlock2D` are thin over these functions, in the shape of
timm's `layers/drop.py`: each function takes the input, the rate, whether the call is a training call and a seed,
and returns its input itself (no op at all) when `training` is false or the rate is the number 0.

- `drop_path`: Huang, Sun, Liu, Sedra & Weinberger 2016, "Deep networks with stochastic depth" (ECCV): each
  sample's residual branch is dropped whole with probability `rate`, the kept ones are scaled by `1 / (1 - rate)`.
- `drop_block`: Ghiasi, Lin & Le 2018, "DropBlock: A regularization method for convolutional networks" (NeurIPS),
  Algorithm 1: block seeds are drawn with probability `gamma` (equation 1) where a whole block fits (the valid
  region), grown into `block_size`-wide blocks by max pooling, and the kept activations are scaled by
  `count(M) / count_ones(M)`.

A rate may be a Python number or a float scalar tensor (a schedule's value at the current step).
"""

import functools
import operator

import keras
from keras import ops

from kreg import validation


def _is_zero(rate):
    """Whether `rate` is the Python number 0 (then the functions return their input and emit no op)."""
    return not hasattr(rate, "shape") and rate == 0


def input_rank_error(shape, expected):
    """The `ValueError` for an input of the wrong rank, naming the argument (`inputs`) and the shape received."""
    return ValueError(
        f"Invalid value received for argument `inputs`. Expected {expected}. Received: inputs with shape {shape}"
    )


def drop_path(x, rate, training=False, seed=None):
    """Stochastic depth: zeroes each sample of `x` whole with probability `rate`, scales the rest by `1 / keep`.

    The mask has shape `(batch,) + (1,) * (rank - 1)`, so `x` may have any rank >= 1; every output entry is
    exactly `0` or `x / (1 - rate)` (computed in `x`'s dtype). Apply it to a residual branch before the addition
    (`shortcut + drop_path(branch(x), rate, training, seed)`).

    Args:
        x: a tensor of rank >= 1, batch first.
        rate: drop probability in [0, 1): a Python float or a float scalar tensor.
        training: whether to drop; when false, `x` itself is returned.
        seed: a `keras.random.SeedGenerator`, an integer or `None` (as for `keras.random.uniform`).

    Returns:
        A tensor like `x` (`x` itself when `training` is false or `rate` is the number 0).

    Example:

    >>> y = shortcut + kreg.ops.drop.drop_path(branch, 0.1, training=True, seed=keras.random.SeedGenerator(0))

    Reference: Huang et al. 2016, "Deep networks with stochastic depth".
    """
    if not training or _is_zero(rate):
        return x
    shape = ops.shape(x)
    if len(shape) < 1:
        raise input_rank_error(tuple(x.shape), "a tensor of rank >= 1 (batch first)")
    keep = ops.subtract(1.0, ops.cast(rate, "float32"))
    noise = keras.random.uniform((shape[0],) + (1,) * (len(shape) - 1), seed=seed, dtype="float32")
    return ops.where(noise < keep, ops.divide(x, ops.cast(keep, x.dtype)), ops.zeros((), x.dtype))


def check_block_size(block_size, feature_shape):
    """Checks that a `block_size`-wide block fits in a feature map of `feature_shape` (entries may be `None`).

    Raises:
        ValueError: naming `block_size`, the largest size that fits and the value received.
    """
    known = [int(size) for size in feature_shape if isinstance(size, int)]
    if known and block_size > min(known):
        sizes = " x ".join("?" if size is None else str(size) for size in feature_shape)
        raise validation.invalid(
            "block_size",
            f"an integer in [1, {min(known)}] (a block must fit in the input's {sizes} feature map)",
            block_size,
        )


def drop_block_gamma(rate, block_size, feature_shape):
    """Seed probability of DropBlock (Ghiasi et al. 2018, equation 1), per axis for non-square feature maps.

    `gamma = rate / block_size ** d * prod(feature_shape) / prod(feature_shape - block_size + 1)`: the expected
    number of block seeds, each covering `block_size ** d` positions, drawn only in the valid region of
    `prod(feature_shape - block_size + 1)` positions, is `rate * prod(feature_shape)` (for 2D square maps this is
    the paper's `rate / block_size^2 * feat^2 / (feat - block_size + 1)^2`). Overlapping blocks make the dropped
    fraction somewhat lower than `rate` at large rates and blocks (see `docs/dropout_layers.md`).

    Args:
        rate: drop probability: a Python float or a float scalar tensor.
        block_size: block width along every spatial axis, an integer.
        feature_shape: the spatial sizes (Python integers or scalar tensors).

    Returns:
        `gamma`: a Python float when every argument is a Python number, else a float32 scalar tensor.
    """
    total, valid = 1, 1
    for size in feature_shape:
        total = total * size
        valid = valid * (size - block_size + 1)
    factor = total / (block_size ** len(feature_shape) * valid)
    if not hasattr(rate, "shape") and not hasattr(factor, "shape"):
        return float(rate) * float(factor)
    return ops.cast(rate, "float32") * ops.cast(factor, "float32")


def _running_max(x, axis, width):
    """Stride-1 max pooling of `width` along `axis` (no padding): one `maximum` of two shifted slices per doubling
    of the window, so `ceil(log2(width))` ops (output length `length - width + 1`)."""

    def part(start, stop):
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(start, stop)
        return tuple(index)

    span = 1
    while span * 2 <= width:
        x = ops.maximum(x[part(None, -span)], x[part(span, None)])
        span *= 2
    if span < width:
        shift = width - span
        x = ops.maximum(x[part(None, -shift)], x[part(shift, None)])
    return x


def drop_block_mask(shape, rate, block_size, seed=None, data_format=None):
    """The 0/1 kept mask of DropBlock for an input of `shape`, in float32 (1 = kept).

    Seeds are Bernoulli(`drop_block_gamma(...)`) draws over the valid region (the top-left corners of the blocks
    that fit whole), drawn independently per sample and per channel; each seed drops the `block_size`-wide block
    it starts, found by max pooling the seeds, zero-padded by `block_size - 1` on both sides, with a `block_size`
    window and stride 1.

    Args:
        shape: the input's full shape `(batch, *spatial, channels)` or `(batch, channels, *spatial)`, from
            `ops.shape(x)`.
        rate: drop probability: a Python float or a float scalar tensor.
        block_size: block width along every spatial axis, an integer >= 1.
        seed: a `keras.random.SeedGenerator`, an integer or `None`.
        data_format: `"channels_last"` or `"channels_first"` (default: `keras.config.image_data_format()`).

    Returns:
        A float32 tensor of `shape` holding 0 (dropped) and 1 (kept).
    """
    return 1.0 - _dropped_blocks(shape, rate, block_size, seed, data_format)


def _dropped_blocks(shape, rate, block_size, seed, data_format):
    """`1 - drop_block_mask(...)`: the 0/1 dropped mask, in float32."""
    data_format = data_format or keras.config.image_data_format()
    channels_last = data_format == "channels_last"
    channels = shape[-1] if channels_last else shape[1]
    feature_shape = tuple(shape[1:-1] if channels_last else shape[2:])
    spatial = len(feature_shape)
    valid = tuple(size - block_size + 1 for size in feature_shape)
    gamma = drop_block_gamma(rate, block_size, feature_shape)
    seeds_shape = (shape[0],) + (valid + (channels,) if channels_last else (channels,) + valid)
    seeds = ops.cast(keras.random.uniform(seeds_shape, seed=seed, dtype="float32") < gamma, "float32")
    pad = [[block_size - 1, block_size - 1]] * spatial
    if keras.backend.backend() == "torch":
        # PyTorch's CPU max pooling is slow at stride 1 (about 6x slower here at block sizes 3 and 7): the same
        # pooling as a running max along each spatial axis.
        seeds = ops.pad(seeds, [[0, 0]] + pad + [[0, 0]] if channels_last else [[0, 0], [0, 0]] + pad)
        first = 1 if channels_last else 2
        for axis in range(first, first + spatial):
            seeds = _running_max(seeds, axis, block_size)
        return seeds
    if channels_last:
        return ops.max_pool(ops.pad(seeds, [[0, 0]] + pad + [[0, 0]]), block_size, strides=1, padding="valid")
    # channels_first on TensorFlow and JAX: each channel is pooled as a one-channel channels_last map (a reshape;
    # Keras would transpose the whole tensor twice).
    seeds = ops.pad(ops.reshape(seeds, (-1,) + valid + (1,)), [[0, 0]] + pad + [[0, 0]])
    dropped = ops.max_pool(seeds, block_size, strides=1, padding="valid", data_format="channels_last")
    return ops.reshape(dropped, (-1, channels) + feature_shape)


def drop_block(x, rate, block_size, training=False, seed=None, data_format=None):
    """DropBlock: drops contiguous `block_size`-wide blocks of each feature map, renormalizing by the kept fraction.

    Every output entry is exactly `0` or `x * scale`, with `scale = count(M) / count_ones(M)` the size of the mask
    over its number of ones, taken over the whole batch (Ghiasi et al. 2018, Algorithm 1, and their reference
    implementation), computed in float32 and cast to `x`'s dtype.

    Args:
        x: a tensor `(batch, *spatial, channels)` (or `(batch, channels, *spatial)`) with 1 to 3 spatial axes.
        rate: drop probability in [0, 1): a Python float or a float scalar tensor.
        block_size: block width along every spatial axis, an integer in [1, smallest spatial size].
        training: whether to drop; when false, `x` itself is returned.
        seed: a `keras.random.SeedGenerator`, an integer or `None`.
        data_format: `"channels_last"` or `"channels_first"` (default: `keras.config.image_data_format()`).

    Returns:
        A tensor like `x` (`x` itself when `training` is false or `rate` is the number 0).

    Example:

    >>> y = kreg.ops.drop.drop_block(x, 0.1, block_size=3, training=True, seed=keras.random.SeedGenerator(0))

    Reference: Ghiasi et al. 2018, "DropBlock: A regularization method for convolutional networks".
    """
    if not training or _is_zero(rate):
        return x
    data_format = data_format or keras.config.image_data_format()
    shape = ops.shape(x)
    if not 3 <= len(shape) <= 5:
        raise input_rank_error(tuple(x.shape), "a tensor of rank 3 to 5 (batch, spatial axes and channels)")
    static = tuple(x.shape)
    check_block_size(block_size, static[1:-1] if data_format == "channels_last" else static[2:])
    kept = 1.0 - _dropped_blocks(shape, rate, block_size, seed, data_format)
    size = functools.reduce(operator.mul, shape)  # a Python integer when the shape is static
    scale = ops.divide(ops.cast(size, "float32"), ops.maximum(ops.sum(kept), 1.0))
    # `kept * scale` is exactly 0 or `scale`, so each entry is exactly `x * scale` or 0.
    return ops.multiply(x, ops.cast(kept * scale, x.dtype))


__all__ = ["check_block_size", "input_rank_error", "drop_block", "drop_block_gamma", "drop_block_mask", "drop_path"]
