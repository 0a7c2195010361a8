"""`AdaptiveEarlyStopping`: early stopping whose patience adapts to the run, with defaults that need no tuning.

Its default rule (`rule="up_progress"`, issue 13) was chosen on the design families of a broad set of replayed real
learning curves (`benchmarks/bench_early_stopping.py`) and checked on held-out families and on curves recorded
afterwards ("fresh"): there it is above the front of fixed patiences 2-40 at its own mean cost, for `val_loss` and
`val_accuracy`. The earlier default (`rule="patience_growth"`, issue 5, designed on the 64 v1 curves) and Prechelt's
UP with patience (`rule="up_patience"`) stay available; `docs/early_stopping.md` has the measurements.

References: Lutz Prechelt 1998, "Early stopping - but when?" (stopping criteria judged on real curves; training
strips, the UP criterion); the "patience grows with the epoch of the best value" idea of `rule="patience_growth"`
follows the adaptive patience `patience = max(patience, ratio * best_epoch)` discussed in issue 5.

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
    `restore_best_weights=True`, `check_finite=True`. The stopping test (`criterion="patience"`) is adaptive. The
    default, `rule="up_progress"`: after `patience` (10) epochs without a new best, stop

    1. if the monitored value rose over the last `strips` strips of `strip_length` epochs (defaults 3 and 5: the
       value now is worse than 5 epochs ago, which is worse than 10 epochs ago, which is worse than 15 epochs ago).
       The run is overfitting; more epochs will not bring a new best (Prechelt's UP_3);
    2. or if the best value improved by less than `min_progress` (relative, default 1 %) over the last
       `max_patience` epochs (default 25 = 2.5 x patience). The run has reached its plateau: a later new best would
       be worth little.

    Otherwise the run was still making progress, and it waits up to `max_patience` (25) epochs without a new best.

    Any new best (by more than `min_delta`) resets the wait; the best weights are restored when training ends;
    a NaN or infinite value stops at once (and the best weights are still restored). `summary()` says which of
    these stopped the run.

    Two other rules are kept: `rule="patience_growth"` (the default before issue 13): patience
    `P = max(patience, patience_ratio * (best_epoch + 1))` capped by `max_patience`, and when `wait >= P` training
    still goes on while the mean of the last `max(2, floor(P))` values beats the mean of the as many values before
    them (on the log scale for a positive loss); `rule="up_patience"`: 1. after `patience`, else wait up to
    `max_patience` (default `3 * patience`).

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
            `run_id`, `criterion`, `strip_length`, `strips`, ...): as in `kreg.callbacks.EarlyStopping`. With
            `criterion` other than `"patience"` that criterion replaces the adaptive rule.
        patience: the short wait (default 10): the epochs without a new best after which a rising or plateaued run
            stops; with `rule="patience_growth"`, the smallest patience.
        restore_best_weights: restore the best epoch's weights when training ends (default `True`).
        patience_ratio: patience as a fraction of the epoch of the best value (default 0.3); 0 gives a fixed
            patience. `rule="patience_growth"` only.
        max_patience: the longest wait and the window of the progress test (`rule="up_progress"`; at least
            `patience`, `None`: `2.5 * patience` rounded down, 25); the wait after which a curve that is not rising
            stops (`rule="up_patience"`; at least `patience`, `None`: `3 * patience`); an upper bound for the
            adaptive patience (`rule="patience_growth"`, `None`: none).
        trend_test: whether to apply the trend test of `rule="patience_growth"`.
        rule: `"up_progress"` (default, above), `"patience_growth"` or `"up_patience"`.
        min_progress: the relative improvement of the best value over the last `max_patience` epochs below which
            `rule="up_progress"` stops a run after `patience` epochs without a new best (default 0.01: 1 %; 0 makes
            it `rule="up_patience"` with the same `max_patience`).

    Example:

    >>> stopper = kreg.callbacks.AdaptiveEarlyStopping()
    >>> model.fit(x, y, validation_split=0.2, epochs=1000, callbacks=[stopper])
    >>> print(stopper.summary())
    Epoch 51: early stopping: val_loss did not improve for 10 epochs (best 0.0712 at epoch 41); its best improved
    by only 0.31 % over the last 25 epochs (min_progress 1 %); restored the weights of epoch 41 (val_loss=0.0712).

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
        rule="up_progress",
        min_progress=0.01,
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
            min_progress=min_progress,
        )
        self._reset()

    patience_ratio = _policy_attribute("patience_ratio")
    max_patience = _policy_attribute("max_patience")
    trend_test = _policy_attribute("trend_test")
    rule = _policy_attribute("rule")
    min_progress = _policy_attribute("min_progress")

    def current_patience(self):
        """The patience that applies now: `patience` on a rising curve or one whose best improved by less than
        `min_progress` over the last `max_patience` epochs, else `max_patience` (`rule="up_progress"`);
        `max(patience, patience_ratio * (best_epoch + 1))` capped by `max_patience` (`rule="patience_growth"`);
        `patience` on a rising curve, else `max_patience` or `3 * patience` (`rule="up_patience"`)."""
        return self._policy.current_patience()

    def trend_is_improving(self, window):
        """Whether the mean of the last `window` values beats the mean of the `window` values before them."""
        return self._policy.trend_is_improving(window)

    def _choose_monitor(self, logs):
        return penalty_free_monitor(logs)
