"""Tests of `kreg.tuning.pruning`: the median and percentile rules, the patient wrapper and successive halving against
their definitions, the replay of a pruner on a finished search (against a live pruned search), and the callback that
stops a trial's `fit`."""

import keras
import numpy as np
import pytest

from kreg.tuning.pruning import (
    MedianPruner,
    PatientPruner,
    PercentilePruner,
    PruningCallback,
    SuccessiveHalvingPruner,
    deserialize,
    get,
    replay,
    serialize,
)
from kreg.tuning.search import search
from kreg.tuning.space import SearchSpace
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


def test_percentile_rule_matches_numpy_percentile():
    rng = np.random.default_rng(1)
    curves = rng.uniform(0.2, 1.0, size=(9, 5))
    others = [record(list(c), trial_id=str(i)) for i, c in enumerate(curves)]
    for percentile in (25.0, 75.0, 90.0):
        pruner = PercentilePruner(percentile, n_startup_trials=3, n_warmup_epochs=2, interval_epochs=2)
        for _ in range(30):
            own = list(rng.uniform(0.2, 1.0, size=5))
            for epoch in range(5):
                checked = epoch in (2, 4)
                low = np.percentile(curves[:, epoch], percentile)
                high = np.percentile(curves[:, epoch], 100 - percentile)
                expected = checked and min(own[: epoch + 1]) > low
                assert pruner.should_prune(own[: epoch + 1], epoch, others, "val_loss", "min") == expected
                expected_max = checked and max(own[: epoch + 1]) < high
                assert pruner.should_prune(own[: epoch + 1], epoch, others, "val_loss", "max") == expected_max
    # The median rule is the 50th percentile.
    median, fifty = MedianPruner(n_startup_trials=3, n_warmup_epochs=0), PercentilePruner(50.0, 3, 0)
    for _ in range(30):
        own = list(rng.uniform(0.2, 1.0, size=3))
        assert median.should_prune(own, 2, others, "val_loss", "min") == fifty.should_prune(
            own, 2, others, "val_loss", "min"
        )
    # A higher percentile prunes less: every trial pruned at 75 is pruned at 50.
    others = [record([v], trial_id=str(i)) for i, v in enumerate([0.1, 0.2, 0.3, 0.4, 0.5])]
    keep_75 = PercentilePruner(75.0, n_startup_trials=1, n_warmup_epochs=0)
    assert keep_75.should_prune([0.45], 0, others, "val_loss", "min")  # threshold 0.4
    assert not keep_75.should_prune([0.4], 0, others, "val_loss", "min")
    assert not keep_75.should_prune([0.35], 0, others, "val_loss", "min")
    assert MedianPruner(1, 0).should_prune([0.35], 0, others, "val_loss", "min")


def test_patient_pruner_only_prunes_a_stalled_trial():
    always = MedianPruner(n_startup_trials=0, n_warmup_epochs=0)
    others = [record([0.1] * 10)]
    pruner = PatientPruner(always, patience=2)
    # Too few values: len(values) <= patience + 1.
    assert not pruner.should_prune([0.9, 0.8, 0.85], 2, others, "val_loss", "min")
    # Best of the last 3 (0.7) better than the best before (0.8): improving, kept though worse than the median.
    assert not pruner.should_prune([0.8, 0.9, 0.9, 0.7], 3, others, "val_loss", "min")
    # Best of the last 3 (0.85) worse than the best before (0.8): stalled, and worse than the median.
    assert pruner.should_prune([0.8, 0.85, 0.9, 0.9], 3, others, "val_loss", "min")
    # Stalled but better than the median: the wrapped pruner keeps it.
    assert not pruner.should_prune([0.05, 0.06, 0.07, 0.08], 3, others, "val_loss", "min")
    # min_delta: an improvement of 0.05 does not count when min_delta is 0.1; one of 0.15 does.
    assert pruner.stalled([0.8, 0.9, 0.9, 0.75], "min") is False
    assert PatientPruner(always, 2, min_delta=0.1).stalled([0.8, 0.9, 0.9, 0.75], "min") is True
    assert PatientPruner(always, 2, min_delta=0.1).stalled([0.8, 0.9, 0.9, 0.65], "min") is False
    assert PatientPruner(always, 2, min_delta=0.1).stalled([0.2, 0.1, 0.1, 0.25], "max") is True
    assert PatientPruner(always, 2, min_delta=0.1).stalled([0.2, 0.1, 0.1, 0.35], "max") is False
    # "max": the same rule mirrored.
    assert PatientPruner(always, 1).should_prune([0.1, 0.05, 0.04], 2, [record([0.9] * 3)], "val_loss", "max")
    assert not PatientPruner(always, 1).should_prune([0.1, 0.05, 0.2], 2, [record([0.9] * 3)], "val_loss", "max")
    assert pruner.should_prune([float("nan")], 0, [], "val_loss", "min")


def test_serialize_round_trip():
    for pruner in (
        MedianPruner(3, 7, 2, 4),
        PercentilePruner(80.0, 2, 5),
        SuccessiveHalvingPruner(4, 2, 1),
        PatientPruner(PercentilePruner(90.0, 5, 10), 4, min_delta=0.01),
    ):
        again = deserialize(serialize(pruner))
        assert type(again) is type(pruner) and again.get_config() == pruner.get_config()
    assert MedianPruner().get_config() == {
        "n_startup_trials": 5,
        "n_warmup_epochs": 2,
        "interval_epochs": 1,
        "min_trials_at_epoch": 1,
    }
    assert serialize(PatientPruner(MedianPruner(), 3))["config"]["pruner"]["class_name"] == "MedianPruner"


def test_replay_cuts_pruned_trials_as_the_callback_would():
    # Trials in id order; "2" is worse than the median of "0" and "1" from epoch 1, and "3" is compared with the
    # completed "0" and "1" only ("2", pruned, does not count for the median rule).
    curves = {
        "0": [1.0, 0.5, 0.4, 0.3],
        "1": [1.0, 0.7, 0.6, 0.5],
        "2": [1.0, 0.9, 0.8, 0.2],
        "3": [1.0, 0.55, 0.45, 0.35, 0.1],
        "4": [0.9, None, 0.5, 0.45],
    }
    records = [record(c, trial_id=i) for i, c in curves.items()]
    outcome = replay(MedianPruner(n_startup_trials=2, n_warmup_epochs=1), records, "val_loss", "min")
    # "3": epoch 1: 0.55 <= median(0.5, 0.7) = 0.6 kept; epoch 2: 0.45 <= 0.5 kept; epoch 3: 0.35 <= 0.4 kept.
    # "4": epoch 1 has no value (not checked); epoch 2: best 0.5 > median(0.4, 0.6, 0.45) = 0.45: pruned at 2.
    assert outcome["pruned_at"] == {"2": 1, "4": 2}
    assert outcome["trial_epochs"] == 4 + 4 + 2 + 5 + 3
    cut = {r["trial_id"]: r for r in outcome["records"]}
    assert cut["2"]["status"] == "pruned" and cut["2"]["history"]["val_loss"] == [1.0, 0.9]
    assert cut["3"]["status"] == "completed" and cut["3"]["epochs"] == [0, 1, 2, 3, 4]
    # The late bloomer "2" (0.2 at its last epoch) is lost; the best completed trial is "3".
    assert outcome["best_trial_id"] == "3" and outcome["best_value"] == 0.1
    none = replay(MedianPruner(n_startup_trials=99), records, "val_loss", "min")
    assert none["pruned_at"] == {} and none["best_trial_id"] == "3"
    assert none["trial_epochs"] == sum(len(c) for c in curves.values())
    # Records with a "running" status (a killed search) are left out.
    assert replay(MedianPruner(), [record([1.0], status="running")])["trial_epochs"] == 0
    with pytest.raises(ValueError, match=r"Expected one of 'min', 'max'. Received: direction='up'"):
        replay(MedianPruner(), records, "val_loss", "up")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PercentilePruner(0.0), r"Expected a finite float in \(0.0, 100.0\]. Received: percentile=0.0"),
        (lambda: PercentilePruner(101), r"Expected a finite float in \(0.0, 100.0\]. Received: percentile=101"),
        (lambda: PercentilePruner("75"), r"Received: percentile='75'"),
        (lambda: PercentilePruner(75.0, n_warmup_epochs=-1), r"Expected an integer >= 0. Received: n_warmup_epochs=-1"),
        (lambda: PercentilePruner(75.0, interval_epochs=0), r"Expected an integer >= 1. Received: interval_epochs=0"),
        (lambda: MedianPruner(min_trials_at_epoch=0), r"Expected an integer >= 1. Received: min_trials_at_epoch=0"),
        (lambda: PatientPruner(MedianPruner(), -1), r"Expected an integer >= 0. Received: patience=-1"),
        (lambda: PatientPruner(MedianPruner(), 2.5), r"Expected an integer >= 0. Received: patience=2.5"),
        (
            lambda: PatientPruner(MedianPruner(), 2, min_delta=-0.1),
            r"Expected a non-negative finite float. Received: min_delta=-0.1",
        ),
        (
            lambda: PatientPruner("median", 2),
            r"Expected a pruner \(an object with `should_prune`\). Received: pruner='median'",
        ),
        (lambda: serialize(object()), r"Invalid value received for argument `pruner`. Expected a kreg pruner"),
        (lambda: deserialize({"class_name": "Nope"}), r"Invalid value received for argument `config`"),
    ],
)
def test_new_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_replay_of_an_unpruned_search_is_the_pruned_search(tmp_path):
    # A seeded RandomSearch samples the same values whatever the scores, and each trial is seeded: the replay of
    # a pruner on the unpruned search's records must prune the same trials at the same epochs as the live search.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")

    def build(reg):
        model = keras.Sequential([keras.Input((8,)), reg.dense(8, activation="relu"), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        return model

    def run(prune, name):
        return search(
            build,
            x,
            y,
            validation_data=(x, y),
            space=SearchSpace(penalty=("l2",), l2=(1e-4, 10.0), dropout=None),
            max_trials=6,
            epochs=6,
            directory=tmp_path,
            project_name=name,
            seed=3,
            report=False,
            early_stopping=False,
            prune=prune,
        )

    pruner = PercentilePruner(75.0, n_startup_trials=2, n_warmup_epochs=1)
    plain = run(False, "plain")
    live = run(pruner, "live")
    outcome = replay(pruner, TrialStore(tmp_path / "plain" / "kreg").records())
    live_pruned = {row["trial_id"]: row["epochs"] - 1 for row in live.rows if row["status"] == "pruned"}
    assert outcome["pruned_at"] and outcome["pruned_at"] == live_pruned
    assert outcome["trial_epochs"] == sum(row["epochs"] for row in live.rows) < sum(row["epochs"] for row in plain.rows)
    assert outcome["best_trial_id"] == live.best_trial_id
    np.testing.assert_allclose(outcome["best_value"], live.best_row["best_val"], rtol=1e-5)
