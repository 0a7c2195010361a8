"""Step-time cost of kreg's `DropPath` and `DropBlock2D`: `python -m benchmarks drop_layers` (on `KERAS_BACKEND`).

Model: a small residual conv net on 16x16x8 inputs (batch 64): a `Conv2D(32)` stem, then the stem's dropout
(`DropBlock2D(0.1, block_size=3)` or `SpatialDropout2D(0.1)`), then two residual blocks of two `Conv2D(32)` whose
branch goes through the branch dropout (`DropPath` at the linear depth rule's rates 0.05 and 0.1, or `Dropout` at the
same rates) before the addition, then global average pooling and `Dense(10)`; SGD, the backend's default
`jit_compile` (Keras's "auto": XLA on JAX, off on TensorFlow's CPU, eager on PyTorch). Variants:

- "Keras Dropout + SpatialDropout2D": Keras's layers in both places (the baseline of the training ratios).
- "kreg DropPath + DropBlock2D": kreg's layers in both places.
- "kreg DropPath + Keras SpatialDropout2D" and "Keras Dropout + kreg DropBlock2D": one kreg layer each, to see
  which one costs what (no target: `SpatialDropout2D` draws one number per channel, DropBlock one per position
  and max-pools them, so DropBlock alone is more work; kreg's `DropPath` draws one number per sample, Keras's
  `Dropout` one per entry).
- "kreg, scheduled rates": kreg's layers with `kreg.schedules.Linear` rates (the step counter and the schedule's
  arithmetic on top).
- "no drop layers": the same net without either (the baseline of the inference ratios).

Rows:

1. Training (forward + backward + update): `train_on_batch` on 2 batches per variant per round, interleaved
   (`benchmarks.timing.paired_rounds`, 41 rounds after a warm-up round that holds the compilations; rounds this
   short share the bursts of load of a busy machine evenly); each ratio is the median over rounds of the ratio to
   the Keras-layers run of the same round. Target: kreg's layers <= 1.10 x Keras's. On TensorFlow one more row
   times the two full nets with `jit_compile=True` (XLA; informational).
2. Inference (`predict_on_batch` on the same 2 batches, `training=False`, timed the same way): kreg's net against
   the net without the layers. Target: 1.00, since the layers return their input itself and emit no op. "ops at
   inference" counts what the backend records for `model(x, training=False)`: the operations of the `tf.function`
   graph on TensorFlow, the equations of the jaxpr on JAX (on PyTorch, eager, there is no graph: the identity is
   checked by `is`).

On PyTorch the benchmark runs with one intra-op thread (see `bench_structured.run`): on a small shared CPU the
default thread pool's scheduling stalls cost per op rather than per unit of work; both sides of every ratio run with
the same setting.
"""

import keras
import numpy as np

import kreg
from benchmarks import timing
from benchmarks.timing import median_ratio, median_time, paired_rounds
from kreg.layers.drop_block import DropBlock2D
from kreg.layers.drop_path import DropPath, drop_path_rates

REPEATS = 41
TARGET = 1.10
BATCH = 64
STEPS = 2  # per variant per round: rounds this short share the load of a busy machine evenly
SAMPLES = STEPS * BATCH
PREDICT_BATCH = 64
SHAPE = (16, 16, 8)
KERAS = "Keras Dropout + SpatialDropout2D"
KREG = "kreg DropPath + DropBlock2D"
SCHEDULED = "kreg, scheduled rates"
NONE = "no drop layers"

# variant -> (stem dropout, branch dropout): "kreg", "keras", "scheduled" or None
VARIANTS = {
    KERAS: ("keras", "keras"),
    KREG: ("kreg", "kreg"),
    "kreg DropPath + Keras SpatialDropout2D": ("keras", "kreg"),
    "Keras Dropout + kreg DropBlock2D": ("kreg", "keras"),
    SCHEDULED: ("scheduled", "scheduled"),
    NONE: (None, None),
}


def stem_dropout(kind):
    if kind == "kreg":
        return DropBlock2D(0.1, block_size=3, seed=0)
    if kind == "scheduled":
        return DropBlock2D(kreg.schedules.Linear(0.0, 0.1, steps=5000), block_size=3, seed=0)
    if kind == "keras":
        return keras.layers.SpatialDropout2D(0.1, seed=0)
    return None


def branch_dropout(kind, rate, seed):
    if kind == "kreg":
        return DropPath(rate, seed=seed)
    if kind == "scheduled":
        return DropPath(kreg.schedules.Linear(0.0, rate, steps=5000), seed=seed)
    if kind == "keras":
        return keras.layers.Dropout(rate, seed=seed)
    return None


def residual_net(stem_kind, branch_kind, jit_compile="auto"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    dropout = stem_dropout(stem_kind)
    if dropout is not None:
        x = dropout(x)
    for index, rate in enumerate(drop_path_rates(0.1, 2)):
        branch = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        branch = keras.layers.Conv2D(32, 3, padding="same")(branch)
        dropout = branch_dropout(branch_kind, rate, seed=1 + index)
        if dropout is not None:
            branch = dropout(branch)
        x = keras.layers.Activation("relu")(keras.layers.Add()([x, branch]))
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def inference_op_count(model, x):
    """Operations the backend records for `model(x, training=False)`, or `None` on PyTorch (eager)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        function = tf.function(lambda inputs: model(inputs, training=False))
        return len(function.get_concrete_function(tf.TensorSpec(x.shape, x.dtype)).graph.get_operations())
    if backend == "jax":
        import jax

        return len(jax.make_jaxpr(lambda inputs: model(inputs, training=False))(x).jaxpr.eqns)
    return None


def run(repeats=REPEATS, torch_threads=1):
    """Returns the rows: training step ratios to Keras's layers, then inference ratios to the net without layers."""
    with timing.torch_threads(torch_threads or None):
        return _run(repeats)


def _run(repeats):
    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES,) + SHAPE).astype("float32")
    y = rng.integers(0, 10, size=(SAMPLES,)).astype("int32")
    models = {name: residual_net(*kinds) for name, kinds in VARIANTS.items()}

    def steps(model):
        def run():
            for start in range(0, STEPS * BATCH, BATCH):
                model.train_on_batch(x[start : start + BATCH], y[start : start + BATCH])

        return run

    rounds = paired_rounds({name: steps(model) for name, model in models.items()}, repeats)
    rows = []
    for name in VARIANTS:
        ratio = median_ratio(rounds, name, KERAS)
        targeted = name in (KREG, SCHEDULED)  # the one-kreg-layer rows show where the cost is
        rows.append(
            {
                "backend": backend,
                "measure": "training step",
                "jit_compile": "auto",
                "variant": name,
                "ms/step": 1000 * median_time(rounds, name) / STEPS,
                "ratio": ratio,
                "vs": KERAS,
                "target": f"<= {TARGET}" if targeted else "",
                "met": ("yes" if ratio <= TARGET else "NO") if targeted else "",
            }
        )

    if backend == "tensorflow":
        # Keras's "auto" leaves XLA off on TensorFlow's CPU; what `jit_compile=True` gives, for the two full nets.
        xla = {name: residual_net(*VARIANTS[name], jit_compile=True) for name in (KERAS, KREG)}
        rounds = paired_rounds({name: steps(model) for name, model in xla.items()}, repeats)
        rows.append(
            {
                "backend": backend,
                "measure": "training step",
                "jit_compile": True,
                "variant": KREG,
                "ms/step": 1000 * median_time(rounds, KREG) / STEPS,
                "ratio": median_ratio(rounds, KREG, KERAS),
                "vs": f"{KERAS} ({1000 * median_time(rounds, KERAS) / STEPS:.1f} ms/step)",
                "target": "",
                "met": "",
            }
        )

    def predict(model):
        def run():
            for start in range(0, STEPS * BATCH, PREDICT_BATCH):
                model.predict_on_batch(x[start : start + PREDICT_BATCH])

        return run

    inference = {name: models[name] for name in (NONE, KREG, KERAS)}
    rounds = paired_rounds({name: predict(model) for name, model in inference.items()}, repeats)
    sample = x[:BATCH]
    features = keras.ops.ones((BATCH, 16, 16, 32))  # what the drop layers see in the net
    plain_ops = inference_op_count(models[NONE], sample)
    for name in (KREG, KERAS):
        ratio = median_ratio(rounds, name, NONE)
        ops_count = inference_op_count(models[name], sample)
        identity = all(
            layer(features, training=False) is features
            for layer in models[name].layers
            if isinstance(layer, (DropPath, DropBlock2D))
        )
        rows.append(
            {
                "backend": backend,
                "measure": "inference (predict)",
                "jit_compile": "auto",
                "variant": name,
                "ms/step": 1000 * median_time(rounds, name) / (STEPS * BATCH // PREDICT_BATCH),
                "ratio": ratio,
                "vs": NONE,
                "ops at inference": "-" if ops_count is None else f"{ops_count} (plain net: {plain_ops})",
                "identity (`is`)": identity if name == KREG else "",
                "target": "1.00 (+-2% noise)" if name == KREG else "",
                "met": ("yes" if ratio <= 1.02 else "NO") if name == KREG else "",
            }
        )
    return rows
