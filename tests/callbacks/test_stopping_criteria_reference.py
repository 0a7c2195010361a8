"""Prechelt's GL, P_k and PQ against values worked out by hand from the paper's formulas (not from the code).

Lutz Prechelt 1998, "Early stopping - but when?", section 2.2:
    GL(t) = 100 * (E_va(t) / E_opt(t) - 1)
    P_k(t) = 1000 * (sum_{t'=t-k+1..t} E_tr(t') / (k * min_{t'=t-k+1..t} E_tr(t')) - 1)
    PQ_alpha: stop after the first end-of-strip epoch t with GL(t) / P_k(t) > alpha.
"""

import math

import pytest

from kreg.callbacks import EarlyStopping
from kreg.callbacks import stopping_criteria as sc
from kreg.callbacks.stopping_policy import StoppingPolicy

STRIP = [0.50, 0.45, 0.42, 0.41, 0.40]  # sum 2.18, k = 5: mean 0.436, min 0.40


def test_generalization_loss_by_hand():
    assert sc.generalization_loss(0.3, 0.25) == pytest.approx(20.0)  # 100 * (1.2 - 1)
    assert sc.generalization_loss(0.52, 0.5) == pytest.approx(4.0)
    assert sc.generalization_loss(0.81, 0.9, sign=-1.0) == pytest.approx(10.0)  # accuracy 0.90 -> 0.81: 10 % lost


def test_training_progress_by_hand():
    assert sc.training_progress(STRIP) == pytest.approx(90.0)  # 1000 * (0.436 / 0.40 - 1)
    assert sc.training_progress([1.0, 0.5]) == pytest.approx(500.0)  # 1000 * (0.75 / 0.5 - 1)
    assert sc.training_progress([0.25] * 4) == 0.0  # a stalled strip


@pytest.mark.parametrize(
    "value, best, strip, sign, expected",
    [
        (0.3, 0.25, STRIP, 1.0, 20.0 / 90.0),  # GL 20 %, P_5 90 per mille: PQ = 2/9
        (0.52, 0.5, STRIP, 1.0, 4.0 / 90.0),
        (0.3, 0.25, [1.0, 0.5], 1.0, 20.0 / 500.0),  # PQ = 0.04
        (0.81, 0.9, STRIP, -1.0, 10.0 / 90.0),  # an accuracy: 10 % lost over 90 per mille of progress
        (0.25, 0.25, STRIP, 1.0, 0.0),  # at the best value: no generalization loss
        (0.2, 0.25, STRIP, 1.0, 0.0),  # better than the best: not a loss
        (0.3, 0.25, [0.4] * 5, 1.0, math.inf),  # a loss with no training progress at all
        (0.25, 0.25, [0.4] * 5, 1.0, 0.0),  # at the best value the quotient is 0, even with no progress
        (0.5025, 0.5, STRIP, 1.0, 0.5 / 90.0),  # GL below 1 %: 0.5 / 90
        (0.3, 0.25, [1.0005, 1.0], 1.0, 20.0 / 0.25),  # progress below 1 per mille: 1000 * (1.00025 - 1) = 0.25
    ],
)
def test_progress_quotient_by_hand(value, best, strip, sign, expected):
    assert sc.progress_quotient(value, best, strip, sign) == pytest.approx(expected)


def test_pq_stops_at_the_first_strip_end_past_alpha_through_the_policy():
    # k = 5. Validation error best 0.25 at epoch 1; the epoch-4 strip end has value 0.26: GL = 4 %, the training
    # losses of epochs 0..4 are STRIP: P_5 = 90, PQ = 4/90 = 0.044 <= 0.05, no stop. Epoch 9 (second strip end):
    # value 0.3, GL = 20 %; training losses [0.40, 0.39, 0.385, 0.38, 0.375]: mean 0.386, P_5 = 1000 * (0.386 /
    # 0.375 - 1) = 29.33; PQ = 20 / 29.33 = 0.682 > 0.05: stop at epoch 9, not at the non-strip-end epochs between.
    values = [0.4, 0.25, 0.3, 0.35, 0.26, 0.5, 0.5, 0.5, 0.5, 0.3]
    losses = STRIP + [0.40, 0.39, 0.385, 0.38, 0.375]
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="pq", alpha=0.05, strip_length=5)
    stops = [policy.update(epoch, v, train_loss=loss).stop for epoch, (v, loss) in enumerate(zip(values, losses))]
    assert stops == [False] * 9 + [True]
    assert policy.stop_reason == "progress quotient PQ=0.682 > alpha=0.05 (best 0.25 at epoch 2)"
    # Just above the first strip end's quotient (4/90 = 0.0444) and it stops there instead.
    policy = StoppingPolicy(monitor="val_loss", sign=1.0, criterion="pq", alpha=0.044, strip_length=5)
    stops = [policy.update(epoch, v, train_loss=loss).stop for epoch, (v, loss) in enumerate(zip(values, losses))]
    assert stops.index(True) == 4
    assert policy.stop_reason.startswith("progress quotient PQ=0.0444 > alpha=0.044")


def test_pq_through_the_callback():
    stopper = EarlyStopping(criterion="pq", alpha=0.05, strip_length=5)

    class Model:
        stop_training = False

    stopper.set_model(Model())
    stopper.on_train_begin()
    values = [0.4, 0.25, 0.3, 0.35, 0.26, 0.5, 0.5, 0.5, 0.5, 0.3]
    losses = STRIP + [0.40, 0.39, 0.385, 0.38, 0.375]
    for epoch, (value, loss) in enumerate(zip(values, losses)):
        stopper.on_epoch_end(epoch, {"val_loss": value, "loss": loss})
        if stopper.model.stop_training:
            break
    assert stopper.stopped_epoch == 9
    assert "PQ=0.682" in stopper.stop_reason
