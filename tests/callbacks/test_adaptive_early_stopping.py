"""`kreg.callbacks.AdaptiveEarlyStopping`: its defaults, its three rules (the default `rule="up_progress"`, issue 5's
`rule="patience_growth"` with the trend test, `rule="up_patience"`), state, config."""

import keras
import numpy as np
import pytest

import kreg
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
    assert stopper.monitor is None  # chosen from the first epoch's logs
    assert stopper.patience == 10
    assert stopper.restore_best_weights is True
    assert stopper.check_finite is True
    assert stopper.patience_ratio == 0.3
    assert stopper.max_patience is None
    assert stopper.trend_test is True
    assert stopper.rule == "up_progress"
    assert stopper.min_progress == 0.01
    assert stopper.policy.up_max_patience() == 25
    assert isinstance(stopper, EarlyStopping)


def test_default_rule_summary_explains_every_stop():
    # Rising after the best (epoch 29, 0-based): UP_3 after 11 epochs.
    rising = [1.0 - 0.01 * epoch for epoch in range(30)] + [0.71 + 0.05 * i for i in range(1, 60)]
    stopper = AdaptiveEarlyStopping()
    model = WeightsAreEpochs()
    assert drive(stopper, rising, model=model) == 41
    assert model.weights == stopper.restored_epoch == 29
    assert stopper.summary() == (
        "Epoch 41: early stopping: val_loss did not improve for 11 epochs (best 0.71 at epoch 30) and rose over the"
        " last 3 strips of 5 epochs (UP_3); restored the weights of epoch 30 (val_loss=0.71)."
    )
    # A slow creep, then a plateau: too little progress over the last 25 epochs, stop 10 epochs after the best.
    plateau = [0.5 - 0.0001 * epoch for epoch in range(40)] + [0.497, 0.499] * 20
    stopper = AdaptiveEarlyStopping()
    assert drive(stopper, plateau) == 50
    assert stopper.summary() == (
        "Epoch 50: early stopping: val_loss did not improve for 10 epochs (best 0.4961 at epoch 40); its best improved"
        " by only 0.3 % over the last 25 epochs (min_progress 1 %); restored the weights of epoch 40 (val_loss=0.4961)."
    )
    # Fast progress, then flat and noisy: the long wait, max_patience = 2.5 x patience = 25.
    flat = [1.0 - 0.05 * epoch for epoch in range(11)] + [0.6 + 0.04 * (i % 2) for i in range(80)]
    stopper = AdaptiveEarlyStopping()
    assert drive(stopper, flat) == 36
    assert stopper.summary() == (
        "Epoch 36: early stopping: val_loss did not improve for 25 epochs (max_patience 25, best 0.5 at epoch 11); it"
        " did not rise over the last 3 strips of 5 epochs; restored the weights of epoch 11 (val_loss=0.5)."
    )
    # A NaN stops at once, the best weights are still restored.
    stopper = AdaptiveEarlyStopping()
    assert drive(stopper, [1.0, 0.5, float("nan"), 0.1]) == 3
    assert stopper.summary() == (
        "Epoch 3: early stopping: val_loss is nan at epoch 3; restored the weights of epoch 2 (val_loss=0.5)."
    )
    # No stop: the summary says so.
    stopper = AdaptiveEarlyStopping()
    assert drive(stopper, [1.0, 0.5, 0.4]) == 3
    assert stopper.summary() == (
        "AdaptiveEarlyStopping: training ended without an early stop; restored the weights of epoch 3 (val_loss=0.4)."
    )


def test_patience_grows_with_the_epoch_of_the_best_value():
    # Best at epoch 59: patience max(10, 0.3 * 60) = 18, so the run stops at epoch 59 + 18 = 77 (rising afterwards).
    values = list(np.linspace(2.0, 1.0, 60)) + [1.0 + 0.01 * i for i in range(1, 60)]
    stopper = AdaptiveEarlyStopping(rule="patience_growth", trend_test=False)
    assert drive(stopper, values) == 78
    assert stopper.best_epoch == 59 and stopper.stopped_epoch == 77
    assert stopper.current_patience() == pytest.approx(18.0)
    assert "adaptive patience 18" in stopper.stop_reason
    # An early best keeps the minimum patience of 10.
    early = AdaptiveEarlyStopping(rule="patience_growth", trend_test=False)
    assert drive(early, [1.0, 0.5] + [0.6 + 0.1 * i for i in range(20)]) == 12
    assert early.current_patience() == 10.0
    # max_patience caps it.
    capped = AdaptiveEarlyStopping(rule="patience_growth", trend_test=False, max_patience=10)
    assert drive(capped, values) == 70


def test_trend_test_keeps_a_noisy_but_still_improving_run_going():
    # A loss shrinking by a constant factor under 20 % multiplicative noise, with a lucky early value (beaten only
    # around epoch 40): the trend test keeps going, a fixed patience stops.
    rng = np.random.default_rng(0)
    epochs = np.arange(120)
    values = list(0.1 * np.exp(-epochs / 30) * np.exp(0.2 * rng.standard_normal(120)))
    values[20] = 0.02
    trend = AdaptiveEarlyStopping(rule="patience_growth")
    no_trend = AdaptiveEarlyStopping(rule="patience_growth", trend_test=False)
    fixed = EarlyStopping(patience=10)
    run_trend, run_no_trend, run_fixed = drive(trend, values), drive(no_trend, values), drive(fixed, values)
    assert run_fixed < 40 and run_no_trend < 40
    assert run_trend > 80
    assert trend.best_epoch > 100


def test_trend_test_stops_a_rising_curve():
    values = [1.0, 0.5, 0.4] + [0.4 + 0.05 * i for i in range(1, 40)]
    stopper = AdaptiveEarlyStopping(rule="patience_growth")
    assert drive(stopper, values) == 13
    assert stopper.stop_reason.endswith("and its trend stopped improving")
    assert stopper.restored_epoch == 2


def test_trend_test_for_a_metric_to_maximize():
    # Accuracy creeping up under noise, with a lucky early peak: the (linear-scale) trend test keeps the run going.
    rng = np.random.default_rng(1)
    values = list(0.8 + 0.1 * (1 - np.exp(-np.arange(100) / 30)) + 0.01 * rng.standard_normal(100))
    values[15] = 0.88
    trend = AdaptiveEarlyStopping(monitor="val_accuracy", mode="max", rule="patience_growth")
    no_trend = AdaptiveEarlyStopping(monitor="val_accuracy", mode="max", rule="patience_growth", trend_test=False)
    run_trend = drive(trend, values, monitor="val_accuracy")
    run_no_trend = drive(no_trend, values, monitor="val_accuracy")
    assert trend.monitor_op == keras.ops.greater
    assert run_no_trend < 30
    assert run_trend > 80 and trend.best_epoch > 80


def test_up_patience_rule_stops_a_rising_curve_early_and_a_flat_one_late():
    # Rising after the best (epoch 29, 0-based): stops 11 epochs after it (the first epoch the value rose over 3
    # strips of 5), restores the best weights, and the summary names the branch.
    rising = [1.0 - 0.01 * epoch for epoch in range(30)] + [0.71 + 0.05 * i for i in range(1, 60)]
    stopper = AdaptiveEarlyStopping(rule="up_patience")
    model = WeightsAreEpochs()
    assert drive(stopper, rising, model=model) == 41
    assert model.weights == stopper.restored_epoch == 29
    assert stopper.summary() == (
        "Epoch 41: early stopping: val_loss did not improve for 11 epochs (best 0.71 at epoch 30) and rose over the"
        " last 3 strips of 5 epochs (UP_3); restored the weights of epoch 30 (val_loss=0.71)."
    )
    # Flat and noisy (alternating) after the best at epoch 9: waits max_patience = 3 x patience = 30.
    flat = [1.0 - 0.05 * epoch for epoch in range(10)] + [0.6 + 0.04 * (i % 2) for i in range(80)]
    stopper = AdaptiveEarlyStopping(rule="up_patience")
    assert drive(stopper, flat) == 40
    assert "(max_patience 30, best 0.55 at epoch 10); it did not rise" in stopper.summary()
    stopper = AdaptiveEarlyStopping(rule="up_patience", patience=4, max_patience=12)
    assert drive(stopper, flat) == 22 and "max_patience 12" in stopper.stop_reason
    # Issue 5's rule on the same curves, for contrast: about as fast on the rising one, earlier on the flat one.
    assert drive(AdaptiveEarlyStopping(rule="patience_growth"), rising) == 40
    assert drive(AdaptiveEarlyStopping(rule="patience_growth"), flat) == 27
    # The default rule: as up_patience on the rising one; on the flat one its max_patience, 25.
    assert drive(AdaptiveEarlyStopping(), rising) == 41
    assert drive(AdaptiveEarlyStopping(), flat) == 35


def test_up_patience_rule_resumes_from_a_saved_state():
    values = [1.0 - 0.01 * epoch for epoch in range(30)] + [0.71 + 0.05 * i for i in range(1, 60)]
    reference = drive(AdaptiveEarlyStopping(rule="up_patience"), values)
    for split in (5, 31, 38):
        first = AdaptiveEarlyStopping(rule="up_patience")
        model = WeightsAreEpochs()
        first.set_model(model)
        first.on_train_begin()
        for epoch in range(split):
            first.on_epoch_end(epoch, {"val_loss": values[epoch]})
        second = AdaptiveEarlyStopping(rule="up_patience")
        second.set_model(model)
        second.set_state(first.get_state())
        run = len(values)
        for epoch in range(split, len(values)):
            second.on_epoch_end(epoch, {"val_loss": values[epoch]})
            if model.stop_training:
                run = epoch + 1
                break
        assert run == reference == 41


def test_state_round_trip_keeps_the_history_for_the_trend_test():
    values = list(np.linspace(1.0, 0.5, 30)) + [0.6] * 30
    full = AdaptiveEarlyStopping(rule="patience_growth")
    reference = drive(full, values)
    first = AdaptiveEarlyStopping(rule="patience_growth")
    model = WeightsAreEpochs()
    first.set_model(model)
    first.on_train_begin()
    for epoch in range(32):
        model.weights = epoch
        first.on_epoch_end(epoch, {"val_loss": values[epoch]})
    second = AdaptiveEarlyStopping(rule="patience_growth")
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


# -------------------------------------------------------------- monitor=None: a penalty-free loss to watch


def penalized_logs(epochs=40):
    """A regularized run: the data loss bottoms out at epoch 9, while a shrinking penalty keeps `val_loss` falling."""
    logs = []
    for epoch in range(epochs):
        data_loss = 1.0 + 0.01 * (epoch - 9) ** 2
        penalty = 2.0 * 0.8**epoch
        logs.append({"loss": data_loss, "val_data_loss": data_loss, "val_penalty": penalty})
        logs[-1]["val_loss"] = data_loss + penalty if epoch < 12 else logs[-2]["val_loss"] - 1e-3
    return logs


def drive_logs(stopper, logs, model=None):
    model = model or WeightsAreEpochs()
    stopper.set_model(model)
    stopper.on_train_begin()
    run = len(logs)
    for epoch, epoch_logs in enumerate(logs):
        model.weights = epoch
        stopper.on_epoch_end(epoch, dict(epoch_logs))
        if model.stop_training:
            run = epoch + 1
            break
    stopper.on_train_end()
    return run


def test_default_monitor_is_the_penalty_free_loss_when_the_model_has_penalties():
    logs = penalized_logs()
    assert all(b["val_loss"] < a["val_loss"] for a, b in zip(logs, logs[1:]))  # val_loss "improves" throughout
    model = WeightsAreEpochs()
    stopper = AdaptiveEarlyStopping()
    # The data loss, 1 + 0.01 (epoch - 9)^2, rises after epoch 9; at epoch 22 the values at epochs 22, 17, 12, 7
    # (2.69, 1.64, 1.09, 1.04) rose over 3 strips of 5: UP_3, 13 epochs after the best.
    assert drive_logs(stopper, logs, model) == 23
    assert stopper.monitor == "val_data_loss"
    assert stopper.best_epoch == 9 and model.weights == 9
    assert stopper.stop_reason.startswith("val_data_loss did not improve for 13 epochs")
    assert stopper.stop_reason.endswith("rose over the last 3 strips of 5 epochs (UP_3)")
    assert stopper.get_config()["monitor"] is None
    # Keras's val_loss, asked for explicitly, is honoured: it never stops and keeps the last epoch's weights.
    explicit = AdaptiveEarlyStopping(monitor="val_loss")
    model = WeightsAreEpochs()
    assert drive_logs(explicit, logs, model) == 40
    assert explicit.monitor == "val_loss" and explicit.get_config()["monitor"] == "val_loss"
    assert explicit.stop_reason is None and model.weights == 39


@pytest.mark.parametrize(
    "first_logs",
    [
        {"loss": 1.0, "val_loss": 1.0},  # no penalty logged
        {"loss": 1.0, "val_loss": 1.0, "val_data_loss": 1.0, "val_penalty": 0.0},  # penalties, all zero
        {"loss": 1.0, "val_loss": 1.0, "val_penalty": 0.5},  # no data loss logged
    ],
)
def test_default_monitor_is_val_loss_without_a_positive_penalty(first_logs):
    stopper = AdaptiveEarlyStopping()
    stopper.set_model(WeightsAreEpochs())
    stopper.on_train_begin()
    stopper.on_epoch_end(0, dict(first_logs))
    assert stopper.monitor == "val_loss" and stopper.best == 1.0


def test_default_monitor_is_chosen_at_the_first_epoch_and_kept_for_the_run():
    stopper = AdaptiveEarlyStopping()
    model = WeightsAreEpochs()
    stopper.set_model(model)
    stopper.on_train_begin()
    stopper.on_epoch_end(0, {})  # no logs: nothing chosen yet
    assert stopper.monitor is None
    stopper.on_epoch_end(1, {"val_loss": 3.0, "val_data_loss": 1.0, "val_penalty": np.float32(2.0)})
    stopper.on_epoch_end(2, {"val_loss": 0.5, "val_data_loss": 0.5, "val_penalty": 0.0})  # penalty gone: still kept
    assert stopper.monitor == "val_data_loss" and stopper.best == 0.5
    # A resumed run keeps the choice of the interrupted one.
    resumed = AdaptiveEarlyStopping()
    resumed.set_model(model)
    resumed.set_state(stopper.get_state())
    assert resumed.monitor == "val_data_loss"
    resumed.on_epoch_end(3, {"val_loss": 0.1, "val_data_loss": 0.4, "val_penalty": 0.0})
    assert resumed.best == 0.4 and resumed.best_epoch == 3
    # A new fit chooses again.
    stopper.on_train_begin()
    assert stopper.monitor is None
    stopper.on_epoch_end(0, {"val_loss": 3.0})
    assert stopper.monitor == "val_loss"


def test_default_monitor_in_a_real_fit_without_penalties_is_val_loss():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    stopper = AdaptiveEarlyStopping()
    history = model.fit(x, y, validation_split=0.25, epochs=3, verbose=0, callbacks=[stopper])
    assert stopper.monitor == "val_loss" and stopper.monitor_op == keras.ops.less
    assert stopper.best == min(history.history["val_loss"])


def test_config_round_trip_and_serialization():
    stopper = AdaptiveEarlyStopping(patience=3, patience_ratio=0.5, max_patience=40, trend_test=False, smoothing=0.1)
    config = stopper.get_config()
    assert config["patience_ratio"] == 0.5 and config["max_patience"] == 40 and config["trend_test"] is False
    assert config["smoothing"] == 0.1 and config["restore_best_weights"] is True
    assert AdaptiveEarlyStopping.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stopper))
    assert type(restored) is AdaptiveEarlyStopping and restored.get_config() == config
    assert config["rule"] == "up_progress" and config["min_progress"] == 0.01
    progress = AdaptiveEarlyStopping(min_progress=0.005, max_patience=30)
    config = progress.get_config()
    assert config["min_progress"] == 0.005 and config["max_patience"] == 30
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(progress))
    assert restored.get_config() == config and restored.policy.min_progress == 0.005
    up = AdaptiveEarlyStopping(rule="up_patience", max_patience=25, strips=2)
    config = up.get_config()
    assert config["rule"] == "up_patience" and config["max_patience"] == 25 and config["strips"] == 2
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(up))
    assert restored.get_config() == config and restored.policy.rule == "up_patience"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"patience_ratio": -0.1}, "Expected a non-negative finite float. Received: patience_ratio=-0.1"),
        ({"patience_ratio": float("nan")}, "Expected a non-negative finite float. Received: patience_ratio=nan"),
        ({"max_patience": 0}, "Expected an integer >= 1 or None. Received: max_patience=0"),
        ({"trend_test": 1}, "Expected a bool (True or False). Received: trend_test=1"),
        ({"patience": -1}, "Expected an integer >= 0. Received: patience=-1"),
        ({"criterion": "adaptive"}, "Received: criterion='adaptive'"),
        ({"monitor": ""}, "Expected a non-empty string or None. Received: monitor=''"),
        ({"run_id": "a/b"}, "Received: run_id='a/b'"),
        ({"rule": "UP"}, "Expected one of 'up_progress', 'patience_growth', 'up_patience'. Received: rule='UP'"),
        ({"min_progress": -1}, "Expected a non-negative finite float. Received: min_progress=-1"),
        ({"min_progress": None}, "Expected a non-negative finite float. Received: min_progress=None"),
        (
            {"max_patience": 9},
            "Expected an integer >= patience (10) or None with rule='up_progress'. Received: max_patience=9",
        ),
        (
            {"max_patience": 5, "rule": "up_patience"},
            "Expected an integer >= patience (10) or None with rule='up_patience'. Received: max_patience=5",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    name = next(iter(kwargs))
    with pytest.raises(ValueError) as error:
        AdaptiveEarlyStopping(**kwargs)
    assert str(error.value).startswith(f"Invalid value received for argument `{name}`.")
    assert message in str(error.value)


def shrinking_penalty_problem():
    """An over-parameterized regression whose validation data loss bottoms out early (epoch 10), next to a branch
    that only carries an L2 penalty, shrinking geometrically for hundreds of epochs (its output is multiplied by 0):
    Keras's `val_loss` (data loss + penalty) keeps "improving" long after the data loss has bottomed out."""
    rng = np.random.default_rng(0)
    n, p = 30, 60
    w_true = rng.normal(size=(p, 1)) / np.sqrt(p)
    x = rng.normal(size=(n + 300, p)).astype("float32")
    y = (x @ w_true + 0.5 * rng.normal(size=(n + 300, 1))).astype("float32")
    inputs = keras.Input((p,))
    fitted = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")(inputs)
    idle = keras.layers.Dense(
        1,
        use_bias=False,
        kernel_initializer=keras.initializers.Constant(1.0),
        kernel_regularizer=kreg.regularizers.L2(0.05),
    )(inputs)
    outputs = keras.layers.Add()([fitted, keras.layers.Lambda(lambda t: 0.0 * t)(idle)])
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model, (x[:n], y[:n]), (x[n:], y[n:])


def test_with_penalties_it_watches_the_data_loss_and_stops_near_its_minimum():
    model, train, validation = shrinking_penalty_problem()
    stopper = AdaptiveEarlyStopping()
    history = model.fit(*train, validation_data=validation, epochs=300, batch_size=30, verbose=0, callbacks=[stopper])
    h = history.history
    best = int(np.argmin(h["val_data_loss"]))
    assert stopper.monitor == "val_data_loss"
    assert stopper.best_epoch == best and stopper.restored_epoch == best
    assert len(h["loss"]) <= best + 15, "stops about one adaptive patience after the data loss's minimum"
    assert int(np.argmin(h["val_loss"])) == len(h["loss"]) - 1, "val_loss was still 'improving' at the stop"
    # Watching Keras's val_loss (data loss + shrinking penalty) instead does not stop in 120 epochs.
    model, train, validation = shrinking_penalty_problem()
    plain = AdaptiveEarlyStopping(monitor="val_loss")
    history = model.fit(*train, validation_data=validation, epochs=120, batch_size=30, verbose=0, callbacks=[plain])
    assert len(history.history["loss"]) == 120 and plain.stop_reason is None
