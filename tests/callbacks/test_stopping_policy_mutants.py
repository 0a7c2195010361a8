"""`StoppingPolicy` and `AdaptiveStoppingPolicy` at the edges of their documented rules (issue 14, mutation testing).

Each test pins one rule of docs/early_stopping.md on a hand-made curve: the exact epoch of the stop and its exact
message, with values chosen so that the boundary case (a value equal to the best, to a threshold, to `alpha`, to
`min_progress`; the epoch of a strip end; the first epoch) is hit exactly in floating point. Every value below is a
dyadic fraction or a ratio that is exact in binary, so the equalities are real equalities.
"""

import pytest

from kreg.callbacks.stopping_policy import AdaptiveStoppingPolicy, Decision, StoppingPolicy


def stop_of(policy, values, losses=None):
    """`(epoch, reason)` of the first stop of `policy` on `values`, or `(None, None)`."""
    for epoch, value in enumerate(values):
        decision = policy.update(epoch, value, train_loss=None if losses is None else losses[epoch])
        if decision.stop:
            return epoch, decision.reason
    return None, None


# ------------------------------------------------------------------ equal is not better


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_value_equal_to_the_best_is_not_an_improvement(sign):
    policy = StoppingPolicy(monitor="loss", sign=sign, patience=1)
    assert policy.update(0, 1.0).improved
    decision = policy.update(1, 1.0)
    assert not decision.improved and decision.stop
    assert decision.reason == "loss did not improve for 1 epochs (best 1 at epoch 1)"
    assert policy.best_epoch == 0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_value_equal_to_a_threshold_does_not_stop(sign):
    # "stop as soon as the value is better than `stopping_threshold`" / "worse than `divergence_threshold`":
    # strictly, so a value equal to either threshold goes on.
    for name in ("stopping_threshold", "divergence_threshold"):
        policy = StoppingPolicy(monitor="acc", sign=sign, patience=5, **{name: 0.5})
        assert stop_of(policy, [0.5, 0.5, 0.5]) == (None, None)
    better, worse = 0.5 - 0.25 * sign, 0.5 + 0.25 * sign
    policy = StoppingPolicy(monitor="acc", sign=sign, patience=5, stopping_threshold=0.5)
    assert stop_of(policy, [0.5, better]) == (1, f"acc={better:.4g} reached stopping_threshold=0.5")
    policy = StoppingPolicy(monitor="acc", sign=sign, patience=5, divergence_threshold=0.5)
    assert stop_of(policy, [0.5, worse]) == (1, f"acc={worse:.4g} is past divergence_threshold=0.5")


# ------------------------------------------------------------------ GL and PQ: strictly above alpha, default alpha


def test_gl_stops_strictly_above_its_default_alpha_of_5_percent():
    # GL = 100 * (21 / 20 - 1) = 5 exactly: not above alpha=5; 21.125 gives GL = 5.625.
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="gl")
    assert stop_of(policy, [20.0, 21.0, 21.0, 21.125, 30.0]) == (
        3,
        "generalization loss GL=5.62 > alpha=5 (best 20 at epoch 1)",
    )
    # GL = 5.625 stops with the default 5, not with alpha=6.
    assert stop_of(StoppingPolicy(sign=1.0, criterion="gl", alpha=6.0), [20.0, 21.125, 21.125]) == (None, None)


def test_gl_with_an_explicit_alpha_and_a_metric_to_maximize():
    policy = StoppingPolicy(monitor="acc", sign=-1.0, criterion="gl", alpha=25.0)
    # An accuracy falling from 0.75 to 0.5625 lost exactly 25 %: not above alpha; to 0.5, 33.3 %.
    assert stop_of(policy, [0.75, 0.5625, 0.5625, 0.5]) == (
        3,
        "generalization loss GL=33.3 > alpha=25 (best 0.75 at epoch 1)",
    )


PQ_LOSSES = [3.0, 1.0, 1.0, 1.0] * 3  # every strip of 4: mean 1.5, min 1 -> P_4 = 1000 * (1.5 - 1) = 500 per mille


def test_pq_stops_strictly_above_its_default_alpha_of_0_5():
    # At the end of the first strip (epoch 3): GL = 100 * (3.5 - 1) = 250, PQ = 250 / 500 = 0.5: not above alpha.
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="pq", strip_length=4)
    assert stop_of(policy, [1.0, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5], PQ_LOSSES) == (None, None)
    # GL = 500, PQ = 1: above the default 0.5, not above alpha=1.5.
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="pq", strip_length=4)
    assert stop_of(policy, [1.0, 6.0, 6.0, 6.0], PQ_LOSSES) == (
        3,
        "progress quotient PQ=1 > alpha=0.5 (best 1 at epoch 1)",
    )
    policy = StoppingPolicy(sign=1.0, criterion="pq", strip_length=4, alpha=1.5)
    assert stop_of(policy, [1.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0], PQ_LOSSES) == (None, None)


def test_pq_is_checked_at_strip_ends_only():
    # PQ is 0 (the value equals the best) until epoch 3, then 1 from epoch 4 on: the first strip end after that is
    # epoch 7 ((7 + 1) % 4 == 0), not epochs 4, 5 or 6.
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="pq", strip_length=4)
    values = [1.0, 1.0, 1.0, 1.0] + [6.0] * 8
    assert stop_of(policy, values, PQ_LOSSES) == (7, "progress quotient PQ=1 > alpha=0.5 (best 1 at epoch 1)")


def test_up_compares_the_values_at_the_strip_ends_only():
    # Strips of 3 end at epochs 2, 5, 8: values 2.0 < 2.1 < 2.2 rose twice -> UP_2 stops at epoch 8. The values one
    # epoch before (3.0, 2.9, 2.8) and one epoch after (2.6, 2.5, 2.4) the strip ends fall.
    values = [1.0, 3.0, 2.0, 2.6, 2.9, 2.1, 2.5, 2.8, 2.2, 2.4, 2.3, 2.3, 2.3, 2.3]
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="up", strip_length=3, strips=2)
    assert stop_of(policy, values) == (8, "val_loss rose in 2 successive strips of 3 epochs")


def test_up_stops_at_the_strip_end_where_the_count_is_reached():
    # The ends of strips of 3 (epochs 2, 5, 8, ...) rise from the start; with strips=3 the count reaches 3 at epoch 11.
    values = [1.0] + [1.0 + epoch / 8 for epoch in range(1, 14)]
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="up", strip_length=3, strips=3)
    assert stop_of(policy, values) == (11, "val_loss rose in 3 successive strips of 3 epochs")


# ------------------------------------------------------------------ choosing between the criteria


@pytest.mark.parametrize("cls", [StoppingPolicy, AdaptiveStoppingPolicy])
def test_each_criterion_applies_its_own_rule(cls):
    # One curve, four criteria, four different stops.
    values = [1.0, 1.5, 1.25, 1.75, 2.0, 2.0, 2.0, 2.0, 2.0, 2.25, 2.25, 2.25, 2.25, 2.25, 2.5] + [2.5] * 10
    losses = [5.0, 1.0, 1.0, 1.0, 2.0] * 5  # P_5 = 1000 * (10 / 5 / 1 - 1) = 1000
    expected = {
        "patience": (3, "val_loss did not improve for 3 epochs (best 1 at epoch 1)"),
        # GL = 50 > 5 at the first epoch without a new best.
        "gl": (1, "generalization loss GL=50 > alpha=5 (best 1 at epoch 1)"),
        # First strip end (epoch 4): GL = 100, PQ = 100 / 1000 = 0.1; second (epoch 9): GL = 125, PQ = 0.125;
        # third (epoch 14): GL = 150, PQ = 0.15: never above 0.5. With alpha=0.12: epoch 9.
        "pq": (9, "progress quotient PQ=0.125 > alpha=0.12 (best 1 at epoch 1)"),
        # Strip ends 4, 9, 14, 19: 2.0 < 2.25 < 2.5, then 2.5 is not a rise: UP_2 at epoch 14.
        "up": (14, "val_loss rose in 2 successive strips of 5 epochs"),
    }
    if cls is AdaptiveStoppingPolicy:  # with criterion="patience", the adaptive rule (max_patience 5 * 3 // 2 = 7)
        expected["patience"] = (
            7,
            "val_loss did not improve for 7 epochs (max_patience 7, best 1 at epoch 1); it did not rise over the "
            "last 2 strips of 5 epochs",
        )
    for criterion, stop in expected.items():
        kwargs = {"alpha": 0.12} if criterion == "pq" else {}
        policy = cls(monitor="val_loss", sign=1.0, patience=3, criterion=criterion, strips=2, **kwargs)
        assert stop_of(policy, values, losses) == stop, criterion


def test_the_adaptive_rule_is_used_with_criterion_patience_only():
    values = [1.0] + [2.0] * 40
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0, patience=3, max_patience=5, criterion="patience")
    assert stop_of(policy, values) == (
        5,
        "val_loss did not improve for 5 epochs (max_patience 5, best 1 at epoch 1); it did not rise over the last "
        "3 strips of 5 epochs",
    )


# ------------------------------------------------------------------ rule="patience_growth": P and its cap


def test_patience_growth_is_a_fraction_of_the_best_epoch_plus_one():
    # Best at epoch 9: P = max(2, 0.5 * (9 + 1)) = 5 -> stop at epoch 9 + 5 = 14.
    values = [10.0 - epoch for epoch in range(10)] + [5.0] * 20
    policy = AdaptiveStoppingPolicy(
        monitor="val_loss", sign=1.0, patience=2, patience_ratio=0.5, trend_test=False, rule="patience_growth"
    )
    assert stop_of(policy, values) == (
        14,
        "val_loss did not improve for 5 epochs (adaptive patience 5, best 1 at epoch 10)",
    )
    assert policy.current_patience() == 5.0


def test_patience_growth_is_capped_by_max_patience():
    # Best at epoch 9: max(2, 1.0 * 10) = 10, capped at 4 -> stop at epoch 13.
    values = [10.0 - epoch for epoch in range(10)] + [5.0] * 20
    kwargs = {"sign": 1.0, "patience": 2, "patience_ratio": 1.0, "trend_test": False, "rule": "patience_growth"}
    policy = AdaptiveStoppingPolicy(monitor="val_loss", max_patience=4, **kwargs)
    assert stop_of(policy, values) == (
        13,
        "val_loss did not improve for 4 epochs (adaptive patience 4, best 1 at epoch 10)",
    )
    assert policy.current_patience() == 4.0
    # A cap above the adaptive patience changes nothing; no cap: 10.
    assert stop_of(AdaptiveStoppingPolicy(max_patience=12, **kwargs), values)[0] == 19
    assert stop_of(AdaptiveStoppingPolicy(**kwargs), values)[0] == 19


# ------------------------------------------------------------------ the trend test


def trend(sign, values, window=2):
    policy = AdaptiveStoppingPolicy(sign=sign, rule="patience_growth")
    for epoch, value in enumerate(values):
        assert not policy.update(epoch, value).stop
    return policy.trend_is_improving(window)


def test_trend_uses_log_means_for_a_positive_minimized_value_below_1():
    # previous 0.001, 0.1 (sum 0.101), recent 0.02, 0.02 (sum 0.04): plain means improve, log means do not
    # (log sums -9.21 vs -7.82).
    assert not trend(1.0, [0.001, 0.1, 0.02, 0.02])
    # Above 1 too: 1, 100 (sum 101) then 20, 20 (sum 40); log sums 4.61 vs 5.99.
    assert not trend(1.0, [1.0, 100.0, 20.0, 20.0])
    # Without the log (a value is 0): 2.0, 0.0 then 0.5, 0.5 improves on the plain scale.
    assert trend(1.0, [2.0, 0.0, 0.5, 0.5])


def test_trend_uses_plain_means_for_a_maximized_value():
    # Accuracy 0.25, 0.75 then 0.5, 0.5: equal plain means, not an improvement (the log means would say it is).
    assert not trend(-1.0, [0.25, 0.75, 0.5, 0.5])
    assert trend(-1.0, [0.25, 0.75, 0.5, 0.625])
    assert not trend(-1.0, [0.25, 0.75, 0.5])  # fewer than 2 * window values


def test_trend_equal_means_are_not_an_improvement_for_a_loss():
    assert not trend(1.0, [0.5, 2.0, 1.0, 1.0])  # log means: log 0.5 + log 2 = 0 = 2 log 1


# ------------------------------------------------------------------ the first epoch


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"cls": StoppingPolicy, "patience": 0}, "val_loss did not improve for 1 epochs (best 1 at epoch 1)"),
        (
            {"rule": "patience_growth", "patience": 1, "patience_ratio": 0.0, "trend_test": False},
            "val_loss did not improve for 1 epochs (adaptive patience 1, best 1 at epoch 1)",
        ),
        (
            {"rule": "up_patience", "patience": 1, "max_patience": 1},
            "val_loss did not improve for 1 epochs (max_patience 1, best 1 at epoch 1); it did not rise over the "
            "last 3 strips of 5 epochs",
        ),
        (
            {"rule": "up_progress", "patience": 1, "max_patience": 1},
            "val_loss did not improve for 1 epochs (max_patience 1, best 1 at epoch 1); it did not rise over the "
            "last 3 strips of 5 epochs",
        ),
    ],
)
def test_the_first_epoch_guard(kwargs, reason):
    kwargs = dict(kwargs)
    cls = kwargs.pop("cls", AdaptiveStoppingPolicy)
    # The second epoch (epoch 1) can stop.
    assert stop_of(cls(monitor="val_loss", sign=1.0, **kwargs), [1.0, 2.0, 2.0]) == (1, reason)
    # Epoch 0 never stops on the wait, as Keras's `epoch > 0`, even with a best restored from an earlier run.
    first = cls(monitor="val_loss", sign=1.0, **kwargs)
    first.update(0, 1.0)
    resumed = cls(monitor="val_loss", sign=1.0, **kwargs)
    resumed.set_state(first.get_state())
    assert not resumed.update(0, 2.0).stop
    assert resumed.update(1, 2.0).stop


# ------------------------------------------------------------------ rule="up_progress": progress and its message


def test_up_progress_stops_below_min_progress_with_its_message():
    # Window 4: at epoch 4 the best before the window is 1.0 (epoch 0), the best now 0.25: progress 75 % < 80 %.
    values = [1.0, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5]
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0, patience=2, max_patience=4, min_progress=0.8)
    assert stop_of(policy, values) == (
        4,
        "val_loss did not improve for 3 epochs (best 0.25 at epoch 2); its best improved by only 75 % over the last "
        "4 epochs (min_progress 80 %)",
    )


def test_up_progress_equal_to_min_progress_is_enough_progress():
    # Progress exactly 75 % with min_progress 75 %: not "less than", so it waits its max_patience (4).
    values = [1.0, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5]
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0, patience=2, max_patience=4, min_progress=0.75)
    assert stop_of(policy, values) == (
        5,
        "val_loss did not improve for 4 epochs (max_patience 4, best 0.25 at epoch 2); it did not rise over the last "
        "3 strips of 5 epochs",
    )


def test_progress_needs_more_values_than_its_window():
    policy = AdaptiveStoppingPolicy(sign=1.0, patience=2, max_patience=4)
    for epoch, value in enumerate([1.0, 0.25, 0.5, 0.5]):
        policy.update(epoch, value)
        assert policy.progress() is None
    policy.update(4, 0.5)
    assert policy.progress() == 0.75
    # The best (0.25, epoch 1) is now before the window: no new best in the last 4 values, progress 0.
    policy.update(5, 0.5)
    assert policy.progress() == 0.0


# ------------------------------------------------------------------ second mutmut round (issue 14)


def test_the_trend_test_window_is_at_least_2_and_named_in_the_message():
    # patience 1, so the window is max(2, 1) = 2. Epoch 3: the last 2 values (0.75, 0.5) beat the 2 before them
    # (0.25, 0.5): wait. Epoch 4: (0.5, 0.75) against (0.5, 0.75), equal means: stop.
    values = [0.25, 0.5, 0.75, 0.5, 0.75, 0.75, 0.5, 0.5]
    policy = AdaptiveStoppingPolicy(monitor="acc", sign=-1.0, patience=1, patience_ratio=0.0, rule="patience_growth")
    assert stop_of(policy, values) == (
        4,
        "acc did not improve for 2 epochs (adaptive patience 1, best 0.75 at epoch 3) and its trend stopped improving",
    )


def test_min_delta_mode_rel_scales_min_delta_by_the_best():
    # Best 2, min_delta 0.25: "abs" needs a value below 1.75, "rel" below 2 - 0.25 * 2 = 1.5.
    assert StoppingPolicy(sign=1.0, min_delta=0.25, patience=1).update(0, 2.0).improved
    for mode, improved in (("abs", True), ("rel", False)):
        policy = StoppingPolicy(sign=1.0, min_delta=0.25, patience=1, min_delta_mode=mode)
        policy.update(0, 2.0)
        assert policy.update(1, 1.625).improved is improved, mode


def test_beating_the_baseline_restarts_the_wait():
    # Epoch 0 does not beat the baseline 1 (wait 1); epoch 1 does (wait 0); then 2 epochs without a new best.
    policy = StoppingPolicy(monitor="loss", sign=1.0, patience=2, baseline=1.0)
    assert stop_of(policy, [2.0, 0.5, 0.625, 0.75, 0.875]) == (
        3,
        "loss did not improve for 2 epochs (best 0.5 at epoch 2)",
    )


def test_pq_and_up_for_a_metric_to_maximize():
    # PQ: an accuracy falling from 0.5 to 0.25 lost GL = 50 %; P_4 = 500: PQ = 0.1 > alpha=0.05 at epoch 3.
    policy = StoppingPolicy(monitor="acc", sign=-1.0, criterion="pq", strip_length=4, alpha=0.05)
    assert stop_of(policy, [0.5, 0.25, 0.25, 0.25], PQ_LOSSES) == (
        3,
        "progress quotient PQ=0.1 > alpha=0.05 (best 0.5 at epoch 1)",
    )
    # UP: the accuracy at the strip ends (epochs 2, 5, 8) falls: 0.75, 0.625, 0.5.
    values = [0.875, 0.25, 0.75, 0.25, 0.25, 0.625, 0.25, 0.25, 0.5, 0.25]
    policy = StoppingPolicy(monitor="acc", sign=-1.0, criterion="up", strip_length=3, strips=2)
    assert stop_of(policy, values) == (8, "acc rose in 2 successive strips of 3 epochs")


def test_non_finite_values_decisions_and_stopped_epoch():
    policy = StoppingPolicy(monitor="loss", sign=1.0, patience=5)
    policy.update(0, 1.0)
    assert policy.update(1, float("nan")) == Decision(False, True, "loss is nan at epoch 2", None)
    assert policy.stopped_epoch == 1
    policy = StoppingPolicy(monitor="loss", sign=1.0, patience=5)
    policy.update(0, 1.0)
    policy.update(1, 1.0)
    assert policy.update(2, 1.0, train_loss=float("inf")) == Decision(
        False, True, "the training loss is inf at epoch 3"
    )
    assert policy.stopped_epoch == 2


def test_a_fresh_state_and_a_stopped_state_round_trip():
    assert StoppingPolicy(sign=1.0).get_state() == {
        "wait": 0,
        "stopped_epoch": 0,
        "best": None,
        "best_epoch": 0,
        "stop_reason": None,
        "sign": 1.0,
        "smoother": {"value": None},
        "train_strip": [],
        "strip_end_value": None,
        "rising_strips": 0,
    }
    policy = StoppingPolicy(monitor="loss", sign=1.0, patience=1)
    stop_of(policy, [1.0, 2.0])
    resumed = StoppingPolicy(monitor="loss", sign=1.0, patience=1)
    resumed.set_state(policy.get_state())
    assert resumed.stop_reason == "loss did not improve for 1 epochs (best 1 at epoch 1)"
    assert resumed.get_state() == policy.get_state()


def test_the_missing_sign_error_names_the_class():
    for cls in (StoppingPolicy, AdaptiveStoppingPolicy):
        with pytest.raises(RuntimeError, match=rf"^{cls.__name__}: set `sign` \(1.0 to minimize, -1.0 to maximize\)"):
            cls().update(0, 1.0)
