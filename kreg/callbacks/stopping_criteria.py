"""Pure-Python pieces of the early-stopping rules: Prechelt's GL/PQ/UP criteria and smoothing.

Everything here works on plain Python floats, one epoch at a time, and keeps its state in plain Python values so a
callback can save it (`get_state`) and restore it after an interruption (`set_state`).

Orientation: every function takes `sign`, `+1.0` when smaller is better (a loss, `mode="min"`) and `-1.0` when larger
is better (an accuracy, `mode="max"`), so the same code serves both modes.

Reference: Lutz Prechelt 1998, "Early stopping - but when?", in Neural Networks: Tricks of the Trade, LNCS 1524,
pp. 55-69 (the GL, PQ and UP criteria and the training strips of length k = 5).
"""

import math


def generalization_loss(value, best, sign=1.0):
    """Prechelt's generalization loss GL(t) = 100 * (E_va(t) / E_opt(t) - 1), in percent.

    For a loss (`sign=+1`) with a positive best value this is exactly Prechelt's formula. In general it is the
    relative degradation from the best value, `100 * sign * (value - best) / |best|`, which also serves metrics to
    maximize (`sign=-1`: an accuracy that fell from 0.90 to 0.81 has lost 10 %). It is 0 at the best value.
    """
    if best == 0.0:
        return 0.0 if value == best else math.inf
    return 100.0 * sign * (value - best) / abs(best)


def training_progress(strip):
    """Prechelt's training progress P_k(t) = 1000 * (mean of the strip / min of the strip - 1), in per mille.

    `strip` is the list of the last k training losses. Progress is high while the training loss still falls fast
    and goes to 0 once it stalls. A strip whose minimum is not positive has no defined progress: returns `inf`
    (the training is not judged to have stalled).
    """
    lowest = min(strip)
    if lowest <= 0.0:
        return math.inf
    return 1000.0 * (sum(strip) / len(strip) / lowest - 1.0)


def progress_quotient(value, best, strip, sign=1.0):
    """Prechelt's PQ(t) = GL(t) / P_k(t): the generalization loss per unit of training progress."""
    loss = generalization_loss(value, best, sign)
    progress = training_progress(strip)
    if loss <= 0.0:
        return 0.0
    if progress <= 0.0:
        return math.inf
    return loss / progress


def update_rising_strips(count, value, previous_strip_end_value, sign=1.0):
    """One end-of-strip step of Prechelt's UP_s criterion: the number of successive strips with a rising error.

    Returns `count + 1` when the monitored value at the end of this strip is worse than at the end of the previous
    strip, else 0. UP_s stops once the returned count reaches s.
    """
    if previous_strip_end_value is None:
        return 0
    return count + 1 if sign * (value - previous_strip_end_value) > 0.0 else 0


class ExponentialMovingAverage:
    """Exponential moving average `s_t = w * s_{t-1} + (1 - w) * x_t`, started at the first value (`s_0 = x_0`).

    Args:
        weight: the weight `w` of the past in [0, 1); 0 returns every value unchanged.
    """

    def __init__(self, weight):
        self.weight = float(weight)
        self.value = None

    def update(self, x):
        """Adds a value and returns the new average."""
        x = float(x)
        self.value = x if self.value is None else self.weight * self.value + (1.0 - self.weight) * x
        return self.value

    def get_state(self):
        return {"value": self.value}

    def set_state(self, state):
        self.value = state["value"]
