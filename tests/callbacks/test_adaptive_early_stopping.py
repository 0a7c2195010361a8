"""`kreg.callbacks.AdaptiveEarlyStopping`: its defaults, the adaptive patience, the trend test, state, config."""

import keras
import numpy as np
import pytest

from kreg.callbacks import AdaptiveEarlyStopping, EarlyStopping


class WeightsAreEpochs:
    def __init__(self):
        self.stop_training = False
        self.weights = -1

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def drive(stopper, values, monitor="val_loss", model=None):
    model = model or WeightsAreEpochs()
    stopper.set_model(model)
    stopper.on_train_begin()
    run = len(values)
    for epoch, value in enumerate(values):
        model.weights = epoch
        stopper.on_epoch_end(epoch, {monitor: value, "loss": 1.0})
        if model.stop_training:
            run = epoch + 1
            break
    stopper.on_train_end()
    return run


def test_defaults():
    stopper = AdaptiveEarlyStopping()
    assert stopper.monitor == "val_loss"
    assert stopper.patience == 10
    assert stopper.restore_best_weights is True
    assert stopper.check_finite is True
    assert stopper.patience_ratio == 0.3
    assert stopper.max_patience is None
    assert stopper.trend_test is True
    assert isinstance(stopper, EarlyStopping)


def test_patience_grows_with_the_epoch_of_the_best_value():
    # Best at epoch 59: patience max(10, 0.3 * 60) = 18, so the run stops at epoch 59 + 18 = 77 (rising afterwards).
    values = list(np.linspace(2.0, 1.0, 60)) + [1.0 + 0.01 * i for i in range(1, 60)]
    stopper = AdaptiveEarlyStopping(trend_test=False)
    assert drive(stopper, values) == 78
    assert stopper.best_epoch == 59 and stopper.stopped_epoch == 77
    assert stopper.current_patience() == pytest.approx(18.0)
    assert "adaptive patience 18" in stopper.stop_reason
    # An early best keeps the minimum patience of 10.
    early = AdaptiveEarlyStopping(trend_test=False)
    assert drive(early, [1.0, 0.5] + [0.6 + 0.1 * i for i in range(20)]) == 12
    assert early.current_patience() == 10.0
    # max_patience caps it.
    capped = AdaptiveEarlyStopping(trend_test=False, max_patience=10)
    assert drive(capped, values) == 70


def test_trend_test_keeps_a_noisy_but_still_improving_run_going():
    # A loss shrinking by a constant factor under 20 % multiplicative noise, with a lucky early value (beaten only
    # around epoch 40): the trend test keeps going, a fixed patience stops.
    rng = np.random.default_rng(0)
    epochs = np.arange(120)
    values = list(0.1 * np.exp(-epochs / 30) * np.exp(0.2 * rng.standard_normal(120)))
    values[20] = 0.02
    trend = AdaptiveEarlyStopping()
    no_trend = AdaptiveEarlyStopping(trend_test=False)
    fixed = EarlyStopping(patience=10)
    run_trend, run_no_trend, run_fixed = drive(trend, values), drive(no_trend, values), drive(fixed, values)
    assert run_fixed < 40 and run_no_trend < 40
    assert run_trend > 80
    assert trend.best_epoch > 100


def test_trend_test_stops_a_rising_curve():
    values = [1.0, 0.5, 0.4] + [0.4 + 0.05 * i for i in range(1, 40)]
    stopper = AdaptiveEarlyStopping()
    assert drive(stopper, values) == 13
    assert stopper.stop_reason.endswith("and its trend stopped improving")
    assert stopper.restored_epoch == 2


def test_trend_test_for_a_metric_to_maximize():
    # Accuracy creeping up under noise, with a lucky early peak: the (linear-scale) trend test keeps the run going.
    rng = np.random.default_rng(1)
    values = list(0.8 + 0.1 * (1 - np.exp(-np.arange(100) / 30)) + 0.01 * rng.standard_normal(100))
    values[15] = 0.88
    trend = AdaptiveEarlyStopping(monitor="val_accuracy", mode="max")
    no_trend = AdaptiveEarlyStopping(monitor="val_accuracy", mode="max", trend_test=False)
    run_trend = drive(trend, values, monitor="val_accuracy")
    run_no_trend = drive(no_trend, values, monitor="val_accuracy")
    assert trend.monitor_op == keras.ops.greater
    assert run_no_trend < 30
    assert run_trend > 80 and trend.best_epoch > 80


def test_state_round_trip_keeps_the_history_for_the_trend_test():
    values = list(np.linspace(1.0, 0.5, 30)) + [0.6] * 30
    full = AdaptiveEarlyStopping()
    reference = drive(full, values)
    first = AdaptiveEarlyStopping()
    model = WeightsAreEpochs()
    first.set_model(model)
    first.on_train_begin()
    for epoch in range(32):
        model.weights = epoch
        first.on_epoch_end(epoch, {"val_loss": values[epoch]})
    second = AdaptiveEarlyStopping()
    second.set_model(model)
    second.set_state(first.get_state())
    run = len(values)
    for epoch in range(32, len(values)):
        model.weights = epoch
        second.on_epoch_end(epoch, {"val_loss": values[epoch]})
        if model.stop_training:
            run = epoch + 1
            break
    second.on_train_end()
    assert run == reference
    assert model.weights == full.best_epoch == 29


def test_real_fit_stops_and_restores_the_best_weights(backend, jit_compile):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1)) + 0.5 * rng.normal(size=(40, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    steps = 1 if backend == "torch" else 2  # PyTorch only supports steps_per_execution=1
    model.compile(keras.optimizers.Adam(0.05), "mse", steps_per_execution=steps, jit_compile=jit_compile)
    snapshots = {}
    recorder = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.__setitem__(epoch, model.get_weights())
    )
    stopper = AdaptiveEarlyStopping()
    history = model.fit(
        x[:20],
        y[:20],
        validation_data=(x[20:], y[20:]),
        batch_size=4,
        epochs=60,
        verbose=0,
        callbacks=[recorder, stopper],
    )
    assert stopper.best_epoch == int(np.argmin(history.history["val_loss"]))
    for a, b in zip(model.get_weights(), snapshots[stopper.best_epoch]):
        np.testing.assert_array_equal(a, b)


def test_config_round_trip_and_serialization():
    stopper = AdaptiveEarlyStopping(patience=3, patience_ratio=0.5, max_patience=40, trend_test=False, smoothing=0.1)
    config = stopper.get_config()
    assert config["patience_ratio"] == 0.5 and config["max_patience"] == 40 and config["trend_test"] is False
    assert config["smoothing"] == 0.1 and config["restore_best_weights"] is True
    assert AdaptiveEarlyStopping.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stopper))
    assert type(restored) is AdaptiveEarlyStopping and restored.get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"patience_ratio": -0.1}, "Expected a non-negative finite float. Received: patience_ratio=-0.1"),
        ({"patience_ratio": float("nan")}, "Expected a non-negative finite float. Received: patience_ratio=nan"),
        ({"max_patience": 0}, "Expected an integer >= 1 or None. Received: max_patience=0"),
        ({"trend_test": 1}, "Expected a bool (True or False). Received: trend_test=1"),
        ({"patience": -1}, "Expected an integer >= 0. Received: patience=-1"),
        ({"criterion": "adaptive"}, "Received: criterion='adaptive'"),
    ],
)
def test_bad_arguments(kwargs, message):
    name = next(iter(kwargs))
    with pytest.raises(ValueError) as error:
        AdaptiveEarlyStopping(**kwargs)
    assert str(error.value).startswith(f"Invalid value received for argument `{name}`.")
    assert message in str(error.value)
