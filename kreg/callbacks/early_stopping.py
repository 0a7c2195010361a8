"""`EarlyStopping`: a drop-in superset of `keras.callbacks.EarlyStopping`.

With only Keras's arguments it behaves like Keras's callback (same stops, same restored weights, reusable across
`fit` calls). The opt-in extras are relative `min_delta`, smoothing, "good enough" and "hopeless" thresholds (as in
PyTorch Lightning), a finite check, Prechelt's GL/PQ/UP criteria, a `stop_reason`, and a state that survives an
interrupted and resumed run (`get_state`/`set_state`, `backup_dir`).

The callback is thin: the rule is `kreg.callbacks.stopping_policy.StoppingPolicy` (plain numbers in, a decision
out), the direction of the metric comes from `kreg.callbacks.metric_direction.monitor_sign`, and the files written
for an interrupted run are `kreg.callbacks.stopping_backup.StoppingBackup`'s. The callback reads the logs, copies and
restores the weights, prints the summary and saves the state.

References: Lutz Prechelt 1998, "Early stopping - but when?" (GL, PQ, UP); Keras's `EarlyStopping`; PyTorch
Lightning's `EarlyStopping` (`stopping_threshold`, `divergence_threshold`, `check_finite`); skorch's `EarlyStopping`
(`threshold_mode="rel"`).
"""

import os
import warnings

import keras
import numpy as np

from kreg.callbacks.metric_direction import monitor_sign
from kreg.callbacks.stopping_backup import StoppingBackup, check_run_id, run_key
from kreg.callbacks.stopping_policy import StoppingPolicy
from kreg.callbacks.training_binding import BindingCallback
from kreg.validation import check_bool, check_choice, check_int, invalid

_FIXED_SIGNS = {"min": 1.0, "max": -1.0}


def _as_float(value):
    """A logged value as a Python float (logs may hold NumPy or backend scalars, or a per-class vector such as
    `F1Score`'s, which is averaged)."""
    return None if value is None else float(np.mean(np.asarray(value, dtype="float64")))


def _policy_attribute(name):
    """A property reading and writing the attribute `name` of the callback's policy."""
    return property(
        lambda self: getattr(self._policy, name),
        lambda self, value: setattr(self._policy, name, value),
        doc=f"The policy's `{name}`.",
    )


@keras.saving.register_keras_serializable(package="kreg")
class EarlyStopping(BindingCallback):
    """Stops training when a monitored metric has stopped improving; a drop-in superset of Keras's `EarlyStopping`.

    The first eight arguments, their defaults and their behaviour are Keras's: at the end of each epoch the monitored
    value is compared with the best so far; an improvement (by more than `min_delta`) resets the wait counter, and
    once `patience` epochs passed without one, `model.stop_training` is set. With `restore_best_weights`, the weights
    of the best epoch are restored when training ends, whether or not this callback stopped it. One instance can serve
    several `fit` calls. Everything after `start_from_epoch` is opt-in, except `check_finite`, which stops at once on
    a NaN or infinite value (Keras would wait `patience` epochs of NaN) and then restores the best weights as usual.

    Holding the best weights costs one copy of the weights in host memory, refreshed only on an improving epoch.

    Args:
        monitor: name of the logged quantity to monitor, e.g. `"val_loss"` or `"val_accuracy"`. A quantity missing
            from the logs warns once per `fit` and the epoch is skipped; with `mode="auto"`, a name whose direction
            cannot be inferred (neither a loss nor a compiled metric) raises `ValueError` at the first epoch end, as
            Keras's does. A vector-valued metric (a per-class
            `F1Score`) is averaged.
        min_delta: smallest change that counts as an improvement (its absolute value is used, as in Keras).
        patience: epochs without improvement after which training stops (`criterion="patience"`).
        verbose: 0 is silent; 1 prints one line saying why and when training stopped and which weights were restored.
        mode: `"min"`, `"max"`, or `"auto"` to infer the direction from the metric as Keras does (`loss` and
            metrics whose direction is down are minimized, accuracies and other "up" metrics are maximized).
        baseline: a value to beat: until the monitored value improves on it, the wait counter is not reset.
        restore_best_weights: restore the weights of the best epoch when training ends.
        start_from_epoch: epochs to wait before monitoring (warm-up).
        min_delta_mode: `"abs"` (Keras's: improve by more than `min_delta`) or `"rel"` (improve by more than
            `min_delta * |best|`, skorch's `threshold_mode="rel"`).
        smoothing: weight `w` in [0, 1) of an exponential moving average `s_t = w * s_{t-1} + (1 - w) * x_t` of the
            monitored value; comparisons, thresholds and criteria use the average (the logs keep the raw values).
            0 disables it.
        stopping_threshold: stop as soon as the monitored value is better than this (good enough).
        divergence_threshold: stop as soon as the monitored value is worse than this (hopeless).
        check_finite: stop as soon as the monitored value or the training `loss` is NaN or infinite.
        criterion: the stopping test: `"patience"` (Keras's), or Prechelt's `"gl"` (stop when the generalization loss
            `100 * (value / best - 1)` exceeds `alpha`), `"pq"` (at the end of a strip of `strip_length` epochs, stop
            when the generalization loss divided by the training progress `1000 * (mean / min - 1)` of the last
            `strip_length` training losses exceeds `alpha`) or `"up"` (stop when the value rose at the end of
            `strips` successive strips). For a metric to maximize the generalization loss is the relative drop from
            the best value.
        alpha: threshold of `"gl"` (percent, default 5) or `"pq"` (default 0.5); `None` for the default.
        strip_length: Prechelt's strip length k for `"pq"` and `"up"` (training losses averaged, epochs between
            checks).
        strips: Prechelt's s for `"up"`: successive strips with a rising value before stopping.
        backup_dir: a directory where the callback saves its state (counters, best value, best weights) at each
            epoch end and from which it resumes at the start of `fit`, so a run resumed with
            `keras.callbacks.BackupAndRestore` continues counting where it was and keeps its best weights. Pass
            the same directory as `BackupAndRestore`'s. The files, `<backup_dir>/kreg_early_stopping/<key>.json` and
            `<key>.best.npz`, are written atomically and deleted when `fit` ends normally.
        run_id: the `<key>` of those files: letters, digits, `_`, `.` and `-`. `None` derives it from this
            callback's class and configuration and from the model's name and weight shapes, so that runs sharing
            `backup_dir` (other models, other monitors) do not collide while the same script resumed in a new
            process finds its files. Give one when a run is resumed in the same process with a rebuilt model (Keras
            numbers auto-generated layer names per process), or to name the files.

    Attributes:
        stop_reason: `None`, or why this callback stopped training (one sentence).
        stopped_epoch: the (0-based) epoch at which training stopped, 0 if it did not.
        best, best_epoch: best (smoothed) monitored value and its epoch.
        wait: epochs since the last improvement.
        restored_epoch: the epoch whose weights were restored at the end of training, or `None`.
        best_weights: the weights of the best epoch (`restore_best_weights=True`), or `None`.
        policy: the `StoppingPolicy` that decides (its state is the run's counters).

    Example:

    >>> stopper = kreg.callbacks.EarlyStopping(patience=10, restore_best_weights=True, min_delta=1e-3,
    ...                                        min_delta_mode="rel", divergence_threshold=10.0)
    >>> model.fit(x, y, validation_split=0.2, epochs=500, callbacks=[stopper])
    >>> stopper.stop_reason
    'val_loss did not improve for 10 epochs (best 0.3127 at epoch 41)'

    Reference: Lutz Prechelt 1998, "Early stopping - but when?", Neural Networks: Tricks of the Trade, LNCS 1524.
    """

    #: Whether `monitor=None` (chosen from the first epoch's logs, `_choose_monitor`) is accepted.
    _AUTO_MONITOR = False

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
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
        backup_dir=None,
        run_id=None,
    ):
        super().__init__()
        if not (monitor is None and self._AUTO_MONITOR) and (not isinstance(monitor, str) or not monitor):
            raise invalid("monitor", "a non-empty string" + (" or None" if self._AUTO_MONITOR else ""), monitor)
        self._auto_monitor = monitor is None
        self.verbose = int(verbose) if isinstance(verbose, bool) else check_int("verbose", verbose, low=0, high=2)
        self.mode = check_choice("mode", mode, ("auto", "min", "max"))
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
        if backup_dir is not None and not isinstance(backup_dir, (str, os.PathLike)):
            raise invalid("backup_dir", "a directory path or None", backup_dir)
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self.run_id = check_run_id(run_id)
        self._policy = StoppingPolicy(
            monitor=monitor,
            sign=_FIXED_SIGNS.get(self.mode),
            min_delta=min_delta,
            patience=patience,
            baseline=baseline,
            start_from_epoch=start_from_epoch,
            min_delta_mode=min_delta_mode,
            smoothing=smoothing,
            stopping_threshold=stopping_threshold,
            divergence_threshold=divergence_threshold,
            check_finite=check_finite,
            criterion=criterion,
            alpha=alpha,
            strip_length=strip_length,
            strips=strips,
        )
        self._backup = None
        self._reset()

    # The policy's configuration and counters, as attributes of the callback (Keras's names).
    monitor = _policy_attribute("monitor")
    min_delta = _policy_attribute("min_delta")
    patience = _policy_attribute("patience")
    baseline = _policy_attribute("baseline")
    start_from_epoch = _policy_attribute("start_from_epoch")
    min_delta_mode = _policy_attribute("min_delta_mode")
    smoothing = _policy_attribute("smoothing")
    stopping_threshold = _policy_attribute("stopping_threshold")
    divergence_threshold = _policy_attribute("divergence_threshold")
    check_finite = _policy_attribute("check_finite")
    criterion = _policy_attribute("criterion")
    alpha = _policy_attribute("alpha")
    strip_length = _policy_attribute("strip_length")
    strips = _policy_attribute("strips")
    wait = _policy_attribute("wait")
    best = _policy_attribute("best")
    best_epoch = _policy_attribute("best_epoch")
    stopped_epoch = _policy_attribute("stopped_epoch")
    stop_reason = _policy_attribute("stop_reason")

    @property
    def policy(self):
        """The `StoppingPolicy` that decides when to stop."""
        return self._policy

    @property
    def monitor_op(self):
        """`keras.ops.less` when minimizing, `keras.ops.greater` when maximizing, `None` before it is known."""
        sign = self._policy.sign
        return None if sign is None else (keras.ops.less if sign > 0 else keras.ops.greater)

    # ------------------------------------------------------------------ state

    def _reset(self):
        """Clears every per-run value (called at the start of each `fit`)."""
        self._policy.reset()
        if self._auto_monitor:
            self._policy.monitor = None
            self._policy.sign = _FIXED_SIGNS.get(self.mode)
        self.best_weights = None
        self.restored_epoch = None
        self._warned_missing = False

    def get_state(self):
        """The run's state as a dict: the policy's plain Python values, the `"monitor"`, and `"best_weights"` (a
        list of NumPy arrays or `None`).

        `set_state(get_state())` on a fresh instance continues the run exactly where it was.
        """
        state = self._policy.get_state()
        state["monitor"] = self.monitor
        # Not copied: an improving epoch replaces the list, it never modifies it in place.
        state["best_weights"] = self.best_weights
        return state

    def set_state(self, state):
        """Restores a state returned by `get_state()`."""
        if self._auto_monitor and state.get("monitor") is not None:
            self.monitor = state["monitor"]
        self._policy.set_state(state)
        self.best_weights = state.get("best_weights")

    # ------------------------------------------------------------- callbacks

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # kreg's training binding (proximal steps, schedules, `data_loss` in the logs)
        # Allow instances to be re-used across `model.fit()` calls, and resume an interrupted run.
        self._reset()
        self._backup = None
        if self.backup_dir is not None:
            config = self.get_config()
            key = self.run_id or run_key(type(self).__name__, config, self.model)
            owner = {"class": type(self).__name__, "monitor": config["monitor"]}
            self._backup = StoppingBackup(self.backup_dir, key, owner=owner)
            saved = self._backup.load()
            if saved is not None:
                state, best_weights = saved
                self.set_state({**state, "best_weights": best_weights})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor is None and logs:
            self.monitor = self._choose_monitor(logs)
        value = self._monitor_value(logs)
        loss = _as_float(logs.get("loss"))
        if self._policy.sign is None and self.monitor is not None:
            # As Keras: settled at the first epoch end (the model's metrics are then built), whether or not the value
            # is in the logs. A name whose direction cannot be inferred raises Keras's ValueError; a known name
            # missing from the logs (`val_loss` without validation data) only warns (`_monitor_value`).
            self._policy.sign = monitor_sign(self.model, self.monitor, self.mode, caller=type(self).__name__)
        decision = self._policy.update(epoch, value, train_loss=loss)
        if decision.improved and self.restore_best_weights:
            self.best_weights = self.model.get_weights()
        if decision.stop:
            self.model.stop_training = True
        if self._backup is not None:
            state = self.get_state()
            best_weights = state.pop("best_weights")
            self._backup.save(state, best_weights, weights_epoch=self.best_epoch)

    def on_train_end(self, logs=None):
        try:
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
                self.restored_epoch = self.best_epoch
            if self.verbose > 0 and (self.stop_reason is not None or self.restored_epoch is not None):
                print(self.summary())
            if self._backup is not None:
                self._backup.delete()
        finally:
            super().on_train_end(logs)

    def summary(self):
        """One line: why and when training stopped, and which epoch's weights were restored."""
        if self.stop_reason is not None:
            line = f"Epoch {self.stopped_epoch + 1}: early stopping: {self.stop_reason}"
        else:
            line = f"{type(self).__name__}: training ended without an early stop"
        if self.restored_epoch is not None:
            line += f"; restored the weights of epoch {self.restored_epoch + 1} ({self.monitor}={self.best:.4g})"
        elif self.restore_best_weights:
            line += "; no weights to restore (no finite value was monitored)"
        return line + "."

    # --------------------------------------------------------------- helpers

    def _choose_monitor(self, logs):
        """The key to monitor when `monitor=None`, from the first epoch's logs (Keras's default here)."""
        return "val_loss"

    def _monitor_value(self, logs):
        if self.monitor is None:
            return None
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                    f"Available metrics are: {','.join(list(logs.keys()))}",
                    stacklevel=3,
                )
            return None
        return _as_float(value)

    def get_config(self):
        config = self._policy.get_config()
        del config["sign"]
        config.update(
            {
                "monitor": None if self._auto_monitor else self.monitor,
                "verbose": self.verbose,
                "mode": self.mode,
                "restore_best_weights": self.restore_best_weights,
                "backup_dir": self.backup_dir,
                "run_id": self.run_id,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
