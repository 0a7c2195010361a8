"""`EarlyStopping`: a drop-in superset of `keras.callbacks.EarlyStopping`.

With only Keras's arguments it behaves like Keras's callback (same stops, same restored weights, reusable across
`fit` calls). The opt-in extras are relative `min_delta`, smoothing, "good enough" and "hopeless" thresholds (as in
PyTorch Lightning), a finite check, Prechelt's GL/PQ/UP criteria, a `stop_reason`, and a state that survives an
interrupted and resumed run (`get_state`/`set_state`, `backup_dir`).

References: Lutz Prechelt 1998, "Early stopping - but when?" (GL, PQ, UP); Keras's `EarlyStopping`; PyTorch
Lightning's `EarlyStopping` (`stopping_threshold`, `divergence_threshold`, `check_finite`); skorch's `EarlyStopping`
(`threshold_mode="rel"`).
"""

import json
import math
import os
import warnings

import keras
import numpy as np

from kreg.callbacks import stopping_criteria
from kreg.callbacks.metric_direction import declared_direction
from kreg.validation import check_bool, check_choice, check_float, check_int, invalid

CRITERIA = ("patience", "gl", "pq", "up")
DEFAULT_ALPHA = {"gl": 5.0, "pq": 0.5}


def _check_optional_float(name, value, low=None, low_inclusive=True):
    return None if value is None else check_float(name, value, low=low, low_inclusive=low_inclusive)


def _is_finite(value):
    return value is None or math.isfinite(value)


def _as_float(value):
    """A logged value as a Python float (logs may hold NumPy or backend scalars, or a per-class vector such as
    `F1Score`'s, which is averaged)."""
    return None if value is None else float(np.mean(np.asarray(value, dtype="float64")))


@keras.saving.register_keras_serializable(package="kreg")
class EarlyStopping(keras.callbacks.Callback):
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
            from the logs warns once per `fit` and the epoch is skipped. A vector-valued metric (a per-class
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
            the same directory as `BackupAndRestore`'s. The files are deleted when `fit` ends normally.

    Attributes:
        stop_reason: `None`, or why this callback stopped training (one sentence).
        stopped_epoch: the (0-based) epoch at which training stopped, 0 if it did not.
        best, best_epoch: best (smoothed) monitored value and its epoch.
        restored_epoch: the epoch whose weights were restored at the end of training, or `None`.

    Example:

    >>> stopper = kreg.callbacks.EarlyStopping(patience=10, restore_best_weights=True, min_delta=1e-3,
    ...                                        min_delta_mode="rel", divergence_threshold=10.0)
    >>> model.fit(x, y, validation_split=0.2, epochs=500, callbacks=[stopper])
    >>> stopper.stop_reason
    'val_loss did not improve for 10 epochs (best 0.3127 at epoch 41)'

    Reference: Lutz Prechelt 1998, "Early stopping - but when?", Neural Networks: Tricks of the Trade, LNCS 1524.
    """

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
    ):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise invalid("monitor", "a non-empty string", monitor)
        self.monitor = monitor
        self.min_delta = abs(check_float("min_delta", min_delta))
        self.patience = check_int("patience", patience, low=0)
        self.verbose = int(verbose) if isinstance(verbose, bool) else check_int("verbose", verbose, low=0, high=2)
        self.mode = check_choice("mode", mode, ("auto", "min", "max"))
        self.baseline = _check_optional_float("baseline", baseline)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
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
        if backup_dir is not None and not isinstance(backup_dir, (str, os.PathLike)):
            raise invalid("backup_dir", "a directory path or None", backup_dir)
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self.monitor_op = None
        self._sign = None
        self._reset()

    # ------------------------------------------------------------------ state

    def _reset(self):
        """Clears every per-run value (called at the start of each `fit`)."""
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None
        self.stop_reason = None
        self.restored_epoch = None
        self._smoother = stopping_criteria.ExponentialMovingAverage(self.smoothing)
        self._train_strip = []
        self._strip_end_value = None
        self._rising_strips = 0
        self._warned_missing = False
        self._weights_saved = False

    def get_state(self):
        """The run's state as a dict: plain Python values plus `"best_weights"` (a list of NumPy arrays or `None`).

        `set_state(get_state())` on a fresh instance continues the run exactly where it was.
        """
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stop_reason": self.stop_reason,
            "sign": self._sign,
            "smoother": self._smoother.get_state(),
            "train_strip": list(self._train_strip),
            "strip_end_value": self._strip_end_value,
            "rising_strips": self._rising_strips,
            # Not copied: an improving epoch replaces the list, it never modifies it in place.
            "best_weights": self.best_weights,
        }

    def set_state(self, state):
        """Restores a state returned by `get_state()`."""
        self.wait = state["wait"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
        self.stop_reason = state["stop_reason"]
        self._set_sign(state["sign"])
        self._smoother.set_state(state["smoother"])
        self._train_strip = list(state["train_strip"])
        self._strip_end_value = state["strip_end_value"]
        self._rising_strips = state["rising_strips"]
        self.best_weights = state.get("best_weights")

    def _backup_paths(self):
        stem = os.path.join(self.backup_dir, f"kreg_{type(self).__name__}_{self.monitor}")
        return stem + ".json", stem + ".best.npz"

    def _save_backup(self):
        state_path, weights_path = self._backup_paths()
        os.makedirs(self.backup_dir, exist_ok=True)
        state = self.get_state()
        weights = state.pop("best_weights")
        if weights is not None and not self._weights_saved:
            with open(weights_path + ".tmp", "wb") as f:
                np.savez(f, *weights)
            os.replace(weights_path + ".tmp", weights_path)
            self._weights_saved = True
        state["has_weights"] = weights is not None
        with open(state_path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(state_path + ".tmp", state_path)

    def _load_backup(self):
        state_path, weights_path = self._backup_paths()
        if not os.path.exists(state_path):
            return False
        with open(state_path) as f:
            state = json.load(f)
        state["best_weights"] = None
        if state.pop("has_weights"):
            with np.load(weights_path) as data:
                state["best_weights"] = [data[f"arr_{i}"] for i in range(len(data.files))]
        self.set_state(state)
        self._weights_saved = True
        return True

    def _delete_backup(self):
        for path in self._backup_paths():
            if os.path.exists(path):
                os.remove(path)

    # ------------------------------------------------------------- direction

    def _set_sign(self, sign):
        self._sign = sign
        if sign is not None:
            self.monitor_op = keras.ops.less if sign > 0 else keras.ops.greater

    def _infer_sign(self):
        """+1 to minimize, -1 to maximize; `mode="auto"` infers it from the metric as Keras does."""
        if self.mode != "auto":
            return 1.0 if self.mode == "min" else -1.0
        name = self.monitor.removeprefix("val_")
        sign = 1.0 if name == "loss" else None
        direction = declared_direction(self.model, name)
        if direction is not None:
            sign = -1.0 if direction == "up" else 1.0
        if sign is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but Keras isn't able to "
                "automatically determine whether that metric should be maximized or minimized. Pass `mode='max'` "
                "in order to monitor based on the highest metric value, or pass `mode='min'` in order to use the "
                "lowest value."
            )
        return sign

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        delta = self.min_delta * abs(reference) if self.min_delta_mode == "rel" else self.min_delta
        if self._sign > 0:
            return value + delta < reference
        return value - delta > reference

    def _is_better(self, value, reference):
        return self._sign * (reference - value) > 0.0

    # ------------------------------------------------------------- callbacks

    def on_train_begin(self, logs=None):
        # Allow instances to be re-used across `model.fit()` calls, and resume an interrupted run.
        self._reset()
        if self.backup_dir is not None:
            self._load_backup()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        raw = self._get_monitor_value(logs)
        loss = _as_float(logs.get("loss"))
        if self.check_finite and not _is_finite(loss):
            self._stop(epoch, f"the training loss is {loss} at epoch {epoch + 1}")
        if raw is None or self.stop_reason is not None:
            self._after_epoch(epoch)
            return
        if self._sign is None:
            # Delayed until the model's metrics are all built.
            self._set_sign(self._infer_sign())
        if self.check_finite and not math.isfinite(raw):
            self._stop(epoch, f"{self.monitor} is {raw} at epoch {epoch + 1}")
            self._after_epoch(epoch)
            return
        if epoch < self.start_from_epoch:
            return
        value = self._smoother.update(raw) if self.smoothing else raw
        self._observe(epoch, value, logs)
        self.wait += 1
        improved = self._is_improvement(value, self.best)
        if improved:
            self.best = value
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
                self._weights_saved = False
            # Only restart the wait if both the baseline and the previous best were beaten (as Keras).
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
        reason = self._threshold_reason(value)
        if reason is None and not improved:
            reason = self._criterion_reason(epoch, value)
        if reason is not None:
            self._stop(epoch, reason)
        self._after_epoch(epoch)

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            self.restored_epoch = self.best_epoch
        if self.verbose > 0 and (self.stop_reason is not None or self.restored_epoch is not None):
            print(self.summary())
        if self.backup_dir is not None:
            self._delete_backup()

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

    def _after_epoch(self, epoch):
        if self.backup_dir is not None:
            self._save_backup()

    def _stop(self, epoch, reason):
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stopped_epoch = epoch
        self.model.stop_training = True

    def _get_monitor_value(self, logs):
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

    def _observe(self, epoch, value, logs):
        """Per-epoch bookkeeping of the criteria, before the value is compared with the best."""
        loss = logs.get("loss")
        if loss is not None:
            self._train_strip = (self._train_strip + [_as_float(loss)])[-self.strip_length :]
        if (epoch + 1) % self.strip_length == 0:
            self._rising_strips = stopping_criteria.update_rising_strips(
                self._rising_strips, value, self._strip_end_value, self._sign
            )
            self._strip_end_value = value

    def _threshold_reason(self, value):
        if self.stopping_threshold is not None and self._is_better(value, self.stopping_threshold):
            return f"{self.monitor}={value:.4g} reached stopping_threshold={self.stopping_threshold:g}"
        if self.divergence_threshold is not None and self._is_better(self.divergence_threshold, value):
            return f"{self.monitor}={value:.4g} is past divergence_threshold={self.divergence_threshold:g}"
        return None

    def _best_text(self):
        return f"best {self.best:.4g} at epoch {self.best_epoch + 1}"

    def _criterion_reason(self, epoch, value):
        if self.criterion == "patience":
            if self.wait >= self.patience and epoch > 0:
                return f"{self.monitor} did not improve for {self.wait} epochs ({self._best_text()})"
            return None
        alpha = self.alpha if self.alpha is not None else DEFAULT_ALPHA.get(self.criterion)
        if self.criterion == "gl":
            loss = stopping_criteria.generalization_loss(value, self.best, self._sign)
            if loss > alpha:
                return f"generalization loss GL={loss:.3g} > alpha={alpha:g} ({self._best_text()})"
            return None
        if (epoch + 1) % self.strip_length != 0:
            return None
        if self.criterion == "pq":
            if len(self._train_strip) < self.strip_length:
                return None
            quotient = stopping_criteria.progress_quotient(value, self.best, self._train_strip, self._sign)
            if quotient > alpha:
                return f"progress quotient PQ={quotient:.3g} > alpha={alpha:g} ({self._best_text()})"
            return None
        if self._rising_strips >= self.strips:
            return f"{self.monitor} rose in {self._rising_strips} successive strips of {self.strip_length} epochs"
        return None

    def get_config(self):
        return {
            "monitor": self.monitor,
            "min_delta": self.min_delta,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "baseline": self.baseline,
            "restore_best_weights": self.restore_best_weights,
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
            "backup_dir": self.backup_dir,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
