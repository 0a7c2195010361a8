"""`kreg.callbacks.ProximalStep` (the former name of `TrainingBinding`): a clear error on a model it cannot bind."""

import keras
import pytest

import kreg


@pytest.mark.parametrize("cls", [kreg.callbacks.ProximalStep, kreg.callbacks.TrainingBinding])
def test_on_train_begin_on_an_uncompiled_model_raises_its_clear_error(cls):
    # Issue 14: this used to raise AttributeError ('NoneType' object has no attribute 'bound_regularizers').
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_regularizer=kreg.regularizers.L1(0.1))])
    callback = cls()
    callback.set_model(model)
    with pytest.raises(ValueError, match=r"needs a compiled model: call `model.compile\(optimizer=...\)`"):
        callback.on_train_begin()


def test_on_train_begin_on_something_that_is_not_a_model_raises_clearly():
    callback = kreg.callbacks.ProximalStep()
    callback.set_model(object())
    with pytest.raises(ValueError, match=r"ProximalStep needs a compiled `keras.Model` to bind; received model="):
        callback.on_train_begin()
