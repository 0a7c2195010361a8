"""Strength schedules: regularization strengths that change with the training step.

Any strength of a kreg regularizer (`l1`, `l2`, `factor`) may be a number or a schedule: one of kreg's small
schedules below (`Constant`, `Linear`, `Cosine`, `Step`) or any `keras.optimizers.schedules.LearningRateSchedule`
(`ExponentialDecay`, `CosineDecay`, ...). kreg's schedules are `LearningRateSchedule` subclasses too, so they also
work as learning rates.

How the step reaches the penalty. A regularizer's `__call__(x)` only receives the weight, so the step comes from
the optimizer the regularizer is bound to (`kreg.callbacks.ProximalStep` binds every kreg regularizer of the model at
the start of `fit`):

- TensorFlow and PyTorch: the penalty reads `optimizer.iterations`, a variable, so a compiled (`tf.function`, XLA)
  or eager step sees the live count.
- JAX: the compiled step is a pure function of the state passed in; a variable read inside it is frozen at trace
  time (during `fit` Keras even frees the optimizer's variables). `ProximalStep` therefore wraps the model's
  `train_step(state, data)` so that the traced iteration count taken from `state` is visible to the penalties
  while the step is traced (`training_step`).

A scheduled regularizer that is not bound warns once and uses its schedule's value at step 0.

Reference: Loshchilov & Hutter 2017, "SGDR: Stochastic gradient descent with warm restarts" (cosine schedule);
Goyal et al. 2017, "Accurate, large minibatch SGD" (linear warm-up).
"""

import contextlib
import math
import numbers
import warnings

import keras
from keras import ops

from kreg import validation

_LRSchedule = keras.optimizers.schedules.LearningRateSchedule


class Schedule(_LRSchedule):
    """Base class of kreg's strength schedules: `schedule(step)` returns a float32 scalar tensor."""

    def __call__(self, step):
        return self.value(ops.cast(step, "float32"))

    def value(self, step):
        """The strength at `step` (a float32 scalar tensor)."""
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _fraction(step, steps, delay):
    """`clip((step - delay) / steps, 0, 1)` in float32."""
    return ops.clip((step - float(delay)) / float(steps), 0.0, 1.0)


class _Ramp(Schedule):
    """A ramp from `start` to `end` over `steps` steps after `delay` steps; subclasses give its shape (`value`)."""

    def __init__(self, start, end, steps, delay=0):
        self.start = validation.check_float("start", start, low=0.0)
        self.end = validation.check_float("end", end, low=0.0)
        self.steps = validation.check_int("steps", steps, low=1)
        self.delay = validation.check_int("delay", delay, low=0)

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps, "delay": self.delay}


@keras.saving.register_keras_serializable(package="kreg")
class Constant(Schedule):
    """A constant strength (the same as passing the number; useful where a schedule object is required).

    Args:
        value: non-negative strength.

    Example:

    >>> kreg.regularizers.L2(kreg.schedules.Constant(1e-4))
    """

    def __init__(self, value):
        self.constant = validation.check_float("value", value, low=0.0)

    def value(self, step):
        return ops.cast(self.constant, "float32") + ops.zeros_like(step)

    def get_config(self):
        return {"value": self.constant}


@keras.saving.register_keras_serializable(package="kreg")
class Linear(_Ramp):
    """Linear warm-up or decay: `start` until step `delay`, then linearly to `end` over `steps` steps, then `end`.

    `value(step) = start + (end - start) * clip((step - delay) / steps, 0, 1)`.

    Args:
        start: non-negative strength before and at step `delay`.
        end: non-negative strength from step `delay + steps` on.
        steps: length of the ramp, an integer >= 1.
        delay: number of steps at `start` before the ramp begins, an integer >= 0.

    Example:

    >>> kreg.regularizers.L2(kreg.schedules.Linear(0.0, 1e-3, steps=1000))  # warm-up from 0 to 1e-3

    Reference: Goyal et al. 2017, "Accurate, large minibatch SGD: training ImageNet in 1 hour" (linear warm-up).
    """

    def value(self, step):
        t = _fraction(step, self.steps, self.delay)
        return self.start + (self.end - self.start) * t


@keras.saving.register_keras_serializable(package="kreg")
class Cosine(_Ramp):
    """Half-cosine ramp from `start` to `end` over `steps` steps, after `delay` steps at `start`.

    `value(step) = start + (end - start) * (1 - cos(pi * t)) / 2` with `t = clip((step - delay) / steps, 0, 1)`.
    With `start > end` this is cosine decay, with `start < end` a smooth warm-up.

    Args:
        start: non-negative strength before and at step `delay`.
        end: non-negative strength from step `delay + steps` on.
        steps: length of the ramp, an integer >= 1.
        delay: number of steps at `start` before the ramp begins, an integer >= 0.

    Example:

    >>> kreg.regularizers.GroupLasso(kreg.schedules.Cosine(0.0, 1e-2, steps=500))

    Reference: Loshchilov & Hutter 2017, "SGDR: Stochastic gradient descent with warm restarts".
    """

    def value(self, step):
        t = _fraction(step, self.steps, self.delay)
        return self.start + (self.end - self.start) * 0.5 * (1.0 - ops.cos(math.pi * t))


@keras.saving.register_keras_serializable(package="kreg")
class Step(Schedule):
    """Piecewise-constant strength: `values[i]` for `boundaries[i - 1] <= step < boundaries[i]`.

    Args:
        boundaries: strictly increasing non-negative integers (the steps where the value changes), at least one.
        values: non-negative strengths, one more than `boundaries`.

    Example:

    >>> kreg.schedules.Step(boundaries=[100, 1000], values=[0.0, 1e-4, 1e-3])

    Reference: He et al. 2016, "Deep residual learning for image recognition" (step schedules).
    """

    def __init__(self, boundaries, values):
        if (
            not isinstance(boundaries, (list, tuple))
            or not boundaries
            or any(isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 0 for b in boundaries)
            or any(b >= c for b, c in zip(boundaries, boundaries[1:]))
        ):
            raise validation.invalid(
                "boundaries", "a non-empty list of strictly increasing non-negative integers", boundaries
            )
        if not isinstance(values, (list, tuple)) or len(values) != len(boundaries) + 1:
            raise validation.invalid("values", f"a list of {len(boundaries) + 1} non-negative floats", values)
        self.boundaries = [int(b) for b in boundaries]
        self.values = [validation.check_float("values", v, low=0.0) for v in values]

    def value(self, step):
        result = ops.cast(self.values[0], "float32") + ops.zeros_like(step)
        for boundary, value in zip(self.boundaries, self.values[1:]):
            result = ops.where(step >= float(boundary), ops.cast(value, "float32"), result)
        return result

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


ALL_OBJECTS = {cls.__name__: cls for cls in (Constant, Linear, Cosine, Step)}


def serialize(schedule):
    """Serializes a schedule (kreg's or Keras's) to a config dict."""
    return keras.saving.serialize_keras_object(schedule)


def deserialize(config):
    """Builds a schedule from `serialize`'s output or from `{"class_name": "Linear", "config": {...}}`."""
    if isinstance(config, dict) and "module" not in config and config.get("class_name") in ALL_OBJECTS:
        return ALL_OBJECTS[config["class_name"]].from_config(config.get("config", {}))
    return keras.saving.deserialize_keras_object(config)


def get(identifier):
    """Resolves a strength: a number (returned as a Python float), a schedule instance, or a schedule config dict.

    Raises:
        ValueError: for anything else.
    """
    if isinstance(identifier, _LRSchedule):
        return identifier
    if isinstance(identifier, dict):
        schedule = deserialize(identifier)
        if isinstance(schedule, _LRSchedule):
            return schedule
    elif isinstance(identifier, numbers.Real) and not isinstance(identifier, bool):
        return float(identifier)
    raise validation.invalid("identifier", "a number, a schedule or a schedule config dict", identifier)


# Strengths of regularizers -----------------------------------------------------------------------------------


def is_schedule(value):
    """Whether `value` is a schedule (kreg's or a Keras `LearningRateSchedule`)."""
    return isinstance(value, _LRSchedule)


def check_strength(name, value):
    """Validates a regularization strength: a non-negative finite number (returned as a Python float) or a schedule.

    A config dict (what `strength_config` returns for a schedule) is deserialized, so `from_config` round-trips.
    """
    if is_schedule(value):
        return value
    if isinstance(value, dict):
        try:
            return get(value)
        except (ValueError, TypeError) as error:
            raise validation.invalid(name, "a non-negative finite float or a schedule config", value) from error
    # Anything else gets the number check and its message (kept identical to the number-only strengths).
    return validation.check_float(name, value, low=0.0)


def strength_config(value):
    """The `get_config` form of a strength: the float itself, or the schedule's serialized config dict."""
    return serialize(value) if is_schedule(value) else value


class _TracedStep:
    step = None


def training_step(step):
    """Context manager making `step` (a traced iteration count) the step that scheduled strengths read.

    `kreg.callbacks.ProximalStep` uses it around the JAX `train_step(state, data)`, where the optimizer's
    iteration count is part of `state` and not readable from the variable.
    """

    @contextlib.contextmanager
    def scope():
        previous = _TracedStep.step
        _TracedStep.step = step
        try:
            yield
        finally:
            _TracedStep.step = previous

    return scope()


def current_step(regularizer):
    """The training step a scheduled strength of `regularizer` is evaluated at (see the module docstring).

    Returns `None` when the step is unknown (the regularizer is not bound to an optimizer).
    """
    if _TracedStep.step is not None:
        return _TracedStep.step
    optimizer = getattr(regularizer, "optimizer", None)
    if optimizer is None:
        return None
    iterations = optimizer.iterations
    if keras.backend.backend() == "jax":
        # Outside the wrapped training step (e.g. `evaluate`), the variable may have been freed by the trainer.
        try:
            return ops.convert_to_tensor(iterations.value)
        except (TypeError, AttributeError):
            return None
    return iterations


def strength_value(regularizer, value, dtype):
    """A strength as a tensor of `dtype`: the number, or the schedule at the current training step.

    An unbound scheduled regularizer warns once (not during Keras's shape-only build pass) and uses step 0.
    """
    if not is_schedule(value):
        return ops.cast(value, dtype)
    step = current_step(regularizer)
    if step is None:
        _warn_unbound(regularizer)
        step = 0
    return ops.cast(value(step), dtype)


def _warn_unbound(regularizer):
    from kreg.regularizers.base import _in_symbolic_build

    if getattr(regularizer, "_warned_unscheduled", False) or _in_symbolic_build():
        return
    regularizer._warned_unscheduled = True
    warnings.warn(
        f"{type(regularizer).__name__} has a scheduled strength but is not bound to an optimizer, so it cannot read the training "
        "step: it uses its schedule's value at step 0. Pass `callbacks=[kreg.callbacks.ProximalStep()]` to `fit` "
        "(it binds every kreg regularizer of the model to the optimizer).",
        UserWarning,
        stacklevel=4,
    )


__all__ = [
    "ALL_OBJECTS",
    "Constant",
    "Cosine",
    "Linear",
    "Schedule",
    "Step",
    "check_strength",
    "current_step",
    "deserialize",
    "get",
    "is_schedule",
    "serialize",
    "strength_config",
    "strength_value",
    "training_step",
]
