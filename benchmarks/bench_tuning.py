"""Pruning in `kreg.tuning.search`: trial-epochs saved by the median rule vs the same seeded search without pruning.

The same seeded random search (same sampled strengths, each trial seeded by its number) runs twice on digits with an over-parameterized MLP: once with
`prune=False`, once with the median rule. Reported: trial-epochs each way, the fraction saved, and the best
validation loss (without penalties) each way, which is equal when the best trial was not pruned. Seeded trials are
close but not always bit-identical between two processes on a loaded machine (XLA CPU thread scheduling), and
adaptive early stopping can amplify a tiny difference, so compare the best values, not only the trial ids.
Warm-up of 10 epochs: regularized trials (dropout) learn more slowly in their first epochs and a shorter warm-up
prunes some of the best ones (measured on the recorded curves of a search without pruning).

    python -m benchmarks tuning
"""

import tempfile
import time

import keras
import numpy as np
from sklearn.datasets import load_digits

from kreg.tuning import MedianPruner, SearchSpace, search

TRIALS = 16
EPOCHS = 60
SEED = 0


def _data():
    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype("float32"), y.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    return x[order[:150]], y[order[:150]], x[order[300:900]], y[order[300:900]]


def _build(reg):
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


def _search(prune, directory):
    x, y, xv, yv = _data()
    start = time.perf_counter()
    results = search(
        _build,
        x,
        y,
        validation_data=(xv, yv),
        space=SearchSpace(penalty=("none", "l2", "l1"), l2=(1e-5, 1e-1), l1=(1e-6, 1e-2), dropout=(0.0, 0.6)),
        max_trials=TRIALS,
        epochs=EPOCHS,
        batch_size=150,  # full batch: little run-to-run noise
        directory=directory,
        seed=SEED,
        prune=prune,
        report=False,
    )
    return results, time.perf_counter() - start


def run():
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        plain, plain_time = _search(False, f"{directory}/plain")
        pruned, pruned_time = _search(MedianPruner(n_startup_trials=5, n_warmup_epochs=10), f"{directory}/pruned")
    plain_epochs = sum(row["epochs"] for row in plain.rows)
    pruned_epochs = sum(row["epochs"] for row in pruned.rows)
    for name, results, epochs, seconds in (
        ("no pruning", plain, plain_epochs, plain_time),
        ("median pruning", pruned, pruned_epochs, pruned_time),
    ):
        rows.append(
            {
                "search": name,
                "trials": len(results.rows),
                "pruned trials": sum(row["status"] == "pruned" for row in results.rows),
                "trial-epochs": epochs,
                "epochs saved": f"{1 - epochs / plain_epochs:.1%}",
                "best trial": results.best_trial_id,
                "best val_data_loss": results.best_row["best_val"],
                "seconds": seconds,
            }
        )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
