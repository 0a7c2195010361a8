"""`AdaptiveEarlyStopping`: early stopping whose patience adapts to the run, with defaults that need no tuning.

The rule was designed on replayed real learning curves (`benchmarks/bench_early_stopping.py`, the 64 v1 curves).
On the broader v2 curve set, split by family (issue 13), it is on the fixed-patience front of the design families
but behind it on the held-out families and on curves recorded afterwards ("fresh"). The opt-in
`rule="up_patience"` (Prechelt's UP combined with patience) does better there, on the front at about the cost of a
fixed patience 20 but not beyond it on the fresh curves, so it is not the default; `docs/early_stopping.md` has
the measurements.

References: Lutz Prechelt 1998, "Early stopping - but when?" (stopping criteria judged on real curves; training
strips); the "patience grows with the epoch of the best value" idea follows the adaptive patience of
`patience = max(patience, ratio * best_epoch)` discussed in issue 5.

The rule itself is `kreg.callbacks.stopping_policy.AdaptiveStoppingPolicy`; this module holds the callback and the
choice of the monitored key (`penalty_free_monitor`).
"""

import keras

from kreg.callbacks.early_stopping import EarlyStopping, _as_float, _policy_attribute
from kreg.callbacks.stopping_policy import AdaptiveStoppingPolicy


def penalty_free_monitor(logs):
    """The key `AdaptiveEarlyStopping(monitor=None)` monitors, chosen from one epoch's logs.

    `"val_data_loss"` when the logs hold `"val_data_loss"` and a positive `"val_penalty"` (the model has
    regularization penalties, and kreg logs the validation loss without them), else `"val_loss"`.

    Args:
        logs: the epoch's logs (`"val_penalty"` may be a NumPy or backend scalar).

    Returns:
        `"val_data_loss"` or `"val_loss"`.

    Example:

    >>> penalty_free_monitor({"val_loss": 0.9, "val_data_loss": 0.7, "val_penalty": 0.2})
    'val_data_loss'
    >>> penalty_free_monitor({"val_loss": 0.9, "val_data_loss": 0.9, "val_penalty": 0.0})
    'val_loss'
    """
    penalty = logs.get("val_penalty")
    if "val_data_loss" in logs and penalty is not None and _as_float(penalty) > 0.0:
        return "val_data_loss"
    return "val_loss"


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

    What it watches by default (`monitor=None`) is a penalty-free loss. Keras's `val_loss` includes every
    regularization penalty, so while a penalty shrinks (weights decaying, a penalty schedule ramping down) `val_loss`
    can keep "improving" after the data loss bottomed out, and the run goes on fitting noise. When the logs of the
    first epoch hold `val_data_loss` (the validation loss without the penalties, logged by kreg) and a positive
    `val_penalty` (the penalty total), `val_data_loss` is monitored; otherwise `val_loss`. The choice is made at the
    first epoch end and fixed for the run (`monitor` then shows it); pass `monitor="val_loss"` to watch Keras's
    loss whatever the logs hold.

    Args:
        monitor: the logged quantity to monitor, or `None` (default) for the penalty-free loss described above.
        min_delta, verbose, mode, baseline, start_from_epoch, and every keyword-only argument (`backup_dir`,
            `run_id`, `criterion`, ...): as in `kreg.callbacks.EarlyStopping`. With `criterion` other than
            `"patience"` that criterion replaces the adaptive rule.
        patience: the smallest patience, used when the best value came early (default 10: on the recorded curves
            a smaller one stops accuracy-monitored runs on their discrete plateaus, see `docs/early_stopping.md`).
        restore_best_weights: restore the best epoch's weights when training ends (default `True`).
        patience_ratio: patience as a fraction of the epoch of the best value (default 0.3); 0 gives a fixed
            patience.
        max_patience: an upper bound for the adaptive patience, or `None` for none. With `rule="up_patience"`:
            the wait after which a curve that is not rising stops (at least `patience`; `None`: `3 * patience`).
        trend_test: whether to apply the trend test (2. above).
        rule: `"patience_growth"` (default: 1. and 2. above) or `"up_patience"` (opt-in, issue 13): Prechelt's UP
            combined with patience. After `patience` epochs without a new best, stop if the monitored value rose
            over the last `strips` strips of `strip_length` epochs (the value now worse than 5 epochs ago, worse
            than 10 epochs ago, worse than 15 epochs ago, with the defaults 3 and 5): the run is overfitting;
            otherwise wait up to `max_patience` epochs (default `3 * patience` = 30): a flat, noisy curve may still
            improve. `patience_ratio` and `trend_test` are not used by it. `summary()` says which branch stopped.

    Example:

    >>> stopper = kreg.callbacks.AdaptiveEarlyStopping()
    >>> model.fit(x, y, validation_split=0.2, epochs=1000, callbacks=[stopper])
    >>> print(stopper.summary())
    Epoch 54: early stopping: val_loss did not improve for 13 epochs (adaptive patience 12.3, best 0.0712 at epoch
    41) and its trend stopped improving; restored the weights of epoch 41 (val_loss=0.0712).

    Reference: Lutz Prechelt 1998, "Early stopping - but when?", Neural Networks: Tricks of the Trade, LNCS 1524.
    """

    _AUTO_MONITOR = True

    def __init__(
        self,
        monitor=None,
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
        rule="patience_growth",
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
        self._policy = AdaptiveStoppingPolicy(
            **self._policy.get_config(),
            patience_ratio=patience_ratio,
            max_patience=max_patience,
            trend_test=trend_test,
            rule=rule,
        )
        self._reset()

    patience_ratio = _policy_attribute("patience_ratio")
    max_patience = _policy_attribute("max_patience")
    trend_test = _policy_attribute("trend_test")
    rule = _policy_attribute("rule")

    def current_patience(self):
        """The patience that applies now: `max(patience, patience_ratio * (best_epoch + 1))` capped by
        `max_patience` (`rule="patience_growth"`); `patience` on a rising curve, else `max_patience` or
        `3 * patience` (`rule="up_patience"`)."""
        return self._policy.current_patience()

    def trend_is_improving(self, window):
        """Whether the mean of the last `window` values beats the mean of the `window` values before them."""
        return self._policy.trend_is_improving(window)

    def _choose_monitor(self, logs):
        return penalty_free_monitor(logs)
