"""Crash-safe state of an early-stopping run, in files keyed by run so runs sharing a directory cannot collide.

A run's files are `<backup_dir>/kreg_early_stopping/<key>.json` (the state: counters, best value, ...) and
`<key>.best.npz` (the best weights, rewritten only when they change). The key is the callback's `run_id` when one is
given, else `run_key(...)`: a hash of the callback's class and configuration and of the model's name and weight
paths and shapes, so the same script resumed in a new process finds its files, while two different models, or two
callbacks with different monitors, in one directory get different files.

Every file is written to a temporary file and moved over the old one (`os.replace`, atomic), so an interruption
leaves either the old or the new file, never a truncated one. The state names the epoch of the best weights it goes
with and the weights file stores that epoch too; when new best weights are written, the previous file is kept
(`<key>.best.prev.npz`) until the state that points to the new one is written, so the best weights of the saved state
are on disk at every instant.
"""

import hashlib
import json
import os
import re
import zipfile

import numpy as np

from kreg.validation import invalid

SUBDIRECTORY = "kreg_early_stopping"
FORMAT = 1
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]+")
#: Configuration entries that do not change what a run computes, left out of the key.
_NOT_IN_KEY = ("verbose", "backup_dir", "run_id")
_TAG = "__epoch__"


def check_run_id(run_id):
    """Checks that `run_id` is `None` or a non-empty string of letters, digits, `_`, `.` and `-`; returns it."""
    if run_id is not None and (not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id)):
        raise invalid("run_id", "None or a non-empty string of letters, digits, '_', '.' and '-'", run_id)
    return run_id


def model_fingerprint(model):
    """The model's name and the paths and shapes of its weights (what tells two models apart across processes)."""
    weights = getattr(model, "weights", None)
    weights = weights if isinstance(weights, (list, tuple)) else []
    return {
        "name": getattr(model, "name", None),
        "weights": [[getattr(w, "path", getattr(w, "name", "")), [int(d) for d in w.shape]] for w in weights],
    }


def run_key(class_name, config, model):
    """A stable 12-hex-digit key of one early-stopping run: a SHA-1 of the callback's class and configuration (but
    `verbose`, `backup_dir` and `run_id`) and of `model_fingerprint(model)`.

    Keras numbers auto-generated names within a process (`dense`, `dense_1`, ...), so a script resumed in a new
    process gets the same key, but a model rebuilt in the same process gets another one: pass a `run_id` there.

    Example:

    >>> key = run_key("EarlyStopping", stopper.get_config(), model)
    >>> len(key), key == run_key("EarlyStopping", stopper.get_config(), model)
    (12, True)
    """
    material = {
        "class": class_name,
        "config": {k: v for k, v in config.items() if k not in _NOT_IN_KEY},
        "model": model_fingerprint(model),
    }
    text = json.dumps(material, sort_keys=True, default=repr)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


class BackupError(ValueError):
    """A backup file exists but cannot be used (corrupt, from another callback, or its best weights are missing)."""


class StoppingBackup:
    """The files of one early-stopping run: JSON state plus NPZ best weights, written atomically.

    Args:
        backup_dir: the directory (the files go to its `kreg_early_stopping` subdirectory, created when needed).
        key: the run's key (`run_id`, or `run_key(...)`).
        owner: a JSON-able description of the callback writing the files (class, configured monitor); a state file
            with another owner is refused when loaded, so two callbacks given the same `run_id` fail loudly.

    Example:

    >>> backup = StoppingBackup("/tmp/ckpt", "trial-7", owner={"class": "EarlyStopping", "monitor": "val_loss"})
    >>> backup.save({"wait": 0, "best_epoch": 3}, best_weights=model.get_weights(), weights_epoch=3)
    >>> state, weights = backup.load()
    >>> backup.delete()
    """

    def __init__(self, backup_dir, key, owner=None):
        self.directory = os.path.join(os.fspath(backup_dir), SUBDIRECTORY)
        self.key = check_run_id(key)
        self.owner = owner
        stem = os.path.join(self.directory, key)
        self.state_path = stem + ".json"
        self.weights_path = stem + ".best.npz"
        self.previous_weights_path = stem + ".best.prev.npz"
        self._epoch_on_disk = None  # the epoch of the best weights in `weights_path`, once known

    def save(self, state, best_weights=None, weights_epoch=None):
        """Writes `state` (JSON-able) and, when they changed, the best weights of epoch `weights_epoch`."""
        os.makedirs(self.directory, exist_ok=True)
        has_weights = best_weights is not None
        if has_weights and weights_epoch != self._epoch_on_disk:
            if os.path.exists(self.weights_path):
                # The saved state still points to these weights until the new state is written.
                os.replace(self.weights_path, self.previous_weights_path)
            arrays = {f"arr_{i}": np.asarray(w) for i, w in enumerate(best_weights)}
            _atomic_write(self.weights_path, "wb", lambda f: np.savez(f, **arrays, **{_TAG: np.int64(weights_epoch)}))
            self._epoch_on_disk = weights_epoch
        document = {
            "format": FORMAT,
            "owner": self.owner,
            "weights_epoch": weights_epoch if has_weights else None,
            "state": state,
        }
        _atomic_write(self.state_path, "w", lambda f: json.dump(document, f))
        _remove(self.previous_weights_path)

    def load(self):
        """The saved `(state, best_weights)` (`best_weights` may be `None`), or `None` when there is no state file.

        Raises:
            BackupError: the state file is unreadable or truncated, was written by another callback, or the best
                weights it points to are missing or unreadable (the files are left untouched).
        """
        if not os.path.exists(self.state_path):
            return None
        try:
            with open(self.state_path) as f:
                document = json.load(f)
            state, weights_epoch, owner = document["state"], document["weights_epoch"], document["owner"]
            if document["format"] != FORMAT or not isinstance(state, dict):
                raise ValueError(f"unknown format {document['format']!r}")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise BackupError(
                f"The early-stopping state file {self.state_path} cannot be read ({type(error).__name__}: {error}). "
                "Delete it (and the matching .best.npz) to start the run over."
            ) from error
        if owner != self.owner:
            raise BackupError(
                f"The early-stopping state file {self.state_path} was written by another callback ({owner}, this "
                f"one is {self.owner}). Give each early-stopping callback sharing a backup_dir its own run_id."
            )
        weights = None
        if weights_epoch is not None:
            weights = self._load_weights(weights_epoch)
        self._epoch_on_disk = weights_epoch
        return state, weights

    def delete(self):
        """Removes the run's files (the state first, so an interruption never leaves a state without its weights)."""
        for path in (self.state_path, self.weights_path, self.previous_weights_path):
            _remove(path)
            _remove(path + ".tmp")

    def _load_weights(self, epoch):
        for path in (self.weights_path, self.previous_weights_path):
            weights = _read_weights(path, epoch)
            if weights is not None:
                if path == self.previous_weights_path:
                    # Interrupted between writing newer weights and the state: the state's weights become current.
                    os.replace(path, self.weights_path)
                return weights
        raise BackupError(
            f"The best weights of epoch {epoch + 1} that {self.state_path} points to are missing or unreadable "
            f"({self.weights_path}). Delete the state file to start the run over."
        )


def _read_weights(path, epoch):
    """The arrays stored in `path` if it holds the best weights of `epoch`, else `None`."""
    try:
        with np.load(path) as data:
            if _TAG not in data.files or int(data[_TAG]) != epoch:
                return None
            count = sum(1 for name in data.files if name.startswith("arr_"))
            return [data[f"arr_{i}"] for i in range(count)]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def _atomic_write(path, mode, write):
    """Writes `path` through `path + ".tmp"`, flushed to disk, then moved over `path` in one step."""
    tmp = path + ".tmp"
    with open(tmp, mode) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
