"""`ScheduledLayer`: the base of kreg's random layers, whose rates may follow the training step.

A rate or a standard deviation may be a number or a schedule (`kreg.schedules`, or any Keras
`LearningRateSchedule`). A layer with a schedule owns its training step as a non-trainable weight, `step`, that its
own training call advances, the way `BatchNormalization` updates its moving statistics: every trainer threads it
through the compiled step (JAX's stateless jitted step included), it is saved with the model (a resumed run
continues its schedules), and no `train_step` is rewritten and no callback is needed. The step counts the layer's
training calls: one per training step for a layer called once per step (with gradient accumulation, one per
micro-batch).

Reference: Ghiasi, Lin & Le 2018, "DropBlock: A regularization method for convolutional networks" (the linearly
increasing drop rate that motivates schedules of layer rates).
"""

import keras
from keras import ops

from kreg import schedules, validation

#: The key of a random layer's `SeedGenerator` state among its saved variables.
SEED_STATE_KEY = "seed_generator_state"


class SavesSeedState:
    """Mixin for a layer with a `seed_generator`: its state is saved with the layer's own variables.

    Keras saves a layer's own weights but not its `SeedGenerator` state, so a reloaded random layer (Keras's own
    `Dropout` too) restarts its random stream from its seed. With this mixin a `.keras` file carries the state under
    `SEED_STATE_KEY`, and training resumed from the file draws the masks the uninterrupted run would have drawn.
    Files saved without it load as before (the stream then restarts from the seed).
    """

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        keys = list(store.keys())
        if SEED_STATE_KEY in keys:
            self.seed_generator.state.assign(store[SEED_STATE_KEY])
            store = {key: store[key] for key in keys if key != SEED_STATE_KEY}
        super().load_own_variables(store)


class ScheduledLayer(SavesSeedState, keras.layers.Layer):
    """Base class of kreg's random layers: one `SeedGenerator`, and parameters that may be schedules of the step.

    The generator's state is saved with the layer (`SavesSeedState`), so training resumed from a `.keras` file
    continues the random stream.

    A subclass calls `self.scheduled_parameter(name, value, check)` in `__init__` for each such parameter (after
    `super().__init__`), reads its current value with `self.current(name)` in `call`, and calls
    `self.advance(training)` once per call. `current_values()` gives every parameter's current value as floats (what
    `RegularizationReport` logs); `get_config()` includes every parameter (its float, or its schedule's config).

    Args:
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = validation.check_int("seed", seed, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # Not `_parameters`: PyTorch modules keep their own dict under that name.
        self._rate_parameters = {}
        self.step = None

    def scheduled_parameter(self, name, value, check):
        """Validates `value` (a number through `check(name, value)`, or a schedule or its config dict) and records it.

        Returns:
            The value to store: a Python float, or the schedule.
        """
        if isinstance(value, dict):
            try:
                schedule = schedules.deserialize(value)
            except (ValueError, TypeError) as error:
                raise validation.invalid(name, "a number or a schedule (or its config dict)", value) from error
            if not schedules.is_schedule(schedule):
                raise validation.invalid(name, "a number or a schedule (or its config dict)", value)
            value = schedule
        if schedules.is_schedule(value):
            if self.step is None:
                self.step = self.add_weight(name="step", shape=(), dtype="int32", initializer="zeros", trainable=False)
        else:
            value = check(name, value)
        self._rate_parameters[name] = value
        return value

    @property
    def scheduled(self):
        """Whether any parameter of this layer is a schedule."""
        return any(schedules.is_schedule(v) for v in self._rate_parameters.values())

    def current(self, name):
        """The current value of parameter `name`: the Python float, or the schedule at `step` (a float32 tensor)."""
        value = self._rate_parameters[name]
        if schedules.is_schedule(value):
            return ops.cast(value(ops.cast(self.step.value, "float32")), "float32")
        return value

    def advance(self, training):
        """Counts one training call (when `training` and the layer has a schedule)."""
        if training and self.step is not None:
            self.step.assign_add(ops.ones((), "int32"))

    def current_values(self):
        """`{name: float}`: every parameter's value at the current step."""
        return {name: float(ops.convert_to_numpy(self.current(name))) for name in self._rate_parameters}

    def parameter_config(self, name):
        """The `get_config` form of parameter `name` (the float, or the schedule's config dict)."""
        return schedules.strength_config(self._rate_parameters[name])

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        config.update({name: self.parameter_config(name) for name in self._rate_parameters})
        return config


def is_zero(value):
    """Whether a parameter is the Python number 0 (so a layer can return its input at no cost)."""
    return not schedules.is_schedule(value) and not hasattr(value, "shape") and value == 0


__all__ = ["SEED_STATE_KEY", "SavesSeedState", "ScheduledLayer", "is_zero"]
