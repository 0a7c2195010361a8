"""kreg demo: an over-parameterized MLP on scikit-learn's digits, with and without kreg's regularization.

Trains the same network several ways, prints validation accuracy, the train/validation gap and the weight sparsity
of each, and writes TensorBoard logs under `--logdir` (one run per variant; `make tensorboard` serves them).

    python examples/demo.py --logdir logs --epochs 60
"""

import argparse
import os

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import kreg


def data(seed=0):
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    # A small training set makes the wide MLP overfit, which is what regularization is for.
    return train_test_split(x, y, train_size=300, random_state=seed, stratify=y)


def mlp(kernel_regularizer=None, width=512, dropout=0.0):
    layers = [keras.Input((64,))]
    for _ in range(2):
        layers.append(keras.layers.Dense(width, activation="relu", kernel_regularizer=kernel_regularizer))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, kernel_regularizer=kernel_regularizer))
    return keras.Sequential(layers)


def variants():
    """Name -> (model factory, extra callbacks factory)."""
    return {
        "baseline": (lambda: mlp(), lambda: []),
        "l2": (lambda: mlp(kreg.regularizers.L2(1e-3)), lambda: []),
        "elastic_net_proximal": (
            lambda: mlp(kreg.regularizers.ElasticNet(l1=3e-4, l2=1e-4, proximal=True)),
            lambda: [kreg.callbacks.ProximalStep()],
        ),
    }


def report_callbacks(log_dir):
    """TensorBoard logging for one run: kreg's report where available, else Keras's TensorBoard callback."""
    report = getattr(kreg.callbacks, "RegularizationReport", None)
    if report is not None:
        return [report(log_dir)]
    return [keras.callbacks.TensorBoard(log_dir)] if keras.backend.backend() == "tensorflow" else []


def zero_fraction(model):
    kernels = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables if len(v.shape) == 2]
    return sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    x_train, x_val, y_train, y_val = data()
    rows = []
    for name, (make_model, make_callbacks) in variants().items():
        keras.utils.set_random_seed(0)
        model = make_model()
        model.compile(
            keras.optimizers.Adam(1e-3),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=args.epochs,
            batch_size=64,
            verbose=0,
            callbacks=make_callbacks() + report_callbacks(os.path.join(args.logdir, name)),
        )
        h = history.history
        rows.append((name, h["val_accuracy"][-1], h["accuracy"][-1] - h["val_accuracy"][-1], zero_fraction(model)))
    print(f"{'variant':<24} {'val_accuracy':>12} {'acc_gap':>8} {'zero_weights':>12}")
    for name, accuracy, gap, zeros in rows:
        print(f"{name:<24} {accuracy:>12.4f} {gap:>8.4f} {zeros:>12.2%}")
    print(f"TensorBoard logs in {os.path.abspath(args.logdir)}: `make tensorboard` serves them.")
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
