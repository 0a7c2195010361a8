"""Shared helpers for tests that fit small models to a reference solution (scikit-learn, closed forms)."""

import keras
import numpy as np
from sklearn.datasets import make_regression
from sklearn.preprocessing import StandardScaler


def regression_problem():
    """The acceptance problem of the foundation issue: standardized features, 50 features, 8 informative."""
    x, y = make_regression(n_samples=500, n_features=50, n_informative=8, noise=5, random_state=0)
    x = StandardScaler().fit_transform(x).astype("float32")
    return x, y.astype("float32")


def full_batch_lr(x):
    """1/L for the MSE gradient of a linear model on centred data: L = 2 * largest eigenvalue of X^T X / n."""
    return float(1.0 / (2.0 * np.linalg.eigvalsh(x.T @ x / len(x)).max()))


def fit_full_batch(model, x, y, steps, callbacks=()):
    """Runs `steps` full-batch optimizer steps (each batch is the whole data set, in order)."""
    model.fit(
        np.tile(x, (steps, 1)),
        np.tile(y, steps),
        batch_size=len(x),
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
    )
    return model


def linear_model(n_features, kernel_regularizer, lr, jit_compile, **dense_kwargs):
    """`Dense(1)` on `n_features` inputs, compiled with full-batch SGD and MSE."""
    model = keras.Sequential(
        [keras.Input((n_features,)), keras.layers.Dense(1, kernel_regularizer=kernel_regularizer, **dense_kwargs)]
    )
    per_execution = 1 if keras.backend.backend() == "torch" else 50
    model.compile(
        optimizer=keras.optimizers.SGD(lr), loss="mse", jit_compile=jit_compile, steps_per_execution=per_execution
    )
    return model


def relative_error(actual, expected):
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))
