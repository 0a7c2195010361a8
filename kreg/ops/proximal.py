"""Proximal operators (Parikh & Boyd 2014, "Proximal Algorithms", section 6.5)."""

from keras import ops


def soft_threshold(x, threshold):
    """Soft thresholding, the proximal operator of `threshold * ||x||_1`.

    `sign(x) * max(|x| - threshold, 0)`: entries with `|x| <= threshold` become exactly zero.

    Args:
        x: a tensor.
        threshold: a non-negative scalar (Python number or tensor).

    Returns:
        A tensor of the shape and dtype of `x`.

    Example:

    >>> soft_threshold(keras.ops.convert_to_tensor([-2.0, 0.5, 3.0]), 1.0)  # [-1.0, 0.0, 2.0]
    """
    threshold = ops.cast(threshold, x.dtype)
    return ops.sign(x) * ops.maximum(ops.abs(x) - threshold, ops.zeros((), x.dtype))
