"""Tests of `kreg.tuning.store`: atomic per-trial records and the recorder callback."""

import json
import os

import keras
import numpy as np
import pytest

from kreg.tuning.store import TrialRecorder, TrialStore


def test_write_read_and_list(tmp_path):
    store = TrialStore(tmp_path / "kreg")
    assert store.records() == [] and store.read("0") is None
    store.write("1", {"status": "completed", "values": {"l2": np.float32(0.5)}, "x": float("nan")})
    store.write("0", {"status": "running"})
    assert [r["trial_id"] for r in store.records()] == ["0", "1"]
    assert [r["trial_id"] for r in store.records(statuses=("completed",))] == ["1"]
    assert store.read("1") == {"status": "completed", "values": {"l2": 0.5}, "x": None, "trial_id": "1"}
    assert sorted(os.listdir(tmp_path / "kreg")) == ["trial_0.json", "trial_1.json"]  # no temporary file left
    with pytest.raises(ValueError, match="Invalid value received for argument `directory`"):
        TrialStore("")


def test_recorder_writes_each_epoch_and_adds_data_loss(tmp_path):
    store = TrialStore(tmp_path)
    x = np.ones((8, 2), "float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(
        x, x[:, :1], validation_data=(x, x[:, :1]), epochs=3, verbose=0, callbacks=[TrialRecorder(store, "4", {"a": 1})]
    )
    saved = json.loads((tmp_path / "trial_4.json").read_text())
    assert saved["status"] == "running" and saved["epochs"] == [0, 1, 2] and saved["values"] == {"a": 1}
    np.testing.assert_allclose(saved["history"]["val_data_loss"], history.history["val_loss"], rtol=1e-6)
    assert history.history["val_data_loss"] == history.history["val_loss"]  # seen by the History callback too
