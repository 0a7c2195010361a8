"""`kreg.callbacks.EarlyStopping`: Keras's own EarlyStopping tests (ported, run on both kreg classes), a differential
test against `keras.callbacks.EarlyStopping`, the opt-in extras, and a real interrupted and resumed run."""

import warnings

import keras
import numpy as np
import pytest

from kreg.callbacks import AdaptiveEarlyStopping, EarlyStopping


def fixed(cls, **kwargs):
    """An instance configured to behave like Keras's EarlyStopping (the adaptive class with its adaptivity off)."""
    if cls is AdaptiveEarlyStopping:
        kwargs.setdefault("patience", 0)
        kwargs.setdefault("restore_best_weights", False)
        kwargs.update(rule="patience_growth", patience_ratio=0.0, trend_test=False)
    return cls(**kwargs)


BOTH = pytest.mark.parametrize("cls", [EarlyStopping, AdaptiveEarlyStopping])


class DummyModel:
    """Keras's test double: its "weights" are the epoch number they were set at."""

    def __init__(self):
        self.stop_training = False
        self.weights = -1
        self.get_weights_calls = 0

    def get_weights(self):
        self.get_weights_calls += 1
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def drive(stopper, values, monitor="val_loss", losses=None, model=None, interrupt_at=None):
    """Feeds `values` to `stopper` epoch by epoch like `fit` would; returns the number of epochs run."""
    model = model or DummyModel()
    stopper.set_model(model)
    stopper.on_train_begin()
    run = len(values)
    for epoch, value in enumerate(values):
        model.weights = epoch
        logs = {monitor: value}
        if losses is not None:
            logs["loss"] = losses[epoch]
        stopper.on_epoch_end(epoch, logs)
        if model.stop_training or epoch == interrupt_at:
            run = epoch + 1
            break
    stopper.on_train_end()
    return run


def tiny_model(metrics=("mse",), optimizer="sgd"):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mae", metrics=list(metrics))
    return model


def data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 5)).astype("float32"), rng.random((n, 1)).astype("float32")


class ScriptedMetric(keras.callbacks.Callback):
    """Writes a scripted value into the epoch logs (placed before the stopper, which reads the same dict)."""

    def __init__(self, name, values):
        super().__init__()
        self.name, self.values = name, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.name] = self.values[epoch]


class WeightRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = self.model.get_weights()


class KerasAlongside(keras.callbacks.Callback):
    """Runs `keras.callbacks.EarlyStopping(**kwargs)` on the same logs as the kreg callback of the same `fit`.

    Keras's callback sees the real model (its metrics decide `mode="auto"`) through a proxy with its own
    `stop_training`, so it cannot end the run; `stopped_at` is the first epoch at which it asked to stop. Placed
    after the kreg callback, it sees every epoch the kreg callback saw, and one instance follows it across fits.
    """

    class _Proxy:
        def __init__(self, model):
            self._model, self.stop_training = model, False

        def __getattr__(self, name):
            return getattr(self._model, name)

    def __init__(self, **kwargs):
        super().__init__()
        self.keras_stopper = keras.callbacks.EarlyStopping(**kwargs)

    def on_train_begin(self, logs=None):
        self.proxy = self._Proxy(self.model)
        self.keras_stopper.set_model(self.proxy)
        self.keras_stopper.on_train_begin(logs)
        self.stopped_at = None

    def on_epoch_end(self, epoch, logs=None):
        self.keras_stopper.on_epoch_end(epoch, logs)
        if self.proxy.stop_training and self.stopped_at is None:
            self.stopped_at = epoch


def fit_alongside_keras(model, stopper, x, y, epochs, **kwargs):
    """Fits with `stopper` and Keras's callback configured with `kwargs` side by side; checks that the run ended
    exactly where Keras's callback would have ended it, with Keras's counters. Returns the number of epochs run."""
    alongside = KerasAlongside(**kwargs)
    history = model.fit(x, y, callbacks=[stopper, alongside], verbose=0, epochs=epochs)
    keras_stopper = alongside.keras_stopper
    expected = epochs if alongside.stopped_at is None else alongside.stopped_at + 1
    assert len(history.epoch) == expected, f"kreg ran {len(history.epoch)} epochs, Keras would have run {expected}"
    assert stopper.stopped_epoch == keras_stopper.stopped_epoch
    assert stopper.best_epoch == keras_stopper.best_epoch
    assert stopper.wait == keras_stopper.wait
    np.testing.assert_allclose(stopper.best, keras_stopper.best, rtol=1e-6)
    return len(history.epoch)


def assert_weights_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------- Keras's own tests, ported to both kreg classes


@BOTH
def test_mode_inference_as_keras(cls):
    x, y = data()
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="relu"), keras.layers.Dense(1)])
    model.compile(
        loss="mae",
        optimizer="adam",
        metrics=["mse", "acc", "accuracy", "hinge", keras.metrics.F1Score(name="f1_score")],
    )
    cases = [
        ("max", "val_mse", "max"),
        ("min", "val_loss", "min"),
        ("auto", "val_mse", "min"),
        ("auto", "loss", "min"),
        ("auto", "acc", "max"),
        ("auto", "val_accuracy", "max"),
        ("auto", "hinge", "min"),
        ("auto", "f1_score", "max"),
    ]
    for mode, monitor, expected_mode in cases:
        stopper = fixed(cls, patience=0, monitor=monitor, mode=mode)
        model.fit(x, y, batch_size=5, validation_data=(x, y), callbacks=[stopper], epochs=2, verbose=0)
        assert stopper.monitor_op == (keras.ops.greater if expected_mode == "max" else keras.ops.less)


@BOTH
def test_unknown_monitor_with_mode_auto_raises_as_keras(cls):
    # Issue 14: Keras cannot tell whether to minimize or maximize a name it does not know, and raises; a drop-in must.
    x, y = data()
    with pytest.raises(ValueError, match="monitor=unknown, but Keras isn't able to automatically determine"):
        tiny_model().fit(x, y, batch_size=5, callbacks=[fixed(cls, monitor="unknown")], epochs=4, verbose=0)
    with pytest.raises(ValueError, match="monitor=unknown, but Keras isn't able to automatically determine"):
        tiny_model().fit(
            x, y, batch_size=5, callbacks=[keras.callbacks.EarlyStopping(monitor="unknown")], epochs=4, verbose=0
        )


@BOTH
@pytest.mark.parametrize("monitor, mode", [("val_loss", "auto"), ("val_mse", "auto"), ("unknown", "min")])
def test_known_but_absent_monitor_warns_once_and_does_not_crash(cls, monitor, mode):
    # No validation data: `val_loss` and `val_mse` are known (a loss, a compiled metric) but absent; an unknown name
    # with an explicit mode needs no inference. Keras warns in each case; so does kreg, once per `fit`.
    x, y = data()
    stopper = fixed(cls, monitor=monitor, mode=mode)
    with pytest.warns(UserWarning, match=f"conditioned on metric `{monitor}` which is not available") as record:
        history = tiny_model().fit(x, y, batch_size=5, callbacks=[stopper], epochs=4, verbose=0)
    assert len([w for w in record if monitor in str(w.message)]) == 1
    assert len(history.epoch) == 4


def test_direction_that_cannot_be_inferred_raises_as_keras():
    stopper = EarlyStopping(monitor="custom_score")
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        drive(stopper, [1.0, 2.0], monitor="custom_score")


@BOTH
@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_patience_as_keras(cls, patience):
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    stopper = fixed(cls, monitor="loss", patience=patience)
    drive(stopper, losses, monitor="loss")
    assert stopper.stopped_epoch == max(patience, 1) + 2


@BOTH
def test_reuse_as_keras(cls):
    patience = 3
    rng = np.random.default_rng(0)
    x = rng.random((100, 1)).astype("float32")
    y = np.where(x > 0.5, 1.0, 0.0).astype("float32")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="relu"), keras.layers.Dense(1)])
    # SGD(0.5) makes `mse` oscillate, so the runs stop early (Keras's test uses plain SGD and never stops in 20).
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mae", metrics=["mse"])
    stopper = fixed(cls, monitor="mse", patience=patience)
    # Keras's test only asserts `>= patience` epochs; here the run ends at Keras's epoch, twice with one instance.
    runs = [fit_alongside_keras(model, stopper, x, y, 20, monitor="mse", patience=patience) for _ in range(2)]
    assert all(patience < run < 20 for run in runs), runs  # both runs stopped early: the comparison is not vacuous


@BOTH
def test_state_reset_across_fit_calls_as_keras(cls):
    stopper = fixed(cls, monitor="loss", patience=3)
    stopper.set_model(DummyModel())
    stopper.on_train_begin()
    stopper.best, stopper.wait, stopper.stopped_epoch, stopper.best_epoch = 0.1, 3, 5, 5
    stopper.best_weights, stopper.stop_reason = object(), "stale"
    stopper.on_train_begin()
    assert stopper.best is None
    assert stopper.wait == 0
    assert stopper.stopped_epoch == 0
    assert stopper.best_epoch == 0
    assert stopper.best_weights is None
    assert stopper.stop_reason is None


@BOTH
def test_baseline_as_keras(cls):
    x, y = data()
    model = tiny_model(optimizer=keras.optimizers.Adam(0.1))  # `mse` falls to ~0.09 by epoch 5, then rises
    for baseline in (0.6, 0.05):  # beaten at once / never beaten (runs `patience` epochs past the first)
        stopper = fixed(cls, monitor="mse", patience=3, baseline=baseline)
        run = fit_alongside_keras(model, stopper, x, y, 20, monitor="mse", patience=3, baseline=baseline)
        assert 3 <= run < 20


@BOTH
def test_final_weights_when_restoring_model_weights_as_keras(cls):
    # The best configuration is in epoch 2 (loss = 0.1000); patience 2 stops at epoch 4 and restores epoch 2.
    stopper = fixed(cls, monitor="val_loss", patience=2, restore_best_weights=True)
    model = DummyModel()
    drive(stopper, [0.2, 0.15, 0.1, 0.11, 0.12], model=model)
    assert model.weights == 2

    # No epoch beats the baseline: training runs for `patience` epochs and restores the best of them.
    stopper = fixed(cls, monitor="val_loss", patience=5, baseline=0.5, restore_best_weights=True)
    model = DummyModel()
    assert drive(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], model=model) == 5
    assert model.weights == 2

    # Another callback requests a stop at epoch 3: the best weights are still restored.
    stopper = fixed(cls, monitor="val_loss", patience=5, baseline=0.5, restore_best_weights=True)
    model = DummyModel()
    assert drive(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], model=model, interrupt_at=3) == 4
    assert model.weights == 2
    assert stopper.stop_reason is None


@BOTH
def test_start_from_epoch_as_keras(cls):
    x, y = data()
    model = tiny_model(optimizer=keras.optimizers.Adam(0.1))
    for start_from_epoch, patience in [(2, 3), (2, 0)]:
        stopper = fixed(cls, monitor="mse", patience=patience, start_from_epoch=start_from_epoch)
        kwargs = {"monitor": "mse", "patience": patience, "start_from_epoch": start_from_epoch}
        run = fit_alongside_keras(model, stopper, x, y, 20, **kwargs)
        assert patience + start_from_epoch <= run < 20


# ----------------------------------------------------------------- differential test against Keras's callback


@pytest.mark.parametrize("cls", [EarlyStopping, AdaptiveEarlyStopping])
@pytest.mark.parametrize("seed", range(6))
def test_same_stops_and_weights_as_keras_on_random_curves(cls, seed):
    rng = np.random.default_rng(seed)
    # Multiples of 1/16 are exact in float32, the precision Keras compares in.
    values = list(np.round(rng.normal(size=40).cumsum() * 4 + 100) / 16)
    mode = ["min", "max", "auto"][seed % 3]
    kwargs = {
        "patience": int(rng.integers(0, 6)),
        "min_delta": [0.0, 0.125][seed % 2],
        "baseline": [None, float(values[0])][seed // 3 % 2],
        "start_from_epoch": int(rng.integers(0, 3)),
        "restore_best_weights": True,
        "mode": mode,
    }
    keras_stopper = keras.callbacks.EarlyStopping(**kwargs)
    kreg_stopper = fixed(cls, **kwargs)
    for _ in range(2):  # the second pass checks reuse across fits
        keras_model, kreg_model = DummyModel(), DummyModel()
        keras_run = drive(keras_stopper, values, model=keras_model)
        kreg_run = drive(kreg_stopper, values, model=kreg_model)
        assert kreg_run == keras_run
        assert kreg_stopper.stopped_epoch == keras_stopper.stopped_epoch
        assert kreg_stopper.best_epoch == keras_stopper.best_epoch
        assert kreg_stopper.wait == keras_stopper.wait
        assert kreg_model.weights == keras_model.weights


def test_best_weights_are_copied_only_on_improving_epochs():
    model = DummyModel()
    stopper = EarlyStopping(patience=10, restore_best_weights=True)
    drive(stopper, [5.0, 4.0, 4.5, 4.6, 3.0, 3.5, 3.6, 3.7], model=model)
    assert model.get_weights_calls == 3  # epochs 0, 1 and 4
    assert model.weights == 4


# -------------------------------------------------------------------------------------------- the extras


def test_relative_min_delta():
    # An improvement must beat best * (1 - min_delta): 10 -> 9.5 is 5 % (counts), 9.5 -> 9.45 is 0.5 % (does not).
    stopper = EarlyStopping(monitor="val_loss", patience=2, min_delta=0.01, min_delta_mode="rel")
    drive(stopper, [10.0, 9.5, 9.45, 9.44, 9.43, 9.0])
    assert stopper.best_epoch == 1
    assert stopper.stopped_epoch == 3
    stopper = EarlyStopping(monitor="val_acc", mode="max", patience=1, min_delta=0.1, min_delta_mode="rel")
    drive(stopper, [0.5, 0.56, 0.6, 0.7], monitor="val_acc")
    assert stopper.best_epoch == 1 and stopper.stopped_epoch == 2


@pytest.mark.parametrize(
    "mode, values, best_epochs",
    [
        # min: an improvement is below best - 0.1 * |best| = 0.9 * best. 9.05 is not (> 9), although scaled by the
        # new value it would be (9.05 + 0.905 < 10); 8.95 is; from 8.95, 8.06 is not (> 8.055), 8.05 is.
        ("min", [10.0, 9.05, 8.95, 8.06, 8.05], [0, 0, 2, 2, 4]),
        # max: above best + 0.1 * |best| = 1.1 * best. 0.553 is (> 0.55), although scaled by the new value it would
        # not be (0.553 - 0.0553 < 0.5); likewise 0.61 from 0.553 (> 0.6083) and 0.675 from 0.61 (> 0.671).
        ("max", [0.5, 0.553, 0.61, 0.675, 0.7], [0, 1, 2, 3, 3]),
    ],
)
def test_relative_min_delta_is_scaled_by_the_best_value(mode, values, best_epochs):
    stopper = EarlyStopping(monitor="score", mode=mode, patience=10, min_delta=0.1, min_delta_mode="rel")
    model = DummyModel()
    stopper.set_model(model)
    stopper.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(epoch, {"score": value})
        seen.append(stopper.best_epoch)
    assert seen == best_epochs


def test_smoothing_compares_the_moving_average():
    values = [1.0, 0.7, 0.8, 0.5, 0.6, 0.3, 0.4]
    raw = EarlyStopping(patience=1)
    drive(raw, values)
    assert raw.stopped_epoch == 2
    expected = [values[0]]
    for x in values[1:]:
        expected.append(0.5 * expected[-1] + 0.5 * x)
    # The moving average falls at every epoch here, so the smoothed run never stops.
    assert all(b < a for a, b in zip(expected, expected[1:]))
    smooth = EarlyStopping(patience=1, smoothing=0.5)
    assert drive(smooth, values) == len(values) and smooth.stop_reason is None
    assert smooth.best == pytest.approx(expected[-1])


def test_smoothing_leaves_the_logged_values_raw():
    x, y = data()
    values = [1.0, 0.7, 0.8, 0.5]
    stopper = EarlyStopping(monitor="scripted", mode="min", patience=1, smoothing=0.5)
    history = tiny_model().fit(x, y, epochs=4, verbose=0, callbacks=[ScriptedMetric("scripted", values), stopper])
    assert history.history["scripted"] == values
    assert stopper.best == pytest.approx(0.5 * (0.5 * (0.5 * 1.0 + 0.5 * 0.7) + 0.5 * 0.8) + 0.5 * 0.5)


@pytest.mark.parametrize(
    "kwargs, values, stopped_epoch, reason",
    [
        ({"stopping_threshold": 0.5, "patience": 100}, [1.0, 0.7, 0.5, 0.4, 0.3], 3, "reached stopping_threshold=0.5"),
        ({"divergence_threshold": 2.0, "patience": 100}, [1.0, 1.5, 2.0, 2.5, 0.1], 3, "past divergence_threshold=2"),
    ],
)
def test_thresholds(kwargs, values, stopped_epoch, reason):
    stopper = EarlyStopping(**kwargs)
    drive(stopper, values)
    assert stopper.stopped_epoch == stopped_epoch
    assert reason in stopper.stop_reason


def test_thresholds_for_a_metric_to_maximize():
    stopper = EarlyStopping(monitor="val_accuracy", mode="max", patience=100, stopping_threshold=0.9)
    drive(stopper, [0.5, 0.9, 0.95, 0.97], monitor="val_accuracy")
    assert stopper.stopped_epoch == 2


@pytest.mark.parametrize("where", ["monitor", "loss"])
def test_non_finite_value_stops_at_once_and_restores_the_best_weights(where):
    values = [1.0, 0.5, 0.7, 0.6, 0.55]
    losses = [1.0, 0.9, 0.8, 0.7, 0.6]
    (values if where == "monitor" else losses)[3] = float("nan")
    model = DummyModel()
    stopper = EarlyStopping(patience=10, restore_best_weights=True)
    assert drive(stopper, values, losses=losses, model=model) == 4
    assert stopper.stopped_epoch == 3
    assert "nan" in stopper.stop_reason
    assert model.weights == 1 and stopper.restored_epoch == 1
    keras_like = EarlyStopping(patience=10, check_finite=False)
    assert drive(keras_like, values, losses=losses) == 5


def test_nan_in_a_real_fit_restores_the_best_weights():
    x, y = data(32)
    model = tiny_model()
    recorder = WeightRecorder()
    values = [0.9, 0.5, 0.7, float("inf"), 0.1, 0.1]
    stopper = EarlyStopping(monitor="scripted", mode="min", patience=10, restore_best_weights=True)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[ScriptedMetric("scripted", values), recorder, stopper])
    assert len(history.epoch) == 4
    assert stopper.restored_epoch == 1
    assert_weights_equal(model.get_weights(), recorder.weights[1])


def test_gl_criterion():
    # GL > 5 %: 0.53 / 0.5 - 1 = 6 % at epoch 3 (0.52 is only 4 %).
    stopper = EarlyStopping(criterion="gl", alpha=5.0)
    drive(stopper, [1.0, 0.5, 0.52, 0.53, 0.4])
    assert stopper.stopped_epoch == 3
    assert "GL=6" in stopper.stop_reason


def test_pq_criterion_checks_at_strip_ends_only():
    # Training loss flat over each strip of 2 -> tiny progress; the quotient is checked at epochs 1, 3, 5 (0-based).
    losses = [1.0, 0.999, 0.9985, 0.998, 0.9975, 0.997]
    values = [0.5, 0.4, 0.6, 0.6, 0.6, 0.6]
    stopper = EarlyStopping(criterion="pq", alpha=0.5, strip_length=2)
    drive(stopper, values, losses=losses)
    progress = 1000 * ((0.998 + 0.9985) / 2 / 0.998 - 1)
    assert 50.0 / progress > 0.5
    assert stopper.stopped_epoch == 3
    assert "PQ=" in stopper.stop_reason
    # With fast training progress the same validation curve does not stop.
    stopper = EarlyStopping(criterion="pq", alpha=0.5, strip_length=2)
    assert drive(stopper, values, losses=[1.0, 0.5, 0.25, 0.12, 0.06, 0.03]) == 6


def test_up_criterion():
    # Strip ends (k = 2) at epochs 1, 3, 5, 7: values 0.5, 0.6, 0.7, ... rise in 2 successive strips at epoch 5.
    values = [0.6, 0.5, 0.55, 0.6, 0.65, 0.7, 0.2, 0.1]
    stopper = EarlyStopping(criterion="up", strips=2, strip_length=2)
    drive(stopper, values)
    assert stopper.stopped_epoch == 5
    assert "rose in 2 successive strips" in stopper.stop_reason


def test_stop_reason_and_verbose_message(capsys):
    stopper = EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    drive(stopper, [0.3, 0.2, 0.25, 0.26, 0.1])
    assert stopper.stop_reason == "val_loss did not improve for 2 epochs (best 0.2 at epoch 2)"
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        "Epoch 4: early stopping: val_loss did not improve for 2 epochs (best 0.2 at epoch 2); "
        "restored the weights of epoch 2 (val_loss=0.2)."
    ]
    silent = EarlyStopping(patience=2)
    drive(silent, [0.3, 0.2, 0.25, 0.26, 0.1])
    assert capsys.readouterr().out == ""


def test_get_state_set_state_continues_the_run():
    values = [1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.9, 0.9, 0.9, 0.9]
    full = EarlyStopping(patience=4, restore_best_weights=True, smoothing=0.3, criterion="patience")
    reference_run = drive(full, values)
    first = EarlyStopping(patience=4, restore_best_weights=True, smoothing=0.3)
    drive(first, values, interrupt_at=4)
    state = first.get_state()
    second = EarlyStopping(patience=4, restore_best_weights=True, smoothing=0.3)
    model = DummyModel()
    second.set_model(model)
    second.set_state(state)
    run = 5
    for epoch in range(5, len(values)):
        model.weights = epoch
        second.on_epoch_end(epoch, {"val_loss": values[epoch]})
        run = epoch + 1
        if model.stop_training:
            break
    second.on_train_end()
    assert run == reference_run
    assert second.stopped_epoch == full.stopped_epoch == 9
    assert full.best_epoch == 5
    assert model.weights == full.best_epoch


@pytest.mark.parametrize("run_id", [None, "trial-7"])
def test_interrupted_and_resumed_fit_keeps_counting_and_keeps_the_best_weights(tmp_path, run_id):
    x, y = data(32)
    values = [0.9, 0.5, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9]  # best at epoch 2; patience 4 stops at epoch 6

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 4:
                raise RuntimeError("interrupted")

    def run(backup_dir, interrupt, model, recorder=None):
        stopper = EarlyStopping(
            monitor="scripted", mode="min", patience=4, restore_best_weights=True, backup_dir=backup_dir, run_id=run_id
        )
        callbacks = [ScriptedMetric("scripted", values), stopper, keras.callbacks.BackupAndRestore(str(tmp_path))]
        callbacks += ([recorder] if recorder else []) + ([Interrupt()] if interrupt else [])
        history = model.fit(x, y, epochs=10, verbose=0, callbacks=callbacks)
        return stopper, history

    def new_process_model():
        # Without a run_id the files are keyed by the model's (auto-generated) names: a new process numbers them
        # from scratch, as `clear_session` does. With a run_id a model rebuilt in the same process resumes too.
        if run_id is None:
            keras.backend.clear_session()
        return tiny_model()

    model = new_process_model()
    recorder = WeightRecorder()
    with pytest.raises(RuntimeError, match="interrupted"):
        run(str(tmp_path), True, model, recorder)
    assert len(list((tmp_path / "kreg_early_stopping").glob("*.json"))) == 1
    # A new process: a new model and a new callback, resumed from the backups.
    model = new_process_model()
    stopper, history = run(str(tmp_path), False, model)
    assert history.epoch == [5, 6]
    assert stopper.stopped_epoch == 6 and stopper.best_epoch == 2
    assert stopper.stop_reason == "scripted did not improve for 4 epochs (best 0.3 at epoch 3)"
    assert_weights_equal(model.get_weights(), recorder.weights[2])
    assert not tmp_path.exists() or not list(tmp_path.glob("kreg_early_stopping/*"))
    if run_id is not None:
        return

    # Without `backup_dir` the resumed callback starts over: it only sees epochs 5.. and keeps epoch 5's weights.
    model = tiny_model()
    with pytest.raises(RuntimeError, match="interrupted"):
        run(None, True, model)
    model = tiny_model()
    stopper, history = run(None, False, model)
    assert stopper.best_epoch == 5 and history.epoch == [5, 6, 7, 8, 9]


@pytest.mark.parametrize("validation", ["split", "data"])
def test_real_fit_with_steps_per_execution_restores_the_best_epoch(validation, backend, jit_compile):
    # PyTorch runs eagerly and only supports steps_per_execution=1.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
        steps_per_execution=1 if backend == "torch" else 4,
        jit_compile=jit_compile,
    )
    recorder = WeightRecorder()
    stopper = EarlyStopping(monitor="val_accuracy", patience=3, restore_best_weights=True)
    fit_kwargs = {"validation_split": 0.25} if validation == "split" else {"validation_data": (x[:16], y[:16])}
    history = model.fit(x, y, batch_size=8, epochs=12, verbose=0, callbacks=[recorder, stopper], **fit_kwargs)
    accuracies = history.history["val_accuracy"]
    assert stopper.monitor_op == keras.ops.greater
    assert stopper.best_epoch == int(np.argmax(accuracies))
    assert_weights_equal(model.get_weights(), recorder.weights[stopper.best_epoch])


# ------------------------------------------------------------------------------------------ config and bad input


def test_config_round_trip_and_serialization():
    stopper = EarlyStopping(
        monitor="val_accuracy",
        patience=4,
        mode="max",
        min_delta_mode="rel",
        smoothing=0.2,
        stopping_threshold=0.99,
        criterion="gl",
        alpha=3.0,
        backup_dir="/tmp/ckpt",
        run_id="trial-7",
    )
    config = stopper.get_config()
    assert config["alpha"] == 3.0 and config["criterion"] == "gl" and config["mode"] == "max"
    assert config["run_id"] == "trial-7" and config["backup_dir"] == "/tmp/ckpt"
    assert EarlyStopping.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stopper))
    assert type(restored) is EarlyStopping and restored.get_config() == config


def test_defaults_are_keras_defaults():
    ours, theirs = EarlyStopping(), keras.callbacks.EarlyStopping()
    for name in ("monitor", "min_delta", "patience", "verbose", "mode", "baseline", "restore_best_weights"):
        assert getattr(ours, name) == getattr(theirs, name)
    assert ours.start_from_epoch == theirs.start_from_epoch


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"monitor": ""}, "Expected a non-empty string. Received: monitor=''"),
        ({"monitor": None}, "Expected a non-empty string. Received: monitor=None"),
        ({"min_delta": float("nan")}, "Expected a finite float in (-inf, inf). Received: min_delta=nan"),
        ({"patience": -1}, "Expected an integer >= 0. Received: patience=-1"),
        ({"patience": 2.5}, "Expected an integer >= 0. Received: patience=2.5"),
        ({"verbose": 3}, "Expected an integer in [0, 2]. Received: verbose=3"),
        ({"mode": "maximum"}, "Expected one of 'auto', 'min', 'max'. Received: mode='maximum'"),
        ({"baseline": "0.5"}, "Expected a finite float in (-inf, inf). Received: baseline='0.5'"),
        ({"restore_best_weights": 1}, "Expected a bool (True or False). Received: restore_best_weights=1"),
        ({"start_from_epoch": -2}, "Expected an integer >= 0. Received: start_from_epoch=-2"),
        ({"min_delta_mode": "relative"}, "Expected one of 'abs', 'rel'. Received: min_delta_mode='relative'"),
        ({"smoothing": 1.0}, "Expected a finite float in [0.0, 1.0). Received: smoothing=1.0"),
        ({"stopping_threshold": float("inf")}, "Received: stopping_threshold=inf"),
        ({"divergence_threshold": [1.0]}, "Received: divergence_threshold=[1.0]"),
        ({"check_finite": "yes"}, "Expected a bool (True or False). Received: check_finite='yes'"),
        ({"criterion": "GL"}, "Expected one of 'patience', 'gl', 'pq', 'up'. Received: criterion='GL'"),
        ({"alpha": 0.0}, "Expected a positive finite float. Received: alpha=0.0"),
        ({"strip_length": 0}, "Expected an integer >= 1. Received: strip_length=0"),
        ({"strips": 0}, "Expected an integer >= 1. Received: strips=0"),
        ({"backup_dir": 3}, "Expected a directory path or None. Received: backup_dir=3"),
        (
            {"run_id": ""},
            "Expected None or a non-empty string of letters, digits, '_', '.' and '-'. Received: run_id=''",
        ),
        ({"run_id": "runs/a"}, "Received: run_id='runs/a'"),
        ({"run_id": 7}, "Received: run_id=7"),
    ],
)
def test_bad_arguments(kwargs, message):
    name = next(iter(kwargs))
    with pytest.raises(ValueError) as error:
        EarlyStopping(**kwargs)
    assert str(error.value).startswith(f"Invalid value received for argument `{name}`.")
    assert message in str(error.value)


def test_no_warning_when_the_metric_is_present():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        drive(EarlyStopping(patience=1), [1.0, 2.0, 3.0])
