"""`declared_direction` (the direction a compiled metric declares, found inside Keras's metric containers) and
`monitor_sign` (the direction of a monitored quantity, as Keras's `EarlyStopping` infers it)."""

import keras
import numpy as np
import pytest

from kreg.callbacks.metric_direction import declared_direction, monitor_sign


def test_directions_of_compiled_metrics():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse", metrics=["accuracy", keras.metrics.MeanAbsoluteError(name="mae")])
    model.evaluate(np.ones((4, 3)), np.ones((4, 2)), verbose=0)  # builds the compiled metrics
    assert declared_direction(model, "accuracy") == "up"
    assert declared_direction(model, "mae") == "down"
    assert declared_direction(model, "no_such_metric") is None


def test_monitor_sign():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse", metrics=["accuracy", keras.metrics.MeanAbsoluteError(name="mae")])
    model.evaluate(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    assert monitor_sign(model, "val_accuracy") == -1.0
    assert monitor_sign(model, "mae") == 1.0
    assert monitor_sign(model, "val_loss") == 1.0
    assert monitor_sign(model, "val_data_loss") == 1.0  # kreg's loss without the penalties
    assert monitor_sign(model, "val_accuracy", mode="min") == 1.0
    assert monitor_sign(None, "anything", mode="max") == -1.0
    with pytest.raises(ValueError, match="AdaptiveEarlyStopping callback received monitor=val_score, but Keras isn't"):
        monitor_sign(model, "val_score", caller="AdaptiveEarlyStopping")
