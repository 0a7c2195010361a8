"""Prechelt's GL/PQ/UP quantities and the moving average, checked against the paper's formulas."""

import math

import numpy as np
import pytest

from kreg.callbacks import stopping_criteria as sc


def test_generalization_loss_is_prechelts_formula_for_a_loss():
    # GL(t) = 100 * (E_va(t) / E_opt(t) - 1)
    assert sc.generalization_loss(0.55, 0.5) == pytest.approx(100 * (0.55 / 0.5 - 1))
    assert sc.generalization_loss(0.5, 0.5) == 0.0


def test_generalization_loss_for_a_metric_to_maximize_is_the_relative_drop():
    assert sc.generalization_loss(0.81, 0.9, sign=-1.0) == pytest.approx(10.0)
    assert sc.generalization_loss(0.95, 0.9, sign=-1.0) < 0.0


def test_generalization_loss_with_a_zero_best():
    assert sc.generalization_loss(0.0, 0.0) == 0.0
    assert sc.generalization_loss(0.1, 0.0) == math.inf


def test_training_progress_is_prechelts_formula():
    strip = [0.50, 0.45, 0.42, 0.41, 0.40]
    # P_k(t) = 1000 * (sum(strip) / (k * min(strip)) - 1)
    assert sc.training_progress(strip) == pytest.approx(1000 * (np.sum(strip) / (5 * np.min(strip)) - 1))
    assert sc.training_progress([0.3] * 5) == 0.0
    assert sc.training_progress([0.0, 0.1]) == math.inf


def test_progress_quotient():
    strip = [0.50, 0.45, 0.42, 0.41, 0.40]
    expected = sc.generalization_loss(0.3, 0.25) / sc.training_progress(strip)
    assert sc.progress_quotient(0.3, 0.25, strip) == pytest.approx(expected)
    assert sc.progress_quotient(0.25, 0.25, strip) == 0.0
    assert sc.progress_quotient(0.3, 0.25, [0.4] * 5) == math.inf


@pytest.mark.parametrize(
    "count, value, previous, sign, expected",
    [
        (0, 1.0, None, 1.0, 0),
        (0, 1.1, 1.0, 1.0, 1),
        (2, 1.1, 1.0, 1.0, 3),
        (2, 0.9, 1.0, 1.0, 0),
        (1, 0.8, 0.9, -1.0, 2),
        (1, 0.95, 0.9, -1.0, 0),
    ],
)
def test_update_rising_strips(count, value, previous, sign, expected):
    assert sc.update_rising_strips(count, value, previous, sign) == expected


def test_exponential_moving_average_matches_the_recursion():
    values = np.random.default_rng(0).normal(size=20)
    ema = sc.ExponentialMovingAverage(0.7)
    expected = values[0]
    for i, x in enumerate(values):
        if i:
            expected = 0.7 * expected + 0.3 * x
        assert ema.update(x) == pytest.approx(expected)
    state = ema.get_state()
    clone = sc.ExponentialMovingAverage(0.7)
    clone.set_state(state)
    assert clone.update(1.0) == pytest.approx(ema.update(1.0))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_strip_end_equal_to_the_previous_one_is_not_rising(sign):
    """Prechelt's UP counts strictly rising strips: an unchanged value resets the count."""
    assert sc.update_rising_strips(2, 0.5, 0.5, sign) == 0
    assert sc.update_rising_strips(2, 0.5, 0.5) == 0
