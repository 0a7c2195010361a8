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
    (AdaptiveStoppingPolicy, {"trend_test": False, "patience": 3, "patience_ratio": 0.5}),
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
        policy = AdaptiveStoppingPolicy(sign=sign)
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
