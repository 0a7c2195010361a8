"""kreg demo: one over-parameterized MLP on scikit-learn's digits, trained with and without kreg's regularization.

The setting is chosen so that overfitting is real and measurable: 300 training images with 20% of their labels
replaced by random ones, a 2 x 1024 ReLU MLP (about 1.1 M weights for 300 examples), a 300-image validation split
(early stopping watches it) and a 300-image test split nothing looks at until the end. Each variant trains on
several seeds (data split, label noise, initialization) and the table gives the mean and spread over them, so a
difference smaller than the spread is not a difference.

Every variant except the baseline uses `kreg.callbacks.AdaptiveEarlyStopping`; every one writes kreg's
`RegularizationReport` to `<logdir>/<variant>` (seed 0), which TensorBoard shows (`make tensorboard` serves the
same folder). A PNG of train vs validation data loss per variant and sparsity per layer is written next to the logs.

    python examples/demo.py                              # every variant, 3 seeds, runs/demo
    python examples/demo.py --variants baseline,l2 --seeds 1 --epochs 40 --logdir /tmp/demo
"""

import argparse
import contextlib
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _quiet_stderr():
    """Hides what native libraries print on stderr while they load (TensorFlow's and XLA's start-up lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


with _quiet_stderr():
    import keras  # noqa: E402
    import numpy as np  # noqa: E402
    from sklearn.datasets import load_digits  # noqa: E402
    from sklearn.model_selection import train_test_split  # noqa: E402

    import kreg  # noqa: E402

    if keras.backend.backend() == "jax":
        import jax  # noqa: E402  (loads XLA's CPU client, and its start-up lines, here)

        jax.devices()
    try:  # Keras's data adapters load TensorFlow when it is installed, whatever the backend: load it here, quietly
        import tensorflow  # noqa: E402

        tensorflow.zeros(1)
    except ImportError:
        pass

TRAIN_SIZE = 300
LABEL_NOISE = 0.2  # share of training labels replaced by a wrong one
WIDTH = 1024
NEAR_ZERO = 1e-3  # |w| below this counts as near zero in the sparsity column

# --------------------------------------------------------------------------------------------------- the data


def data(seed, train_size=TRAIN_SIZE, label_noise=LABEL_NOISE):
    """Train / validation / test splits of digits (pixels in [0, 1]).

    A fraction `label_noise` of the training images get a wrong label (drawn uniformly among the 9 others); the
    training split comes with its boolean mask of mislabelled images.
    """
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=300, random_state=seed, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, train_size=train_size, test_size=300, random_state=seed, stratify=y_rest
    )
    rng = np.random.default_rng(seed)
    noisy = rng.random(len(y_train)) < label_noise
    y_noisy = y_train.copy()
    y_noisy[noisy] = (y_train[noisy] + rng.integers(1, 10, int(noisy.sum()))) % 10  # always a wrong label
    return (x_train, y_noisy, noisy), (x_val, y_val), (x_test, y_test)


# ----------------------------------------------------------------------------------------------- the variants


def mlp(kernel_regularizer=None, kernel_constraint=None, input_noise=0.0, dropout=0.0, drop_connect=0.0):
    """The over-parameterized MLP: 64 -> 1024 -> 1024 -> 10 logits, with the regularization asked for."""
    layers = [keras.Input((64,))]
    if input_noise:
        layers.append(kreg.layers.GaussianNoise(input_noise))
    for _ in range(2):
        dense = keras.layers.Dense(
            WIDTH, activation="relu", kernel_regularizer=kernel_regularizer, kernel_constraint=kernel_constraint
        )
        layers.append(kreg.layers.DropConnect(dense, drop_connect) if drop_connect else dense)
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, kernel_regularizer=kernel_regularizer))
    return keras.Sequential(layers)


#: name -> (what it is, model factory, early stopping[, data-side mixing layer factory]). Strengths are common
#: defaults, not tuned on the test split.
VARIANTS = {
    "baseline": ("no regularization, all epochs", lambda: mlp(), False),
    "early_stopping": ("AdaptiveEarlyStopping only", lambda: mlp(), True),
    "l2": ("L2(1e-3) on every kernel", lambda: mlp(kreg.regularizers.L2(1e-3)), True),
    "elastic_net": (
        "ElasticNet(l1=1e-3, l2=1e-4, proximal=True): exact zeros",
        lambda: mlp(kreg.regularizers.ElasticNet(l1=1e-3, l2=1e-4, proximal=True)),
        True,
    ),
    "noise_dropout": (
        "GaussianNoise(0.3) on the inputs, Dropout(0.5)",
        lambda: mlp(input_noise=0.3, dropout=0.5),
        True,
    ),
    "drop_connect": ("DropConnect(0.5) on the hidden layers", lambda: mlp(drop_connect=0.5), True),
    "max_norm": (
        "MaxNorm(2) on the kernels, Dropout(0.3)",
        lambda: mlp(kernel_constraint=kreg.constraints.MaxNorm(2.0), dropout=0.3),
        True,
    ),
    "spectral_norm": (
        "SpectralNorm(2) constraint on the kernels, Dropout(0.3)",
        lambda: mlp(kernel_constraint=kreg.constraints.SpectralNorm(2.0), dropout=0.3),
        True,
    ),
    "mixup": (
        "MixUp(alpha=0.4) on the training batches",
        lambda: mlp(),
        True,
        lambda: kreg.layers.MixUp(0.4, num_classes=10, seed=0),
    ),
    "combined": (
        "input noise + Dropout(0.5) + L2(1e-4)",
        lambda: mlp(kreg.regularizers.L2(1e-4), input_noise=0.3, dropout=0.5),
        True,
    ),
}


class Batches(keras.utils.PyDataset):
    """Shuffled `(x, y)` NumPy batches, reshuffled every epoch (what `fit(x, y, shuffle=True)` does)."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


# ------------------------------------------------------------------------------------------------ one run


class EpochProgress(keras.callbacks.Callback):
    """Advances a shared `keras.utils.Progbar` by one per epoch (and to the run's end when it stops early)."""

    def __init__(self, bar, start, epochs):
        super().__init__()
        self.bar, self.start, self.epochs = bar, start, epochs

    def on_epoch_end(self, epoch, logs=None):
        self.bar.update(self.start + epoch + 1)

    def on_train_end(self, logs=None):
        self.bar.update(self.start + self.epochs)


def cross_entropy(model, x, y):
    """The data loss alone (no penalty), so that variants compare."""
    logits = model.predict(x, verbose=0, batch_size=1024)
    loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return float(np.mean(keras.ops.convert_to_numpy(loss))), float(np.mean(np.argmax(logits, -1) == y))


def kernels(model):
    """`(layer name, kernel as NumPy)` for every Dense kernel (inside DropConnect wrappers too)."""
    found = []
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.Dense):
            found.append((inner.name, keras.ops.convert_to_numpy(inner.kernel)))
    return found


def run(name, seed, epochs, logdir, bar, start):
    """Trains one variant on one seed; returns its figures and (seed 0) its history."""
    _, make_model, early_stopping, *mixing = VARIANTS[name]
    (x_train, y_train, mislabelled), (x_val, y_val), (x_test, y_test) = data(seed)
    keras.utils.set_random_seed(seed)
    model = make_model()
    if mixing:  # MixUp mixes the labels too: one-hot targets, and the training data as mixed batches
        loss, accuracy = keras.losses.CategoricalCrossentropy(from_logits=True), "categorical_accuracy"
        train = {"x": kreg.layers.MixingPyDataset(Batches(x_train, y_train, 32, seed), mixing[0]())}
        validation_data = (x_val, np.eye(10, dtype="float32")[y_val])
    else:
        loss, accuracy = keras.losses.SparseCategoricalCrossentropy(from_logits=True), "accuracy"
        train = {"x": x_train, "y": y_train, "batch_size": 32}
        validation_data = (x_val, y_val)
    model.compile(keras.optimizers.Adam(1e-3), loss, metrics=[accuracy])
    stopper = kreg.callbacks.AdaptiveEarlyStopping() if early_stopping else None
    callbacks = [EpochProgress(bar, start, epochs)] + ([stopper] if stopper else [])
    if seed == 0:
        callbacks.append(kreg.callbacks.RegularizationReport(os.path.join(logdir, name)))
    history = model.fit(**train, validation_data=validation_data, epochs=epochs, verbose=0, callbacks=callbacks)
    # The weights the run ends with: the best epoch's where early stopping restored them.
    train_loss, _ = cross_entropy(model, x_train, y_train)
    val_loss, val_accuracy = cross_entropy(model, x_val, y_val)
    test_loss, test_accuracy = cross_entropy(model, x_test, y_test)
    # Memorization: the share of mislabelled training images the model predicts with their wrong label.
    _, memorized = cross_entropy(model, x_train[mislabelled], y_train[mislabelled])
    weights = kernels(model)
    total = sum(w.size for _, w in weights)
    ran = len(history.history["loss"])
    if stopper is not None and stopper.stop_reason is not None:
        why = stopper.stop_reason
    else:
        why = f"ran all {epochs} epochs"
    return {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "val_accuracy": val_accuracy,
        "val_loss": val_loss,
        "gap": val_loss - train_loss,
        "memorized": memorized,
        "epochs": ran,
        "why": why,
        "near_zero": sum(int((np.abs(w) < NEAR_ZERO).sum()) for _, w in weights) / total,
        "exact_zeros": sum(int((w == 0).sum()) for _, w in weights),
        "history": history.history,
        "layer_sparsity": [(layer, float((np.abs(w) < NEAR_ZERO).mean())) for layer, w in weights],
    }


# ----------------------------------------------------------------------------------------------- the report

LEGEND = f"""\
test acc / test loss  accuracy and cross-entropy on the 300 held-out test images, mean ± spread (std) over seeds
vs ES                 test accuracy minus early stopping alone's; * when the difference is larger than the spread
                      (no * means: no clear effect in this setting)
val acc               validation accuracy of the weights kept (the best epoch's when early stopping restored them)
gap                   validation minus training cross-entropy (data loss only, no penalty; on the training labels as
                      given, 20% wrong, so a model that does not learn the wrong labels has a negative gap)
memorized             share of the mislabelled training images predicted with their wrong label: memorization
epochs                epochs run (mean over seeds); why: why seed 0 stopped
near zero             share of kernel entries with |w| < {NEAR_ZERO:g}; exact 0: entries exactly zero (mean over seeds)"""


def table(results, seeds):
    """The text table of all variants (mean ± std over seeds)."""

    def stat(rows, key, fmt):
        values = np.array([row[key] for row in rows], dtype="float64")
        text = format(values.mean(), fmt)
        return text + ("" if len(values) == 1 else " ± " + format(values.std(), fmt))

    reference = results.get("early_stopping")

    def verdict(rows):
        """Test-accuracy difference to early stopping alone, and whether it exceeds the seeds' spread."""
        if reference is None or rows is reference:
            return ""
        ours = np.array([row["test_accuracy"] for row in rows])
        theirs = np.array([row["test_accuracy"] for row in reference])
        difference = ours.mean() - theirs.mean()
        spread = max(ours.std(), theirs.std())
        clear = len(ours) > 1 and abs(difference) > spread
        return f"{difference:+.3f}{' *' if clear else '  '}"

    header = (
        f"{'variant':<15} {'test acc':>15} {'vs ES':>8} {'test loss':>15} {'val acc':>8} {'gap':>7} {'memorized':>9} "
        f"{'epochs':>6} "
        f"{'near zero':>9} {'exact 0':>8}  why seed 0 stopped"
    )
    lines = [header, "-" * len(header)]
    for name, rows in results.items():
        lines.append(
            f"{name:<15} {stat(rows, 'test_accuracy', '.3f'):>15} {verdict(rows):>8} {stat(rows, 'test_loss', '.3f'):>15} "
            f"{np.mean([r['val_accuracy'] for r in rows]):>8.3f} {np.mean([r['gap'] for r in rows]):>7.3f} "
            f"{np.mean([r['memorized'] for r in rows]):>9.1%} "
            f"{np.mean([r['epochs'] for r in rows]):>6.0f} {np.mean([r['near_zero'] for r in rows]):>9.1%} "
            f"{np.mean([r['exact_zeros'] for r in rows]):>8.0f}  {rows[0]['why']}"
        )
    lines.append("")
    lines.append(f"({seeds} seed{'s' if seeds > 1 else ''} per variant)")
    lines.append(LEGEND)
    lines.append("")
    lines += [f"{name:<15} {VARIANTS[name][0]}" for name in results]
    return "\n".join(lines)


def save_plot(results, path):
    """Train vs validation data loss per variant (seed 0), and near-zero share per layer. Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (losses, sparsity) = plt.subplots(1, 2, figsize=(14, 5.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, rows) in enumerate(results.items()):
        history = rows[0]["history"]
        train = history.get("data_loss", history["loss"])
        val = history.get("val_data_loss", history["val_loss"])
        color = colors[index % len(colors)]
        epochs = np.arange(1, len(train) + 1)
        losses.plot(epochs, train, color=color, linestyle="--", linewidth=1)
        losses.plot(epochs, val, color=color, linewidth=1.8, label=name)
    losses.set(xlabel="epoch", ylabel="cross-entropy (no penalty)", yscale="log")
    losses.set_title("validation (solid) vs training (dashed) data loss, seed 0")
    losses.legend(fontsize=8)
    names = list(results)
    layer_names = [layer for layer, _ in results[names[0]][0]["layer_sparsity"]]
    width = 0.8 / max(len(layer_names), 1)
    for position in range(len(layer_names)):
        shares = [results[name][0]["layer_sparsity"][position][1] for name in names]
        sparsity.bar(np.arange(len(names)) + position * width, shares, width, label=f"Dense {position + 1}")
    sparsity.set_xticks(np.arange(len(names)) + width * (len(layer_names) - 1) / 2, names, rotation=30, ha="right")
    sparsity.set(ylabel=f"share of |w| < {NEAR_ZERO:g}", ylim=(0, 1))
    sparsity.set_title("weight sparsity per layer, seed 0")
    sparsity.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ------------------------------------------------------------------------------------------------------ main


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    parser.add_argument("--epochs", type=int, default=150, help="epochs per run (early stopping usually ends sooner)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant (mean and spread in the table)")
    parser.add_argument("--logdir", default=os.path.join("runs", "demo"), help="TensorBoard logs and the PNG")
    args = parser.parse_args(argv)
    args.variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    if args.epochs < 1 or args.seeds < 1:
        parser.error(f"--epochs and --seeds must be at least 1; received {args.epochs} and {args.seeds}")
    return args


def main(argv=None):
    args = parse(argv)
    warnings.filterwarnings("ignore", module="keras|tensorflow|jax|torch")
    os.makedirs(args.logdir, exist_ok=True)
    print(
        f"kreg demo on {keras.backend.backend()}: digits, {TRAIN_SIZE} training images ({LABEL_NOISE:.0%} noisy "
        f"labels), MLP 64-{WIDTH}-{WIDTH}-10, {args.seeds} seed(s), up to {args.epochs} epochs"
    )
    results = {}
    for name in args.variants:
        print(f"{name}: {VARIANTS[name][0]}")
        bar = keras.utils.Progbar(args.seeds * args.epochs, unit_name="epoch")
        results[name] = [
            run(name, seed, args.epochs, args.logdir, bar, seed * args.epochs) for seed in range(args.seeds)
        ]
    print()
    print(table(results, args.seeds))
    png = save_plot(results, os.path.join(args.logdir, "demo.png"))
    logdir = os.path.abspath(args.logdir)
    print(f"\nPlot: {os.path.abspath(png)}")
    print(f"TensorBoard: make tensorboard LOGDIR={args.logdir}   (or tensorboard --logdir {logdir}), then open")
    print("http://127.0.0.1:6006 (the Custom Scalars tab holds kreg's dashboard)")
    return results


if __name__ == "__main__":
    main()
