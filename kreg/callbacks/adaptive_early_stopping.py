"""`AdaptiveEarlyStopping`: early stopping whose patience adapts to the run, with defaults that need no tuning.

The rule was designed on replayed real learning curves (`benchmarks/bench_early_stopping.py`, design half of the
curves) and checked on the held-out half; `docs/early_stopping.md` has the measurements.

References: Lutz Prechelt 1998, "Early stopping - but when?" (stopping criteria judged on real curves; training
strips); the "patience grows with the epoch of the best value" idea follows the adaptive patience of
`patience = max(patience, ratio * best_epoch)` discussed in issue 5.
"""

import math

import keras

from kreg.callbacks.early_stopping import EarlyStopping
from kreg.validation import check_bool, check_float, check_int


@keras.saving.register_keras_serializable(package="kreg")
class AdaptiveEarlyStopping(EarlyStopping):
    """Early stopping with a patience that adapts to the run; a tuning-free default for `fit(..., epochs=large)`.

    Same interface as `kreg.callbacks.EarlyStopping` (and Keras's), with other defaults: `patience=10`,
    `restore_best_weights=True`, `check_finite=True`. The stopping test (`criterion="patience"`) is adaptive:

    1. Patience grows with the epoch of the best value: after `wait` epochs without a new best, the run may stop
       once `wait >= P` where `P = max(patience, patience_ratio * (best_epoch + 1))`, capped by `max_patience`.
       A run whose best came at epoch 100 has needed 100 epochs to get there; 10 epochs without a new best say
       little about it, 30 do. A run that peaked at epoch 8 stops after 10.
    2. Trend test: when `wait >= P`, training still goes on while the mean of the last `w = max(2, floor(P))`
       monitored values is below the mean of the `w` values before them (above, for `mode="max"`), i.e. while the
       curve still trends the right way even if noise hides it behind an old lucky best. For a positive minimized
       quantity (a loss) the means are taken on the log scale, so a loss still shrinking by a constant factor
       (0.003 -> 0.001 -> 0.0004) counts as progress however small it is in absolute terms.

    Any new best (by more than `min_delta`) resets the wait; the best weights are restored when training ends;
    a NaN or infinite value stops at once (and the best weights are still restored). Improvement thresholds scaled
    to the observed noise were tried and left out: on the recorded curves they stopped slowly improving runs too
    early (see `docs/early_stopping.md`).

    Args:
        monitor, min_delta, verbose, mode, baseline, start_from_epoch, and every keyword-only argument: as in
            `kreg.callbacks.EarlyStopping`. With `criterion` other than `"patience"` that criterion replaces the
            adaptive rule.
        patience: the smallest patience, used when the best value came early (default 10: on the recorded curves
            a smaller one stops accuracy-monitored runs on their discrete plateaus, see `docs/early_stopping.md`).
        restore_best_weights: restore the best epoch's weights when training ends (default `True`).
        patience_ratio: patience as a fraction of the epoch of the best value (default 0.3); 0 gives a fixed
            patience.
        max_patience: an upper bound for the adaptive patience, or `None` for none.
        trend_test: whether to apply the trend test (2. above).

    Example:

    >>> stopper = kreg.callbacks.AdaptiveEarlyStopping()
    >>> model.fit(x, y, validation_split=0.2, epochs=1000, callbacks=[stopper])
    >>> print(stopper.summary())
    Epoch 54: early stopping: val_loss did not improve for 13 epochs (adaptive patience 12.3, best 0.0712 at epoch
    41) and its trend stopped improving; restored the weights of epoch 41 (val_loss=0.0712).

    Reference: Lutz Prechelt 1998, "Early stopping - but when?", Neural Networks: Tricks of the Trade, LNCS 1524.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=10,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=True,
        start_from_epoch=0,
        *,
        patience_ratio=0.3,
        max_patience=None,
        trend_test=True,
        **kwargs,
    ):
        super().__init__(
            monitor=monitor,
            min_delta=min_delta,
            patience=patience,
            verbose=verbose,
            mode=mode,
            baseline=baseline,
            restore_best_weights=restore_best_weights,
            start_from_epoch=start_from_epoch,
            **kwargs,
        )
        self.patience_ratio = check_float("patience_ratio", patience_ratio, low=0.0)
        self.max_patience = check_int("max_patience", max_patience, low=1, allow_none=True)
        self.trend_test = check_bool("trend_test", trend_test)

    def _reset(self):
        super()._reset()
        self._values = []

    def get_state(self):
        state = super().get_state()
        state["values"] = list(self._values)
        return state

    def set_state(self, state):
        super().set_state(state)
        self._values = list(state["values"])

    def _observe(self, epoch, value, logs):
        super()._observe(epoch, value, logs)
        self._values.append(value)

    def current_patience(self):
        """The adaptive patience `max(patience, patience_ratio * (best_epoch + 1))`, capped by `max_patience`."""
        patience = max(float(self.patience), self.patience_ratio * (self.best_epoch + 1))
        if self.max_patience is not None:
            patience = min(patience, float(self.max_patience))
        return patience

    def trend_is_improving(self, window):
        """Whether the mean of the last `window` values beats the mean of the `window` values before them."""
        if len(self._values) < 2 * window:
            return False
        recent, previous = self._values[-window:], self._values[-2 * window : -window]
        if self._sign > 0 and min(recent + previous) > 0.0:
            recent, previous = [math.log(v) for v in recent], [math.log(v) for v in previous]
        return self._sign * (sum(previous) - sum(recent)) > 0.0

    def _criterion_reason(self, epoch, value):
        if self.criterion != "patience":
            return super()._criterion_reason(epoch, value)
        patience = self.current_patience()
        if self.wait < patience or epoch == 0:
            return None
        if self.trend_test and self.trend_is_improving(max(2, int(patience))):
            return None
        return (
            f"{self.monitor} did not improve for {self.wait} epochs (adaptive patience {patience:.3g}, "
            f"{self._best_text()})" + (" and its trend stopped improving" if self.trend_test else "")
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"patience_ratio": self.patience_ratio, "max_patience": self.max_patience, "trend_test": self.trend_test}
        )
        return config
