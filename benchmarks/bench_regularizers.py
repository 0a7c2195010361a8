"""Regularizer step-time ratios (kreg vs Keras built-ins vs none) and exact zeros of the proximal L1 step.

Model: MLP of 4 x Dense(512) on the 64 features of scikit-learn's digits, batch 256, every kernel regularized.
All candidates are trained in this one process, their epochs interleaved, and compared by median epoch time.
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

import kreg
from benchmarks.timing import median_ratio, median_time, paired_rounds

BATCH = 256
STEPS = 40
L1_SPARSE = 1e-3
REPEATS = 9


def _data():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    reps = int(np.ceil(BATCH * STEPS / len(x)))
    return np.tile(x, (reps, 1))[: BATCH * STEPS], np.tile(y, reps)[: BATCH * STEPS]


def _mlp(regularizer_factory):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((64,))]
    for _ in range(4):
        layers.append(keras.layers.Dense(512, activation="relu", kernel_regularizer=regularizer_factory()))
    layers.append(keras.layers.Dense(10, kernel_regularizer=regularizer_factory()))
    model = keras.Sequential(layers)
    model.compile(
        keras.optimizers.SGD(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile="auto",
    )
    return model


def _epoch(model, x, y, callbacks=()):
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=list(callbacks))


def _zero_fraction(model):
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers]
    return float(sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels))


def run():
    x, y = _data()
    candidates = {
        "none": (_mlp(lambda: None), ()),
        "keras L2": (_mlp(lambda: keras.regularizers.L2(1e-4)), ()),
        "kreg L2": (_mlp(lambda: kreg.regularizers.L2(1e-4)), ()),
        "keras L1L2": (_mlp(lambda: keras.regularizers.L1L2(1e-5, 1e-4)), ()),
        "kreg ElasticNet": (_mlp(lambda: kreg.regularizers.ElasticNet(1e-5, 1e-4)), ()),
        "keras L1": (_mlp(lambda: keras.regularizers.L1(L1_SPARSE)), ()),
        "kreg L1 proximal": (
            _mlp(lambda: kreg.regularizers.L1(L1_SPARSE, proximal=True)),
            [kreg.callbacks.TrainingBinding()],
        ),
    }
    rounds = paired_rounds({name: _epoch(m, x, y, cb) for name, (m, cb) in candidates.items()}, repeats=REPEATS)
    rows = [
        {"comparison": "step time, no regularization (ms)", "value": 1000 * median_time(rounds, "none") / STEPS},
        _row("kreg L2 vs keras L2", median_ratio(rounds, "kreg L2", "keras L2"), 1.02),
        _row("kreg L2 vs none", median_ratio(rounds, "kreg L2", "none"), 1.10),
        _row("keras L1L2 vs none", median_ratio(rounds, "keras L1L2", "none"), None),
        _row("kreg ElasticNet vs keras L1L2", median_ratio(rounds, "kreg ElasticNet", "keras L1L2"), 1.02),
        _row("kreg ElasticNet vs none", median_ratio(rounds, "kreg ElasticNet", "none"), 1.10),
        _row("kreg L1 proximal vs keras L1", median_ratio(rounds, "kreg L1 proximal", "keras L1"), None),
    ]
    # Each model has run REPEATS + 1 epochs of 40 steps: compare their sparsity and accuracy.
    for name in ("keras L1", "kreg L1 proximal"):
        model = candidates[name][0]
        model.compile(model.optimizer, model.loss, metrics=["accuracy"])
        accuracy = model.evaluate(x[: len(x) // 4], y[: len(y) // 4], verbose=0)[1]
        rows.append(
            {
                "comparison": f"{name}, l1={L1_SPARSE}, {(REPEATS + 1) * STEPS} steps: exact-zero fraction (train accuracy {accuracy:.3f})",
                "value": _zero_fraction(model),
                "target": "",
                "met": "",
            }
        )
    rows.append({"comparison": "backend", "value": keras.backend.backend(), "target": "", "met": ""})
    return rows


def _row(name, ratio, target):
    return {
        "comparison": f"step time, {name}",
        "value": ratio,
        "target": f"<= {target}" if target else "",
        "met": ("yes" if ratio <= target else "NO") if target else "",
    }
