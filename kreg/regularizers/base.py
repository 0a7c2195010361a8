"""The base class of kreg's regularizers: pure config objects, strengths as plain floats or schedules, penalties in
float32."""

import warnings

import keras
from keras import ops

from kreg import schedules, validation
from kreg.keras_compat import in_symbolic_scope


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
    """Base class of kreg regularizers: pure config objects, like Keras's.

    A subclass implements `penalty(x, step)`, a function of the weight `x` and the training step `step` only (the
    step matters only for scheduled strengths; `None` means step 0), and, when `proximal` is true,
    `proximal_step(x, learning_rate, step)`. `regularizer(x)` is `penalty(x, None)`: what Keras calls outside a
    bound `fit`. `proximal=True` always means the same math: the non-smooth part of the penalty is in the loss
    value without gradient, and the proximal step after each update does its work.

    Some regularizers need the training binding (`kreg.callbacks.TrainingBinding`, or any kreg callback, passed to
    `fit`): a proximal one for its step after each update, a scheduled one for the training step. Called without it
    in a training step, such a regularizer warns once (Keras's shape-only build pass does not count).

    Subclasses store their strengths as the exact Python values passed (validated by `check_strength`), compute
    their penalty in float32 (`as_penalty_input`), and return their constructor arguments from `get_config`.
    """

    #: Whether this regularizer's `proximal_step` must run after each optimizer update.
    proximal = False

    def __init__(self):
        self._warned_unbound = False

    @staticmethod
    def check_strength(name, value):
        """Validates a regularization strength: a non-negative finite number, returned as a Python float."""
        return validation.check_float(name, value, low=0.0)

    @property
    def scheduled(self):
        """Whether a strength of this regularizer is a schedule of the training step."""
        return bool(schedules.scheduled_attributes(self))

    @property
    def needs_binding(self):
        """Whether this regularizer needs the training binding to do its job (proximal or scheduled)."""
        return self.proximal or self.scheduled

    def __call__(self, x):
        if self.needs_binding:
            self._warn_unbound()
        return self.penalty(x, None)

    def penalty(self, x, step):
        """The penalty on `x` at training step `step` (`None`: step 0), a float32 (or float64) scalar."""
        raise NotImplementedError(f"{type(self).__name__} must implement `penalty`.")

    def proximal_step(self, x, learning_rate, step=None):
        """The proximal map of the non-smooth part of the penalty, applied to `x` for step size `learning_rate`.

        Only regularizers with `proximal = True` implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} has no proximal step.")

    def current_strengths(self, step):
        """`{name: value}` of the scheduled strengths at `step` (tensors); empty for a regularizer without schedules."""
        return {name: schedule(step) for name, schedule in schedules.scheduled_attributes(self).items()}

    def was_bound(self):
        """Records that a training binding drove this regularizer, so later unbound calls (`evaluate` after `fit`)
        do not warn."""
        self._warned_unbound = True

    def _warn_unbound(self):
        if self._warned_unbound or in_symbolic_scope():
            return
        self._warned_unbound = True
        needs = []
        if self.proximal:
            needs.append(
                "its proximal step will not run, so no weight becomes exactly zero and the penalty has no "
                "effect on training"
            )
        if self.scheduled:
            needs.append("its scheduled strength cannot read the training step and stays at its step-0 value")
        warnings.warn(
            f"{self!r} is used without kreg's training binding: {'; '.join(needs)}. Pass "
            "`callbacks=[kreg.callbacks.TrainingBinding()]` (or any kreg callback) to `fit`.",
            UserWarning,
            stacklevel=3,
        )

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must implement `get_config`.")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
