"""Group norms and block soft thresholding, the proximal operator of the group lasso.

Reference: Yuan & Lin 2006, "Model selection and estimation in regression with grouped variables"; Parikh & Boyd
2014, "Proximal Algorithms", section 6.5.4 (block soft thresholding).
"""

from keras import ops


def _reduce_axes(x, axis):
    rank = len(ops.shape(x))
    axis = axis % rank
    return tuple(a for a in range(rank) if a != axis)


def group_norms(x, axis=-1):
    """The L2 norm of each group of `x`: a group is one index along `axis` (all entries `x[..., g, ...]`).

    The gradient at a zero group is 0 (a valid subgradient), not NaN.

    Args:
        x: a tensor of rank >= 1.
        axis: the axis indexing the groups (for a Dense or Conv kernel, -1: one group per output unit / filter).

    Returns:
        A tensor of shape `(x.shape[axis],)`.

    Example:

    >>> group_norms(keras.ops.convert_to_tensor([[3.0, 0.0], [4.0, 0.0]]))  # [5.0, 0.0]
    """
    x = ops.convert_to_tensor(x)
    squares = ops.sum(ops.square(x), axis=_reduce_axes(x, axis))
    positive = squares > 0
    safe = ops.where(positive, squares, ops.ones_like(squares))
    return ops.where(positive, ops.sqrt(safe), ops.zeros_like(squares))


def group_soft_threshold(x, threshold, axis=-1):
    """Block soft thresholding, the proximal operator of `threshold * sum_g ||x_g||_2`.

    `x_g * max(1 - threshold / ||x_g||, 0)` for each group `g` (an index along `axis`): a group whose norm is at
    most `threshold` becomes exactly zero, the others shrink towards zero by `threshold` in norm.

    Args:
        x: a tensor of rank >= 1.
        threshold: a non-negative scalar (Python number or tensor).
        axis: the axis indexing the groups.

    Returns:
        A tensor of the shape and dtype of `x`.

    Example:

    >>> group_soft_threshold(keras.ops.convert_to_tensor([[3.0, 0.1], [4.0, 0.1]]), 1.0)  # [[2.4, 0], [3.2, 0]]
    """
    x = ops.convert_to_tensor(x)
    threshold = ops.cast(threshold, x.dtype)
    norms = group_norms(x, axis)
    scale = ops.maximum(1.0 - threshold / ops.maximum(norms, ops.cast(1e-30, x.dtype)), ops.zeros((), x.dtype))
    rank = len(ops.shape(x))
    shape = [1] * rank
    shape[axis % rank] = -1
    return x * ops.reshape(scale, shape)
