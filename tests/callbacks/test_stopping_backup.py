"""Crash-safe early-stopping state: files keyed by run, atomic writes, resuming, and damaged files.

The runs here are "interrupted" by not calling `on_train_end` (as a crash would) and "resumed" by a new callback
instance calling `on_train_begin` on the same directory; the real `fit` with `BackupAndRestore` is in
`test_early_stopping.py`.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kreg.callbacks import AdaptiveEarlyStopping, EarlyStopping, stopping_backup
from kreg.callbacks.stopping_backup import BackupError, StoppingBackup, run_key


def build(name=None, units=2):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)], name=name)
    model.compile("sgd", "mse")
    return model


def epoch_weights(model, epoch):
    return [np.full(w.shape, float(epoch), "float32") for w in model.get_weights()]


def feed(stopper, model, values, start=0, monitor="val_loss", end=True):
    """Like `fit`: `on_train_begin`, the weights of epoch e set to e, the epochs, and `on_train_end` unless `end` is
    false (an interruption). Returns the last epoch run."""
    stopper.set_model(model)
    model.stop_training = False
    stopper.on_train_begin()
    epoch = start - 1
    for epoch in range(start, len(values)):
        model.set_weights(epoch_weights(model, epoch))
        stopper.on_epoch_end(epoch, {monitor: values[epoch], "loss": 1.0})
        if model.stop_training:
            break
    if end:
        stopper.on_train_end()
    return epoch


def files(directory):
    sub = directory / "kreg_early_stopping"
    return sorted(p.name for p in sub.iterdir()) if sub.exists() else []


def assert_weights_are_epoch(model, epoch):
    for w in model.get_weights():
        np.testing.assert_array_equal(w, np.full(w.shape, float(epoch)))


VALUES_A = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]  # best at epoch 1; patience 3 stops at epoch 4
VALUES_B = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]  # improves every epoch


def test_files_are_keyed_by_run_and_written_atomically(tmp_path, monkeypatch):
    writes = []
    real_write = stopping_backup._atomic_write
    monkeypatch.setattr(stopping_backup, "_atomic_write", lambda path, *a: (writes.append(path), real_write(path, *a)))
    model = build()
    stopper = EarlyStopping(patience=3, restore_best_weights=True, backup_dir=tmp_path)
    feed(stopper, model, VALUES_A, end=False)
    key = run_key("EarlyStopping", stopper.get_config(), model)
    assert len(key) == 12 and int(key, 16) >= 0
    assert files(tmp_path) == [f"{key}.best.npz", f"{key}.json"]  # no temporary file left
    # The state at every epoch (5 epochs), the weights only on the improving epochs (0 and 1).
    assert [os.path.basename(p) for p in writes] == [f"{key}.best.npz", f"{key}.json"] * 2 + [f"{key}.json"] * 3
    stopper.on_train_end()
    assert files(tmp_path) == []


def test_the_key_is_stable_across_processes_and_tells_runs_apart():
    script = (
        "import keras\n"
        "from kreg.callbacks import EarlyStopping\n"
        "from kreg.callbacks.stopping_backup import run_key\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "print(run_key('EarlyStopping', EarlyStopping(patience=3, backup_dir='d').get_config(), model))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    other_process = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    keras.backend.clear_session()  # this process numbers the names from scratch too
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    config = EarlyStopping(patience=3, backup_dir="d").get_config()
    key = run_key("EarlyStopping", config, model)
    assert other_process.stdout.strip().splitlines()[-1] == key
    # Printing, the directory and the run_id are not part of the run; the rule, the monitor and the model are.
    assert run_key("EarlyStopping", EarlyStopping(patience=3, verbose=1, backup_dir="e").get_config(), model) == key
    for other in (
        run_key("EarlyStopping", EarlyStopping(patience=4, backup_dir="d").get_config(), model),
        run_key("EarlyStopping", EarlyStopping(monitor="val_mse", patience=3, backup_dir="d").get_config(), model),
        run_key("AdaptiveEarlyStopping", config, model),
        run_key("EarlyStopping", config, build()),
        run_key("EarlyStopping", config, keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name=model.name)),
    ):
        assert other != key


@pytest.mark.parametrize("case", ["different models", "different monitors", "explicit run_ids"])
def test_two_runs_sharing_a_directory_do_not_collide(tmp_path, case):
    model_a = build()
    model_b = build(units=3) if case == "different models" else model_a
    kwargs_a = {"patience": 3, "restore_best_weights": True, "backup_dir": tmp_path, "mode": "min"}
    kwargs_b = dict(kwargs_a)
    monitor_b = "val_mse" if case == "different monitors" else "val_loss"
    kwargs_b["monitor"] = monitor_b
    if case == "explicit run_ids":
        kwargs_a["run_id"], kwargs_b["run_id"] = "trial-1", "trial-2"

    def new_runs():
        return EarlyStopping(**kwargs_a), EarlyStopping(**kwargs_b)

    # Both runs interrupted at epoch 3, after writing their states to the same directory.
    first_a, first_b = new_runs()
    feed(first_a, model_a, VALUES_A[:4], end=False)
    feed(first_b, model_b, VALUES_B[:4], monitor=monitor_b, end=False)
    assert len([name for name in files(tmp_path) if name.endswith(".json")]) == 2
    if case == "explicit run_ids":
        assert files(tmp_path) == ["trial-1.best.npz", "trial-1.json", "trial-2.best.npz", "trial-2.json"]
    # Each resumed run finds its own state and weights.
    resumed_a, resumed_b = new_runs()
    assert feed(resumed_a, model_a, VALUES_A, start=4) == 4
    assert resumed_a.best_epoch == 1 and resumed_a.stop_reason.startswith("val_loss did not improve for 3 epochs")
    assert_weights_are_epoch(model_a, 1)
    assert feed(resumed_b, model_b, VALUES_B, start=4, monitor=monitor_b) == 7
    assert resumed_b.best_epoch == 7 and resumed_b.stop_reason is None
    assert_weights_are_epoch(model_b, 7)
    assert files(tmp_path) == []


@pytest.mark.parametrize("cls", [EarlyStopping, AdaptiveEarlyStopping])
def test_a_resumed_run_continues_as_the_uninterrupted_one(tmp_path, cls):
    values = [1.0, 0.5, 0.45, 0.6, 0.44, 0.5, 0.6] + [0.7 + 0.01 * i for i in range(30)]
    kwargs = {"patience": 3, "restore_best_weights": True, "smoothing": 0.2}
    model = build()
    reference = cls(**kwargs)
    reference_stop = feed(reference, model, values)
    interrupted = cls(backup_dir=tmp_path, **kwargs)
    feed(interrupted, model, values[:6], end=False)
    resumed = cls(backup_dir=tmp_path, **kwargs)  # a new instance, same run
    resumed.set_model(model)
    resumed.on_train_begin()
    assert resumed.wait == interrupted.wait and resumed.best == interrupted.best
    assert resumed.monitor == "val_loss"
    assert feed(resumed, model, values, start=6) == reference_stop
    assert resumed.stop_reason == reference.stop_reason and resumed.best_epoch == reference.best_epoch == 4
    assert_weights_are_epoch(model, 4)


def test_a_truncated_state_file_raises_a_clear_error_and_keeps_the_weights(tmp_path):
    model = build()
    feed(EarlyStopping(patience=3, restore_best_weights=True, backup_dir=tmp_path), model, VALUES_A[:3], end=False)
    (state_file,) = (tmp_path / "kreg_early_stopping").glob("*.json")
    weights_file = state_file.with_name(state_file.stem + ".best.npz")
    weights = weights_file.read_bytes()
    state_file.write_text(state_file.read_text()[:40])
    stopper = EarlyStopping(patience=3, restore_best_weights=True, backup_dir=tmp_path)
    stopper.set_model(model)
    with pytest.raises(BackupError, match="cannot be read .*Delete it .* to start the run over") as error:
        stopper.on_train_begin()
    assert isinstance(error.value, ValueError) and str(state_file) in str(error.value)
    assert weights_file.read_bytes() == weights


def test_an_interruption_while_writing_keeps_the_previous_state_and_its_best_weights(tmp_path, monkeypatch):
    # Epoch 1 improves: its weights are written, then the process dies halfway through writing the state.
    real_write = stopping_backup._atomic_write

    def dies_while_writing_the_state(path, mode, write):
        if path.endswith(".json") and epoch_now[0] == 1:

            def half(f):
                f.write('{"format": 1, "owner": {"cl')
                raise KeyboardInterrupt

            return real_write(path, mode, half)
        return real_write(path, mode, write)

    epoch_now = [0]
    monkeypatch.setattr(stopping_backup, "_atomic_write", dies_while_writing_the_state)
    model = build()
    stopper = EarlyStopping(patience=3, restore_best_weights=True, backup_dir=tmp_path)
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch in (0, 1):
        epoch_now[0] = epoch
        model.set_weights(epoch_weights(model, epoch))
        if epoch == 1:
            with pytest.raises(KeyboardInterrupt):
                stopper.on_epoch_end(epoch, {"val_loss": VALUES_A[epoch]})
        else:
            stopper.on_epoch_end(epoch, {"val_loss": VALUES_A[epoch]})
    monkeypatch.setattr(stopping_backup, "_atomic_write", real_write)
    # The newer weights are on disk, but the state on disk is epoch 0's, with epoch 0's best weights beside it.
    assert any(name.endswith(".best.prev.npz") for name in files(tmp_path))
    resumed = EarlyStopping(patience=3, restore_best_weights=True, backup_dir=tmp_path)
    resumed.set_model(model)
    resumed.on_train_begin()
    assert resumed.best_epoch == 0 and resumed.best == 1.0
    model.set_weights(epoch_weights(model, 9))
    resumed.on_train_end()
    assert_weights_are_epoch(model, 0)
    assert files(tmp_path) == []


def test_missing_best_weights_raise_a_clear_error(tmp_path):
    model = build()
    feed(EarlyStopping(restore_best_weights=True, patience=3, backup_dir=tmp_path), model, VALUES_A[:2], end=False)
    for path in (tmp_path / "kreg_early_stopping").glob("*.npz"):
        path.write_bytes(b"not a zip file")
    stopper = EarlyStopping(restore_best_weights=True, patience=3, backup_dir=tmp_path)
    stopper.set_model(model)
    with pytest.raises(BackupError, match="best weights of epoch 2 .* are missing or unreadable"):
        stopper.on_train_begin()


def test_the_same_run_id_for_two_callbacks_fails_loudly(tmp_path):
    model = build()
    feed(EarlyStopping(backup_dir=tmp_path, run_id="shared", patience=3), model, VALUES_A[:2], end=False)
    other = EarlyStopping(monitor="val_mse", mode="min", backup_dir=tmp_path, run_id="shared")
    other.set_model(model)
    with pytest.raises(BackupError, match="written by another callback .* its own run_id"):
        other.on_train_begin()


def test_backup_round_trip(tmp_path):
    # The module on its own: plain state and arrays in, the same out.
    backup = StoppingBackup(tmp_path, "run.1", owner={"class": "EarlyStopping", "monitor": "val_loss"})
    assert backup.load() is None
    weights = [np.arange(6, dtype="float32").reshape(2, 3), np.zeros(3, "float16")]
    backup.save({"wait": 2, "best": 0.5}, weights, weights_epoch=4)
    state, loaded = StoppingBackup(tmp_path, "run.1", owner=backup.owner).load()
    assert state == {"wait": 2, "best": 0.5}
    assert [w.dtype for w in loaded] == [np.float32, np.float16]
    for a, b in zip(loaded, weights):
        np.testing.assert_array_equal(a, b)
    backup.save({"wait": 3, "best": 0.5}, None)
    assert StoppingBackup(tmp_path, "run.1", owner=backup.owner).load() == ({"wait": 3, "best": 0.5}, None)
    backup.delete()
    assert files(tmp_path) == []
