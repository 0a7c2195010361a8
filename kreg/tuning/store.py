"""`TrialStore`: one JSON record per trial on disk, next to keras-tuner's own trial files; `TrialRecorder` writes the
per-epoch history into it during `fit`.

The records are what the results table, the Pareto front and the pruners read. They live in the tuner's project
directory (`<directory>/<project_name>/kreg/trial_<id>.json`), are replaced atomically (written to a temporary file,
then renamed), so a search killed at any point leaves every record either as it was or complete, and a resumed
search (or another worker of a distributed search sharing the directory) sees every earlier trial's curve.

Reference: O'Malley et al. 2019, KerasTuner (project directory layout, trial ids).
"""

import json
import math
import os
import re

import keras
import numpy as np

from kreg import validation

#: Statuses of a trial record: still running (or killed while running), finished normally, stopped by a pruner.
STATUSES = ("running", "completed", "pruned")


def _plain(value):
    """A JSON-friendly Python value (NumPy and backend scalars to float; NaN and infinities to None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


class TrialStore:
    """The per-trial JSON records of one search, in `directory` (created on first write).

    Args:
        directory: where the records live, usually `<tuner project dir>/kreg`.

    Example:

    >>> store = TrialStore("runs/tuning/search/kreg")
    >>> store.write("03", {"status": "completed", "history": {"val_loss": [0.9, 0.7]}})
    >>> [r["trial_id"] for r in store.records()]
    ['03']

    Reference: O'Malley et al. 2019, KerasTuner.
    """

    _NAME = re.compile(r"^trial_(.+)\.json$")

    def __init__(self, directory):
        if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
            raise validation.invalid("directory", "a non-empty path (str or os.PathLike)", directory)
        self.directory = os.fspath(directory)

    def path(self, trial_id):
        return os.path.join(self.directory, f"trial_{trial_id}.json")

    def write(self, trial_id, record):
        """Writes (replaces) the record of `trial_id` atomically; returns the record written."""
        os.makedirs(self.directory, exist_ok=True)
        record = _plain({**record, "trial_id": str(trial_id)})
        target = self.path(trial_id)
        temporary = f"{target}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(record, handle, sort_keys=True)
        os.replace(temporary, target)
        return record

    def read(self, trial_id):
        """The record of `trial_id`, or `None` if there is none."""
        try:
            with open(self.path(trial_id), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None

    def records(self, statuses=None):
        """Every record (optionally only those with a status in `statuses`), ordered by trial id."""
        if not os.path.isdir(self.directory):
            return []
        found = []
        for name in sorted(os.listdir(self.directory)):
            match = self._NAME.match(name)
            if not match:
                continue
            record = self.read(match.group(1))
            if record is not None and (statuses is None or record.get("status") in statuses):
                found.append(record)
        return found


class TrialRecorder(keras.callbacks.Callback):
    """Writes one trial's epoch logs to its `TrialStore` record at every epoch end (status `"running"`).

    It also makes the penalty-free loss always present: when the model has no regularization penalty, kreg's
    binding logs no `data_loss` / `val_data_loss`, and the loss is then exactly the data loss, so the recorder adds
    `data_loss = loss` and `val_data_loss = val_loss` to the logs (every callback after it and the `History` see
    them). A search can then compare every trial on `val_data_loss`, penalized or not. Put it first.

    Args:
        store: the `TrialStore`.
        trial_id: the trial's id.
        values: the trial's hyperparameter values (stored with the record).

    Example:

    >>> model.fit(x, y, validation_data=(xv, yv), callbacks=[TrialRecorder(store, "00", {"l2": 1e-3})])

    Reference: O'Malley et al. 2019, KerasTuner.
    """

    def __init__(self, store, trial_id, values=None):
        super().__init__()
        self.store = store
        self.trial_id = str(trial_id)
        self.values = dict(values or {})
        self.history = {}
        self.epochs = []

    def on_train_begin(self, logs=None):
        # A retried trial (resumed after a kill) starts its record again.
        self.history = {}
        self.epochs = []
        self.store.write(self.trial_id, {"status": "running", "values": self.values, "epochs": [], "history": {}})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        for key in ("loss", "val_loss"):
            if key in logs and key.replace("loss", "data_loss") not in logs:
                logs[key.replace("loss", "data_loss")] = logs[key]
        self.epochs.append(int(epoch))
        for key, value in logs.items():
            self.history.setdefault(key, [None] * (len(self.epochs) - 1)).append(_plain(value))
        for column in self.history.values():
            if len(column) < len(self.epochs):
                column.append(None)
        self.store.write(
            self.trial_id, {"status": "running", "values": self.values, "epochs": self.epochs, "history": self.history}
        )


__all__ = ["STATUSES", "TrialRecorder", "TrialStore"]
