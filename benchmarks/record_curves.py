"""Records the learning curves the early-stopping benchmark replays: `python -m benchmarks.record_curves [--v2]`.

v1 (no flag): trains 64 small networks for 200 epochs each on scikit-learn's bundled data sets (digits,
breast_cancer and wine classification, diabetes regression), varying the width, depth, optimizer, learning rate,
dropout, training-set size, batch size and seed, and stores every per-epoch `loss`, `val_loss`, `accuracy`,
`val_accuracy` (`mae`, `val_mae` for the regression) in `benchmarks/data/early_stopping_curves.json` (about
0.45 MB). The trainings use Keras on JAX with a jit-compiled step and `steps_per_execution` covering a whole epoch.

v2 (`--v2`, issue 13): about 250 runs of 150-300 epochs over families (data set, model kind, optimizer family):
bundled digits, breast_cancer, wine, diabetes, generated (`make_classification`/`make_regression`, never downloaded)
tables and two generated sequence tasks; MLPs, 1D/2D CNNs on the 8x8 digits, a 1D CNN, GRU and SimpleRNN on the
sequences; Adam, plain SGD, SGD with momentum (and Nesterov), RMSprop; constant, cosine, exponential and step
learning-rate schedules; label noise, dropout, kreg L1/L2 on and off; batch sizes 16 to full batch; seeded draws,
with deliberately too-high learning rates for some runs (divergers). Each run is one compiled JAX program driving
the Keras model and optimizer through their stateless APIs (`_fused_fit`). Curves are appended one by one to
`benchmarks/data/curves_v2.jsonl.gz` (values rounded to 4 significant digits), so a killed recording resumes where
it stopped, and `--shard i/n` splits the work over processes. `is_design_family` is the design/held-out split.
`--batch fresh` labels the records written by a recording (`record["batch"]`) and `--new-first` records unseen
configurations before missing seed replicas: the "fresh" curves of issue 13 were recorded that way, after the
candidate rules were designed (`benchmarks/bench_early_stopping.py` reports them as their own group).

Nothing is downloaded. The configurations are drawn from a fixed table plus a seeded generator, so rerunning the
script reproduces the same set of runs (the curves themselves match up to floating-point nondeterminism).
"""

import argparse
import json
import os
import pathlib
import time

import numpy as np

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


# ---------------------------------------------------------------------------------------------------- curve set v2
#
# Issue 13: a broader set of >= 200 curves over families (data set, model kind, optimizer family), recorded into
# `benchmarks/data/curves_v2.jsonl.gz`: one gzip member per curve, appended as each run finishes, so a killed
# recording resumes where it stopped (`python -m benchmarks.record_curves --v2`). Values are rounded to 4
# significant digits (NaN/inf kept for diverged runs). The split into design and held-out families is
# `is_design_family` below (also used by `benchmarks/bench_early_stopping.py`).

V2_PATH = pathlib.Path(__file__).parent / "data" / "curves_v2.jsonl.gz"
V2_OPTIMIZERS = {
    # optimizer family: (learning-rate range, log-uniform)
    "adam": (2e-4, 1e-2),
    "sgd": (1e-2, 3e-1),  # plain SGD, no momentum
    "momentum": (3e-3, 1e-1),  # SGD with momentum 0.9 (Nesterov on every other run)
    "rmsprop": (1e-4, 3e-3),
}
# (data set, model kind): (runs per optimizer family, epochs to draw from)
V2_FAMILIES = {
    ("digits", "mlp"): (8, (150, 200, 300)),
    ("digits", "cnn2d"): (5, (150, 200)),
    ("digits", "cnn1d"): (4, (150, 200)),
    ("breast_cancer", "mlp"): (7, (150, 200, 300)),
    ("wine", "mlp"): (6, (150, 200, 300)),
    ("diabetes", "mlp"): (6, (150, 200, 300)),
    ("gen_classification", "mlp"): (6, (150, 200, 300)),
    ("gen_regression", "mlp"): (5, (150, 200, 300)),
    ("seq_frequency", "gru"): (3, (150, 200)),
    ("seq_frequency", "cnn1d"): (3, (150, 200)),
    ("seq_product", "rnn"): (3, (150, 200)),
}
V2_DESIGN_DATASETS = ("digits", "breast_cancer")
V2_DESIGN_OPTIMIZERS = ("adam", "sgd")
V2_DESIGN_MODELS = ("mlp", "cnn2d", "cnn1d")
REGRESSION_DATASETS = ("diabetes", "gen_regression", "seq_product")


def is_design_family(family):
    """Whether a v2 curve's family (dict with `dataset`, `model`, `optimizer`) is a design family.

    Design: digits and breast_cancer, MLPs and CNNs, Adam and plain SGD. Every other family (wine, diabetes, the
    generated tabular and sequence tasks, RNNs, RMSprop, SGD with momentum) is held out: rules are tuned on the
    design families only and reported on both.
    """
    return (
        family["dataset"] in V2_DESIGN_DATASETS
        and family["optimizer"] in V2_DESIGN_OPTIMIZERS
        and family["model"] in V2_DESIGN_MODELS
    )


def load_v2_dataset(name, train_fraction, seed, label_noise=0.0):
    """Train/validation arrays of a v2 data set: bundled scikit-learn data or a generated (never downloaded) task."""
    rng = np.random.default_rng(seed)
    if name in ("digits", "breast_cancer", "wine", "diabetes"):
        x_train, y_train, x_val, y_val, _ = load_dataset(name, train_fraction, seed)
    elif name in ("gen_classification", "gen_regression"):
        from sklearn import datasets
        from sklearn.model_selection import train_test_split

        n = int(rng.choice([400, 800, 1500]))
        if name == "gen_classification":
            x, y = datasets.make_classification(
                n_samples=n,
                n_features=int(rng.choice([20, 40])),
                n_informative=int(rng.choice([5, 10])),
                n_classes=int(rng.choice([2, 3, 4])),
                class_sep=float(rng.uniform(0.5, 1.5)),
                flip_y=0.02,
                random_state=seed % (2**31),
            )
            y = y.astype("int32")
        else:
            x, y = datasets.make_regression(
                n_samples=n,
                n_features=int(rng.choice([10, 30])),
                n_informative=int(rng.choice([5, 10])),
                noise=float(rng.choice([5.0, 20.0, 50.0])),
                random_state=seed % (2**31),
            )
            x = x + 0.5 * np.tanh(x[:, ::-1]) * x  # a mild nonlinearity
            y = y + 20.0 * np.sin(x[:, 0])
        x = x.astype("float32")
        x_train, x_val, y_train, y_val = train_test_split(x, y, train_size=train_fraction, random_state=seed)
        mean, std = x_train.mean(0), x_train.std(0) + 1e-6
        x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
        if name == "gen_regression":
            y_mean, y_std = y_train.mean(), y_train.std()
            y_train = ((y_train - y_mean) / y_std).astype("float32")[:, None]
            y_val = ((y_val - y_mean) / y_std).astype("float32")[:, None]
    else:
        n, steps = int(rng.choice([600, 1200])), 24
        t = np.arange(steps, dtype="float32")
        if name == "seq_frequency":
            # Which of 3 close frequencies a noisy, randomly phased sine wave has.
            y = rng.integers(0, 3, n).astype("int32")
            freq = np.array([0.15, 0.22, 0.3])[y][:, None]
            phase = rng.uniform(0, 2 * np.pi, (n, 1))
            signal = np.sin(2 * np.pi * freq * t + phase)
            x = np.stack([signal + rng.normal(0, 0.8, (n, steps)), rng.normal(0, 1, (n, steps))], -1)
        else:
            # seq_product: the sum over time of the product of two noisy channels (needs a memory and a product).
            x = rng.normal(0, 1, (n, steps, 2))
            y = (x[:, :, 0] * x[:, :, 1]).sum(1) / np.sqrt(steps) + rng.normal(0, 0.3, n)
            y = y.astype("float32")[:, None]
        x = x.astype("float32")
        cut = int(train_fraction * n)
        x_train, x_val, y_train, y_val = x[:cut], x[cut:], y[:cut], y[cut:]
    if label_noise and y_train.dtype.kind == "i":
        classes = int(max(y_train.max(), y_val.max())) + 1
        flip = rng.random(len(y_train)) < label_noise
        y_train = np.where(flip, rng.integers(0, classes, len(y_train)), y_train).astype("int32")
    return x_train, y_train, x_val, y_val


def v2_configurations(seed=13):
    """The v2 run table: every (data set, model) family with every optimizer family, hyperparameters drawn seeded.

    About 8 % of the runs get a learning rate 10-30x above the family's range (divergers), and the grid over
    train fraction, label noise, width, dropout and schedule yields slow improvers (plain SGD, low rates, decays),
    early overfitters (wide, no dropout, label noise, small training sets) and noisy curves (small validation sets).
    """
    rng = np.random.default_rng(seed)
    configs = []
    for (dataset, model), (runs, epoch_choices) in V2_FAMILIES.items():
        for optimizer, (low, high) in V2_OPTIMIZERS.items():
            design = is_design_family({"dataset": dataset, "model": model, "optimizer": optimizer})
            for i in range(runs + (runs // 2 if design else 0)):  # more design runs: rules are tuned on them
                lr = float(np.exp(rng.uniform(np.log(low), np.log(high))))
                diverger = bool(rng.random() < 0.08)
                if diverger:
                    lr *= float(rng.uniform(10, 30))
                regression = dataset in REGRESSION_DATASETS
                small_data = dataset in ("wine", "breast_cancer", "diabetes")
                configs.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "optimizer": optimizer,
                        "family": f"{dataset}/{model}/{optimizer}",
                        "learning_rate": lr,
                        "diverger": diverger,
                        "nesterov": bool(optimizer == "momentum" and i % 2 == 1),
                        "schedule": str(rng.choice(["constant", "constant", "cosine", "exponential", "step"])),
                        "epochs": int(rng.choice(epoch_choices)),
                        "width": int(rng.choice([16, 64, 256] if model == "mlp" else [8, 16, 32])),
                        "depth": int(rng.choice([1, 2, 3] if model == "mlp" else [1, 2])),
                        "dropout": float(rng.choice([0.0, 0.0, 0.2, 0.5])),
                        "regularizer": str(rng.choice(["none", "none", "l2", "l1"])),
                        "reg_strength": float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-2)))),
                        "label_noise": 0.0 if regression else float(rng.choice([0.0, 0.0, 0.1, 0.3])),
                        "train_fraction": float(rng.choice([0.3, 0.5, 0.7, 0.9] if small_data else [0.2, 0.5, 0.8])),
                        "batch_size": int(rng.choice([16, 32, 64, 128, 0])),  # 0: full batch
                        "seed": int(rng.integers(0, 2**31 - 1)),
                    }
                )
    order = rng.permutation(len(configs))  # interleave families, so a partial recording covers most of them
    return [dict(configs[k], id=int(k)) for k in order]


def _v2_model(config, x_train, classes, regression):
    import keras

    import kreg

    def reg():
        if config["regularizer"] == "l2":
            return kreg.regularizers.L2(config["reg_strength"])
        if config["regularizer"] == "l1":
            return kreg.regularizers.L1(config["reg_strength"])
        return None

    width, depth, dropout = config["width"], config["depth"], config["dropout"]
    model_kind = config["model"]
    inputs = keras.Input(x_train.shape[1:])
    h = inputs
    if model_kind == "cnn2d":
        h = keras.layers.Reshape((8, 8, 1))(h)
        for d in range(depth):
            h = keras.layers.Conv2D(width * 2**d, 3, padding="same", activation="relu", kernel_regularizer=reg())(h)
            h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
    elif model_kind == "cnn1d":
        if len(x_train.shape) == 2:  # digits: 8 rows of 8 pixels
            h = keras.layers.Reshape((8, 8))(h)
        for _ in range(depth):
            h = keras.layers.Conv1D(width, 3, padding="same", activation="relu", kernel_regularizer=reg())(h)
            h = keras.layers.MaxPooling1D(2)(h)
        h = keras.layers.Flatten()(h)
    elif model_kind in ("gru", "rnn"):
        layer = keras.layers.GRU if model_kind == "gru" else keras.layers.SimpleRNN
        for d in range(depth):
            h = layer(width, return_sequences=d < depth - 1, kernel_regularizer=reg())(h)
    else:
        for _ in range(depth):
            h = keras.layers.Dense(width, activation="relu", kernel_regularizer=reg())(h)
            if dropout:
                h = keras.layers.Dropout(dropout)(h)
    if dropout and model_kind != "mlp":
        h = keras.layers.Dropout(dropout)(h)
    outputs = keras.layers.Dense(1 if regression else classes, kernel_regularizer=reg())(h)
    return keras.Model(inputs, outputs)


def _v2_optimizer(config, steps_per_epoch):
    import keras

    lr, total = config["learning_rate"], steps_per_epoch * config["epochs"]
    schedule = {
        "constant": lambda: lr,
        "cosine": lambda: keras.optimizers.schedules.CosineDecay(lr, total, alpha=0.01),
        "exponential": lambda: keras.optimizers.schedules.ExponentialDecay(lr, max(1, total // 5), 0.5),
        "step": lambda: keras.optimizers.schedules.PiecewiseConstantDecay(
            [total // 2, (3 * total) // 4], [lr, lr / 10, lr / 100]
        ),
    }[config["schedule"]]()
    return {
        "adam": lambda: keras.optimizers.Adam(schedule),
        "sgd": lambda: keras.optimizers.SGD(schedule),
        "momentum": lambda: keras.optimizers.SGD(schedule, momentum=0.9, nesterov=config["nesterov"]),
        "rmsprop": lambda: keras.optimizers.RMSprop(schedule),
    }[config["optimizer"]]()


def _round4(values):
    return [v if not np.isfinite(v) else float(f"{v:.4g}") for v in (float(x) for x in values)]


def _fused_fit(model, optimizer, config, x_train, y_train, x_val, y_val, regression, replicas=None):
    """Trains `model` for `config["epochs"]` epochs as ONE compiled JAX program; returns the per-epoch history.

    Keras's `fit` costs tens of milliseconds of Python per epoch (callbacks, iterators, the validation pass), which
    on two shared cores made 250 runs take hours. Here the Keras model and optimizer are driven through their
    stateless APIs (`model.stateless_call(..., return_losses=True)`, `optimizer.stateless_apply`) inside a
    `jax.lax.scan` over epochs (and an inner one over mini-batches), so the run is one XLA program. What is logged
    matches Keras's `fit` logs: the training `loss` is the mean over the epoch's batches of data loss plus
    penalties, `val_loss` the validation loss plus penalties, `val_data_loss` without them. Each epoch shuffles the
    training set and uses `len(x_train) // batch_size` full batches (the remainder, different each epoch, is
    skipped).

    `replicas`: a list of `(seed, model)` pairs, the same architecture built under other seeds: all of them are
    trained side by side in the same program (`jax.vmap` over the initial weights, dropout seeds and shuffling
    keys; one compilation for all), and a list of histories is returned, one per replica.
    """
    import jax
    import jax.numpy as jnp

    batch_size = min(config["batch_size"] or len(x_train), len(x_train))
    steps = len(x_train) // batch_size
    x_train, y_train = jnp.asarray(x_train), jnp.asarray(y_train)
    x_val, y_val = jnp.asarray(x_val), jnp.asarray(y_val)
    optimizer.build(model.trainable_variables)

    def data_loss(y_pred, y):
        if regression:
            return jnp.mean((y_pred - y) ** 2)
        logp = jax.nn.log_softmax(y_pred.astype("float32"), axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    def metric(y_pred, y):
        if regression:
            return jnp.mean(jnp.abs(y_pred - y))
        return jnp.mean((jnp.argmax(y_pred, -1) == y).astype("float32"))

    def loss_fn(trainable, non_trainable, x, y):
        y_pred, non_trainable, losses = model.stateless_call(
            trainable, non_trainable, x, training=True, return_losses=True
        )
        dl = data_loss(y_pred, y)
        total = dl + (sum(losses) if losses else 0.0)
        return total, (non_trainable, metric(y_pred, y))

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(state, batch):
        trainable, non_trainable, opt_vars = state
        (loss, (non_trainable, m)), grads = grad_fn(trainable, non_trainable, *batch)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return (trainable, non_trainable, opt_vars), (loss, m)

    def epoch(state, key):
        perm = jax.random.permutation(key, len(x_train))[: steps * batch_size].reshape(steps, batch_size)
        state, (losses, ms) = jax.lax.scan(train_step, state, (x_train[perm], y_train[perm]))
        trainable, non_trainable, _ = state
        y_pred, _, penalties = model.stateless_call(trainable, non_trainable, x_val, training=False, return_losses=True)
        val_data = data_loss(y_pred, y_val)
        penalty = sum(penalties) if penalties else 0.0
        logs = {
            "loss": jnp.mean(losses),
            "metric": jnp.mean(ms),
            "val_loss": val_data + penalty,
            "val_data_loss": val_data,
            "val_metric": metric(y_pred, y_val),
        }
        return state, logs

    replicas = replicas or [(config["seed"], model)]
    states = [
        (
            [v.value for v in m.trainable_variables],
            [v.value for v in m.non_trainable_variables],
            [v.value for v in optimizer.variables],
        )
        for _, m in replicas
    ]
    state = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(seed % (2**31)), config["epochs"]) for seed, _ in replicas])
    tic = time.process_time()
    compiled = jax.jit(jax.vmap(lambda s, k: jax.lax.scan(epoch, s, k))).lower(state, keys).compile()
    config["_compile_cpu_s"] = time.process_time() - tic
    _, logs = compiled(state, keys)
    jax.block_until_ready(logs)
    config["_run_cpu_s"] = time.process_time() - tic - config["_compile_cpu_s"]
    name = "mae" if regression else "accuracy"
    history = {
        "loss": logs["loss"],
        name: logs["metric"],
        "val_loss": logs["val_loss"],
        f"val_{name}": logs["val_metric"],
    }
    if config["regularizer"] != "none":
        history["val_data_loss"] = logs["val_data_loss"]
    return [{k: np.asarray(v[r], dtype="float64") for k, v in history.items()} for r in range(len(replicas))]


def replica_seed(config, replica):
    """The training seed of seed replica `replica` of a configuration (replica 0: the configuration's own seed)."""
    return (config["seed"] + 7919 * replica) % (2**31 - 1)


def record_v2(config, replicas=(0,)):
    """Trains seed replicas of one v2 configuration side by side (see `_fused_fit`); returns one history each.

    The replicas share the data split and label noise (drawn from the configuration's seed) and differ in the
    initial weights, dropout masks and shuffling. Values are rounded to 4 significant digits. Keys: `loss`,
    `val_loss`, `accuracy`/`val_accuracy` (classification) or `mae`/`val_mae` (regression), and with a regularizer
    on, `val_data_loss`: the validation loss without the penalties (what `AdaptiveEarlyStopping` monitors by
    default, see `penalty_free_monitor`).
    """
    import keras

    keras.backend.clear_session()
    x_train, y_train, x_val, y_val = load_v2_dataset(
        config["dataset"], config["train_fraction"], config["seed"], config["label_noise"]
    )
    regression = config["dataset"] in REGRESSION_DATASETS
    classes = 1 if regression else int(max(y_train.max(), y_val.max())) + 1
    models = []
    for replica in replicas:
        keras.utils.set_random_seed(replica_seed(config, replica))
        models.append((replica_seed(config, replica), _v2_model(config, x_train, classes, regression)))
    batch_size = min(config["batch_size"] or len(x_train), len(x_train))  # 0: full batch
    optimizer = _v2_optimizer(config, len(x_train) // batch_size)
    histories = _fused_fit(models[0][1], optimizer, config, x_train, y_train, x_val, y_val, regression, models)
    return [{k: _round4(v) for k, v in history.items()} for history in histories]


def read_v2(path=V2_PATH):
    """The recorded v2 curves (list of dicts with `config`, `family`, `history`); a truncated last record is dropped."""
    import gzip
    import zlib

    path = pathlib.Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    curves = []
    while raw:
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            text = decomp.decompress(raw)
        except zlib.error:
            break
        if not decomp.eof:
            break  # truncated member (killed while writing)
        for line in text.decode().splitlines():
            if line.strip():
                curves.append(json.loads(line))
        raw = decomp.unused_data
    del gzip
    return curves


def _append_v2(path, record):
    import gzip

    data = gzip.compress((json.dumps(record, separators=(",", ":")) + "\n").encode(), mtime=0)
    # One write with O_APPEND: two shard processes can append to the same file without interleaving.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def main_v2(path=V2_PATH, limit=None, shard=0, shards=1, seeds=1, batch=None, new_first=False):
    """Records every v2 configuration not yet in `path`, appending each curve as it finishes (resumable).

    `seeds`: seed replicas per configuration, trained side by side in one program (`record_v2`); a curve is
    identified by its configuration `id` and `replica`. With `shards=n`, this process records only the
    configurations whose position is `shard` modulo `n` (run `n` processes with `--shard 0/n` ... `--shard n-1/n`;
    only shard 0 rewrites a truncated tail). `limit`: at most this many configurations. `batch`: a label stored in
    every record written by this call (`record["batch"]`), e.g. `"fresh"` for curves recorded after the rules were
    designed (issue 13: the benchmark's fresh group). `new_first`: record configurations with no curve at all before
    the missing seed replicas of already recorded ones.
    """
    import gzip

    import keras

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_v2(path)
    # Rewrite without a truncated tail, so appends stay readable.
    if shard == 0:
        path.write_bytes(
            b"".join(gzip.compress((json.dumps(c, separators=(",", ":")) + "\n").encode(), mtime=0) for c in done)
        )
    done_keys = {(c["config"]["id"], c["config"].get("replica", 0)) for c in done}
    todo = []
    for k, config in enumerate(v2_configurations()):
        missing = [r for r in range(seeds) if (config["id"], r) not in done_keys]
        if k % shards == shard and missing:
            todo.append((config, missing))
    if new_first:
        seen = {key[0] for key in done_keys}
        todo = [t for t in todo if t[0]["id"] not in seen] + [t for t in todo if t[0]["id"] in seen]
    todo = todo[:limit]
    print(f"{len(done)} curves already in {path}, {sum(len(m) for _, m in todo)} to record", flush=True)
    start, count = time.perf_counter(), len(done)
    for config, replicas in todo:
        tic = time.perf_counter()
        histories = record_v2(config, replicas)
        cpu = {k: config.pop(f"_{k}_cpu_s", 0.0) for k in ("compile", "run")}
        for replica, history in zip(replicas, histories):
            record = {
                "family": {k: config[k] for k in ("dataset", "model", "optimizer")},
                "config": dict(config, replica=replica, training_seed=replica_seed(config, replica)),
                "backend": keras.backend.backend(),
                "history": history,
            }
            if batch:
                record["batch"] = batch
            _append_v2(path, record)
            count += 1
            monitor = np.array(history["val_loss"], dtype="float64")
            best = (
                f"{np.nanmin(monitor):.4g} at epoch {int(np.nanargmin(monitor)) + 1}"
                if np.isfinite(monitor).any()
                else "none"
            )
            print(
                f"[{count:3d}] {config['family']:32s} replica {replica} lr={config['learning_rate']:.2g}"
                f" {config['schedule']:11s} epochs={config['epochs']} batch={config['batch_size']} best val_loss={best}"
                f" ({time.perf_counter() - tic:.1f} s for {len(replicas)}, cpu compile {cpu['compile']:.1f} s"
                f" run {cpu['run']:.1f} s, total {time.perf_counter() - start:.0f} s)",
                flush=True,
            )


def main(argv=None):
    # The recording runs on JAX (the v2 trainer needs it); set before Keras is first imported, in `main` only, so
    # importing this module (the benchmark reads `is_design_family` and `read_v2`) changes no backend.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-per-dataset", type=int, default=RUNS_PER_DATASET)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=pathlib.Path, default=None)
    parser.add_argument("--v2", action="store_true", help="record the v2 curve set (issue 13), resumable")
    parser.add_argument("--limit", type=int, default=None, help="with --v2: record at most this many new curves")
    parser.add_argument("--shard", default="0/1", help="with --v2: i/n, record the i-th of n interleaved shards")
    parser.add_argument("--seeds", type=int, default=3, help="with --v2: seed replicas per configuration")
    parser.add_argument("--batch", default=None, help="with --v2: label stored in each new record (e.g. fresh)")
    parser.add_argument(
        "--new-first", action="store_true", help="with --v2: unrecorded configurations before missing replicas"
    )
    args = parser.parse_args(argv)
    if args.v2:
        shard, shards = (int(k) for k in args.shard.split("/"))
        main_v2(args.out or V2_PATH, args.limit, shard, shards, args.seeds, args.batch, args.new_first)
        return
    args.out = args.out or DATA_PATH
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
