"""Tests of `kreg.tuning.pruning`: the median rule and successive halving against their definitions, and the callback
that stops a trial's `fit`."""

import keras
import numpy as np
import pytest

from kreg.tuning.pruning import MedianPruner, PruningCallback, SuccessiveHalvingPruner, get
from kreg.tuning.store import TrialStore


def record(values, status="completed", trial_id="x", key="val_loss"):
    return {"trial_id": trial_id, "status": status, "epochs": list(range(len(values))), "history": {key: values}}


def test_median_rule_matches_numpy_median():
    rng = np.random.default_rng(0)
    curves = rng.uniform(0.2, 1.0, size=(7, 6))
    others = [record(list(c), trial_id=str(i)) for i, c in enumerate(curves)]
    pruner = MedianPruner(n_startup_trials=3, n_warmup_epochs=1)
    for _ in range(50):
        own = list(rng.uniform(0.2, 1.0, size=6))
        for epoch in range(6):
            expected = epoch >= 1 and min(own[: epoch + 1]) > np.median(curves[:, epoch])
            assert pruner.should_prune(own[: epoch + 1], epoch, others, "val_loss", "min") == expected
            expected_max = epoch >= 1 and max(own[: epoch + 1]) < np.median(curves[:, epoch])
            assert pruner.should_prune(own[: epoch + 1], epoch, others, "val_loss", "max") == expected_max


def test_median_rule_waits_for_startup_trials_and_ignores_unfinished_ones():
    pruner = MedianPruner(n_startup_trials=2, n_warmup_epochs=0)
    others = [record([0.1]), record([0.1], status="running"), record([0.1], status="pruned")]
    assert not pruner.should_prune([5.0], 0, others, "val_loss", "min")
    others.append(record([0.3]))
    assert pruner.should_prune([5.0], 0, others, "val_loss", "min")
    assert not pruner.should_prune([0.2], 0, others, "val_loss", "min")  # equal to the median: kept, as Optuna
    # Completed trials that stopped before the epoch are left out; none left: no pruning.
    assert not pruner.should_prune([5.0, 5.0], 1, others, "val_loss", "min")
    assert pruner.should_prune([float("nan")], 0, [], "val_loss", "min")


def test_successive_halving_keeps_the_top_fraction_at_rungs():
    pruner = SuccessiveHalvingPruner(min_epochs=1, reduction_factor=2)
    assert pruner.rung_epochs(8) == [0, 1, 3, 7]
    others = [record([v] * 8, status="pruned" if i % 2 else "completed") for i, v in enumerate([0.1, 0.2, 0.3])]
    # Competing at epoch 0: [own, 0.1, 0.2, 0.3]; kept if own <= sorted[4 // 2 - 1] = sorted[1].
    assert not pruner.should_prune([0.15], 0, others, "val_loss", "min")
    assert pruner.should_prune([0.25], 0, others, "val_loss", "min")
    assert not pruner.should_prune([0.9, 0.9, 0.9], 2, others, "val_loss", "min")  # not a rung


def test_get_and_bad_arguments():
    assert get(False) is None and isinstance(get(True), MedianPruner)
    assert isinstance(get("successive_halving"), SuccessiveHalvingPruner)
    with pytest.raises(ValueError, match="Invalid value received for argument `prune`"):
        get("asha")
    with pytest.raises(ValueError, match=r"Expected an integer >= 0. Received: n_startup_trials=-1"):
        MedianPruner(n_startup_trials=-1)
    with pytest.raises(ValueError, match=r"Expected an integer >= 2. Received: reduction_factor=1"):
        SuccessiveHalvingPruner(reduction_factor=1)


def test_callback_stops_fit_and_reports_the_epoch(tmp_path):
    store = TrialStore(tmp_path)
    for i in range(3):
        store.write(str(i), record([0.01] * 20, key="val_loss"))
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    callback = PruningCallback(MedianPruner(n_startup_trials=3, n_warmup_epochs=2), store, "9", monitor="val_loss")
    history = model.fit(x, y, validation_data=(x, y), epochs=20, verbose=0, callbacks=[callback])
    assert callback.pruned and callback.pruned_at == 2
    assert len(history.history["loss"]) == 3
