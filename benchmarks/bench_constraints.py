"""Spectral-norm constraints on a small conv net: `python -m benchmarks constraints` (on `KERAS_BACKEND`).

The net is `Conv2D(16) -> Conv2D(32) -> Dense(64) -> Dense(10)` on scikit-learn's bundled 8x8 digits, trained with
Adam (1e-3) and the default `jit_compile` of the backend. Every kernel is constrained (or wrapped) the same way in
each variant:

- "no constraint": the plain net.
- "kreg SpectralNorm (TrainingBinding)": `kernel_constraint=kreg.constraints.SpectralNorm(1.0)` on every kernel and
  `fit(..., callbacks=[kreg.callbacks.TrainingBinding()])`: one power iteration per step on a vector the binding
  keeps in the optimizer's state for the length of `fit`.
- "kreg SpectralNorm (exact SVD)": the same constraint without any kreg callback: an SVD per kernel per step (its
  expected "no persistent vector" warning is silenced).
- "keras SpectralNormalization": `keras.layers.SpectralNormalization(layer, power_iterations=1)` around every layer.
- "kreg.layers.SpectralNormalization": kreg's differentiable reparametrization around every layer.

Rows:

1. Step time. Every timed `fit` runs 2 epochs of 80 steps (batch 64, the digits repeated; 10 steps per execution
   on TensorFlow and JAX). The step time of a `fit` is the median time of one execution in its second epoch (a
   callback reads the clock at every `on_train_batch_end`; see `StepClock`), so it excludes what a `fit` call pays
   once: Keras's own setup, and for the binding its setup at `on_train_begin` (one SVD per kernel to warm-start the
   vector, and a re-trace, so a recompile, of the train step whose constraints changed) and the first epoch, where
   that recompile happens; the median also shrugs off bursts of load from other processes. What a `fit` call costs
   beyond its steps is reported on its own ("per-fit overhead": the whole call minus all its steps at its own step
   time). The variants run interleaved, one `fit` each per round (`benchmarks.timing.interleaved_times`), after a
   warm-up round, each round starting with the next variant; the ratios are medians over rounds of the ratio
   within a round (to Keras's wrapper, target for the kreg constraint: <= 1.0x, and to no constraint), the times
   and overheads medians over rounds.
2. Sigma after 100 steps of a real fit with one power iteration per step: the relative error of the power-iteration
   estimate (`u^T W v`, `v = W^T u / ||W^T u||`, from the persistent vector, read from the binding's
   `BoundSpectralNorm` at the end of the fit's epoch, while the binding is in place) against `numpy.linalg.svd`,
   and how far the largest true singular value over the four kernels is above the bound (1.0):
   `max sigma / 1.0 - 1`.
"""

import time
import warnings

import keras
import numpy as np
from sklearn.datasets import load_digits

import kreg
from benchmarks.timing import interleaved_times

STEPS_PER_EPOCH = 80
EPOCHS = 2  # per timed fit: the first holds any (re)compilation, the second is measured
BATCH = 64
BINDING = "kreg SpectralNorm (TrainingBinding)"
EXACT = "kreg SpectralNorm (exact SVD)"
VARIANTS = [
    "no constraint",
    BINDING,
    EXACT,
    "keras SpectralNormalization",
    "kreg.layers.SpectralNormalization",
]


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
    """A compiled net for `variant`."""
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
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution(),
    )
    return model


def callbacks_for(variant):
    """The kreg callbacks `fit` gets for `variant`: the binding for the one-iteration-per-step constraint."""
    return [kreg.callbacks.TrainingBinding()] if variant == BINDING else []


def kernels(model):
    found = []
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if hasattr(inner, "kernel"):
            found.append(inner.kernel)
    return found


def steps_per_execution():
    # Several steps per execution where the step is compiled, so per-call overhead does not mask the step itself.
    return 1 if keras.backend.backend() == "torch" else 10


class StepClock(keras.callbacks.Callback):
    """The seconds per step of one `fit`: the median time between consecutive executions after the first epoch.

    Each interval is one execution (`steps_per_execution` steps) between two `on_train_batch_end` calls; the first
    execution of an epoch (it also starts the epoch's data iterator) and the whole first epoch (it holds any
    (re)compilation) are left out. A callback with `on_train_batch_end` turns off Keras's asynchronous callback
    dispatch, so each execution has finished (its logs are fetched) when the clock is read, on every variant alike.
    """

    def __init__(self):
        super().__init__()
        self.intervals = []
        self.epoch = 0
        self.last = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.last = epoch, None

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 0:
            return
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append(now - self.last)
        self.last = now

    def seconds_per_step(self):
        return float(np.median(self.intervals)) / steps_per_execution()


def tiled(x, y, samples):
    repeats = int(np.ceil(samples / len(x)))
    return np.concatenate([x] * repeats)[:samples], np.concatenate([y] * repeats)[:samples]


def step_times(x, y, repeats=10):
    xs, ys = tiled(x, y, STEPS_PER_EPOCH * BATCH)
    per_step = {variant: [] for variant in VARIANTS}

    def fit(variant, model):
        def run():
            clock = StepClock()
            # The clock goes after the binding: it measures steps with the binding in place.
            model.fit(
                xs,
                ys,
                batch_size=BATCH,
                epochs=EPOCHS,
                shuffle=False,
                verbose=0,
                callbacks=callbacks_for(variant) + [clock],
            )
            per_step[variant].append(clock.seconds_per_step())

        return run

    with warnings.catch_warnings():
        # The exact-SVD variant warns (once) that it has no persistent vector: expected here.
        warnings.filterwarnings("ignore", message=".*TrainingBinding.*", category=UserWarning)
        models = {variant: build(variant) for variant in VARIANTS}
        fns = {variant: fit(variant, model) for variant, model in models.items()}
        interleaved_times(fns, repeats=1, warmup=0)  # warm-up round (traces, compiles)
        for samples in per_step.values():
            samples.clear()
        rounds = []
        for index in range(repeats):
            # Each round starts with the next variant, so no variant always runs first (or right after another).
            order = VARIANTS[index % len(VARIANTS) :] + VARIANTS[: index % len(VARIANTS)]
            rounds.append(interleaved_times({variant: fns[variant] for variant in order}, repeats=1, warmup=0))

    def per_round_ratio(variant, baseline):
        return float(np.median([a / b for a, b in zip(per_step[variant], per_step[baseline])]))

    steps = EPOCHS * STEPS_PER_EPOCH
    rows = []
    for variant in VARIANTS:
        # Within each fit: the whole call minus all its steps at that fit's own step time.
        overhead = float(np.median([r[variant] - steps * step for r, step in zip(rounds, per_step[variant])]))
        rows.append(
            {
                "row": "step time",
                "variant": variant,
                "ms/step": 1000 * float(np.median(per_step[variant])),
                "vs keras SpectralNormalization": per_round_ratio(variant, "keras SpectralNormalization"),
                "vs no constraint": per_round_ratio(variant, "no constraint"),
                "per-fit overhead (ms)": 1000 * overhead,
            }
        )
    return rows


class VectorProbe(keras.callbacks.Callback):
    """Placed after the binding: copies each kernel and its `BoundSpectralNorm`'s vector at the end of the epoch.

    (The binding releases at its own `on_train_end`, which runs before the `on_train_end` of callbacks after it.)
    """

    def __init__(self):
        super().__init__()
        self.pairs = []

    def on_epoch_end(self, epoch, logs=None):
        self.pairs = []
        for kernel in kernels(self.model):
            bound = kernel.constraint
            if not isinstance(bound, kreg.constraints.BoundSpectralNorm):
                raise RuntimeError(f"{kernel.path} has no BoundSpectralNorm during fit: {bound!r}")
            self.pairs.append((keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(bound.u)))


def sigma_after_training(x, y, steps=100):
    model = build(BINDING)
    xs, ys = tiled(x, y, steps * BATCH)
    probe = VectorProbe()
    model.fit(xs, ys, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=callbacks_for(BINDING) + [probe])
    errors, true_sigmas = [], []
    for kernel, u in probe.pairs:
        matrix = kernel.reshape(-1, kernel.shape[-1]).astype("float64")
        u = u.astype("float64")
        v = matrix.T @ u
        v /= np.linalg.norm(v)
        estimate = float(u @ matrix @ v)
        exact = float(np.linalg.svd(matrix, compute_uv=False)[0])
        errors.append(abs(exact - estimate) / exact)
        true_sigmas.append(exact)
    return [
        {
            "row": f"sigma after {steps} steps (1 power iteration/step)",
            "variant": BINDING,
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
