"""`declared_direction`: the direction a compiled metric declares, found inside Keras's metric containers."""

import keras
import numpy as np

from kreg.callbacks.metric_direction import declared_direction


def test_directions_of_compiled_metrics():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse", metrics=["accuracy", keras.metrics.MeanAbsoluteError(name="mae")])
    model.evaluate(np.ones((4, 3)), np.ones((4, 2)), verbose=0)  # builds the compiled metrics
    assert declared_direction(model, "accuracy") == "up"
    assert declared_direction(model, "mae") == "down"
    assert declared_direction(model, "no_such_metric") is None
