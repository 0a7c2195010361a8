"""Throughput of kreg's `MixUp` and `CutMix` against `keras.layers.MixUp` / `keras.layers.CutMix`:
`python -m benchmarks mixing`.

Batches of (256, 32, 32, 3) float32 images with one-hot labels (10 classes), the same batches for both sides, in two
settings:

- "tf.data": `tf.data.Dataset.from_tensors(batch).repeat(BATCHES).map(layer)` iterated to the end (Keras's layers
  on `{"images": x, "labels": y}`, kreg's on `(x, y)`); TensorFlow graph tensors on every backend.
- "eager": the layer called on the backend's tensors, `EAGER_CALLS` batches one at a time per timed sample (JAX's
  asynchronous results waited for after each call).

The same configuration on both sides. Keras's layers draw one lam, and paste one box, per image, with a random
permutation of the batch for the partners; kreg runs in both modes: `mode="elem"` (exactly that) and `mode="batch"`
(timm's default: one lam and one box per batch). MixUp: Keras's `MixUp(alpha=0.2)` against kreg's `MixUp(0.2)`, lam ~
Beta(0.2, 0.2). CutMix: Keras's `CutMix(factor=(1.0, 1.0))` (it draws `alpha ~ U(factor)`, then lam ~ Beta(alpha +
1e-6, alpha + 1e-6): here Beta(1, 1) up to 1e-6) against kreg's `CutMix(1.0)` (lam ~ Beta(1, 1), which kreg draws as
the uniform law it is). Keras's default `factor=1.0` (alpha ~ U(0, 1)) is a different law, not a different cost:
Keras's work per batch does not depend on alpha. Every candidate of a setting is timed in this one process,
interleaved, over `REPEATS` rounds after a warm-up round (the traces), each round starting with the next candidate
(`timing.rotated_rounds`, so that none always runs first); "speed-up" is the median over rounds of Keras's time /
kreg's time within the round (>= 1.0: kreg is at least as fast). Target: >= 1.0 for `mode="elem"` and
`mode="batch"`, in both settings.
"""

import keras
import numpy as np
import tensorflow as tf

from benchmarks import timing
from benchmarks.timing import median_ratio, median_time
from kreg.layers.mixing import CutMix, MixUp

REPEATS = 15
BATCH = 256
BATCHES = 8  # per timed tf.data pass
EAGER_CALLS = 4  # batches per timed eager sample (one call is short next to the scheduler's noise)
TARGET = 1.0


def _batch():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(BATCH, 32, 32, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, BATCH)]
    return x, y


def _candidates():
    return {
        "MixUp": {
            "keras": keras.layers.MixUp(alpha=0.2, seed=0),
            "kreg elem": MixUp(0.2, mode="elem", seed=0),
            "kreg batch": MixUp(0.2, mode="batch", seed=0),
        },
        "CutMix": {
            "keras": keras.layers.CutMix(factor=(1.0, 1.0), seed=0),
            "kreg elem": CutMix(1.0, mode="elem", seed=0),
            "kreg batch": CutMix(1.0, mode="batch", seed=0),
        },
    }


def _wait(value):
    ready = getattr(value, "block_until_ready", None)
    return ready() if ready is not None else value


def _pipeline(layer, is_keras, x, y):
    if is_keras:
        ds = tf.data.Dataset.from_tensors({"images": x, "labels": y}).repeat(BATCHES).map(layer)
    else:
        ds = tf.data.Dataset.from_tensors((x, y)).repeat(BATCHES).map(layer)

    def run():
        for _ in ds:
            pass

    return run, BATCHES


def _eager(layer, is_keras, x, y):
    x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)

    def run():
        for _ in range(EAGER_CALLS):
            out = layer({"images": x, "labels": y}) if is_keras else layer(x, y)
            _wait(out["images"] if is_keras else out[0])

    return run, EAGER_CALLS


def run(repeats=REPEATS):
    """Returns one row per (setting, layer, kreg mode): images/s of both sides and the speed-up over Keras."""
    backend = keras.backend.backend()
    x, y = _batch()
    rows = []
    for setting, make in (("tf.data", _pipeline), ("eager", _eager)):
        for name, layers in _candidates().items():
            fns, batches = {}, 1
            for label, layer in layers.items():
                fns[label], batches = make(layer, label == "keras", x, y)
            rounds = timing.rotated_rounds(fns, repeats)
            keras_rate = BATCH * batches / median_time(rounds, "keras")
            for label in ("kreg elem", "kreg batch"):
                speedup = 1.0 / median_ratio(rounds, label, "keras")
                rows.append(
                    {
                        "backend": backend,
                        "setting": setting,
                        "layer": name,
                        "kreg mode": label.split()[1],
                        "keras images/s": keras_rate,
                        "kreg images/s": BATCH * batches / median_time(rounds, label),
                        "speed-up": speedup,
                        "target": f">= {TARGET}",
                        "met": "yes" if speedup >= TARGET else "NO",
                    }
                )
    return rows
