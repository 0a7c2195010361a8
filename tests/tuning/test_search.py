"""Tests of `kreg.tuning.search`: the search beats the unregularized model on digits, bad input fails before any
trial, a search killed with SIGKILL resumes without losing or repeating finished trials, pruned trials are recorded."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import kreg
from kreg.tuning import SearchSpace, search

ROOT = pathlib.Path(__file__).resolve().parents[2]


def digits_split():
    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype("float32"), y.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    train, val = order[:150], order[300:900]
    return x[train], y[train], x[val], y[val]


def overparameterized_mlp(reg):
    model = keras.Sequential(
        [
            keras.Input((64,)),
            reg.dense(512, activation="relu"),
            reg.dropout(),
            reg.dense(512, activation="relu"),
            reg.dropout(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.slow
def test_search_beats_unregularized_model_on_digits(tmp_path):
    x, y, xv, yv = digits_split()
    # Full-batch Adam: the unregularized MLP overfits its 150 samples after about 12 steps, with little run-to-run
    # noise (0.280 and 0.281 for two seeds on JAX), while an L2 strength near 3e-3 or a dropout rate near 0.5 reaches
    # 0.24-0.26.
    space = SearchSpace(penalty=("none", "l2"), l2=(1e-5, 1e-1), dropout=(0.0, 0.6))
    results = search(
        overparameterized_mlp,
        x,
        y,
        validation_data=(xv, yv),
        space=space,
        max_trials=6,
        epochs=60,
        batch_size=150,
        directory=tmp_path,
        seed=0,
        report=False,
    )

    # The unregularized model, trained the same way (same early stopping, best weights restored).
    keras.utils.set_random_seed(0)
    baseline = overparameterized_mlp(space.regularization())
    baseline.fit(
        x,
        y,
        validation_data=(xv, yv),
        epochs=60,
        batch_size=150,
        verbose=0,
        callbacks=[kreg.callbacks.AdaptiveEarlyStopping()],
    )
    baseline_loss = baseline.evaluate(xv, yv, verbose=0)[0]

    assert len(results.rows) == 6
    assert results.best_row["best_val"] < baseline_loss, (results.table(), baseline_loss)
    # The best model builder rebuilds the best strengths.
    rebuilt = results.build_best()
    assert isinstance(rebuilt, keras.Model)
    columns = {
        "trial_id",
        "best_val",
        "best_epoch",
        "val_accuracy",
        "gap",
        "sparsity",
        "params_kept",
        "epochs",
        "status",
    }
    assert all(columns | {"pareto", "penalty", "dropout"} <= set(row) for row in results.rows)
    assert "best val_data_loss" in results.table().splitlines()[0]


def tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    return x, y


def tiny_model(reg):
    model = keras.Sequential([keras.Input((8,)), reg.dense(8, activation="relu"), reg.dropout(), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


def test_pruned_trials_are_recorded_as_pruned(tmp_path):
    x, y = tiny_problem()
    results = search(
        tiny_model,
        x,
        y,
        validation_data=(x, y),
        space=SearchSpace(penalty=("l2",), l2=(1e-4, 10.0)),
        max_trials=6,
        epochs=6,
        directory=tmp_path,
        seed=3,
        report=False,
        early_stopping=False,
        prune=kreg.tuning.MedianPruner(n_startup_trials=2, n_warmup_epochs=1),
    )
    statuses = [row["status"] for row in results.rows]
    assert statuses[:2] == ["completed", "completed"] and "pruned" in statuses
    for row in results.rows:
        assert row["epochs"] == (6 if row["status"] == "completed" else row["epochs"])
        if row["status"] == "pruned":
            assert row["epochs"] < 6
    # keras-tuner saw every trial as finished (not failed), with the value it reached.
    oracle_trials = results.tuner.oracle.trials
    assert sorted(t.status for t in oracle_trials.values()) == ["COMPLETED"] * 6


def ignores_reg(reg):
    return tiny_model(SearchSpace().regularization())


def reads_but_drops(reg):
    reg.kernel_regularizer, reg.dropout_rate  # noqa: B018 - read, then not used
    return tiny_model(SearchSpace().regularization())


@pytest.mark.parametrize(
    "build_fn, kwargs, message",
    [
        (ignores_reg, {}, "The `build_fn` passed to `RegularizationHyperModel` ignores its `reg` argument"),
        (reads_but_drops, {}, "holds it on no layer"),
        (
            tiny_model,
            {"tuner": "grid"},
            "Invalid value received for argument `tuner`. Expected one of 'random', "
            "'bayesian', 'hyperband'. Received: tuner='grid'",
        ),
        (tiny_model, {"max_trials": 0}, "Received: max_trials=0"),
        (tiny_model, {"validation_data": None}, "Invalid value received for argument `validation_data`"),
        (tiny_model, {"prune": "asha"}, "Invalid value received for argument `prune`"),
        (tiny_model, {"early_stopping": {"patience": -1}}, "patience"),
    ],
)
def test_bad_input_fails_before_any_trial(tmp_path, build_fn, kwargs, message):
    x, y = tiny_problem()
    arguments = {"validation_data": (x, y), "max_trials": 2, "epochs": 1, "directory": tmp_path, **kwargs}
    with pytest.raises(ValueError) as error:
        search(build_fn, x, y, **arguments)
    assert message in str(error.value)
    assert not list(tmp_path.rglob("trial.json"))  # no trial ran


WORKER = """
import sys, time
import keras, numpy as np
sys.path.insert(0, {root!r})
from kreg.tuning import SearchSpace, search

class Slow(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep({sleep})

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8)).astype("float32")
y = (x[:, :1] > 0).astype("float32")

def build(reg):
    model = keras.Sequential([keras.Input((8,)), reg.dense(8, activation="relu"), reg.dropout(), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model

results = search(build, x, y, validation_data=(x, y), space=SearchSpace(penalty=("l2",)), max_trials=4, epochs=4,
                 directory={directory!r}, seed=0, prune=False, early_stopping=False, report=False,
                 fit_kwargs={{"callbacks": [Slow()]}})
print("DONE", [(r["trial_id"], r["status"]) for r in results.rows])
"""


def run_worker(tmp_path, sleep):
    script = tmp_path / f"worker_{sleep}.py"
    script.write_text(WORKER.format(root=str(ROOT), sleep=sleep, directory=str(tmp_path / "runs")))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )


def statuses(store_dir):
    found = {}
    for path in store_dir.glob("trial_*.json"):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found[record["trial_id"]] = (record["status"], len(record["epochs"]))
    return found


@pytest.mark.slow
def test_resume_after_sigkill_keeps_finished_trials(tmp_path):
    store_dir = tmp_path / "runs" / "search" / "kreg"
    process = run_worker(tmp_path, sleep=0.4)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = statuses(store_dir)
            done = [t for t, (s, _) in found.items() if s == "completed"]
            running = [t for t, (s, n) in found.items() if s == "running" and n >= 1]
            if len(done) >= 2 and running:
                break
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.05)
        else:
            pytest.fail("the search did not reach its third trial in time")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    killed_in = running[0]
    finished = {t: (store_dir / f"trial_{t}.json").read_bytes() for t in done}
    assert statuses(store_dir)[killed_in][0] == "running"

    process = run_worker(tmp_path, sleep=0.0)
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    final = statuses(store_dir)
    assert sorted(final) == ["0", "1", "2", "3"]
    assert all(status == ("completed", 4) for status in final.values()), final
    # Finished trials were neither lost nor run again: their records are byte for byte the same.
    for trial_id, content in finished.items():
        assert (store_dir / f"trial_{trial_id}.json").read_bytes() == content
    trials = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "search").glob("trial_*/trial.json")]
    assert sorted(t["status"] for t in trials) == ["COMPLETED"] * 4


WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None  # every `import tensorflow` now fails, as if it were not installed
sys.path.insert(0, {root!r})
import keras_tuner, numpy as np, keras
from kreg.tuning import SearchSpace, search
x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
def build(reg):
    model = keras.Sequential([keras.Input((4,)), reg.dense(4), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model
results = search(build, x, x[:, :1], validation_data=(x, x[:, :1]), space=SearchSpace(penalty=("l2", "l1"), dropout=None),
                 max_trials=2, epochs=2, directory={directory!r}, seed=0)
assert [row["status"] for row in results.rows] == ["completed", "completed"], results.rows
print("OK", keras.backend.backend())
"""


def test_search_runs_under_jax_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    script = tmp_path / "no_tf.py"
    script.write_text(WITHOUT_TENSORFLOW.format(root=str(ROOT), directory=str(tmp_path / "runs")))
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK jax" in done.stdout
    # The per-trial regularization report was written, without TensorFlow.
    assert list((tmp_path / "runs" / "search" / "logs").glob("trial_*/regularization/events.out.tfevents.*"))


@pytest.mark.parametrize("seed", [0, 5])
def test_a_seed_of_zero_seeds_the_oracle_too(tmp_path, seed):
    """keras-tuner treats an oracle seed of 0 as no seed (a random one per process): kreg must not pass it 0."""
    from kreg.tuning.hypermodel import RegularizationHyperModel
    from kreg.tuning.search import make_tuner

    space = SearchSpace(penalty=("none", "l2"), l2=(1e-5, 1e-1), dropout=(0.0, 0.5))
    seeds = {
        make_tuner(RegularizationHyperModel(tiny_model, space), directory=tmp_path / str(i), seed=seed).oracle.seed
        for i in range(3)
    }
    assert seeds == {seed + 1}
