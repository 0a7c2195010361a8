"""Step-time cost of kreg's weight-noise wrappers and noise layers: `python -m benchmarks noise_layers`.

Model: the MLP of `bench_regularizers` (4 x Dense(512, relu) and Dense(10) on the 64 features of scikit-learn's
digits, SGD, the backend's default `jit_compile`), in these variants:

- "plain Dense": the MLP as it is (the baseline of every ratio).
- "WeightNoise(Dense)": every Dense wrapped in `WeightNoise(layer, 0.01)`.
- "DropConnect(Dense)": every Dense wrapped in `DropConnect(layer, 0.5)`.
- "DropConnect(Dense), scheduled rate": the same with `kreg.schedules.Linear(0.0, 0.5, steps=1000)` (the step
  counter and the schedule's arithmetic on top).
- "GaussianNoise after each hidden layer": `GaussianNoise(0.1)` on the activations, for scale.

Configurations (`CONFIGS`): batch 256 (every variant), batch 1024 (the wrappers' cost is one random draw per kernel
entry per step, so it shrinks relative to a step that grows with the batch), and on TensorFlow only, batch 256 with
`jit_compile=True` (Keras's "auto" leaves XLA off on a CPU-only TensorFlow; with it on, every `keras.random` draw
takes XLA's slow CPU random-number path).

Every variant of a configuration is trained in this one process, one epoch of 10240 examples each per round,
interleaved (as `benchmarks.timing.paired_rounds`, after a warm-up round that holds the compilations, but each
round starting with the next variant, so that none always runs first); each ratio is the median over rounds of
the ratio to the plain run of the same round. Target: DropConnect and WeightNoise step time <= 1.15 x the plain
Dense step.

On PyTorch the benchmark runs with one intra-op thread (see `bench_structured.run`): on a small shared CPU the
default thread pool's scheduling stalls cost per op rather than per unit of work; both sides of every ratio run with
the same setting.
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

import kreg
from benchmarks import timing
from benchmarks.timing import median_ratio, median_time
from kreg.layers.noise import GaussianNoise
from kreg.layers.weight_noise import DropConnect, WeightNoise

REPEATS = 9
TARGET = 1.15
BASELINE = "plain Dense"
SAMPLES = 10240  # per timed epoch, whatever the batch size


def _data():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    reps = int(np.ceil(SAMPLES / len(x)))
    return np.tile(x, (reps, 1))[:SAMPLES], np.tile(y, reps)[:SAMPLES]


def _weight_noise(layer):
    return WeightNoise(layer, 0.01, seed=0)


def _drop_connect(layer):
    return DropConnect(layer, 0.5, seed=0)


def _scheduled_drop_connect(layer):
    return DropConnect(layer, kreg.schedules.Linear(0.0, 0.5, steps=1000), seed=0)


VARIANTS = {
    BASELINE: (None, False),
    "WeightNoise(Dense)": (_weight_noise, False),
    "DropConnect(Dense)": (_drop_connect, False),
    "DropConnect(Dense), scheduled rate": (_scheduled_drop_connect, False),
    "GaussianNoise after each hidden layer": (None, True),
}
TARGETED = ("WeightNoise(Dense)", "DropConnect(Dense)", "DropConnect(Dense), scheduled rate")


CONFIGS = [
    # (name, batch size, variants, jit_compile, backends or None for all, repeats)
    ("batch 256", 256, list(VARIANTS), "auto", None, REPEATS),
    ("batch 1024", 1024, [BASELINE, "WeightNoise(Dense)", "DropConnect(Dense)"], "auto", None, REPEATS),
    # What `jit_compile=True` costs on TensorFlow's CPU (Keras's "auto" leaves XLA off there): every
    # `keras.random` draw goes through XLA's CPU random-number path; Keras's own Dropout pays it too.
    ("batch 256, jit_compile=True", 256, [BASELINE, "DropConnect(Dense)"], True, ("tensorflow",), 3),
]


def mlp(wrap=None, activation_noise=False, jit_compile="auto"):
    """The benchmark MLP; `wrap` wraps every Dense, `activation_noise` adds `GaussianNoise(0.1)` after each hidden."""
    keras.utils.set_random_seed(0)
    wrap = wrap or (lambda layer: layer)
    layers = [keras.Input((64,))]
    for index in range(4):
        layers.append(wrap(keras.layers.Dense(512, activation="relu")))
        if activation_noise:
            layers.append(GaussianNoise(0.1, seed=index))
    layers.append(wrap(keras.layers.Dense(10)))
    model = keras.Sequential(layers)
    model.compile(
        keras.optimizers.SGD(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def run(repeats=REPEATS, torch_threads=1):
    """Returns the rows: the plain step time, then each variant's step-time ratio to it (and the target)."""
    with timing.torch_threads(torch_threads or None):
        return _run(repeats)


def _run(repeats):
    x, y = _data()
    backend = keras.backend.backend()
    rows = []
    for config, batch, variants, jit_compile, backends, config_repeats in CONFIGS:
        if backends is not None and backend not in backends:
            continue
        fns = {}
        for name in variants:
            wrap, activation_noise = VARIANTS[name]
            model = mlp(wrap, activation_noise, jit_compile)

            def epoch(model=model, batch=batch):
                model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

            fns[name] = epoch
        rounds = timing.rotated_rounds(fns, min(repeats, config_repeats))
        steps = SAMPLES // batch
        for name in variants:
            ratio = median_ratio(rounds, name, BASELINE)
            targeted = name in TARGETED and jit_compile == "auto"
            rows.append(
                {
                    "backend": backend,
                    "config": config,
                    "variant": name,
                    "ms/step": 1000 * median_time(rounds, name) / steps,
                    "vs plain Dense": ratio,
                    "target": f"<= {TARGET}" if targeted else "",
                    "met": ("yes" if ratio <= TARGET else "NO") if targeted else "",
                }
            )
    return rows
