"""kreg demo: an over-parameterized MLP on scikit-learn's digits, with and without kreg's regularization.

Trains the same network several ways on 300 training images, prints the validation accuracy, the train/validation
gap, the weight sparsity and the epochs each run took, and writes TensorBoard logs under `--logdir`: one folder per
variant, with kreg's `RegularizationReport` (sparsity, norms, penalties, generalization gap; the "Custom Scalars"
tab shows its dashboard). `make tensorboard` serves them.

    python examples/demo.py --logdir logs --epochs 100
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


def mlp(kernel_regularizer=None, kernel_constraint=None, width=512, dropout=0.0):
    layers = [keras.Input((64,))]
    for _ in range(2):
        layers.append(
            keras.layers.Dense(
                width, activation="relu", kernel_regularizer=kernel_regularizer, kernel_constraint=kernel_constraint
            )
        )
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, kernel_regularizer=kernel_regularizer))
    return keras.Sequential(layers)


def variants():
    """Name -> (model factory, extra callbacks factory)."""
    return {
        "baseline": (lambda: mlp(), lambda: []),
        "l2_adaptive_stop": (
            lambda: mlp(kreg.regularizers.L2(1e-3)),
            lambda: [kreg.callbacks.AdaptiveEarlyStopping()],
        ),
        "sparse_elastic_net": (
            lambda: mlp(kreg.regularizers.ElasticNet(l1=1e-3, l2=1e-4, proximal=True)),
            # Any kreg callback takes kreg's training binding, which runs the proximal steps (exact zeros).
            lambda: [kreg.callbacks.AdaptiveEarlyStopping()],
        ),
        "dropout_maxnorm": (
            lambda: mlp(kernel_constraint=kreg.constraints.MaxNorm(3.0), dropout=0.5),
            lambda: [kreg.callbacks.AdaptiveEarlyStopping()],
        ),
    }


def report_callbacks(log_dir):
    """TensorBoard logging for one run: kreg's regularization report (works on every backend)."""
    return [kreg.callbacks.RegularizationReport(log_dir)]


def zero_fraction(model):
    kernels = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables if len(v.shape) == 2]
    return sum(int((k == 0).sum()) for k in kernels) / sum(k.size for k in kernels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs")
    parser.add_argument("--epochs", type=int, default=100)
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
        # Evaluate the weights the run ends with (the best epoch's, where early stopping restored them).
        train_accuracy = model.evaluate(x_train, y_train, verbose=0)[1]
        val_accuracy = model.evaluate(x_val, y_val, verbose=0)[1]
        # Cross-entropy alone (Keras's loss would add each variant's own penalty, which does not compare; the
        # `val_data_loss` kreg logs is the same quantity, per epoch).
        logits = model.predict(x_val, verbose=0)
        val_loss = float(
            np.mean(
                keras.ops.convert_to_numpy(
                    keras.losses.sparse_categorical_crossentropy(y_val, logits, from_logits=True)
                )
            )
        )
        epochs = len(history.history["loss"])
        rows.append((name, val_loss, val_accuracy, train_accuracy - val_accuracy, zero_fraction(model), epochs))
    print(f"{'variant':<22} {'val_loss':>8} {'val_accuracy':>12} {'acc_gap':>8} {'zero_weights':>12} {'epochs':>6}")
    for name, loss, accuracy, gap, zeros, epochs in rows:
        print(f"{name:<22} {loss:>8.4f} {accuracy:>12.4f} {gap:>8.4f} {zeros:>12.2%} {epochs:>6}")
    print(f"TensorBoard logs in {os.path.abspath(args.logdir)}: `make tensorboard` serves them.")
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
