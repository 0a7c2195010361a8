"""Group lasso: drives whole output units or filters to zero.

Reference: Yuan & Lin 2006, "Model selection and estimation in regression with grouped variables"; Wen et al. 2016,
"Learning structured sparsity in deep neural networks" (group lasso on filters and channels).
"""

import keras
from keras import ops

from kreg import schedules, validation
from kreg.ops.group_threshold import group_norms, group_soft_threshold
from kreg.regularizers.base import Regularizer, as_penalty_input


def group_size(shape, axis):
    """The number of entries in one group: the product of every axis of `shape` except `axis`."""
    size = 1
    for i, dim in enumerate(shape):
        if i != axis % len(shape):
            size *= int(dim)
    return size


@keras.saving.register_keras_serializable(package="kreg")
class GroupLasso(Regularizer):
    """Group-lasso penalty `factor * sqrt(p) * sum_g ||w_g||_2` over the groups of a weight.

    A group is one index along `axis`: with the default `axis=-1`, one output unit of a Dense kernel (a column) or
    one filter of a Conv kernel; `p` is the number of entries in a group. Unlike L1, the penalty zeroes whole
    groups, so it prunes units and filters.

    With `proximal=False` the penalty's (sub)gradient is added to the loss gradient: groups shrink but rarely reach
    exactly zero. With `proximal=True` the penalty is applied after each optimizer update by block soft thresholding,
    `w_g <- w_g * max(1 - lr * factor * sqrt(p) / ||w_g||, 0)`, which sets whole groups to exactly zero; pass
    `kreg.callbacks.TrainingBinding()` to `fit`. The reported loss still includes the penalty (without gradient).

    Args:
        factor: non-negative strength, or a schedule of the training step (`kreg.schedules`).
        axis: the axis that indexes the groups (an integer).
        proximal: apply the penalty by block soft thresholding after each update instead of by its subgradient.

    Example:

    >>> layer = keras.layers.Conv2D(32, 3, kernel_regularizer=kreg.regularizers.GroupLasso(1e-3, proximal=True))
    >>> model.fit(x, y, callbacks=[kreg.callbacks.TrainingBinding()])

    Reference: Yuan & Lin 2006, "Model selection and estimation in regression with grouped variables".
    """

    def __init__(self, factor=0.01, axis=-1, proximal=False):
        super().__init__()
        self.factor = schedules.check_strength("factor", factor)
        self.axis = validation.check_int("axis", axis)
        self.proximal = validation.check_bool("proximal", proximal)

    def _scale(self, x, step):
        rank = len(ops.shape(x))
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"GroupLasso(axis={self.axis}) cannot group a weight of rank {rank} (shape {tuple(ops.shape(x))})."
            )
        return schedules.strength_value(self.factor, step, x.dtype) * (group_size(ops.shape(x), self.axis) ** 0.5)

    def penalty(self, x, step):
        x = as_penalty_input(x)
        if self.proximal:
            x = ops.stop_gradient(x)
        return self._scale(x, step) * ops.sum(group_norms(x, self.axis))

    def proximal_step(self, x, learning_rate, step=None):
        return group_soft_threshold(x, ops.cast(learning_rate, x.dtype) * self._scale(x, step), self.axis)

    def get_config(self):
        return {"factor": schedules.strength_config(self.factor), "axis": self.axis, "proximal": self.proximal}
