"""Masking augmentations as pure functions: tabular (`feature_mask`, `swap_noise`) and sequences or spectrograms
(`time_mask`, `frequency_mask`).

The layers `kreg.layers.FeatureMask`, `SwapNoise`, `TimeMask` and `FrequencyMask` are thin over these functions.
Each function always augments (the layers decide whether the call is a training call), draws from `seed` (an
integer, a `keras.random.SeedGenerator` or `None`) with `keras.random`, keeps the dtype of `x`, and uses static
shapes only (no data-dependent Python control flow), so it runs under `jit_compile=True` on every backend.

- `feature_mask`: each entry replaced by `mask_value` with probability `rate`, independently (the masking noise of
  denoising autoencoders: Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and composing robust features
  with denoising autoencoders" (ICML); on tabular data the feature masking of VIME, Yoon et al. 2020, "VIME:
  Extending the success of self- and semi-supervised learning to tabular domain" (NeurIPS)).
- `swap_noise`: each entry replaced with probability `rate` by the same feature of another row of the batch. Michael
  Jahrer's "swap noise", the input corruption of the denoising autoencoders that won Kaggle's Porto Seguro Safe
  Driver Prediction (2017).
- `time_mask`, `frequency_mask`: `count` spans per sample, each of a width drawn uniformly from
  `{0, ..., max_width}` and a start drawn uniformly from `{0, ..., size - width}`, set to `mask_value`. Park, Chan,
  Zhang, Chiu, Zoph, Cubuk & Le 2019, "SpecAugment: A simple data augmentation method for automatic speech
  recognition" (Interspeech), section 2 (time masking and frequency masking).

A rate may be a Python number (checked in [0, 1); the number 0 returns `x` itself, with no op) or a float scalar
tensor (a schedule's value at the current step), clipped to [0, 1].
"""

import numbers

import keras
from keras import ops

from kreg import validation


def _is_number(value):
    """Anything but a tensor or array is a number to check (NumPy scalars included; a string fails the check)."""
    return isinstance(value, numbers.Number) or not (hasattr(value, "shape") and hasattr(value, "dtype"))


def _checked_rate(rate):
    """A Python number is checked in [0, 1); a tensor (a schedule's value) is cast to float32 and clipped to [0, 1]."""
    if _is_number(rate):
        return validation.check_float("rate", rate, low=0.0, high=1.0, high_inclusive=False)
    return ops.clip(ops.cast(rate, "float32"), 0.0, 1.0)


def _is_zero(rate):
    return _is_number(rate) and rate == 0


def check_mask_value(mask_value):
    """Checks a mask value: a finite real number, returned as a Python float."""
    try:
        return validation.check_float("mask_value", mask_value)
    except ValueError:
        raise validation.invalid("mask_value", "a finite float", mask_value) from None


def _fill(x, mask_value):
    """`mask_value` as a scalar of `x`'s dtype (for an integer `x`, the value must be a whole number)."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype and float(mask_value) != int(mask_value):
        raise validation.invalid("mask_value", f"a whole number for an input of dtype {dtype}", mask_value)
    return ops.cast(mask_value, dtype)


def _batch_size(x):
    """The batch size: a Python integer when static, else a scalar tensor."""
    static = x.shape[0]
    return static if isinstance(static, int) else ops.shape(x)[0]


def feature_mask(x, rate, mask_value=0.0, seed=None):
    """Replaces each entry of `x` by `mask_value` with probability `rate`, independently.

    Every output entry is exactly `x` or exactly `mask_value` (cast to `x`'s dtype). The mask is one uniform draw
    per entry (in float32), so the fraction of masked entries is `rate` up to sampling noise.

    Args:
        x: a tensor of any shape (float or integer dtype; the dtype is kept).
        rate: masking probability, a Python number in [0, 1) or a float scalar tensor (clipped to [0, 1]).
        mask_value: the value written in masked entries, a finite number (a whole number for an integer `x`).
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        A tensor like `x` (`x` itself when `rate` is the number 0).

    Example:

    >>> y = kreg.ops.masking.feature_mask(x, 0.15, mask_value=0.0, seed=0)

    Reference: Vincent et al. 2008, "Extracting and composing robust features with denoising autoencoders" (masking
    noise); Yoon et al. 2020, "VIME: Extending the success of self- and semi-supervised learning to tabular domain".
    """
    rate = _checked_rate(rate)
    mask_value = check_mask_value(mask_value)
    if _is_zero(rate):
        return x
    x = ops.convert_to_tensor(x)
    masked = keras.random.uniform(ops.shape(x), dtype="float32", seed=seed) < rate
    return ops.where(masked, _fill(x, mask_value), x)


def swap_sources(batch_size, shape, rate, seed=None):
    """The source row of every entry for `swap_noise`: an int32 tensor of `shape` (batch first).

    Entry `(i, ...)` takes its value from row `source[i, ...]`: with probability `1 - rate` its own row `i`, with
    probability `rate` the row `(i + k) mod batch_size` with `k` uniform in `{1, ..., batch_size - 1}`, i.e. a row
    drawn uniformly among the *other* rows, never itself (for a batch of one there is no other row: every source is
    0). One uniform float32 draw `u` per entry does both: the entry is swapped when `u < rate`, and then
    `u / rate`, uniform on [0, 1) given the swap, picks `k` (with float32's 2^-24 resolution, so `k` is uniform for
    any practical batch size).

    Args:
        batch_size: the number of rows, a Python integer or a scalar tensor.
        shape: the full shape of the input, batch first (from `ops.shape(x)`).
        rate: swap probability, a Python number in [0, 1) or a float scalar tensor (clipped to [0, 1]).
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        An int32 tensor of `shape`, each entry in `[0, batch_size)`.
    """
    rate = _checked_rate(rate)
    draws = keras.random.uniform(tuple(shape), dtype="float32", seed=seed)
    others = ops.cast(batch_size, "float32") - 1.0  # how many other rows
    scale = others / rate if _is_number(rate) else others / ops.maximum(rate, 1e-30)
    # `floor(u / rate * others)` lies in {0, ..., others - 1} for `u < rate`; the `minimum` guards against a float32
    # product rounding up to `others` (and gives -1, so an offset of 0, for a batch of one).
    offset = ops.minimum(ops.floor(draws * scale), others - 1.0) + 1.0
    rows = ops.reshape(ops.arange(batch_size, dtype="float32"), (-1,) + (1,) * (len(shape) - 1))
    swapped = ops.mod(rows + offset, ops.maximum(others + 1.0, 1.0))
    return ops.cast(ops.where(draws < rate, swapped, rows), "int32")


def swap_noise(x, rate, seed=None):
    """Replaces each entry with probability `rate` by the same feature (same column) of another row of the batch.

    For an entry `(i, f)` that is swapped, the other row is drawn uniformly among the `batch_size - 1` rows other
    than `i`, independently for every entry (so a row's swapped features come from different rows): a swapped entry
    never takes its own row's value, and the fraction of entries taken from another row is `rate` up to sampling
    noise. (Implementations that draw the row uniformly among *all* rows, the row itself included, swap only
    `rate * (1 - 1 / batch_size)` of the entries.) A batch of one has no other row and is returned unchanged in
    value. The marginal distribution of each feature is kept, which is the point of swap noise on tabular data:
    every corrupted value is a plausible value of its feature. For inputs of rank > 2 a "feature" is every
    non-batch position (`x[i, t, f]` may take `x[j, t, f]`).

    Args:
        x: a tensor of rank >= 1, batch first (float or integer dtype; the dtype is kept).
        rate: swap probability, a Python number in [0, 1) or a float scalar tensor (clipped to [0, 1]).
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        A tensor like `x` (`x` itself when `rate` is the number 0), every entry a value of its own column.

    Example:

    >>> y = kreg.ops.masking.swap_noise(x, 0.15, seed=0)  # 15% of entries from other rows, column by column

    Reference: Jahrer 2018, "1st place with representation learning", Porto Seguro's Safe Driver Prediction
    (Kaggle, 2017 competition): denoising autoencoders trained on inputs corrupted by "swap noise".
    """
    rate = _checked_rate(rate)
    if _is_zero(rate):
        return x
    x = ops.convert_to_tensor(x)
    if len(x.shape) < 1:
        raise _rank_error(tuple(x.shape), "a tensor of rank >= 1 (batch first)")
    source = swap_sources(_batch_size(x), ops.shape(x), rate, seed=seed)
    return ops.take_along_axis(x, source, axis=0)


def _rank_error(shape, expected):
    return ValueError(
        f"Invalid value received for argument `inputs`. Expected {expected}. Received: inputs with shape {shape}"
    )


def check_axis(axis, shape):
    """Checks a masking axis of an input of `shape` (any axis but the batch axis 0); returns it non-negative."""
    rank = len(shape)
    if rank < 2:
        raise _rank_error(tuple(shape), "a tensor of rank >= 2 (batch first)")
    if isinstance(axis, bool) or not isinstance(axis, int) or not (1 <= axis < rank or -rank < axis <= -1):
        raise validation.invalid(
            "axis",
            f"an integer in [1, {rank - 1}] or [{-(rank - 1)}, -1] (not the batch axis) for a rank-{rank} input",
            axis,
        )
    return axis % rank


def check_max_width(max_width, size, axis_name="axis"):
    """Checks `max_width` (an integer >= 1) and, when `size` is a known integer, that a span fits: `max_width <= size`.

    Raises:
        ValueError: naming `max_width`, the largest width that fits and the value received.
    """
    max_width = validation.check_int("max_width", max_width, low=1)
    if isinstance(size, int) and max_width > size:
        raise validation.invalid(
            "max_width",
            f"an integer in [1, {size}] (a span must fit in the input's {axis_name} of size {size})",
            max_width,
        )
    return max_width


def mask_spans(batch_size, size, max_width, count=1, seed=None):
    """The SpecAugment spans: `count` per sample, as `(starts, widths)`, two int32 tensors of shape `(batch, count)`.

    Each width is uniform in `{0, ..., max_width}` (the paper's `t ~ U[0, T]`) and each start uniform in
    `{0, ..., size - width}`, every position where the whole span fits (the paper writes `t0 ~ [0, tau - t)`; the
    end-aligned span is included here, so every position of the axis can be masked). The `count` spans of a sample
    are drawn independently and may overlap. One uniform float32 draw per width and per start. When `size` is a
    tensor (an axis unknown when tracing), widths are clipped to `size`.

    Args:
        batch_size: the number of samples, a Python integer or a scalar tensor.
        size: the length of the masked axis, a Python integer or a scalar tensor.
        max_width: the largest span width, a Python integer >= 1 (at most `size`).
        count: spans per sample, a Python integer >= 1.
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        `(starts, widths)`, int32 tensors of shape `(batch_size, count)`; span `k` of sample `b` covers positions
        `starts[b, k] <= p < starts[b, k] + widths[b, k]`.
    """
    max_width = check_max_width(max_width, size)
    count = validation.check_int("count", count, low=1)
    draws = keras.random.uniform((2, batch_size, count), dtype="float32", seed=seed)
    size_f = ops.cast(size, "float32")
    # `minimum`: a float32 product `u * (n + 1)` may round up to `n + 1` for `u` just below 1.
    widths = ops.minimum(ops.floor(draws[0] * (max_width + 1.0)), float(max_width))
    widths = ops.minimum(widths, size_f)
    room = size_f - widths  # the last start where the span fits
    starts = ops.minimum(ops.floor(draws[1] * (room + 1.0)), room)
    return ops.cast(starts, "int32"), ops.cast(widths, "int32")


def spans_to_mask(starts, widths, size):
    """The boolean mask `(batch, size)` of the union of the spans `(starts, widths)` (from `mask_spans`)."""
    positions = ops.arange(size, dtype="int32")[None, None, :]
    starts = starts[:, :, None]
    inside = ops.logical_and(positions >= starts, positions < starts + widths[:, :, None])
    return ops.any(inside, axis=1)


def _span_mask(x, max_width, count, axis, mask_value, seed, default_name):
    mask_value = check_mask_value(mask_value)
    count = validation.check_int("count", count, low=1)
    x = ops.convert_to_tensor(x)
    rank = len(x.shape)
    axis = check_axis(axis, x.shape)
    static = x.shape[axis]
    size = static if isinstance(static, int) else ops.shape(x)[axis]
    check_max_width(max_width, size, f"{default_name} (axis {axis})")
    starts, widths = mask_spans(_batch_size(x), size, max_width, count, seed=seed)
    masked = spans_to_mask(starts, widths, size)  # (batch, size)
    masked = ops.reshape(masked, (-1,) + tuple(size if a == axis else 1 for a in range(1, rank)))
    return ops.where(masked, _fill(x, mask_value), x)


def time_mask(x, max_width, count=1, axis=1, mask_value=0.0, seed=None):
    """SpecAugment time masking: `count` spans of consecutive time steps per sample set to `mask_value`.

    Each span has a width uniform in `{0, ..., max_width}` and a start uniform in `{0, ..., size - width}` (see
    `mask_spans`), drawn per sample; the spans of a sample may overlap. A span covers every other axis whole (all
    frequencies and channels of the masked steps). Every output entry is exactly `x` or exactly `mask_value`.

    Args:
        x: a tensor of rank >= 2, batch first: `(batch, time, freq)`, `(batch, time, freq, channels)`, ...
        max_width: the largest span width (the paper's time mask parameter `T`), an integer in [1, size of `axis`].
        count: spans per sample (the paper's `m_T`), an integer >= 1.
        axis: the time axis, any axis but 0 (default 1; 2 for `(batch, channels, time, freq)` inputs).
        mask_value: the value written in masked entries, a finite number (0 on normalized log-mel features, which is
            the paper's mean value; a whole number for an integer `x`).
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        A tensor like `x`.

    Example:

    >>> y = kreg.ops.masking.time_mask(log_mel, max_width=40, count=2, seed=0)  # log_mel: (batch, time, 80)

    Reference: Park et al. 2019, "SpecAugment: A simple data augmentation method for automatic speech recognition",
    section 2.
    """
    return _span_mask(x, max_width, count, axis, mask_value, seed, "time axis")


def frequency_mask(x, max_width, count=1, axis=2, mask_value=0.0, seed=None):
    """SpecAugment frequency masking: `count` spans of consecutive frequency channels per sample set to `mask_value`.

    The same draw as `time_mask` along the frequency axis: each span has a width uniform in `{0, ..., max_width}`
    (the paper's `f ~ U[0, F]`) and a start uniform in `{0, ..., size - width}`, per sample; a span covers every time
    step (and channel). Every output entry is exactly `x` or exactly `mask_value`.

    Args:
        x: a tensor of rank >= 2, batch first: `(batch, time, freq)`, `(batch, time, freq, channels)`, ...
        max_width: the largest span width (the paper's frequency mask parameter `F`), an integer in
            [1, size of `axis`].
        count: spans per sample (the paper's `m_F`), an integer >= 1.
        axis: the frequency axis, any axis but 0 (default 2; 3 for `(batch, channels, time, freq)` inputs, 1 for
            `(batch, freq, time)`).
        mask_value: the value written in masked entries, a finite number.
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.

    Returns:
        A tensor like `x`.

    Example:

    >>> y = kreg.ops.masking.frequency_mask(log_mel, max_width=27, count=2, seed=0)  # LibriSpeech "LD" policy

    Reference: Park et al. 2019, "SpecAugment: A simple data augmentation method for automatic speech recognition",
    section 2.
    """
    return _span_mask(x, max_width, count, axis, mask_value, seed, "frequency axis")


__all__ = [
    "check_axis",
    "check_mask_value",
    "check_max_width",
    "feature_mask",
    "frequency_mask",
    "mask_spans",
    "spans_to_mask",
    "swap_noise",
    "swap_sources",
    "time_mask",
]
