"""Step-time cost of the structured regularizers on a small conv net, against no regularization.

Rows: `Orthogonal(mode="srip")`, `Orthogonal(mode="so")`, `GroupLasso` and `GroupLasso(proximal=True)` (with
`kreg.callbacks.TrainingBinding()`) on every Conv2D kernel of a 3-conv net (32x32x3 inputs, batch 64), timed
interleaved with the same net without regularization in this one process (median over rounds of the ratio to the
unregularized run of the same round). Target: ratio <= 1.15.
"""

import keras
import numpy as np

import kreg
from benchmarks import timing
from benchmarks.timing import median_ratio, median_time, paired_rounds

BATCH = 64
STEPS = 8
TARGET = 1.15


def conv_net(regularizer_factory):
    layers = [keras.Input((32, 32, 3))]
    for filters in (32, 64, 64):
        regularizer = regularizer_factory() if regularizer_factory else None
        layers.append(
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_regularizer=regularizer)
        )
        layers.append(keras.layers.MaxPooling2D())
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    return keras.Sequential(layers)


CANDIDATES = {
    "none": None,
    'Orthogonal(mode="srip")': lambda: kreg.regularizers.Orthogonal(1e-4, mode="srip"),
    'Orthogonal(mode="so")': lambda: kreg.regularizers.Orthogonal(1e-4, mode="so"),
    "GroupLasso": lambda: kreg.regularizers.GroupLasso(1e-4),
    "GroupLasso(proximal=True)": lambda: kreg.regularizers.GroupLasso(1e-4, proximal=True),
}


def run(repeats=11, torch_threads=1):
    """`torch_threads`: on a small shared CPU, PyTorch's default of one thread per core stalls each op while a
    thread waits to be scheduled, a cost proportional to the number of ops rather than to their work, which
    swamps the comparison (measured here: SO penalty 51 ms with 2 threads under load, 0.7 ms with 1). Both sides
    of every ratio run with the same setting; pass `None` to keep PyTorch's default."""
    with timing.torch_threads(torch_threads or None):
        return _run(repeats)


def _run(repeats):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(BATCH * STEPS,))
    fns = {}
    for name, factory in CANDIDATES.items():
        keras.utils.set_random_seed(0)
        model = conv_net(factory)
        model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        callbacks = [kreg.callbacks.TrainingBinding()] if "proximal" in name else []

        def fit(model=model, callbacks=callbacks):
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)

        fns[name] = fit
    # Paired rounds: each ratio is taken against the "none" run of the same round (see `paired_rounds`).
    rounds = paired_rounds(fns, repeats)
    times = {name: median_time(rounds, name) for name in fns}
    ratios = {name: median_ratio(rounds, name, "none") for name in fns}
    rows = []
    for name, seconds in times.items():
        ratio = ratios[name]
        rows.append(
            {
                "backend": keras.backend.backend(),
                "regularizer (every Conv2D kernel)": name,
                "ms/step": 1000 * seconds / STEPS,
                "ratio vs none": ratio,
                "target": "-" if name == "none" else f"<= {TARGET}",
                "ok": "-" if name == "none" else ("yes" if ratio <= TARGET else "no"),
            }
        )
    return rows
