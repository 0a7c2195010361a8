"""L1, L2 and elastic-net penalties, with an optional proximal (exact-zero) L1 part.

References:
    Tibshirani 1996, "Regression shrinkage and selection via the lasso".
    Zou & Hastie 2005, "Regularization and variable selection via the elastic net".
    Parikh & Boyd 2014, "Proximal Algorithms" (soft thresholding as the proximal map of the L1 norm).
"""

import keras
from keras import ops

from kreg import schedules, validation
from kreg.ops.proximal import soft_threshold
from kreg.regularizers.base import Regularizer, as_penalty_input


def _l1_value(x, l1, proximal):
    """`l1 * sum(|x|)` (`l1` a tensor of `x`'s dtype); when `proximal`, the value carries no gradient (the proximal
    step after each update does the L1 work, see `kreg.constraints.ProximalConstraint`)."""
    if proximal:
        x = ops.stop_gradient(x)
    return l1 * ops.sum(ops.abs(x))


@keras.saving.register_keras_serializable(package="kreg")
class L1(Regularizer):
    """L1 penalty `l1 * sum(|x|)`, optionally with exact zeros via a proximal step.

    With `proximal=False` this is Keras's `L1`: the penalty's subgradient is added to the loss gradient, so weights
    hover around zero but almost never reach it. With `proximal=True`, the penalty is instead applied after each
    optimizer update by soft thresholding, `w <- sign(w) * max(|w| - lr * l1, 0)` (ISTA / proximal gradient), which
    sets small weights to exactly zero. The proximal step needs the optimizer's learning rate: pass
    `kreg.callbacks.TrainingBinding()` to `fit`. The reported loss still includes `l1 * sum(|w|)` (without gradient),
    so loss curves compare with the non-proximal version.

    Args:
        l1: non-negative strength, or a schedule of the training step (`kreg.schedules`).
        proximal: apply the L1 part by a proximal step after each update instead of by its subgradient.

    Example:

    >>> layer = keras.layers.Dense(8, kernel_regularizer=kreg.regularizers.L1(1e-3, proximal=True))
    >>> model.fit(x, y, callbacks=[kreg.callbacks.TrainingBinding()])

    Reference: Tibshirani 1996, "Regression shrinkage and selection via the lasso"; Parikh & Boyd 2014.
    """

    def __init__(self, l1=0.01, proximal=False):
        super().__init__()
        self.l1 = schedules.check_strength("l1", l1)
        self.proximal = validation.check_bool("proximal", proximal)

    def penalty(self, x, step):
        x = as_penalty_input(x)
        return _l1_value(x, schedules.strength_value(self.l1, step, x.dtype), self.proximal)

    def proximal_step(self, x, learning_rate, step=None):
        return soft_threshold(x, ops.cast(learning_rate, x.dtype) * schedules.strength_value(self.l1, step, x.dtype))

    def get_config(self):
        return {"l1": schedules.strength_config(self.l1), "proximal": self.proximal}


@keras.saving.register_keras_serializable(package="kreg")
class L2(Regularizer):
    """L2 penalty `l2 * sum(x ** 2)`, the same value as Keras's `L2`.

    Args:
        l2: non-negative strength, or a schedule of the training step (`kreg.schedules`).

    Example:

    >>> layer = keras.layers.Dense(8, kernel_regularizer=kreg.regularizers.L2(1e-4))

    Reference: Hoerl & Kennard 1970, "Ridge regression: biased estimation for nonorthogonal problems".
    """

    def __init__(self, l2=0.01):
        super().__init__()
        self.l2 = schedules.check_strength("l2", l2)

    def penalty(self, x, step):
        x = as_penalty_input(x)
        return schedules.strength_value(self.l2, step, x.dtype) * ops.sum(ops.square(x))

    def get_config(self):
        return {"l2": schedules.strength_config(self.l2)}


@keras.saving.register_keras_serializable(package="kreg")
class ElasticNet(Regularizer):
    """Elastic-net penalty `l1 * sum(|x|) + l2 * sum(x ** 2)`, the same value as Keras's `L1L2`.

    With `proximal=True` the L1 part is applied by soft thresholding after each optimizer update (exact zeros, see
    `L1`) and the L2 part stays in the gradient. Pass `kreg.callbacks.TrainingBinding()` to `fit`.

    Args:
        l1: non-negative L1 strength, or a schedule of the training step (`kreg.schedules`).
        l2: non-negative L2 strength, or a schedule.
        proximal: apply the L1 part by a proximal step after each update.

    Example:

    >>> layer = keras.layers.Dense(8, kernel_regularizer=kreg.regularizers.ElasticNet(1e-3, 1e-4, proximal=True))

    Reference: Zou & Hastie 2005, "Regularization and variable selection via the elastic net".
    """

    def __init__(self, l1=0.01, l2=0.01, proximal=False):
        super().__init__()
        self.l1 = schedules.check_strength("l1", l1)
        self.l2 = schedules.check_strength("l2", l2)
        self.proximal = validation.check_bool("proximal", proximal)

    def penalty(self, x, step):
        x = as_penalty_input(x)
        l1_part = _l1_value(x, schedules.strength_value(self.l1, step, x.dtype), self.proximal)
        return l1_part + schedules.strength_value(self.l2, step, x.dtype) * ops.sum(ops.square(x))

    def proximal_step(self, x, learning_rate, step=None):
        return soft_threshold(x, ops.cast(learning_rate, x.dtype) * schedules.strength_value(self.l1, step, x.dtype))

    def get_config(self):
        return {
            "l1": schedules.strength_config(self.l1),
            "l2": schedules.strength_config(self.l2),
            "proximal": self.proximal,
        }
