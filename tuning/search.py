"""Searches regularization strengths of an over-parameterized MLP on a bundled scikit-learn data set (offline).

    python tuning/search.py --dataset digits --tuner hyperband --max-trials 20 --out runs/tuning
    python tuning/search.py --config tuning/example_config.json

Prints keras-tuner's progress, the results table (strengths, best validation loss without penalties, generalization
gap, weight sparsity, epochs, pruned or not, Pareto front of validation accuracy vs sparsity), the path of the Pareto
PNG and the command that opens TensorBoard (per-trial regularization reports and the HParams dashboard).
A search interrupted (Ctrl-C, a killed process) continues where it stopped when run again with the same `--out`
(pass `--overwrite` to start again).
"""

import argparse
import json
import os
import pathlib
import sys

# Runnable from a checkout without installing kreg.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kreg.tuning  # noqa: E402

#: Bundled scikit-learn data sets: loader name and task.
DATASETS = {
    "digits": ("load_digits", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}

DEFAULTS = {
    "dataset": "digits",
    "tuner": "random",
    "max_trials": 20,
    "epochs": 60,
    "out": "runs/tuning",
    "project": None,
    "seed": 0,
    "units": 512,
    "train_fraction": 0.5,
    "batch_size": 32,
    "penalty": ["none", "l2", "l1", "elastic_net"],
    "l2": [1e-6, 1e-1],
    "l1": [1e-6, 1e-2],
    "constraint": ["none"],
    "dropout": [0.0, 0.5],
    "noise": None,
    "prune": "median",
    "overwrite": False,
    "verbose": 1,
}


def load(name, train_fraction, seed):
    """Standardized features and a train/validation split of a bundled data set."""
    if name not in DATASETS:
        raise ValueError(
            f"Invalid value received for argument `dataset`. Expected one of "
            f"{', '.join(repr(d) for d in DATASETS)}. Received: dataset={name!r}"
        )
    import sklearn.datasets
    from sklearn.preprocessing import StandardScaler

    loader, task = DATASETS[name]
    x, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(x))
    split = max(1, int(train_fraction * len(x)))
    train, val = order[:split], order[split:]
    scaler = StandardScaler().fit(x[train])
    x = scaler.transform(x).astype("float32")
    if task == "regression":
        y = ((y - y[train].mean()) / y[train].std()).astype("float32")
    else:
        y = y.astype("int32")
    return (x[train], y[train]), (x[val], y[val]), task, (int(y.max()) + 1 if task == "classification" else 1)


def model_builder(n_features, n_outputs, task, units):
    """`build_fn(reg)`: an over-parameterized two-layer MLP using every sampled technique."""

    def build(reg):
        layers = [keras.Input((n_features,))]
        if reg.noise_stddev or "noise" in reg.values:
            layers.append(reg.noise())
        layers += [
            reg.dense(units, activation="relu"),
            reg.dropout(),
            reg.dense(units, activation="relu"),
            reg.dropout(),
        ]
        if task == "classification":
            layers.append(keras.layers.Dense(n_outputs, activation="softmax"))
            loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
        else:
            layers.append(keras.layers.Dense(1))
            loss, metrics = "mse", ["mae"]
        model = keras.Sequential(layers)
        model.compile(keras.optimizers.Adam(1e-3), loss, metrics=metrics)
        return model

    return build


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="a JSON file of settings (keys as the options below, with underscores)")
    parser.add_argument("--dataset", choices=None, help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--tuner", help="random, bayesian or hyperband")
    parser.add_argument("--max-trials", type=int, dest="max_trials")
    parser.add_argument("--epochs", type=int, help="epochs per trial (Hyperband's max_epochs)")
    parser.add_argument("--out", help="directory of the search (keras-tuner files, kreg records, TensorBoard logs)")
    parser.add_argument("--project", help="project name (default: <dataset>_<tuner>)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--units", type=int, help="hidden units of each of the two layers")
    parser.add_argument("--batch-size", type=int, dest="batch_size")
    parser.add_argument("--prune", help="median, successive_halving or none")
    parser.add_argument("--overwrite", action="store_true", default=None, help="start again instead of resuming")
    parser.add_argument("--quiet", action="store_true", help="no per-trial progress")
    args = parser.parse_args(argv)
    settings = dict(DEFAULTS)
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            loaded = json.load(handle)
        unknown = sorted(set(loaded) - set(DEFAULTS))
        if unknown:
            raise ValueError(f"Unknown settings in {args.config}: {unknown}. Known: {sorted(DEFAULTS)}")
        settings.update(loaded)
    for key, value in vars(args).items():
        if key not in ("config", "quiet") and value is not None:
            settings[key] = value
    if args.quiet:
        settings["verbose"] = 0
    return settings


def main(argv=None):
    settings = parse(sys.argv[1:] if argv is None else argv)
    (x, y), (xv, yv), task, n_outputs = load(settings["dataset"], settings["train_fraction"], settings["seed"])
    space = kreg.tuning.SearchSpace(
        penalty=tuple(settings["penalty"]),
        l2=settings["l2"] and tuple(settings["l2"]),
        l1=settings["l1"] and tuple(settings["l1"]),
        constraint=tuple(settings["constraint"]),
        dropout=settings["dropout"] and tuple(settings["dropout"]),
        noise=settings["noise"] and tuple(settings["noise"]),
    )
    project = settings["project"] or f"{settings['dataset']}_{settings['tuner']}"
    prune = None if settings["prune"] in (None, "none", False) else settings["prune"]
    print(
        f"Searching {settings['tuner']} over {settings['max_trials']} trials on {settings['dataset']} "
        f"({len(x)} train / {len(xv)} validation samples), backend {keras.backend.backend()}."
    )
    results = kreg.tuning.search(
        model_builder(x.shape[1], n_outputs, task, settings["units"]),
        x,
        y,
        validation_data=(xv, yv),
        space=space,
        tuner=settings["tuner"],
        max_trials=settings["max_trials"],
        epochs=settings["epochs"],
        directory=settings["out"],
        project_name=project,
        overwrite=bool(settings["overwrite"]),
        prune=prune,
        seed=settings["seed"],
        batch_size=settings["batch_size"],
        verbose=settings["verbose"],
    )
    print()
    print(results.table())
    print(f"\nBest trial {results.best_trial_id}: {results.best_values}")
    project_dir = os.path.join(settings["out"], project)
    try:
        png = results.save_pareto_png(os.path.join(project_dir, "pareto.png"))
        print(f"Pareto front (validation accuracy vs weight sparsity): {png}")
    except ImportError:
        print("Pareto front PNG skipped: matplotlib is not installed (pip install matplotlib).")
    print(f"TensorBoard: tensorboard --logdir {results.logdir}")
    return results


if __name__ == "__main__":
    main()
