"""Records the learning curves the early-stopping benchmark replays: `python -m benchmarks.record_curves`.

Trains 64 small networks for 200 epochs each on scikit-learn's bundled data sets (digits, breast_cancer and wine
classification, diabetes regression), varying the width, depth, optimizer, learning rate, dropout, training-set size,
batch size and seed, and stores every per-epoch `loss`, `val_loss`, `accuracy`, `val_accuracy` (`mae`, `val_mae` for
the regression) in `benchmarks/data/early_stopping_curves.json` (about 0.45 MB). The trainings use Keras on JAX with a
jit-compiled step and `steps_per_execution` covering a whole epoch, so the whole recording takes a few minutes on two
CPU cores. Nothing is downloaded.

The configurations are drawn from a fixed table plus a seeded generator, so rerunning the script reproduces the same
set of runs (the curves themselves match up to floating-point nondeterminism of the backend).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

DATA_PATH = pathlib.Path(__file__).parent / "data" / "early_stopping_curves.json"
EPOCHS = 200
RUNS_PER_DATASET = 16
DATASETS = ("digits", "breast_cancer", "wine", "diabetes")
OPTIMIZERS = {
    # name: (learning-rate range, log-uniform)
    "adam": (1e-4, 1e-2),
    "sgd": (3e-3, 1e-1),
    "rmsprop": (1e-4, 3e-3),
}


def load_dataset(name, train_fraction, seed):
    """Standardized train/validation split of a bundled scikit-learn data set."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }[name]
    x, y = loader(return_X_y=True)
    x = x.astype("float32")
    regression = name == "diabetes"
    stratify = None if regression else y
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, train_size=train_fraction, random_state=seed, stratify=stratify
    )
    mean, std = x_train.mean(0), x_train.std(0)
    std = np.where(std > 1e-3, std, 1.0)
    x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
    if regression:
        y_mean, y_std = y_train.mean(), y_train.std()
        y_train = ((y_train - y_mean) / y_std).astype("float32")[:, None]
        y_val = ((y_val - y_mean) / y_std).astype("float32")[:, None]
    else:
        y_train, y_val = y_train.astype("int32"), y_val.astype("int32")
    return x_train, y_train, x_val, y_val, regression


def configurations(runs_per_dataset=RUNS_PER_DATASET, seed=0):
    """The run table: one dict per training, varied over widths, optimizers, learning rates, dropout and seeds."""
    rng = np.random.default_rng(seed)
    configs = []
    for dataset in DATASETS:
        for i in range(runs_per_dataset):
            optimizer = ("adam", "sgd", "rmsprop")[i % 3]
            low, high = OPTIMIZERS[optimizer]
            configs.append(
                {
                    "dataset": dataset,
                    "optimizer": optimizer,
                    "learning_rate": float(np.exp(rng.uniform(np.log(low), np.log(high)))),
                    "width": int(rng.choice([16, 64, 256])),
                    "depth": int(rng.choice([1, 2])),
                    "dropout": float(rng.choice([0.0, 0.0, 0.2, 0.5])),
                    "train_fraction": float(rng.choice([0.3, 0.5, 0.7])),
                    "batch_size": int(rng.choice([16, 32, 64])),
                    "seed": int(rng.integers(0, 2**31 - 1)),
                }
            )
    return configs


def record_one(config, epochs=EPOCHS):
    """Trains one network and returns its per-epoch history (lists of floats)."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(config["seed"])
    x_train, y_train, x_val, y_val, regression = load_dataset(
        config["dataset"], config["train_fraction"], config["seed"]
    )
    layers = [keras.Input((x_train.shape[1],))]
    for _ in range(config["depth"]):
        layers.append(keras.layers.Dense(config["width"], activation="relu"))
        if config["dropout"]:
            layers.append(keras.layers.Dropout(config["dropout"]))
    if regression:
        layers.append(keras.layers.Dense(1))
        loss, metrics = "mse", ["mae"]
    else:
        layers.append(keras.layers.Dense(int(y_train.max()) + 1))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = ["accuracy"]
    model = keras.Sequential(layers)
    optimizer = {
        "adam": lambda lr: keras.optimizers.Adam(lr),
        "sgd": lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
        "rmsprop": lambda lr: keras.optimizers.RMSprop(lr),
    }[config["optimizer"]](config["learning_rate"])
    steps = -(-len(x_train) // config["batch_size"])
    model.compile(optimizer, loss, metrics=metrics, jit_compile=True, steps_per_execution=steps)
    history = model.fit(
        x_train,
        y_train,
        batch_size=config["batch_size"],
        epochs=epochs,
        validation_data=(x_val, y_val),
        verbose=0,
    )
    return {k: [float(f"{v:.6g}") for v in values] for k, values in history.history.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-per-dataset", type=int, default=RUNS_PER_DATASET)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=pathlib.Path, default=DATA_PATH)
    args = parser.parse_args(argv)
    import keras

    curves = []
    start = time.perf_counter()
    for i, config in enumerate(configurations(args.runs_per_dataset)):
        tic = time.perf_counter()
        history = record_one(config, args.epochs)
        curves.append({"config": config, "history": history})
        print(
            f"[{i + 1:2d}] {config['dataset']:13s} {config['optimizer']:7s} lr={config['learning_rate']:.2g} "
            f"width={config['width']} depth={config['depth']} dropout={config['dropout']} "
            f"best val_loss={min(history['val_loss']):.4g} at epoch {int(np.argmin(history['val_loss'])) + 1} "
            f"({time.perf_counter() - tic:.1f} s)",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "description": "Per-epoch Keras histories replayed by benchmarks/bench_early_stopping.py",
        "generator": "python -m benchmarks.record_curves",
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "epochs": args.epochs,
        "curves": curves,
    }
    args.out.write_text(json.dumps(payload, separators=(",", ":")))
    print(f"{len(curves)} curves written to {args.out} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
