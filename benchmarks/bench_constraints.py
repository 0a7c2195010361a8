"""Spectral-norm constraints on a small conv net: `python -m benchmarks constraints` (on `KERAS_BACKEND`).

The net is `Conv2D(16) -> Conv2D(32) -> Dense(64) -> Dense(10)` on scikit-learn's bundled 8x8 digits, trained with
Adam (1e-3) and the default `jit_compile` of the backend. Every kernel is constrained (or wrapped) the same way in
each variant:

- "no constraint": the plain net.
- "kreg SpectralNorm (attach_state)": `kernel_constraint=kreg.constraints.SpectralNorm(1.0)` on every kernel and
  `kreg.constraints.attach_state(model)`: one power iteration per step on a vector kept in the optimizer's state.
- "kreg SpectralNorm (exact SVD)": the same constraint without `attach_state`: an SVD per kernel per step.
- "keras SpectralNormalization": `keras.layers.SpectralNormalization(layer, power_iterations=1)` around every layer.
- "kreg.layers.SpectralNormalization": kreg's differentiable reparametrization around every layer.

Rows:

1. Step time: median over interleaved repeats of a `fit` of 20 steps (batch 64, 10 steps per execution on
   TensorFlow and JAX), per step, and its ratio to
   Keras's wrapper (target for the kreg constraint: <= 1.0x) and to no constraint. Timed side by side in this
   process (`benchmarks.timing.interleaved_times`).
2. Sigma after 100 steps of a real fit with one power iteration per step: the relative error of the power-iteration
   estimate (`u^T W v`, `v = W^T u / ||W^T u||`, from the persistent vector) against `numpy.linalg.svd`, and how far
   the largest true singular value over the four kernels is above the bound (1.0): `max sigma / 1.0 - 1`.
"""

import warnings

import keras
import numpy as np
from sklearn.datasets import load_digits

import kreg
from benchmarks.timing import interleaved_times

STEPS_PER_FIT = 20
BATCH = 64


def digits():
    data = load_digits()
    x = (data.images / 16.0).astype("float32")[..., None]
    return x, data.target.astype("int32")


def make_layers(constraint=None):
    """The net's four layers; `constraint` is a factory of one constraint per kernel, or `None`."""

    def kw():
        return {} if constraint is None else {"kernel_constraint": constraint()}

    return [
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", **kw()),
        keras.layers.Conv2D(32, 3, activation="relu", **kw()),
        keras.layers.Dense(64, activation="relu", **kw()),
        keras.layers.Dense(10, **kw()),
    ]


def build(variant):
    """A compiled net for `variant`; also the list of its kernels."""
    wrap = None
    constraint = None
    if variant.startswith("kreg SpectralNorm"):
        constraint = lambda: kreg.constraints.SpectralNorm(1.0)  # noqa: E731
    elif variant == "keras SpectralNormalization":
        wrap = lambda layer: keras.layers.SpectralNormalization(layer, power_iterations=1)  # noqa: E731
    elif variant == "kreg.layers.SpectralNormalization":
        wrap = lambda layer: kreg.layers.SpectralNormalization(layer, power_iterations=1)  # noqa: E731
    conv1, conv2, dense1, dense2 = make_layers(constraint)
    if wrap is not None:
        conv1, conv2, dense1, dense2 = (wrap(layer) for layer in (conv1, conv2, dense1, dense2))
    model = keras.Sequential([keras.Input((8, 8, 1)), conv1, conv2, keras.layers.Flatten(), dense1, dense2])
    # Several steps per execution where the step is compiled, so per-call overhead does not mask the step itself.
    per_execution = 1 if keras.backend.backend() == "torch" else 10
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=per_execution,
    )
    if variant == "kreg SpectralNorm (attach_state)":
        kreg.constraints.attach_state(model)
    return model


def kernels(model):
    found = []
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if hasattr(inner, "kernel"):
            found.append(inner.kernel)
    return found


def step_times(x, y, repeats=7):
    variants = [
        "no constraint",
        "kreg SpectralNorm (attach_state)",
        "kreg SpectralNorm (exact SVD)",
        "keras SpectralNormalization",
        "kreg.layers.SpectralNormalization",
    ]
    n = STEPS_PER_FIT * BATCH

    def fit(model):
        return lambda: model.fit(x[:n], y[:n], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the exact-SVD variant warns that it has no vector
        models = {variant: build(variant) for variant in variants}
        times = interleaved_times({v: fit(m) for v, m in models.items()}, repeats=repeats, warmup=1)
    keras_time, none_time = times["keras SpectralNormalization"], times["no constraint"]
    return [
        {
            "row": "step time",
            "variant": variant,
            "ms/step": 1000 * seconds / STEPS_PER_FIT,
            "vs keras SpectralNormalization": seconds / keras_time,
            "vs no constraint": seconds / none_time,
        }
        for variant, seconds in times.items()
    ]


def sigma_after_training(x, y, steps=100):
    model = build("kreg SpectralNorm (attach_state)")
    repeats = int(np.ceil(steps * BATCH / len(x)))
    xs, ys = np.concatenate([x] * repeats)[: steps * BATCH], np.concatenate([y] * repeats)[: steps * BATCH]
    model.fit(xs, ys, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    errors, true_sigmas = [], []
    for kernel in kernels(model):
        matrix = kernel.numpy().reshape(-1, kernel.shape[-1]).astype("float64")
        u = kernel.constraint.state_for(kernel).numpy().astype("float64")
        v = matrix.T @ u
        v /= np.linalg.norm(v)
        estimate = float(u @ matrix @ v)
        exact = float(np.linalg.svd(matrix, compute_uv=False)[0])
        errors.append(abs(exact - estimate) / exact)
        true_sigmas.append(exact)
    return [
        {
            "row": f"sigma after {steps} steps (1 power iteration/step)",
            "variant": "kreg SpectralNorm (attach_state)",
            "max relative error vs SVD": max(errors),
            "mean relative error vs SVD": float(np.mean(errors)),
            "max true sigma / bound - 1": max(true_sigmas) / 1.0 - 1.0,
        }
    ]


def run():
    keras.utils.set_random_seed(0)
    x, y = digits()
    rows = step_times(x, y)
    rows += sigma_after_training(x, y)
    for row in rows:
        row["backend"] = keras.backend.backend()
    return rows
