"""Pruning bad trials mid-training: the median rule and successive halving, as Optuna's `MedianPruner` and
`SuccessiveHalvingPruner`, over the per-epoch curves of earlier trials that `TrialStore` keeps on disk.

keras-tuner cannot stop a trial early (its oracle only sees final results). `PruningCallback` asks a pruner at every
epoch end whether the trial is hopeless compared to earlier trials at the same epoch, and stops its `fit` if so; the
trial is recorded as `"pruned"` (not failed), with the best value it reached, so the oracle still learns from it.

The pruners are pure rules: `should_prune(values, epoch, others)` with `values` the trial's own monitored values
by epoch and `others` the other trials' records.

References: Akiba et al. 2019, "Optuna: A next-generation hyperparameter optimization framework" (median stopping
rule, `MedianPruner`); Golovin et al. 2017, "Google Vizier" (median stopping rule); Li et al. 2020, "A system for
massively parallel hyperparameter tuning" (asynchronous successive halving, `SuccessiveHalvingPruner`).
"""

import math

import keras
import numpy as np

from kreg import validation

DIRECTIONS = ("min", "max")


def _value_at(record, key, epoch):
    """The value of `key` that trial `record` logged at epoch `epoch`, or `None`."""
    epochs = record.get("epochs") or []
    column = (record.get("history") or {}).get(key) or []
    if epoch in epochs:
        index = epochs.index(epoch)
        if index < len(column) and column[index] is not None:
            return float(column[index])
    return None


def _best(values, direction):
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    return min(finite) if direction == "min" else max(finite)


class MedianPruner:
    """The median stopping rule: prune a trial whose best value so far is worse than the median of the values
    earlier completed trials had at the same epoch.

    As Optuna's `MedianPruner`: nothing is pruned before `n_startup_trials` trials completed, nor before epoch
    `n_warmup_epochs` of the trial, and only every `interval_epochs` epochs; completed trials that never reached
    the epoch are left out of the median. A NaN value prunes at once.

    Args:
        n_startup_trials: completed trials needed before any pruning.
        n_warmup_epochs: epochs (0-based index) before which a trial is never pruned.
        interval_epochs: check every this many epochs.
        min_trials_at_epoch: completed trials that must have reached the epoch for the median to count.

    Example:

    >>> pruner = MedianPruner(n_startup_trials=2, n_warmup_epochs=0)
    >>> others = [{"status": "completed", "epochs": [0], "history": {"val_loss": [0.5]}}] * 2
    >>> pruner.should_prune([0.9], 0, others, "val_loss", "min")
    True

    Reference: Golovin et al. 2017, "Google Vizier: A service for black-box optimization", KDD.
    """

    def __init__(self, n_startup_trials=5, n_warmup_epochs=2, interval_epochs=1, min_trials_at_epoch=1):
        self.n_startup_trials = validation.check_int("n_startup_trials", n_startup_trials, low=0)
        self.n_warmup_epochs = validation.check_int("n_warmup_epochs", n_warmup_epochs, low=0)
        self.interval_epochs = validation.check_int("interval_epochs", interval_epochs, low=1)
        self.min_trials_at_epoch = validation.check_int("min_trials_at_epoch", min_trials_at_epoch, low=1)

    def should_prune(self, values, epoch, others, key, direction):
        """Whether to stop the trial whose monitored values so far are `values` (the last one at `epoch`).

        Args:
            values: the trial's values, one per epoch run so far.
            epoch: the epoch index just finished.
            others: the other trials' records (`TrialStore.records()`); only `"completed"` ones count.
            key: the monitored log key.
            direction: `"min"` or `"max"`.
        """
        if values and values[-1] is not None and math.isnan(values[-1]):
            return True
        completed = [r for r in others if r.get("status") == "completed"]
        if len(completed) < self.n_startup_trials or epoch < self.n_warmup_epochs:
            return False
        if (epoch - self.n_warmup_epochs) % self.interval_epochs:
            return False
        best = _best(values, direction)
        at_epoch = [v for v in (_value_at(r, key, epoch) for r in completed) if v is not None and math.isfinite(v)]
        if best is None or len(at_epoch) < self.min_trials_at_epoch:
            return False
        median = float(np.median(at_epoch))
        return best > median if direction == "min" else best < median

    def get_config(self):
        return {
            "n_startup_trials": self.n_startup_trials,
            "n_warmup_epochs": self.n_warmup_epochs,
            "interval_epochs": self.interval_epochs,
            "min_trials_at_epoch": self.min_trials_at_epoch,
        }


class SuccessiveHalvingPruner:
    """Asynchronous successive halving: at rung epochs `min_epochs * reduction_factor**k - 1`, a trial goes on only
    if its best value so far is in the top `1 / reduction_factor` of the values every trial (itself included) had
    at that rung.

    As Optuna's `SuccessiveHalvingPruner` (promotion index `len(values) // reduction_factor - 1`, at least 0).

    Args:
        min_epochs: epochs of the first rung.
        reduction_factor: the fraction kept at each rung is `1 / reduction_factor`.
        min_early_stopping_rate: skips the first rungs (rung `k` is at `min_epochs * reduction_factor**(k + s)`).

    Example:

    >>> pruner = SuccessiveHalvingPruner(min_epochs=1, reduction_factor=2)
    >>> others = [{"status": "completed", "epochs": [0], "history": {"val_loss": [0.5]}}]
    >>> pruner.should_prune([0.9], 0, others, "val_loss", "min")
    True

    Reference: Li et al. 2020, "A system for massively parallel hyperparameter tuning", MLSys.
    """

    def __init__(self, min_epochs=1, reduction_factor=3, min_early_stopping_rate=0):
        self.min_epochs = validation.check_int("min_epochs", min_epochs, low=1)
        self.reduction_factor = validation.check_int("reduction_factor", reduction_factor, low=2)
        self.min_early_stopping_rate = validation.check_int("min_early_stopping_rate", min_early_stopping_rate, low=0)

    def rung_epochs(self, max_epochs):
        """The 0-based epoch indices where trials are compared, up to `max_epochs`."""
        rungs, k = [], self.min_early_stopping_rate
        while self.min_epochs * self.reduction_factor**k <= max_epochs:
            rungs.append(self.min_epochs * self.reduction_factor**k - 1)
            k += 1
        return rungs

    def should_prune(self, values, epoch, others, key, direction):
        """Whether to stop the trial at rung `epoch` (see `MedianPruner.should_prune` for the arguments)."""
        if values and values[-1] is not None and math.isnan(values[-1]):
            return True
        if epoch not in self.rung_epochs(epoch + 1):
            return False
        best = _best(values, direction)
        if best is None:
            return False
        competing = [v for v in (_value_at(r, key, epoch) for r in others) if v is not None and math.isfinite(v)]
        competing = sorted(competing + [best], reverse=direction == "max")
        index = max(len(competing) // self.reduction_factor - 1, 0)
        threshold = competing[index]
        return best > threshold if direction == "min" else best < threshold

    def get_config(self):
        return {
            "min_epochs": self.min_epochs,
            "reduction_factor": self.reduction_factor,
            "min_early_stopping_rate": self.min_early_stopping_rate,
        }


def get(identifier):
    """A pruner from `True`/`"median"` (a `MedianPruner()`), `"successive_halving"`, an instance, or `None`/`False`."""
    if identifier is None or identifier is False:
        return None
    if identifier is True or identifier == "median":
        return MedianPruner()
    if identifier == "successive_halving":
        return SuccessiveHalvingPruner()
    if hasattr(identifier, "should_prune"):
        return identifier
    raise validation.invalid(
        "prune", "True, False, None, 'median', 'successive_halving' or a pruner instance", identifier
    )


class PruningCallback(keras.callbacks.Callback):
    """Stops a trial's `fit` when its pruner says so; `pruned` and `pruned_at` tell afterwards.

    The other trials' curves are read from the `TrialStore` at every check (so trials of a resumed search, or of
    other workers sharing the directory, count); the trial's own values are kept in memory.

    Args:
        pruner: a `MedianPruner`, `SuccessiveHalvingPruner` or any object with `should_prune`.
        store: the search's `TrialStore`.
        trial_id: this trial's id (its own record is left out of the comparison).
        monitor: the log key compared (default `"val_data_loss"`, the validation loss without penalties).
        direction: `"min"` or `"max"`.

    Example:

    >>> callback = PruningCallback(MedianPruner(), store, "07")
    >>> model.fit(x, y, validation_data=(xv, yv), epochs=50, callbacks=[callback])
    >>> callback.pruned
    True

    Reference: Akiba et al. 2019, "Optuna: A next-generation hyperparameter optimization framework", KDD.
    """

    def __init__(self, pruner, store, trial_id, monitor="val_data_loss", direction="min"):
        super().__init__()
        self.pruner = pruner
        self.store = store
        self.trial_id = str(trial_id)
        self.monitor = monitor
        self.direction = validation.check_choice("direction", direction, DIRECTIONS)
        self.pruned = False
        self.pruned_at = None
        self.values = []

    def on_train_begin(self, logs=None):
        self.pruned = False
        self.pruned_at = None
        self.values = []

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        self.values.append(None if value is None else float(value))
        if value is None:
            return
        others = [r for r in self.store.records() if r.get("trial_id") != self.trial_id]
        if self.pruner.should_prune(self.values, int(epoch), others, self.monitor, self.direction):
            self.pruned = True
            self.pruned_at = int(epoch)
            self.model.stop_training = True


__all__ = ["MedianPruner", "PruningCallback", "SuccessiveHalvingPruner", "get"]
