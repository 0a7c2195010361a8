"""Pure early-stopping policies: when to stop, from a stream of per-epoch values, with no Keras model involved.

`StoppingPolicy` is the rule of `kreg.callbacks.EarlyStopping` (Keras's patience rule plus the opt-in extras) and
`AdaptiveStoppingPolicy` the rule of `kreg.callbacks.AdaptiveEarlyStopping`. The callbacks read the logs, infer the
direction of the metric and handle the weights; the policies only see numbers:

    decision = policy.update(epoch, value, train_loss=loss)

tells whether the value improved on the best (the callback then copies the weights) and whether to stop, and why.
Their state (`get_state()`) is made of plain JSON-able Python values, so a run can be saved and resumed anywhere,
and the same policy can replay recorded learning curves without a model (`benchmarks/bench_early_stopping.py`).

Orientation: `sign` is `+1.0` when smaller is better (a loss, `mode="min"`) and `-1.0` when larger is better (an
accuracy, `mode="max"`). It is given to the policy, never inferred by it; it may be left `None` until the first
value has to be compared (`needs_sign`), which is how the callbacks delay it until the model's metrics are built.

References: Lutz Prechelt 1998, "Early stopping - but when?" (GL, PQ, UP); Keras's `EarlyStopping`; PyTorch
Lightning's `EarlyStopping` (`stopping_threshold`, `divergence_threshold`, `check_finite`); skorch's `EarlyStopping`
(`threshold_mode="rel"`).
"""

import dataclasses
import math

from kreg.callbacks import stopping_criteria
from kreg.validation import check_bool, check_choice, check_float, check_int, invalid

CRITERIA = ("patience", "gl", "pq", "up")
ADAPTIVE_RULES = ("up_progress", "patience_growth", "up_patience")
DEFAULT_ALPHA = {"gl": 5.0, "pq": 0.5}


def _check_optional_float(name, value, low=None, low_inclusive=True):
    return None if value is None else check_float(name, value, low=low, low_inclusive=low_inclusive)


def _check_sign(sign):
    if sign is None:
        return None
    if isinstance(sign, bool) or sign not in (1, -1):
        raise invalid("sign", "1.0 (minimize), -1.0 (maximize) or None", sign)
    return float(sign)


def _is_finite(value):
    return value is None or math.isfinite(value)


def _as_float(value):
    return None if value is None else float(value)


@dataclasses.dataclass(frozen=True)
class Decision:
    """What `StoppingPolicy.update` decided for one epoch.

    Attributes:
        improved: the value improved on the best so far (by more than `min_delta`); it is now the best.
        stop: training should stop now.
        reason: why, when `stop` is true (the policy's `stop_reason`), else `None`.
        value: the value that was compared (smoothed when `smoothing > 0`), or `None` if the epoch was not compared
            (no value, a warm-up epoch, a non-finite value, or the policy had already stopped).
    """

    improved: bool = False
    stop: bool = False
    reason: str | None = None
    value: float | None = None


class StoppingPolicy:
    """The early-stopping rule of `kreg.callbacks.EarlyStopping`, on plain numbers: Keras's patience rule and extras.

    At each `update`, the value is compared with the best so far; an improvement (by more than `min_delta`) resets
    the wait counter, and once `patience` epochs passed without one, the policy says stop (as Keras's callback, and
    with `baseline`, `start_from_epoch` and `min_delta` as there). Everything after `start_from_epoch` is opt-in,
    except `check_finite`, which stops at once on a NaN or infinite value.

    Args:
        monitor: name of the monitored quantity, used in the stop reasons only (`None` until it is known).
        sign: `1.0` to minimize, `-1.0` to maximize, or `None` to set it (attribute `sign`) before the first value
            is compared (see `needs_sign`).
        min_delta: smallest change that counts as an improvement (its absolute value is used, as in Keras).
        patience: epochs without improvement after which to stop (`criterion="patience"`).
        baseline: a value to beat: until the value improves on it, the wait counter is not reset.
        start_from_epoch: epochs to wait before comparing (warm-up).
        min_delta_mode: `"abs"` (improve by more than `min_delta`) or `"rel"` (by more than `min_delta * |best|`).
        smoothing: weight `w` in [0, 1) of an exponential moving average of the values; comparisons, thresholds and
            criteria use the average. 0 disables it.
        stopping_threshold: stop as soon as the value is better than this (good enough).
        divergence_threshold: stop as soon as the value is worse than this (hopeless).
        check_finite: stop as soon as the value or the training loss is NaN or infinite.
        criterion: `"patience"`, or Prechelt's `"gl"`, `"pq"` or `"up"` (see `kreg.callbacks.EarlyStopping`).
        alpha: threshold of `"gl"` (percent, default 5) or `"pq"` (default 0.5); `None` for the default.
        strip_length: Prechelt's strip length k for `"pq"` and `"up"`.
        strips: Prechelt's s for `"up"`: successive strips with a rising value before stopping.

    Attributes:
        wait, best, best_epoch, stopped_epoch, stop_reason: the run's counters, as on the callback.

    Example:

    >>> policy = StoppingPolicy(monitor="loss", sign=1.0, patience=2)
    >>> for epoch, value in enumerate([0.3, 0.2, 0.25, 0.26, 0.1]):
    ...     decision = policy.update(epoch, value)
    ...     if decision.stop:
    ...         break
    >>> decision
    Decision(improved=False, stop=True, reason='loss did not improve for 2 epochs (best 0.2 at epoch 2)', value=0.26)
    >>> policy.get_state()["best_epoch"]
    1
    """

    def __init__(
        self,
        monitor="val_loss",
        sign=None,
        min_delta=0,
        patience=0,
        baseline=None,
        start_from_epoch=0,
        *,
        min_delta_mode="abs",
        smoothing=0.0,
        stopping_threshold=None,
        divergence_threshold=None,
        check_finite=True,
        criterion="patience",
        alpha=None,
        strip_length=5,
        strips=3,
    ):
        if monitor is not None and (not isinstance(monitor, str) or not monitor):
            raise invalid("monitor", "a non-empty string or None", monitor)
        self.monitor = monitor
        self.sign = _check_sign(sign)
        self.min_delta = abs(check_float("min_delta", min_delta))
        self.patience = check_int("patience", patience, low=0)
        self.baseline = _check_optional_float("baseline", baseline)
        self.start_from_epoch = check_int("start_from_epoch", start_from_epoch, low=0)
        self.min_delta_mode = check_choice("min_delta_mode", min_delta_mode, ("abs", "rel"))
        self.smoothing = check_float("smoothing", smoothing, low=0.0, high=1.0, high_inclusive=False)
        self.stopping_threshold = _check_optional_float("stopping_threshold", stopping_threshold)
        self.divergence_threshold = _check_optional_float("divergence_threshold", divergence_threshold)
        self.check_finite = check_bool("check_finite", check_finite)
        self.criterion = check_choice("criterion", criterion, CRITERIA)
        self.alpha = _check_optional_float("alpha", alpha, low=0.0, low_inclusive=False)
        self.strip_length = check_int("strip_length", strip_length, low=1)
        self.strips = check_int("strips", strips, low=1)
        self.reset()

    def get_config(self):
        """The constructor arguments."""
        return {
            "monitor": self.monitor,
            "sign": self.sign,
            "min_delta": self.min_delta,
            "patience": self.patience,
            "baseline": self.baseline,
            "start_from_epoch": self.start_from_epoch,
            "min_delta_mode": self.min_delta_mode,
            "smoothing": self.smoothing,
            "stopping_threshold": self.stopping_threshold,
            "divergence_threshold": self.divergence_threshold,
            "check_finite": self.check_finite,
            "criterion": self.criterion,
            "alpha": self.alpha,
            "strip_length": self.strip_length,
            "strips": self.strips,
        }

    # ------------------------------------------------------------------ state

    def reset(self):
        """Clears the run's state (the configuration and `sign` are kept)."""
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.stop_reason = None
        self._smoother = stopping_criteria.ExponentialMovingAverage(self.smoothing)
        self._train_strip = []
        self._strip_end_value = None
        self._rising_strips = 0

    def get_state(self):
        """The run's state: a dict of plain JSON-able Python values (no arrays). `set_state` restores it."""
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
            "sign": self.sign,
            "smoother": self._smoother.get_state(),
            "train_strip": list(self._train_strip),
            "strip_end_value": self._strip_end_value,
            "rising_strips": self._rising_strips,
        }

    def set_state(self, state):
        """Restores a state returned by `get_state()` (a `KeyError` names a missing entry)."""
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.best = _as_float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.stop_reason = state["stop_reason"]
        self.sign = _check_sign(state["sign"])
        self._smoother.set_state(state["smoother"])
        self._train_strip = [float(x) for x in state["train_strip"]]
        self._strip_end_value = _as_float(state["strip_end_value"])
        self._rising_strips = int(state["rising_strips"])

    # ------------------------------------------------------------------ the rule

    def needs_sign(self, value, train_loss=None):
        """Whether `update(epoch, value, train_loss)` compares `value` while `sign` is still `None`."""
        if self.sign is not None or value is None or self.stop_reason is not None:
            return False
        return not (self.check_finite and not _is_finite(train_loss))

    def update(self, epoch, value, train_loss=None):
        """Takes the epoch's monitored value and training loss; returns the `Decision`.

        Args:
            epoch: the 0-based epoch (criteria checked at strip ends use it, messages print `epoch + 1`).
            value: the monitored value as a float, or `None` when it is missing this epoch (nothing is compared).
            train_loss: the epoch's training loss, or `None`; used by `check_finite` and Prechelt's PQ.

        Returns:
            A `Decision`. Once a policy has stopped, later values are not compared (a non-finite training loss
            still asks to stop again).

        Raises:
            RuntimeError: a value has to be compared and `sign` is `None`.
        """
        epoch = int(epoch)
        value, train_loss = _as_float(value), _as_float(train_loss)
        stop = False
        if self.check_finite and not _is_finite(train_loss):
            stop = self._stop(epoch, f"the training loss is {train_loss} at epoch {epoch + 1}")
        if value is None or self.stop_reason is not None:
            return self._decision(False, stop)
        if self.sign is None:
            raise RuntimeError(f"{type(self).__name__}: set `sign` (1.0 to minimize, -1.0 to maximize) first.")
        if self.check_finite and not math.isfinite(value):
            return self._decision(False, self._stop(epoch, f"{self.monitor} is {value} at epoch {epoch + 1}"))
        if epoch < self.start_from_epoch:
            return Decision()
        value = self._smoother.update(value) if self.smoothing else value
        self._observe(epoch, value, train_loss)
        self.wait += 1
        improved = self.is_improvement(value, self.best)
        if improved:
            self.best = value
            self.best_epoch = epoch
            # Only restart the wait if both the baseline and the previous best were beaten (as Keras).
            if self.baseline is None or self.is_improvement(value, self.baseline):
                self.wait = 0
        reason = self._threshold_reason(value)
        if reason is None and not improved:
            reason = self._criterion_reason(epoch, value)
        if reason is not None:
            stop = self._stop(epoch, reason)
        return self._decision(improved, stop, value)

    def is_improvement(self, value, reference):
        """Whether `value` improves on `reference` (`None`: nothing to beat) by more than `min_delta`."""
        if reference is None:
            return True
        delta = self.min_delta * abs(reference) if self.min_delta_mode == "rel" else self.min_delta
        if self.sign > 0:
            return value + delta < reference
        return value - delta > reference

    def _is_better(self, value, reference):
        return self.sign * (reference - value) > 0.0

    def _decision(self, improved, stop, value=None):
        return Decision(improved, stop, self.stop_reason if stop else None, value)

    def _stop(self, epoch, reason):
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stopped_epoch = epoch
        return True

    def _observe(self, epoch, value, train_loss):
        """Per-epoch bookkeeping of the criteria, before the value is compared with the best."""
        if train_loss is not None:
            self._train_strip = (self._train_strip + [train_loss])[-self.strip_length :]
        if (epoch + 1) % self.strip_length == 0:
            self._rising_strips = stopping_criteria.update_rising_strips(
                self._rising_strips, value, self._strip_end_value, self.sign
            )
            self._strip_end_value = value

    def _threshold_reason(self, value):
        if self.stopping_threshold is not None and self._is_better(value, self.stopping_threshold):
            return f"{self.monitor}={value:.4g} reached stopping_threshold={self.stopping_threshold:g}"
        if self.divergence_threshold is not None and self._is_better(self.divergence_threshold, value):
            return f"{self.monitor}={value:.4g} is past divergence_threshold={self.divergence_threshold:g}"
        return None

    def best_text(self):
        """`"best <value> at epoch <1-based epoch>"`, as in the stop reasons."""
        return f"best {self.best:.4g} at epoch {self.best_epoch + 1}"

    def _criterion_reason(self, epoch, value):
        if self.criterion == "patience":
            if self.wait >= self.patience and epoch > 0:
                return f"{self.monitor} did not improve for {self.wait} epochs ({self.best_text()})"
            return None
        alpha = self.alpha if self.alpha is not None else DEFAULT_ALPHA.get(self.criterion)
        if self.criterion == "gl":
            loss = stopping_criteria.generalization_loss(value, self.best, self.sign)
            if loss > alpha:
                return f"generalization loss GL={loss:.3g} > alpha={alpha:g} ({self.best_text()})"
            return None
        if (epoch + 1) % self.strip_length != 0:
            return None
        if self.criterion == "pq":
            if len(self._train_strip) < self.strip_length:
                return None
            quotient = stopping_criteria.progress_quotient(value, self.best, self._train_strip, self.sign)
            if quotient > alpha:
                return f"progress quotient PQ={quotient:.3g} > alpha={alpha:g} ({self.best_text()})"
            return None
        if self._rising_strips >= self.strips:
            return f"{self.monitor} rose in {self._rising_strips} successive strips of {self.strip_length} epochs"
        return None


class AdaptiveStoppingPolicy(StoppingPolicy):
    """The rule of `kreg.callbacks.AdaptiveEarlyStopping`: an adaptive patience, in one of three rules.

    `rule="up_progress"` (default, issue 13): once `wait >= patience` (10 epochs without a new best), the policy
    stops if

    1. the value rose over the last `strips` strips of `strip_length` epochs: the value now is worse than
       `strip_length` epochs ago, which was worse than `strip_length` epochs before, ... `strips` times (a rising
       curve, overfitting: Prechelt's UP_s with strips ending at the current epoch); or
    2. the best value improved by less than `min_progress` (relative, default 1 %) over the last `max_patience`
       epochs (default `None`: `2.5 * patience` = 25, rounded down): the run has reached its plateau, the next new
       best would be worth little.

    Otherwise (a run that was still making progress) it waits, up to `max_patience` epochs without a new best.
    With `min_progress=0` it is `rule="up_patience"` with the same `max_patience`.

    `rule="patience_growth"` (issue 5, the default before issue 13): a patience that grows with the best epoch, and
    a trend test. Once `wait >= P` where `P = max(patience, patience_ratio * (best_epoch + 1))` (capped by
    `max_patience`), the policy stops unless the trend test finds the mean of the last `w = max(2, floor(P))`
    compared values better than the mean of the `w` values before them (on the log scale for a positive minimized
    quantity).

    `rule="up_patience"` (opt-in): Prechelt's UP combined with patience. Once `wait >= patience`, the policy stops
    if the value rose over the last `strips` strips (1. above); otherwise it waits until `wait >= max_patience`
    (default `3 * patience`: a flat, noisy curve may still improve).

    `patience_ratio` and `trend_test` are used by `rule="patience_growth"` only, `min_progress` by
    `rule="up_progress"` only. With another criterion than `"patience"`, that criterion replaces the adaptive rule.

    Args:
        monitor, sign, min_delta, baseline, start_from_epoch, and every keyword-only argument of `StoppingPolicy`
            (among them `strip_length`, default 5, and `strips`, default 3, used by the UP branch): as there.
        patience: the short wait (default 10): with `"up_progress"` and `"up_patience"`, the wait after which a
            rising curve stops; with `"patience_growth"`, the smallest patience.
        patience_ratio: patience as a fraction of the epoch of the best value (default 0.3); 0 gives a fixed
            patience (`rule="patience_growth"` only).
        max_patience: with `"up_progress"`, the progress window and the longest wait (at least `patience`;
            `None`: `2.5 * patience` rounded down); with `"up_patience"`, the wait after which a curve that is not
            rising stops (at least `patience`; `None`: `3 * patience`); with `"patience_growth"`, an upper bound for
            the adaptive patience, or `None` for none.
        trend_test: whether to apply the trend test (`rule="patience_growth"` only).
        rule: `"up_progress"` (default), `"patience_growth"` or `"up_patience"`, see above.
        min_progress: the relative improvement of the best value over the last `max_patience` epochs below which
            `rule="up_progress"` stops after `patience` epochs without a new best (default 0.01: 1 %). For a loss
            falling from 0.50 to 0.496 that is 0.8 %; for an accuracy rising from 0.90 to 0.91, 1.1 %.

    Example:

    >>> policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0)
    >>> curve = [1.0 - 0.01 * epoch for epoch in range(30)] + [0.71 + 0.05 * i for i in range(1, 40)]
    >>> next(epoch for epoch, value in enumerate(curve) if policy.update(epoch, value).stop)
    40
    >>> policy.stop_reason
    'val_loss did not improve for 11 epochs (best 0.71 at epoch 30) and rose over the last 3 strips of 5 epochs (UP_3)'
    >>> policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0)
    >>> curve = [0.5 - 0.0001 * epoch for epoch in range(40)] + [0.497, 0.499] * 20  # a slow creep, then a plateau
    >>> next(epoch for epoch, value in enumerate(curve) if policy.update(epoch, value).stop)
    49
    >>> policy.stop_reason.split("; ")  # doctest: +NORMALIZE_WHITESPACE
    ['val_loss did not improve for 10 epochs (best 0.4961 at epoch 40)',
     'its best improved by only 0.3 % over the last 25 epochs (min_progress 1 %)']
    >>> policy = AdaptiveStoppingPolicy(monitor="val_loss", sign=1.0, rule="patience_growth")
    >>> curve = [1.0, 0.5, 0.4] + [0.4 + 0.05 * i for i in range(1, 40)]
    >>> next(epoch for epoch, value in enumerate(curve) if policy.update(epoch, value).stop)
    12
    >>> policy.stop_reason
    'val_loss did not improve for 10 epochs (adaptive patience 10, best 0.4 at epoch 3) and its trend stopped improving'

    (With the defaults the UP branch cannot fire at exactly `wait == 10`: the value 10 epochs back is then the
    best itself, better than the one 15 epochs back. On the V-shaped curve above it fires one epoch later.)

    Reference: Lutz Prechelt 1998, "Early stopping - but when?" (the UP_s criterion and its strips).
    """

    def __init__(
        self,
        monitor="val_loss",
        sign=None,
        min_delta=0,
        patience=10,
        baseline=None,
        start_from_epoch=0,
        *,
        patience_ratio=0.3,
        max_patience=None,
        trend_test=True,
        rule="up_progress",
        min_progress=0.01,
        **kwargs,
    ):
        super().__init__(monitor, sign, min_delta, patience, baseline, start_from_epoch, **kwargs)
        self.patience_ratio = check_float("patience_ratio", patience_ratio, low=0.0)
        self.max_patience = check_int("max_patience", max_patience, low=1, allow_none=True)
        self.trend_test = check_bool("trend_test", trend_test)
        self.rule = check_choice("rule", rule, ADAPTIVE_RULES)
        self.min_progress = check_float("min_progress", min_progress, low=0.0)
        if self.rule != "patience_growth" and self.max_patience is not None and self.max_patience < self.patience:
            raise invalid(
                "max_patience",
                f"an integer >= patience ({self.patience}) or None with rule={self.rule!r}",
                max_patience,
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "patience_ratio": self.patience_ratio,
                "max_patience": self.max_patience,
                "trend_test": self.trend_test,
                "rule": self.rule,
                "min_progress": self.min_progress,
            }
        )
        return config

    def reset(self):
        super().reset()
        self._values = []

    def get_state(self):
        state = super().get_state()
        state["values"] = list(self._values)
        return state

    def set_state(self, state):
        super().set_state(state)
        self._values = [float(v) for v in state["values"]]

    def _observe(self, epoch, value, train_loss):
        super()._observe(epoch, value, train_loss)
        self._values.append(value)

    def up_max_patience(self):
        """The longest wait of `rule="up_progress"` (its progress window: `max_patience` or 2.5 x patience, rounded
        down) and of `rule="up_patience"` (the wait after which it stops a curve that is not rising: `max_patience`
        or 3 x patience)."""
        if self.max_patience is not None:
            return self.max_patience
        return 5 * self.patience // 2 if self.rule == "up_progress" else 3 * self.patience

    def progress(self):
        """The relative improvement of the best compared value over the last `up_max_patience()` values:
        `sign * (best before them - best now) / |best before them|` (0: no new best in that window). `None` while
        fewer than `up_max_patience() + 1` values were compared (non-finite values are ignored)."""
        window, sign = self.up_max_patience(), self.sign
        if len(self._values) <= window:
            return None
        before = [v for v in self._values[: len(self._values) - window] if math.isfinite(v)]
        recent = [v for v in self._values[len(self._values) - window :] if math.isfinite(v)]
        if not before:
            return None
        then = min(before, key=lambda v: sign * v)
        now = min([then] + recent, key=lambda v: sign * v)
        gain = sign * (then - now)
        if then == 0.0:
            return math.inf if gain > 0.0 else 0.0
        return gain / abs(then)

    def current_patience(self):
        """The patience that applies now.

        `rule="patience_growth"`: `max(patience, patience_ratio * (best_epoch + 1))`, capped by `max_patience`.
        `rule="up_patience"`: `patience` while the value rose over the last `strips` strips, else `up_max_patience()`.
        `rule="up_progress"`: `patience` while the value rose over the last `strips` strips or the best improved by
        less than `min_progress` over the last `up_max_patience()` epochs, else `up_max_patience()`.
        """
        if self.rule == "up_progress":
            return float(self.patience if self.is_rising() or self._little_progress() else self.up_max_patience())
        if self.rule == "up_patience":
            return float(self.patience if self.is_rising() else self.up_max_patience())
        patience = max(float(self.patience), self.patience_ratio * (self.best_epoch + 1))
        if self.max_patience is not None:
            patience = min(patience, float(self.max_patience))
        return patience

    def trend_is_improving(self, window):
        """Whether the mean of the last `window` values beats the mean of the `window` values before them."""
        if len(self._values) < 2 * window:
            return False
        recent, previous = self._values[-window:], self._values[-2 * window : -window]
        if self.sign > 0 and min(recent + previous) > 0.0:
            recent, previous = [math.log(v) for v in recent], [math.log(v) for v in previous]
        return self.sign * (sum(previous) - sum(recent)) > 0.0

    def is_rising(self):
        """Whether the value rose over the last `strips` strips of `strip_length` epochs (Prechelt's UP_s, with the
        strips ending at the last compared value): each of the values `0, k, 2k, ..., (s-1)k` compared values ago
        is worse than the one `k` values before it. `False` until `s * k + 1` values were compared."""
        k, n = self.strip_length, len(self._values)
        if n <= k * self.strips:
            return False
        return all(
            self.sign * (self._values[n - 1 - k * i] - self._values[n - 1 - k * (i + 1)]) > 0.0
            for i in range(self.strips)
        )

    def _criterion_reason(self, epoch, value):
        if self.criterion != "patience":
            return super()._criterion_reason(epoch, value)
        if self.rule == "up_patience":
            return self._up_patience_reason(epoch)
        if self.rule == "up_progress":
            return self._up_progress_reason(epoch)
        patience = self.current_patience()
        if self.wait < patience or epoch == 0:
            return None
        if self.trend_test and self.trend_is_improving(max(2, int(patience))):
            return None
        return (
            f"{self.monitor} did not improve for {self.wait} epochs (adaptive patience {patience:.3g}, "
            f"{self.best_text()})" + (" and its trend stopped improving" if self.trend_test else "")
        )

    def _up_patience_reason(self, epoch):
        if self.wait < self.patience or epoch == 0:
            return None
        if self.is_rising():
            return (
                f"{self.monitor} did not improve for {self.wait} epochs ({self.best_text()}) and rose over the last "
                f"{self.strips} strips of {self.strip_length} epochs (UP_{self.strips})"
            )
        limit = self.up_max_patience()
        if self.wait >= limit:
            return (
                f"{self.monitor} did not improve for {self.wait} epochs (max_patience {limit}, {self.best_text()}); "
                f"it did not rise over the last {self.strips} strips of {self.strip_length} epochs"
            )
        return None

    def _little_progress(self):
        progress = self.progress()
        return progress is not None and progress < self.min_progress

    def _up_progress_reason(self, epoch):
        reason = self._up_patience_reason(epoch)  # rising, or waited `max_patience`
        if reason is not None or self.wait < self.patience or epoch == 0:
            return reason
        if self._little_progress():
            return (
                f"{self.monitor} did not improve for {self.wait} epochs ({self.best_text()}); its best improved by "
                f"only {100.0 * self.progress():.2g} % over the last {self.up_max_patience()} epochs "
                f"(min_progress {100.0 * self.min_progress:g} %)"
            )
        return None
