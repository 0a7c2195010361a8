"""Pruning bad trials mid-training: the median and percentile rules, the patient wrapper and successive halving, as
Optuna's `MedianPruner`, `PercentilePruner`, `PatientPruner` and `SuccessiveHalvingPruner`, over the per-epoch curves
of earlier trials that `TrialStore` keeps on disk; `replay` tells what a pruner would have done to a finished search.

keras-tuner cannot stop a trial early (its oracle only sees final results). `PruningCallback` asks a pruner at every
epoch end whether the trial is hopeless compared to earlier trials at the same epoch, and stops its `fit` if so; the
trial is recorded as `"pruned"` (not failed), with the best value it reached, so the oracle still learns from it.

The pruners are pure rules: `should_prune(values, epoch, others, key, direction)` with `values` the trial's own
monitored values by epoch and `others` the other trials' records.

References: Akiba et al. 2019, "Optuna: A next-generation hyperparameter optimization framework" (median stopping
rule, `MedianPruner`, `PercentilePruner`, `PatientPruner`); Golovin et al. 2017, "Google Vizier" (median stopping rule); Li et al. 2020, "A system for
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


class PercentilePruner:
    """The percentile rule: prune a trial whose best value so far is worse than the `percentile`-th percentile of
    the values earlier completed trials had at the same epoch (the top `percentile` % go on).

    As Optuna's `PercentilePruner`: for `"min"` the threshold is `np.percentile(values, percentile)`, for `"max"`
    `np.percentile(values, 100 - percentile)`; a trial equal to the threshold goes on. Nothing is pruned before
    `n_startup_trials` trials completed, nor before epoch `n_warmup_epochs` of the trial, and only every
    `interval_epochs` epochs; completed trials that never reached the epoch are left out. A NaN value prunes at once.
    `percentile=50` is the median rule (`MedianPruner`); `75` only prunes trials in the worst quarter.

    Args:
        percentile: float in (0, 100]: the share (in %) of trials kept at each epoch.
        n_startup_trials: completed trials needed before any pruning.
        n_warmup_epochs: epochs (0-based index) before which a trial is never pruned.
        interval_epochs: check every this many epochs.
        min_trials_at_epoch: completed trials that must have reached the epoch for the percentile to count.

    Example:

    >>> pruner = PercentilePruner(75.0, n_startup_trials=2, n_warmup_epochs=0)
    >>> others = [{"status": "completed", "epochs": [0], "history": {"val_loss": [v]}} for v in (0.2, 0.6)]
    >>> pruner.should_prune([0.55], 0, others, "val_loss", "min")  # threshold 0.5: pruned
    True

    Reference: Akiba et al. 2019, "Optuna: A next-generation hyperparameter optimization framework", KDD.
    """

    def __init__(
        self, percentile=50.0, n_startup_trials=5, n_warmup_epochs=2, interval_epochs=1, min_trials_at_epoch=1
    ):
        self.percentile = validation.check_float("percentile", percentile, low=0.0, high=100.0, low_inclusive=False)
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
        if direction == "min":
            return best > float(np.percentile(at_epoch, self.percentile))
        return best < float(np.percentile(at_epoch, 100.0 - self.percentile))

    def get_config(self):
        return {
            "percentile": self.percentile,
            "n_startup_trials": self.n_startup_trials,
            "n_warmup_epochs": self.n_warmup_epochs,
            "interval_epochs": self.interval_epochs,
            "min_trials_at_epoch": self.min_trials_at_epoch,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MedianPruner(PercentilePruner):
    """The median stopping rule: prune a trial whose best value so far is worse than the median of the values
    earlier completed trials had at the same epoch.

    As Optuna's `MedianPruner`: `PercentilePruner` with `percentile=50`. Nothing is pruned before
    `n_startup_trials` trials completed, nor before epoch `n_warmup_epochs` of the trial, and only every
    `interval_epochs` epochs; completed trials that never reached the epoch are left out of the median. A NaN value
    prunes at once.

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
        super().__init__(
            50.0,
            n_startup_trials=n_startup_trials,
            n_warmup_epochs=n_warmup_epochs,
            interval_epochs=interval_epochs,
            min_trials_at_epoch=min_trials_at_epoch,
        )

    def get_config(self):
        config = super().get_config()
        del config["percentile"]
        return config


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

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class PatientPruner:
    """Patience around another pruner: a trial is pruned only when `pruner` says so **and** its own best value has
    not improved in its last epochs, so a trial still reaching new bests (a slow starter) goes on.

    As Optuna's `PatientPruner`: with `values` the trial's values so far, nothing happens while
    `len(values) <= patience + 1`; after that the trial counts as stalled when the best of its last `patience + 1`
    values is not better than the best of the earlier ones by more than `min_delta` (for `"min"`:
    `min(last) > min(earlier) - min_delta`; `min_delta` as in Keras's `EarlyStopping`, an improvement smaller than it
    does not count, where Optuna asks for a worsening larger than it), and only a stalled trial is passed on to `pruner`. A NaN value prunes at once. Under
    `AdaptiveEarlyStopping` a stalled trial is soon stopped anyway: this wrapper saves little there.

    Args:
        pruner: the wrapped pruner (`MedianPruner`, `PercentilePruner`, ... or any object with `should_prune`).
        patience: int >= 0: epochs without a new best before the wrapped pruner is asked.
        min_delta: float >= 0: an improvement smaller than this does not count.

    Example:

    >>> pruner = PatientPruner(MedianPruner(n_startup_trials=1, n_warmup_epochs=0), patience=1)
    >>> others = [{"status": "completed", "epochs": [0, 1, 2], "history": {"val_loss": [0.5, 0.4, 0.3]}}]
    >>> pruner.should_prune([0.9, 0.8, 0.7], 2, others, "val_loss", "min")  # worse than the median, improving
    False
    >>> pruner.should_prune([0.7, 0.8, 0.9], 2, others, "val_loss", "min")  # worse and stalled
    True

    Reference: Akiba et al. 2019, "Optuna: A next-generation hyperparameter optimization framework", KDD
    (`optuna.pruners.PatientPruner`).
    """

    def __init__(self, pruner, patience, min_delta=0.0):
        if not hasattr(pruner, "should_prune"):
            raise validation.invalid("pruner", "a pruner (an object with `should_prune`)", pruner)
        self.pruner = pruner
        self.patience = validation.check_int("patience", patience, low=0)
        self.min_delta = validation.check_float("min_delta", min_delta, low=0.0)

    def stalled(self, values, direction):
        """Whether the best of the last `patience + 1` values is not better than the best before by more than
        `min_delta` (`False` while there are too few values)."""
        if len(values) <= self.patience + 1:
            return False
        before = _best(values[: -self.patience - 1], direction)
        after = _best(values[-self.patience - 1 :], direction)
        if before is None:
            return False
        if after is None:
            return True
        return after > before - self.min_delta if direction == "min" else after < before + self.min_delta

    def should_prune(self, values, epoch, others, key, direction):
        """Whether to stop the trial (see `PercentilePruner.should_prune` for the arguments)."""
        if values and values[-1] is not None and math.isnan(values[-1]):
            return True
        if not self.stalled(values, direction):
            return False
        return bool(self.pruner.should_prune(values, epoch, others, key, direction))

    def get_config(self):
        return {"pruner": serialize(self.pruner), "patience": self.patience, "min_delta": self.min_delta}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["pruner"] = deserialize(config["pruner"])
        return cls(**config)


def serialize(pruner):
    """`{"class_name": ..., "config": ...}` of a kreg pruner (what `deserialize` reads back)."""
    if type(pruner) not in _PRUNERS.values():
        raise validation.invalid("pruner", "a kreg pruner (" + ", ".join(sorted(_PRUNERS)) + ")", pruner)
    return {"class_name": type(pruner).__name__, "config": pruner.get_config()}


def deserialize(config):
    """The pruner `serialize` described."""
    if not isinstance(config, dict) or config.get("class_name") not in _PRUNERS:
        raise validation.invalid("config", "a dict from `kreg.tuning.pruning.serialize`", config)
    return _PRUNERS[config["class_name"]].from_config(config.get("config") or {})


def replay(pruner, records, key="val_data_loss", direction="min"):
    """What `pruner` would have done to a finished search run without pruning, from its trial records.

    The trials are taken in the order of `records` (trial id order, as `TrialStore.records()` gives them), as a
    sequential search runs them: at each epoch end a trial's values so far are checked against the earlier trials'
    records, cut where those were pruned and marked `"pruned"`, exactly as `PruningCallback` does during a search.
    Under a search whose sampled values do not depend on the scores (`RandomSearch` with a seed, a grid) and whose
    trials are seeded, this is what the same search with `pruner` does, without running it again.

    Args:
        pruner: any pruner (an object with `should_prune`).
        records: the trial records of a search without pruning (`TrialStore.records()`), trials still running left
            out.
        key: the monitored log key.
        direction: `"min"` or `"max"`.

    Returns:
        A dict: `trial_epochs` (epochs run in all, with pruning), `pruned_at` (`{trial_id: epoch}`), `records` (the
        records as they would be), `best_trial_id` and `best_value` (the best completed trial and its best value,
        chosen as `SearchResults` does).

    Example:

    >>> records = TrialStore("runs/mlp/kreg").records()  # a seeded random search run with prune=False
    >>> outcome = replay(PercentilePruner(90.0, n_warmup_epochs=10, min_trials_at_epoch=5), records)
    >>> outcome["trial_epochs"], outcome["pruned_at"]  # of 752 trial-epochs without pruning
    (638, {'05': 10, '06': 10, '11': 43})

    Reference: Akiba et al. 2019, "Optuna: A next-generation hyperparameter optimization framework", KDD.
    """
    validation.check_choice("direction", direction, DIRECTIONS)
    seen, pruned_at = [], {}
    for record in records:
        if record.get("status") not in ("completed", "pruned"):
            continue
        epochs = list(record.get("epochs") or [])
        column = list((record.get("history") or {}).get(key) or [])
        values, stop = [], None
        for index, epoch in enumerate(epochs):
            value = column[index] if index < len(column) else None
            values.append(None if value is None else float(value))
            if value is None:
                continue
            if pruner.should_prune(values, int(epoch), seen, key, direction):
                stop = index
                break
        cut = dict(record)
        if stop is not None:
            pruned_at[str(record.get("trial_id"))] = int(epochs[stop])
            cut["epochs"] = epochs[: stop + 1]
            cut["history"] = {k: list(v[: stop + 1]) for k, v in (record.get("history") or {}).items()}
            cut["status"] = "pruned"
        seen.append(cut)
    best_id = best_value = None
    for allowed in (("completed",), ("completed", "pruned")):
        for record in seen:
            if record["status"] not in allowed:
                continue
            value = _best((record.get("history") or {}).get(key) or [], direction)
            if value is not None and (
                best_value is None or (value < best_value if direction == "min" else value > best_value)
            ):
                best_id, best_value = str(record.get("trial_id")), value
        if best_id is not None:
            break
    return {
        "trial_epochs": sum(len(r.get("epochs") or []) for r in seen),
        "pruned_at": pruned_at,
        "records": seen,
        "best_trial_id": best_id,
        "best_value": best_value,
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


_PRUNERS = {cls.__name__: cls for cls in (PercentilePruner, MedianPruner, PatientPruner, SuccessiveHalvingPruner)}

__all__ = [
    "MedianPruner",
    "PatientPruner",
    "PercentilePruner",
    "PruningCallback",
    "SuccessiveHalvingPruner",
    "deserialize",
    "get",
    "replay",
    "serialize",
]
