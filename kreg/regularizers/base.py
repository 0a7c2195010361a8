"""The base class of kreg's regularizers: strengths as plain floats, penalties in float32, optimizer binding."""

import sys
import warnings

import keras
from keras import ops

from kreg import validation


def penalty_dtype(x):
    """The dtype a penalty on `x` is computed in: float64 stays float64, everything else is float32.

    Mixed precision (`mixed_float16`, `mixed_bfloat16`) feeds float16/bfloat16 activations to activity regularizers;
    their penalties are summed in float32 so that large sums neither overflow nor lose the small terms.
    """
    dtype = keras.backend.standardize_dtype(x.dtype)
    return "float64" if dtype == "float64" else "float32"


def as_penalty_input(x):
    """Casts `x` to its penalty dtype (see `penalty_dtype`)."""
    return ops.cast(x, penalty_dtype(x))


class Regularizer(keras.regularizers.Regularizer):
    """Base class of kreg regularizers.

    Subclasses store their strengths as the exact Python values passed (validated by `check_strength`), compute
    their penalty in float32 (`as_penalty_input`), and return their constructor arguments from `get_config`.

    A regularizer can be *bound* to an optimizer (`bind`), which `kreg.callbacks.ProximalStep` does at the start of
    `fit`. Binding gives the regularizer the optimizer's current learning rate, needed by proximal steps that are
    applied after each optimizer update (`proximal_step`).
    """

    #: Whether this regularizer's `proximal_step` must run after each optimizer update.
    proximal = False

    def __init__(self):
        self._optimizer = None
        self._warned_unbound = False

    @staticmethod
    def check_strength(name, value):
        """Validates a regularization strength: a non-negative finite number, returned as a Python float."""
        return validation.check_float(name, value, low=0.0)

    # Optimizer binding -------------------------------------------------------------------------------------

    @property
    def optimizer(self):
        """The optimizer this regularizer is bound to, or `None`."""
        return self._optimizer

    def bind(self, optimizer):
        """Binds this regularizer to `optimizer` (a `keras.optimizers.Optimizer`; a loss-scale wrapper is unwrapped)."""
        self._optimizer = getattr(optimizer, "inner_optimizer", optimizer)

    def unbind(self):
        """Forgets the optimizer bound by `bind`."""
        self._optimizer = None

    def _warn_if_unbound(self):
        """Warns once when a proximal regularizer computes its penalty without a bound optimizer.

        Keras's JAX and PyTorch trainers compute the loss once symbolically to build the model, before any callback
        runs (so before `ProximalStep` can bind): that shape-only pass is not a training step and does not warn.
        """
        if self.proximal and self._optimizer is None and not self._warned_unbound and not _in_symbolic_build():
            self._warned_unbound = True
            warnings.warn(
                f"{type(self).__name__}(proximal=True) is computing its penalty but is not bound to an optimizer, "
                "so its proximal step will not run and no weight will become exactly zero. Pass "
                "`callbacks=[kreg.callbacks.ProximalStep()]` to `fit`. Until it is bound, the regularizer acts as an "
                "ordinary (subgradient) penalty.",
                UserWarning,
                stacklevel=3,
            )

    def proximal_step(self, x, learning_rate):
        """Returns the proximal map of the non-smooth part of the penalty, applied to `x` for step size `learning_rate`.

        Only regularizers with `proximal = True` implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} has no proximal step.")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `get_config`.")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _in_symbolic_build():
    """Whether the current call comes from Keras's shape-only model build (`Trainer._symbolic_build`)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_symbolic_build":
            return True
        frame = frame.f_back
    return False
