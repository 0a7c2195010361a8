"""`ProximalStep`: the former name of `kreg.callbacks.TrainingBinding`, kept so that existing code and saved
callback configs keep working."""

import keras

from kreg.callbacks.training_binding import TrainingBinding


@keras.saving.register_keras_serializable(package="kreg")
class ProximalStep(TrainingBinding):
    """The former name of `kreg.callbacks.TrainingBinding` (it binds far more than proximal steps); the same callback.

    Args:
        verbose: print what was bound at the start of `fit` (0 or 1).

    Example:

    >>> model.fit(x, y, callbacks=[kreg.callbacks.ProximalStep()])  # same as TrainingBinding()

    Reference: Beck & Teboulle 2009, "A fast iterative shrinkage-thresholding algorithm for linear inverse problems".
    """


__all__ = ["ProximalStep"]
