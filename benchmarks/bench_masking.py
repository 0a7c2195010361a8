"""Step-time cost of kreg's tabular masking layers against Keras's `Dropout`: `python -m benchmarks masking`.

Model: an MLP (3 x Dense(512, relu) and Dense(10)) on the 64 features of scikit-learn's digits, SGD, the backend's
default `jit_compile`, batch 256, in these variants:

- "Dropout": `keras.layers.Dropout(0.15)` (the baseline of every ratio).
- "FeatureMask": `kreg.layers.FeatureMask(0.15)` in the same places.
- "FeatureMask, scheduled rate": `FeatureMask(kreg.schedules.Linear(0.0, 0.15, steps=1000))` (the step counter and
  the schedule's arithmetic on top).
- "SwapNoise": `kreg.layers.SwapNoise(0.15)` in the same places (one uniform draw and a gather per entry).
- "no augmentation": the bare MLP, for scale.

Two placements (`CONFIGS`): on the input only (how the tabular layers are used: the layer's cost is small next to the
Dense layers), and after the input and each hidden layer (3 x 512 more entries per example: the layer's own cost
shows). Every variant of a placement is trained in this one process, one epoch of 10240 examples per round,
interleaved, each round starting at the next variant, after a warm-up round that holds the compilations; each ratio
is the median over rounds of the ratio to the Dropout run of the same round. Target: FeatureMask <= 1.15 x Dropout.

On PyTorch the benchmark runs with one intra-op thread (as `bench_noise_layers`); both sides of every ratio run with
the same setting.
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

import kreg
from benchmarks import timing
from benchmarks.timing import median_ratio, median_time
from kreg.layers.masking import FeatureMask, SwapNoise

REPEATS = 7
TARGET = 1.15
BASELINE = "Dropout"
SAMPLES = 10240
BATCH = 256
RATE = 0.15

VARIANTS = {
    BASELINE: lambda index: keras.layers.Dropout(RATE, seed=index),
    "FeatureMask": lambda index: FeatureMask(RATE, seed=index),
    "FeatureMask, scheduled rate": lambda index: FeatureMask(kreg.schedules.Linear(0.0, RATE, steps=1000), seed=index),
    "SwapNoise": lambda index: SwapNoise(RATE, seed=index),
    "no augmentation": None,
}
TARGETED = ("FeatureMask", "FeatureMask, scheduled rate")
CONFIGS = [("on the input", False), ("on the input and after each hidden layer", True)]


def _data():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    reps = int(np.ceil(SAMPLES / len(x)))
    return np.tile(x, (reps, 1))[:SAMPLES], np.tile(y, reps)[:SAMPLES]


def mlp(make_layer=None, hidden_too=False):
    """The benchmark MLP, with `make_layer(index)` on the input (and after each hidden layer if `hidden_too`)."""
    keras.utils.set_random_seed(0)
    layers = [keras.Input((64,))]
    if make_layer is not None:
        layers.append(make_layer(0))
    for index in range(3):
        layers.append(keras.layers.Dense(512, activation="relu"))
        if make_layer is not None and hidden_too:
            layers.append(make_layer(index + 1))
    layers.append(keras.layers.Dense(10))
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def run(repeats=REPEATS, torch_threads=1):
    """Returns the rows: each variant's ms/step and step-time ratio to Dropout in the same places."""
    with timing.torch_threads(torch_threads or None):
        return _run(repeats)


def _run(repeats):
    x, y = _data()
    backend = keras.backend.backend()
    rows = []
    for config, hidden_too in CONFIGS:
        fns = {}
        for name, make_layer in VARIANTS.items():
            model = mlp(make_layer, hidden_too)

            def epoch(model=model):
                model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

            fns[name] = epoch
        rounds = timing.rotated_rounds(fns, repeats)
        steps = SAMPLES // BATCH
        for name in VARIANTS:
            ratio = median_ratio(rounds, name, BASELINE)
            targeted = name in TARGETED
            rows.append(
                {
                    "backend": backend,
                    "config": config,
                    "variant": name,
                    "ms/step": 1000 * median_time(rounds, name) / steps,
                    "vs Dropout": ratio,
                    "target": f"<= {TARGET}" if targeted else "",
                    "met": ("yes" if ratio <= TARGET else "NO") if targeted else "",
                }
            )
    return rows
