"""Max-norm: each unit's incoming weight vector is projected onto the ball of radius `max_value`.

Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov 2014, "Dropout: a simple way to prevent neural networks
from overfitting" (JMLR), section 5.1: constraining the norm of each hidden unit's incoming weights to at most `c`
(3 to 4 worked best) combined with dropout allows large learning rates.
"""

import keras
from keras import ops

from kreg import validation


def default_axes(rank):
    """The axes holding one unit's incoming weights for a kernel of the given rank: every axis but the last.

    Dense `(in, units)` -> `(0,)`; Conv1D `(k, in, out)` -> `(0, 1)`; Conv2D -> `(0, 1, 2)`; Conv3D -> `(0, 1, 2, 3)`.
    A vector (a bias) is one unit per entry, so its only axis is reduced over as a whole: `(0,)`.
    """
    if rank <= 1:
        return tuple(range(rank))
    return tuple(range(rank - 1))


@keras.saving.register_keras_serializable(package="kreg")
class MaxNorm(keras.constraints.Constraint):
    """Scales each unit's incoming weight vector down to Euclidean norm `max_value` when it is longer.

    `w <- w * min(1, max_value / ||w||)` per unit: weights already inside the ball are returned unchanged, so the
    projection is idempotent. On the same axes the values match `keras.constraints.MaxNorm`, which rescales every
    vector by `clip(norm, 0, max_value) / (epsilon + norm)` (so it also shrinks vectors inside the ball by ~1e-7).

    Args:
        max_value: the largest allowed norm, a positive float (Srivastava et al. 2014 use 3 to 4 with dropout).
        axis: the axis or axes the norm is taken over (one unit's incoming weights). `None` picks them from the
            kernel's rank: every axis but the last, i.e. per output unit of `Dense` and per filter of
            `Conv1D/2D/3D`. For a depthwise kernel `(kh, kw, channels, multiplier)` pass `axis=(0, 1)` to
            constrain each depthwise channel's filter.

    Example:

    >>> layer = keras.layers.Dense(64, kernel_constraint=kreg.constraints.MaxNorm(3.0))

    Reference: Srivastava et al. 2014, "Dropout: a simple way to prevent neural networks from overfitting".
    """

    def __init__(self, max_value=3.0, axis=None):
        self.max_value = validation.check_float("max_value", max_value, low=0.0, low_inclusive=False)
        self.axis = _check_axis(axis)

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        axes = default_axes(len(w.shape)) if self.axis is None else self.check_axes(w.shape)
        # Norms in float32 (float64 stays float64): the squares of a float16 or bfloat16 weight overflow or lose
        # their small terms.
        wide = w if keras.backend.standardize_dtype(w.dtype) == "float64" else ops.cast(w, "float32")
        norms = ops.sqrt(ops.sum(ops.square(wide), axis=axes, keepdims=True))
        max_value = ops.cast(self.max_value, wide.dtype)
        scale = max_value / ops.where(norms > max_value, norms, max_value)
        return ops.cast(wide * scale, w.dtype)

    def check_axes(self, shape):
        """Returns `axis` as a tuple after checking it against a weight's shape.

        Raises:
            ValueError: naming `MaxNorm`, `axis` and the weight's shape, if an axis is out of range for its rank
                (a constraint sees the weight only when the optimizer first applies it, so that is where it fails).
        """
        rank = len(shape)
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
            axis = self.get_config()["axis"]
            raise ValueError(
                f"MaxNorm(axis={axis!r}) cannot be applied to a weight of rank {rank} (shape {tuple(shape)}): "
                f"Invalid value received for argument `axis`. Expected axes in [{-rank}, {rank - 1}], each once. "
                f"Received: axis={axis!r}"
            )
        return axes

    def get_config(self):
        return {"max_value": self.max_value, "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}


def _check_axis(axis):
    expected = "None, an integer or a non-empty list of distinct integers"
    if axis is None:
        return None
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    if isinstance(axis, (list, tuple)) and axis and all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
        if len(set(axis)) != len(axis):
            raise validation.invalid("axis", expected, axis)
        return tuple(int(a) for a in axis)
    raise validation.invalid("axis", expected, axis)
