"""Pruning in `kreg.tuning.search`: trial-epochs saved by a pruner vs the same seeded search without pruning.

Each search (a data set and a search seed) runs once without pruning, with an over-parameterized MLP (two hidden
layers of 512, full batch, adaptive early stopping). Under `RandomSearch` with a fixed seed the sampled strengths do
not depend on the scores, and a pruner only stops a trial that would otherwise have run on unchanged, so what a
pruner does to that search is exactly its replay on the recorded curves (`kreg.tuning.pruning.replay`): the same
trials in the same order, each one seeing the earlier trials' curves (cut where they were pruned). Every pruner is
replayed on every search; one pruner is also run for real on the first search (`LIVE`) to check the replay against
an actual pruned search. "Equal best" means the unpruned search's best trial is not pruned (the best val data loss
is then the same with and without pruning).

Seeded trials are close but not always bit-identical between two processes on a loaded machine (XLA CPU thread
scheduling), and adaptive early stopping can amplify a tiny difference: compare the best values of the live run, not
only the trial ids.

    python -m benchmarks tuning
    python -m benchmarks.bench_tuning --keep runs/bench_tuning  # keeps the searches (trial records included)

With `--keep`, a second run with the same directory resumes the finished searches instead of running them again
(keras-tuner's `overwrite=False`): the replays of new rules then take seconds.

Reference: Akiba et al. 2019, "Optuna" (median, percentile and patient pruners); Li et al. 2020, "A system for
massively parallel hyperparameter tuning" (successive halving).
"""

import argparse
import os
import tempfile
import time

import keras
import numpy as np
from scipy.stats import spearmanr
from sklearn.datasets import load_breast_cancer, load_digits

from kreg.tuning import SearchSpace, search
from kreg.tuning.pruning import MedianPruner, PatientPruner, PercentilePruner, SuccessiveHalvingPruner, replay
from kreg.tuning.store import TrialStore

TRIALS = 16
EPOCHS = 60
#: (data set, search seed): the benchmark's search, two other seeds, another data set. Seeds far apart: keras-tuner's
#: oracle draws each value with a seed it increments per draw, so nearby search seeds overlap (trial k of seed 1 is
#: trial k + 1 of seed 0 for 13 of its 15 trials, measured).
SEARCHES = (("digits", 0), ("digits", 50), ("digits", 100), ("breast_cancer", 0))
MONITOR = "val_data_loss"


def pruners():
    """The rules compared, by name."""
    return {
        "median, default (warm-up 2)": MedianPruner(),
        "median, warm-up 10": MedianPruner(n_startup_trials=5, n_warmup_epochs=10),
        "median, warm-up 20": MedianPruner(n_startup_trials=5, n_warmup_epochs=20),
        "percentile 75, warm-up 10": PercentilePruner(75.0, n_startup_trials=5, n_warmup_epochs=10),
        "percentile 90, warm-up 10, 5 at epoch": PercentilePruner(
            90.0, n_startup_trials=5, n_warmup_epochs=10, min_trials_at_epoch=5
        ),
        "median, warm-up 10, patience 5": PatientPruner(MedianPruner(n_startup_trials=5, n_warmup_epochs=10), 5),
        "successive halving, default (1, 3)": SuccessiveHalvingPruner(),
        "successive halving (4, 2)": SuccessiveHalvingPruner(min_epochs=4, reduction_factor=2),
    }


#: The pruner also run for real on the first search, to check its replay.
LIVE = "percentile 90, warm-up 10, 5 at epoch"
#: The epoch at which the rank correlation of the trials' best value so far with their final best is reported.
RANK_EPOCH = 10


def rank_correlation(records, epoch=RANK_EPOCH):
    """Spearman's rank correlation, over the trials, of the best value by `epoch` with the final best: how well a
    ranking at that epoch (what every pruner here uses) predicts the final ranking."""
    columns = [[v for v in r["history"][MONITOR] if v is not None] for r in records]
    return float(spearmanr([min(c[: epoch + 1]) for c in columns], [min(c) for c in columns])[0])


def _data(name):
    order_seed = 0
    if name == "digits":
        x, y = load_digits(return_X_y=True)
        x = x / 16.0
    else:
        x, y = load_breast_cancer(return_X_y=True)
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    x, y = x.astype("float32"), y.astype("int32")
    order = np.random.default_rng(order_seed).permutation(len(x))
    # 150 training examples: small enough that regularization matters; validation disjoint from them.
    return x[order[:150]], y[order[:150]], x[order[300:900]], y[order[300:900]]


def _builder(features, classes):
    def build(reg):
        model = keras.Sequential(
            [
                keras.Input((features,)),
                reg.dense(512, activation="relu"),
                reg.dropout(),
                reg.dense(512, activation="relu"),
                reg.dropout(),
                keras.layers.Dense(classes, activation="softmax"),
            ]
        )
        model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build


def _search(dataset, seed, prune, directory):
    x, y, xv, yv = _data(dataset)
    start = time.perf_counter()
    results = search(
        _builder(x.shape[1], int(y.max()) + 1),
        x,
        y,
        validation_data=(xv, yv),
        space=SearchSpace(penalty=("none", "l2", "l1"), l2=(1e-5, 1e-1), l1=(1e-6, 1e-2), dropout=(0.0, 0.6)),
        max_trials=TRIALS,
        epochs=EPOCHS,
        batch_size=150,  # full batch: little run-to-run noise
        directory=directory,
        project_name="search",
        seed=seed,
        prune=prune,
        report=False,
    )
    return results, time.perf_counter() - start


def _best(results):
    return results.best_trial_id, results.best_row["best_val"]


def run(keep=None):
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = keep or scratch
        for index, (dataset, seed) in enumerate(SEARCHES):
            name = f"{dataset} seed {seed}"
            project = os.path.join(root, f"{dataset}_seed{seed}")
            plain, seconds = _search(dataset, seed, False, os.path.join(project, "plain"))
            records = TrialStore(os.path.join(project, "plain", "search", "kreg")).records()
            plain_epochs = sum(row["epochs"] for row in plain.rows)
            best_id, best_val = _best(plain)
            rows.append(
                {
                    "search": name,
                    "pruner": "none",
                    "trial-epochs": plain_epochs,
                    "saved": "",
                    "pruned trials": 0,
                    "best trial": best_id,
                    "best val_data_loss": best_val,
                    "unpruned best kept": "",
                    f"rank corr. epoch {RANK_EPOCH}": rank_correlation(records),
                    "seconds": seconds,
                }
            )
            for label, pruner in pruners().items():
                outcome = replay(pruner, records, MONITOR, "min")
                rows.append(
                    {
                        "search": name,
                        "pruner": label,
                        "trial-epochs": outcome["trial_epochs"],
                        "saved": f"{1 - outcome['trial_epochs'] / plain_epochs:.1%}",
                        "pruned trials": len(outcome["pruned_at"]),
                        "best trial": outcome["best_trial_id"],
                        "best val_data_loss": outcome["best_value"],
                        "unpruned best kept": best_id not in outcome["pruned_at"],
                        "seconds": "",
                    }
                )
            if index == 0:
                live, seconds = _search(dataset, seed, pruners()[LIVE], os.path.join(project, "live"))
                live_epochs = sum(row["epochs"] for row in live.rows)
                live_id, live_val = _best(live)
                pruned = [row["trial_id"] for row in live.rows if row["status"] == "pruned"]
                rows.append(
                    {
                        "search": name,
                        "pruner": f"{LIVE} (live run)",
                        "trial-epochs": live_epochs,
                        "saved": f"{1 - live_epochs / plain_epochs:.1%}",
                        "pruned trials": len(pruned),
                        "best trial": live_id,
                        "best val_data_loss": live_val,
                        "unpruned best kept": best_id not in pruned,
                        "seconds": seconds,
                    }
                )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="directory where the searches are kept (default: a temporary one)")
    for row in run(parser.parse_args().keep):
        print(row)
