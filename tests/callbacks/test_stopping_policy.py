"""`StoppingPolicy` and `AdaptiveStoppingPolicy`: the pure rules, on plain numbers, without a model.

Checked epoch by epoch against `keras.callbacks.EarlyStopping`, for a JSON round trip of their state in the middle of
a run, for the sign being given (never inferred), and as the rules the callbacks delegate to.
"""

import ast
import inspect
import json
import math

import keras
import numpy as np
import pytest

from kreg.callbacks import AdaptiveEarlyStopping, EarlyStopping, stopping_criteria, stopping_policy
from kreg.callbacks.stopping_policy import AdaptiveStoppingPolicy, Decision, StoppingPolicy


class DummyModel:
    def __init__(self):
        self.stop_training = False
        self.weights = -1

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def run(policy, values, losses=None, start=0):
    """The decisions of `policy` on `values` (epochs `start`, `start + 1`, ...), up to and including a stop."""
    decisions = []
    for epoch, value in enumerate(values[start:], start):
        decisions.append(policy.update(epoch, value, train_loss=None if losses is None else losses[epoch]))
        if decisions[-1].stop:
            break
    return decisions


def test_the_policy_modules_import_no_keras():
    for module in (stopping_policy, stopping_criteria):
        imported = set()
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module.split(".")[0])
        assert imported <= {"dataclasses", "math", "kreg"}, imported


@pytest.mark.parametrize("seed", range(12))
def test_every_epoch_as_keras_early_stopping(seed):
    # Epoch by epoch, not only at the end: the improving epochs, the wait counter and the stop.
    rng = np.random.default_rng(seed)
    values = list(np.round(rng.normal(size=40).cumsum() * 4 + 100) / 16)  # exact in float32
    mode = ["min", "max"][seed % 2]
    kwargs = {
        "patience": int(rng.integers(0, 6)),
        "min_delta": [0.0, 0.125][seed // 2 % 2],
        "baseline": [None, float(values[0])][seed // 4 % 2],
        "start_from_epoch": int(rng.integers(0, 3)),
    }
    keras_stopper = keras.callbacks.EarlyStopping(mode=mode, restore_best_weights=True, **kwargs)
    keras_stopper.set_model(DummyModel())
    keras_stopper.on_train_begin()
    policy = StoppingPolicy(sign=1.0 if mode == "min" else -1.0, **kwargs)
    for epoch, value in enumerate(values):
        decision = policy.update(epoch, value)
        keras_stopper.on_epoch_end(epoch, {"val_loss": value})
        keras_improved = epoch >= kwargs["start_from_epoch"] and keras_stopper.best_epoch == epoch
        assert decision.improved == keras_improved, epoch
        assert policy.wait == keras_stopper.wait
        assert decision.stop == keras_stopper.model.stop_training
        if decision.stop:
            assert policy.stopped_epoch == keras_stopper.stopped_epoch == epoch
            break
    assert policy.best_epoch == keras_stopper.best_epoch


def test_decision():
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, patience=1, smoothing=0.5)
    assert policy.update(0, 1.0) == Decision(improved=True, stop=False, reason=None, value=1.0)
    assert policy.update(1, 0.0) == Decision(improved=True, stop=False, reason=None, value=0.5)
    assert policy.update(2, 2.0) == Decision(
        improved=False, stop=True, reason="val_loss did not improve for 1 epochs (best 0.5 at epoch 2)", value=1.25
    )
    assert policy.stop_reason == "val_loss did not improve for 1 epochs (best 0.5 at epoch 2)"
    assert policy.update(3, 0.1) == Decision()  # stopped: later values are not compared


def test_a_metric_to_maximize():
    policy = StoppingPolicy(monitor="val_accuracy", sign=-1.0, patience=2, stopping_threshold=0.95)
    assert [d.improved for d in run(policy, [0.5, 0.6, 0.55, 0.9, 0.97])] == [True, True, False, True, True]
    assert policy.stop_reason == "val_accuracy=0.97 reached stopping_threshold=0.95"


def test_the_sign_is_given_not_inferred():
    policy = StoppingPolicy(monitor="score")
    assert policy.needs_sign(1.0)
    assert not policy.needs_sign(None)
    assert policy.update(0, None) == Decision()  # a missing value needs no direction
    with pytest.raises(RuntimeError, match="set `sign`"):
        policy.update(1, 1.0)
    assert policy.wait == 0 and policy.best is None  # nothing was consumed
    policy.sign = -1.0
    assert not policy.needs_sign(1.0)
    assert policy.update(1, 1.0).improved and not policy.update(2, 0.5).improved
    # A non-finite training loss stops before any comparison, so no direction is needed.
    stopped = StoppingPolicy()
    assert not stopped.needs_sign(1.0, train_loss=math.nan)
    assert stopped.update(0, 1.0, train_loss=math.nan) == Decision(
        stop=True, reason="the training loss is nan at epoch 1"
    )
    with pytest.raises(ValueError, match="Received: sign=0"):
        StoppingPolicy(sign=0)


def test_non_finite_values():
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, patience=10)
    run(policy, [1.0, 0.5, math.inf, 0.1])
    assert policy.stopped_epoch == 2 and policy.stop_reason == "val_loss is inf at epoch 3"
    assert policy.best == 0.5 and policy.best_epoch == 1


CONFIGS = [
    (StoppingPolicy, {"patience": 3}),
    (StoppingPolicy, {"patience": 4, "smoothing": 0.3, "min_delta": 0.01, "min_delta_mode": "rel"}),
    (StoppingPolicy, {"criterion": "gl", "alpha": 20.0}),
    (StoppingPolicy, {"criterion": "pq", "alpha": 0.5, "strip_length": 2}),
    (StoppingPolicy, {"criterion": "up", "strips": 2, "strip_length": 2}),
    (AdaptiveStoppingPolicy, {}),
    (AdaptiveStoppingPolicy, {"rule": "patience_growth"}),
    (AdaptiveStoppingPolicy, {"rule": "patience_growth", "trend_test": False, "patience": 3, "patience_ratio": 0.5}),
    (AdaptiveStoppingPolicy, {"patience": 4, "max_patience": 9, "min_progress": 0.05, "strip_length": 2}),
    (AdaptiveStoppingPolicy, {"rule": "up_patience"}),
    (AdaptiveStoppingPolicy, {"rule": "up_patience", "patience": 4, "max_patience": 12, "strip_length": 2}),
]


def _is_plain(value):
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.mark.parametrize("cls, kwargs", CONFIGS)
def test_state_is_plain_json_and_resumes_exactly(cls, kwargs):
    # A noisy loss falling until epoch 45 and rising after: every configuration stops between epochs 37 and 69.
    rng = np.random.default_rng(3)
    epochs = np.arange(80)
    trend = np.where(epochs < 45, 1 / (1 + 0.1 * epochs), 1 / 5.5 + 0.01 * (epochs - 45))
    values = list(trend * np.exp(0.03 * rng.normal(size=80)))
    losses = list(1.0 / (epochs + 1) + 0.01 * rng.random(80))
    reference = run(cls(sign=1.0, **kwargs), values, losses)
    assert reference[-1].stop and len(reference) > 31
    for split in range(1, len(reference)):  # interrupted after every epoch in turn
        first = cls(sign=1.0, **kwargs)
        head = run(first, values[:split], losses)
        state = first.get_state()
        assert _is_plain(state)
        resumed = cls(**kwargs)  # the sign comes back with the state
        resumed.set_state(json.loads(json.dumps(state)))
        assert resumed.get_state() == state
        assert head + run(resumed, values, losses, start=split) == reference, split
    # `reset` clears the run but keeps the configuration and the sign.
    resumed.reset()
    assert resumed.sign == 1.0 and resumed.best is None and run(resumed, values, losses) == reference


def test_trend_test_compares_log_means_for_a_positive_loss_and_plain_means_otherwise():
    def trend(sign, values):
        policy = AdaptiveStoppingPolicy(sign=sign, rule="patience_growth")
        for epoch, value in enumerate(values):
            policy.update(epoch, value)
        return policy.trend_is_improving(2)

    # The last two values have a worse mean (0.15 > 0.1) but a better geometric mean (0.0055 < 0.1).
    assert trend(1.0, [0.1, 0.1, 0.3, 0.0001])
    assert not trend(1.0, [0.1, 0.1, 0.3, 0.0])  # a zero: no log scale, the plain means
    assert trend(-1.0, [0.1, 0.1, 0.3, 0.0001])  # maximized: plain means, 0.15 > 0.1
    assert not trend(-1.0, [0.1, 0.1, 0.1, 0.0999])
    assert not trend(1.0, [0.1, 0.1, 0.3])  # fewer than two windows


@pytest.mark.parametrize("cls, kwargs", CONFIGS)
def test_config_round_trip(cls, kwargs):
    policy = cls(monitor="val_mse", sign=-1.0, **kwargs)
    assert cls(**policy.get_config()).get_config() == policy.get_config()


def test_the_callbacks_delegate_to_the_policies():
    stopper = EarlyStopping(patience=3, smoothing=0.2, mode="max")
    assert type(stopper.policy) is StoppingPolicy
    assert stopper.policy.patience == 3 and stopper.policy.smoothing == 0.2 and stopper.policy.sign == -1.0
    stopper.patience = 5  # the callback's attributes are the policy's
    assert stopper.policy.patience == 5
    adaptive = AdaptiveEarlyStopping(patience_ratio=0.5, max_patience=20)
    assert type(adaptive.policy) is AdaptiveStoppingPolicy
    assert (
        adaptive.policy.patience_ratio == 0.5 and adaptive.policy.max_patience == 20 and adaptive.policy.patience == 10
    )
    assert adaptive.policy.sign is None  # mode="auto": given by the callback once the metrics are built
    # Same decisions as the policy driven alone.
    values = [1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.9, 0.9, 0.9, 0.9]
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    model = DummyModel()
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch, value in enumerate(values):
        model.weights = epoch
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            break
    stopper.on_train_end()
    policy = StoppingPolicy(sign=1.0, patience=2)
    decisions = run(policy, values)
    assert len(decisions) == stopper.stopped_epoch + 1
    assert policy.get_state() == {k: v for k, v in stopper.get_state().items() if k in policy.get_state()}
    assert model.weights == max(i for i, d in enumerate(decisions) if d.improved)


# -------------------------------------------------------------- rule="up_patience": Prechelt's UP with patience


def up_patience_reference(values, sign, patience=10, max_patience=None, k=5, s=3):
    """An independent NumPy transcription of the rule: (stop epoch or None, branch)."""
    values = np.asarray(values, dtype="float64") * sign  # oriented: smaller is better
    max_patience = 3 * patience if max_patience is None else max_patience
    best_epoch = 0
    for epoch in range(len(values)):
        if values[epoch] < values[best_epoch] or epoch == 0:
            best_epoch = epoch
            continue
        wait = epoch - best_epoch
        if wait < patience:
            continue
        ends = values[epoch - k * np.arange(s + 1)] if epoch >= k * s else None  # now, k back, 2k back, ...
        if ends is not None and np.all(ends[:-1] > ends[1:]):
            return epoch, "rising"
        if wait >= max_patience:
            return epoch, "max"
    return None, None


def stop_epoch(policy, values):
    decisions = run(policy, values)
    return (len(decisions) - 1 if decisions[-1].stop else None), policy.stop_reason


@pytest.mark.parametrize("seed", range(16))
def test_up_patience_stops_where_a_numpy_transcription_of_the_rule_does(seed):
    rng = np.random.default_rng(seed)
    sign = [1.0, -1.0][seed % 2]
    kwargs = [{}, {"patience": 4, "max_patience": 9}, {"strip_length": 3, "strips": 2}, {"max_patience": 10}][
        seed // 2 % 4
    ]
    # A noisy loss with a random minimum (falls, then rises), some runs flat: every branch is exercised.
    epochs = np.arange(150)
    turn, noise = rng.integers(10, 100), [0.002, 0.02, 0.2][seed % 3]
    trend = 1.0 / (1.0 + 0.05 * np.minimum(epochs, turn)) + rng.uniform(0.0, 0.004) * np.maximum(epochs - turn, 0)
    values = list(sign * trend * np.exp(noise * rng.standard_normal(150)))
    expected, branch = up_patience_reference(
        values,
        sign,
        kwargs.get("patience", 10),
        kwargs.get("max_patience"),
        kwargs.get("strip_length", 5),
        kwargs.get("strips", 3),
    )
    got, reason = stop_epoch(AdaptiveStoppingPolicy(sign=sign, rule="up_patience", **kwargs), values)
    assert got == expected
    if branch == "rising":
        assert "rose over the last" in reason
    elif branch == "max":
        assert "max_patience" in reason and "did not rise" in reason


def test_up_patience_branches_are_all_exercised_by_the_transcription_check():
    branches = set()
    for seed in range(16):
        rng = np.random.default_rng(seed)
        epochs = np.arange(150)
        turn, noise = rng.integers(10, 100), [0.002, 0.02, 0.2][seed % 3]
        trend = 1.0 / (1.0 + 0.05 * np.minimum(epochs, turn)) + rng.uniform(0, 0.004) * np.maximum(epochs - turn, 0)
        branches.add(up_patience_reference(trend * np.exp(noise * rng.standard_normal(150)), 1.0)[1])
    assert branches >= {"rising", "max"}


def test_up_patience_stops_a_rising_curve_after_the_short_patience():
    # Falls by 0.01 per epoch to its best at epoch 29 (0-based), then rises by 0.05 per epoch. At wait 10 the value
    # 10 epochs back is the best itself (lower than 15 back), so the 3-strip rise first holds at wait 11:
    # 0.71 + 0.55 > 0.71 + 0.30 > 0.71 + 0.05 > 0.75 (epochs 40, 35, 30, 25).
    values = [1.0 - 0.01 * epoch for epoch in range(30)] + [0.71 + 0.05 * i for i in range(1, 60)]
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0, rule="up_patience")
    assert stop_epoch(policy, values)[0] == 40
    assert policy.best_epoch == 29 and policy.wait == 11
    assert policy.stop_reason == (
        "val_loss did not improve for 11 epochs (best 0.71 at epoch 30) and rose over the last 3 strips of 5 epochs"
        " (UP_3)"
    )
    assert policy.current_patience() == 10.0  # rising: the short patience applies
    # A steep fall makes the rise over the third strip (best-5 -> best+1) fail longer: 0.1 per epoch down.
    steep = [3.0 - 0.1 * epoch for epoch in range(30)] + [0.1 + 0.05 * i for i in range(1, 60)]
    # Rising at wait w iff 0.05 (w - 10) > 0.1 (15 - w), i.e. w > 13.3: stops at epoch 29 + 14.
    assert stop_epoch(AdaptiveStoppingPolicy(sign=1.0, rule="up_patience"), steep)[0] == 43
    # For a metric to maximize, falling is overfitting.
    accuracy = [0.5 + 0.01 * epoch for epoch in range(30)] + [0.79 - 0.05 * i for i in range(1, 60)]
    policy = AdaptiveStoppingPolicy(monitor="val_accuracy", sign=-1.0, rule="up_patience")
    assert stop_epoch(policy, accuracy)[0] == 40 and "rose over" in policy.stop_reason


def test_up_patience_waits_max_patience_on_a_noisy_flat_curve():
    # After the best (0.5 at epoch 9), a flat curve alternating 0.6 / 0.64: the value 5 epochs back always has the
    # other parity, so the three strips never all rise, and the run stops at wait 30 exactly.
    values = [1.0 - 0.05 * epoch for epoch in range(10)] + [0.6 + 0.04 * (i % 2) for i in range(80)]
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0, rule="up_patience")
    assert stop_epoch(policy, values)[0] == 39
    assert policy.stop_reason == (
        "val_loss did not improve for 30 epochs (max_patience 30, best 0.55 at epoch 10); "
        "it did not rise over the last 3 strips of 5 epochs"
    )
    assert policy.current_patience() == 30.0
    # max_patience sets the long wait; issue 5's rule (patience 10 + trend test) stops this curve earlier.
    assert stop_epoch(AdaptiveStoppingPolicy(sign=1.0, rule="up_patience", max_patience=17), values)[0] == 26
    assert stop_epoch(AdaptiveStoppingPolicy(sign=1.0, rule="patience_growth"), values)[0] == 26
    # The default rule waits its max_patience (25): the best improved by 45 % over the last 25 epochs until then.
    assert stop_epoch(AdaptiveStoppingPolicy(sign=1.0), values)[0] == 34


def test_up_patience_a_plateau_is_not_a_rise():
    # An accuracy stuck on a plateau (equal values, as discrete metrics do) does not rise: the long wait applies.
    values = [0.5, 0.7, 0.8] + [0.75] * 60
    policy = AdaptiveStoppingPolicy(monitor="val_accuracy", sign=-1.0, rule="up_patience")
    assert stop_epoch(policy, values)[0] == 32 and "max_patience 30" in policy.stop_reason


def test_up_patience_ignores_the_growth_settings_and_keeps_new_bests():
    values = [1.0 - 0.05 * epoch for epoch in range(10)] + [0.6 + 0.04 * (i % 2) for i in range(80)]
    for kwargs in ({"patience_ratio": 5.0}, {"trend_test": False}):
        assert stop_epoch(AdaptiveStoppingPolicy(sign=1.0, rule="up_patience", **kwargs), values)[0] == 39
    # A new best resets the wait: 0.1 at epoch 30 moves the stop to 30 + 30.
    late = list(values)
    late[30] = 0.1
    assert stop_epoch(AdaptiveStoppingPolicy(sign=1.0, rule="up_patience"), late)[0] == 60


@pytest.mark.parametrize(
    "kwargs, name, message",
    [
        (
            {"rule": "up"},
            "rule",
            "Expected one of 'up_progress', 'patience_growth', 'up_patience'. Received: rule='up'",
        ),
        (
            {"rule": "up_patience", "patience": 10, "max_patience": 5},
            "max_patience",
            "Expected an integer >= patience (10) or None with rule='up_patience'. Received: max_patience=5",
        ),
        ({"rule": "up_patience", "strips": 0}, "strips", "Expected an integer >= 1. Received: strips=0"),
        (
            {"patience": 10, "max_patience": 9},
            "max_patience",
            "Expected an integer >= patience (10) or None with rule='up_progress'. Received: max_patience=9",
        ),
        ({"min_progress": -0.01}, "min_progress", "Expected a non-negative finite float. Received: min_progress=-0.01"),
        (
            {"min_progress": math.inf},
            "min_progress",
            "Expected a non-negative finite float. Received: min_progress=inf",
        ),
        ({"min_progress": "1%"}, "min_progress", "Expected a non-negative finite float. Received: min_progress='1%'"),
    ],
)
def test_adaptive_rules_bad_arguments(kwargs, name, message):
    with pytest.raises(ValueError) as error:
        AdaptiveStoppingPolicy(**kwargs)
    assert str(error.value) == f"Invalid value received for argument `{name}`. {message}"
    # max_patience below patience is fine for the growth rule (a cap).
    assert AdaptiveStoppingPolicy(patience=10, max_patience=5, rule="patience_growth").max_patience == 5


# ----------------------------------------- rule="up_progress" (the default): UP, or too little progress, after patience


def up_progress_reference(values, sign, patience=10, max_patience=None, min_progress=0.01, k=5, s=3):
    """An independent NumPy transcription of the rule: (stop epoch or None, branch)."""
    values = np.asarray(values, dtype="float64")
    oriented = values * sign  # smaller is better
    window = int(2.5 * patience) if max_patience is None else max_patience
    best_epoch = 0
    for epoch in range(len(values)):
        if oriented[epoch] < oriented[best_epoch] or epoch == 0:
            best_epoch = epoch
            continue
        wait = epoch - best_epoch
        if wait < patience:
            continue
        ends = oriented[epoch - k * np.arange(s + 1)] if epoch >= k * s else None  # now, k back, 2k back, ...
        if ends is not None and np.all(ends[:-1] > ends[1:]):
            return epoch, "rising"
        if wait >= window:
            return epoch, "max"
        if epoch >= window:  # more than `window` values seen: the best before the last `window` ones exists
            before = values[np.argmin(oriented[: epoch + 1 - window])]
            now = values[np.argmin(oriented[: epoch + 1])]
            if sign * (before - now) / abs(before) < min_progress:
                return epoch, "progress"
    return None, None


def random_curve(seed, length=150):
    """A noisy loss falling at a random rate to a random minimum, then rising, or flat, or still creeping down."""
    rng = np.random.default_rng(seed)
    epochs = np.arange(length)
    turn, noise = rng.integers(10, 100), [0.002, 0.02, 0.2][seed % 3]
    rate, after = rng.uniform(0.01, 0.2), rng.choice([-0.002, 0.0, 0.002, 0.004])
    trend = 1.0 / (1.0 + rate * np.minimum(epochs, turn)) * (1.0 + after * np.maximum(epochs - turn, 0))
    return trend * np.exp(noise * rng.standard_normal(length))


@pytest.mark.parametrize("seed", range(24))
def test_up_progress_stops_where_a_numpy_transcription_of_the_rule_does(seed):
    sign = [1.0, -1.0][seed % 2]
    kwargs = [{}, {"patience": 4, "max_patience": 9}, {"strip_length": 3, "strips": 2}, {"min_progress": 0.05}][
        seed // 2 % 4
    ]
    values = list(sign * random_curve(seed) + (2.0 if sign < 0 else 0.0))  # an "accuracy" in (1, 3) when maximized
    expected, branch = up_progress_reference(
        values,
        sign,
        kwargs.get("patience", 10),
        kwargs.get("max_patience"),
        kwargs.get("min_progress", 0.01),
        kwargs.get("strip_length", 5),
        kwargs.get("strips", 3),
    )
    got, reason = stop_epoch(AdaptiveStoppingPolicy(sign=sign, **kwargs), values)
    assert got == expected
    if branch == "rising":
        assert "rose over the last" in reason
    elif branch == "max":
        assert "max_patience" in reason and "did not rise" in reason
    elif branch == "progress":
        assert "its best improved by only" in reason and "min_progress" in reason


def test_up_progress_branches_are_all_exercised_by_the_transcription_check():
    branches = set()
    for seed in range(24):
        sign = [1.0, -1.0][seed % 2]
        values = sign * random_curve(seed) + (2.0 if sign < 0 else 0.0)
        branches.add(up_progress_reference(values, sign)[1])
    assert branches >= {"rising", "max", "progress"}


def test_up_progress_with_min_progress_0_is_up_patience_with_the_same_max_patience():
    for seed in range(12):
        values = list(random_curve(seed))
        for max_patience in (10, 25, 30):
            up = stop_epoch(AdaptiveStoppingPolicy(sign=1.0, rule="up_patience", max_patience=max_patience), values)
            progress = stop_epoch(AdaptiveStoppingPolicy(sign=1.0, min_progress=0.0, max_patience=max_patience), values)
            assert progress[0] == up[0], (seed, max_patience)


def test_up_progress_stops_a_plateau_after_the_short_patience():
    # A slow creep (-0.0001 per epoch) to 0.4961 at epoch 39, then a plateau: at wait 10 the best improved by
    # (0.4976 - 0.4961) / 0.4976 = 0.3 % over the last 25 epochs, less than 1 %: stop.
    values = [0.5 - 0.0001 * epoch for epoch in range(40)] + [0.497, 0.499] * 20
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0)
    assert stop_epoch(policy, values)[0] == 49
    assert policy.progress() == pytest.approx((0.4976 - 0.4961) / 0.4976)
    assert policy.current_patience() == 10.0
    assert policy.stop_reason == (
        "val_loss did not improve for 10 epochs (best 0.4961 at epoch 40); its best improved by only 0.3 % over the"
        " last 25 epochs (min_progress 1 %)"
    )
    # With min_progress 0.2 % it waits longer: the window slides past the creep, and the progress of the best over
    # the last 25 epochs, 0.0001 (64 - epoch) / 0.4970, first falls below 0.2 % at epoch 55 (0.18 %).
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0, min_progress=0.002)
    assert stop_epoch(policy, values)[0] == 55
    assert "improved by only 0.18 % over the last 25 epochs (min_progress 0.2 %)" in policy.stop_reason


def test_up_progress_waits_for_a_run_still_making_progress():
    # Fast progress (1.0 -> 0.5 in 10 epochs) then a flat, noisy curve: 10 epochs after the best, the best is 50 %
    # better than 25 epochs ago... until that epoch slides out of the window: then progress is 0 and it stops.
    values = [1.0 - 0.05 * epoch for epoch in range(11)] + [0.6 + 0.04 * (i % 2) for i in range(80)]
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0)
    decisions = run(policy, values)
    assert len(decisions) - 1 == 10 + 25 and policy.wait == 25  # never rising (alternating), big progress until then
    assert policy.stop_reason == (
        "val_loss did not improve for 25 epochs (max_patience 25, best 0.5 at epoch 11); it did not rise over the"
        " last 3 strips of 5 epochs"
    )
    # Before the window is full, the progress is unknown (`None`) and counts as progress.
    policy = AdaptiveStoppingPolicy(sign=1.0)
    run(policy, values[:25])
    assert policy.progress() is None and policy.current_patience() == 25.0


def test_up_progress_stops_a_rising_curve_as_up_patience():
    values = [1.0 - 0.01 * epoch for epoch in range(30)] + [0.71 + 0.05 * i for i in range(1, 60)]
    policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0)
    assert stop_epoch(policy, values)[0] == 40
    assert policy.stop_reason == (
        "val_loss did not improve for 11 epochs (best 0.71 at epoch 30) and rose over the last 3 strips of 5 epochs"
        " (UP_3)"
    )


def test_up_progress_progress_is_relative_for_both_signs():
    policy = AdaptiveStoppingPolicy(sign=-1.0, patience=2)  # an accuracy: max_patience 5
    for epoch, value in enumerate([0.5, 0.8, 0.9, 0.9, 0.91, 0.9, 0.9]):
        policy.update(epoch, value)
    assert policy.up_max_patience() == 5
    assert policy.progress() == pytest.approx((0.91 - 0.8) / 0.8)  # best before the last 5 values: 0.8
    policy = AdaptiveStoppingPolicy(sign=1.0, patience=2, max_patience=3)
    for epoch, value in enumerate([0.0, 1.0, 2.0, 3.0]):
        policy.update(epoch, value)
    assert policy.progress() == 0.0  # a best of exactly 0, not beaten
    policy = AdaptiveStoppingPolicy(sign=-1.0, patience=2, max_patience=3)
    for epoch, value in enumerate([0.0, -1.0, -1.0, 1.0]):
        assert not policy.update(epoch, value).stop
    assert policy.progress() == math.inf  # beaten from a best of 0


def test_up_progress_default_max_patience_is_two_and_a_half_patiences():
    assert AdaptiveStoppingPolicy(patience=10).up_max_patience() == 25
    assert AdaptiveStoppingPolicy(patience=3).up_max_patience() == 7
    assert AdaptiveStoppingPolicy(patience=3, max_patience=4).up_max_patience() == 4
    assert AdaptiveStoppingPolicy(patience=10, rule="up_patience").up_max_patience() == 30
