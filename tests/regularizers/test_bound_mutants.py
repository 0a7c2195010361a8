"""Mutation-testing follow-ups for `kreg.regularizers.bound`: `BoundRegularizer` called directly, without `fit`.

The wrapper passes the step source's value to a scheduled regularizer and `None` to an unscheduled one, serializes as
the regularizer it wraps, and reads as it in `repr` and `kreg.introspection.unwrap`.
"""

import keras
import numpy as np
import pytest

import kreg
from kreg.introspection import unwrap
from kreg.regularizers import BoundRegularizer

WEIGHTS = np.array([[1.0, -2.0], [3.0, 0.5]], "float32")
SQUARES = float(np.sum(WEIGHTS**2))  # 14.25


class _FixedStep:
    """A stand-in for `kreg.step_source.StepSource` whose step is fixed."""

    def __init__(self, step):
        self.step = step
        self.calls = 0

    def value(self):
        self.calls += 1
        return keras.ops.convert_to_tensor(self.step, "int64")


class _Recording(kreg.regularizers.L2):
    """An L2 that records the step it was given."""

    def penalty(self, x, step):
        self.steps_seen = getattr(self, "steps_seen", []) + [step]
        return super().penalty(x, step)


def test_a_scheduled_strength_is_evaluated_at_the_step_of_the_source():
    regularizer = kreg.regularizers.L2(kreg.schedules.Linear(0.0, 1.0, steps=10))
    for step, strength in ((0, 0.0), (5, 0.5), (10, 1.0), (20, 1.0)):
        bound = BoundRegularizer(regularizer, _FixedStep(step))
        np.testing.assert_allclose(float(keras.ops.convert_to_numpy(bound(WEIGHTS))), strength * SQUARES, rtol=1e-6)


def test_an_unscheduled_regularizer_gets_no_step_and_the_source_is_not_read():
    regularizer = _Recording(0.25)
    source = _FixedStep(7)
    value = BoundRegularizer(regularizer, source)(WEIGHTS)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(value)), 0.25 * SQUARES, rtol=1e-6)
    assert regularizer.steps_seen == [None]
    assert source.calls == 0


def test_a_scheduled_regularizer_gets_the_value_of_the_source():
    regularizer = _Recording(kreg.schedules.Linear(0.0, 1.0, steps=10))
    source = _FixedStep(3)
    BoundRegularizer(regularizer, source)(WEIGHTS)
    assert source.calls == 1
    assert len(regularizer.steps_seen) == 1
    assert int(keras.ops.convert_to_numpy(regularizer.steps_seen[0])) == 3


def test_config_is_the_wrapped_regularizer_and_from_config_returns_it():
    regularizer = kreg.regularizers.L1(0.5)
    bound = BoundRegularizer(regularizer, _FixedStep(0))
    config = bound.get_config()
    assert list(config) == ["regularizer"]
    assert config["regularizer"] == keras.saving.serialize_keras_object(regularizer)
    restored = BoundRegularizer.from_config(config)
    assert type(restored) is kreg.regularizers.L1
    assert restored.get_config() == regularizer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(bound))
    assert type(restored) is kreg.regularizers.L1
    assert restored.get_config() == regularizer.get_config()


def test_repr_and_unwrap_show_the_wrapped_regularizer():
    regularizer = kreg.regularizers.L2(0.25)
    bound = BoundRegularizer(regularizer, _FixedStep(0))
    assert repr(bound) == repr(regularizer) == "L2(l2=0.25)"
    assert BoundRegularizer.is_binding_wrapper is True
    assert unwrap(bound) is regularizer
    assert bound.wrapped is regularizer


@pytest.mark.parametrize("step", [0, 4])
def test_the_wrapper_keeps_its_step_source(step):
    source = _FixedStep(step)
    assert BoundRegularizer(kreg.regularizers.L2(0.1), source).step_source is source
