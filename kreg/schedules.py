"""Strength schedules: regularization strengths that change with the training step.

Any strength of a kreg regularizer (`l1`, `l2`, `factor`) may be a number or a schedule: one of kreg's small
schedules below (`Constant`, `Linear`, `Cosine`, `Step`) or any `keras.optimizers.schedules.LearningRateSchedule`
(`ExponentialDecay`, `CosineDecay`, ...). kreg's schedules are `LearningRateSchedule` subclasses too, so they also
work as learning rates.

How the step reaches the penalty. A schedule is a pure function of the step, and so is a regularizer's penalty
(`regularizer.penalty(x, step)`). Keras calls a regularizer with the weight only, so during `fit` the training binding
(`kreg.callbacks.TrainingBinding`, or any kreg callback) puts a `kreg.regularizers.BoundRegularizer` on each
variable whose regularizer is scheduled; it reads the step from the model's `kreg.step_source.StepSource` (the
optimizer's `iterations`, threaded through the compiled step on every backend) and takes it off when `fit` ends.

A scheduled regularizer called without the binding (`regularizer(x)`) warns once and uses its schedule's value at
step 0.

Reference: Loshchilov & Hutter 2017, "SGDR: Stochastic gradient descent with warm restarts" (cosine schedule);
Goyal et al. 2017, "Accurate, large minibatch SGD" (linear warm-up).
"""

import math
import numbers

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


def strength_value(value, step, dtype):
    """A strength as a tensor of `dtype`: the number, or the schedule at `step` (step 0 when `step` is `None`)."""
    if isinstance(value, numbers.Real):
        # A Python number straight to `dtype`: `cast` would round it through float32 first on TensorFlow (0.1 as a
        # float64 strength would be 0.10000000149011612).
        return ops.convert_to_tensor(float(value), dtype=dtype)
    if not is_schedule(value):
        return ops.cast(value, dtype)
    return ops.cast(value(0 if step is None else step), dtype)


def scheduled_attributes(obj):
    """`{name: schedule}` for every attribute of `obj` holding a schedule (leading underscores dropped)."""
    return {name.lstrip("_"): value for name, value in vars(obj).items() if is_schedule(value)}


__all__ = [
    "ALL_OBJECTS",
    "Constant",
    "Cosine",
    "Linear",
    "Schedule",
    "Step",
    "check_strength",
    "deserialize",
    "get",
    "is_schedule",
    "serialize",
    "strength_config",
    "scheduled_attributes",
    "strength_value",
]
