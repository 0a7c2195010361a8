"""A long run with every kreg callback attached: flat memory, event files growing linearly: `python -m benchmarks load`.

One `fit` of `EPOCHS * STEPS_PER_EPOCH` training steps of a small MLP (32 -> 64 -> 64 -> 10 on generated data) with
a proximal L1, a scheduled L2, a group lasso and a `SpectralNorm` constraint, and every callback at once:
`EarlyStopping` (best weights kept, state backed up each epoch to `backup_dir`), `AdaptiveEarlyStopping`,
`RegularizationReport` logging the weight statistics every `LOG_EVERY` batches and everything at each epoch end,
and Keras's `BackupAndRestore`. Neither stopper is allowed to stop (huge patience).

At each epoch end a probe records the resident set size (`VmRSS` of `/proc/self/status`, the peak `VmHWM` too) and
the size of the report's event files. Rows: one per `PROBE_EVERY` epochs, then a summary:

- `rss_growth_mb`: RSS at the end minus RSS after the warm-up epochs (the first `WARMUP` epochs trace and allocate);
  `rss_growth_per_1k_steps_kb`: its slope by least squares over the post-warm-up epochs. Flat memory: a slope of a
  few KB per thousand steps at most (allocator noise), not a growth proportional to the run.
- `bytes_per_logged_step` and `linear_r2`: the event file size against the number of logged steps, fitted by a line
  (r^2 close to 1 and a constant cost per logged step: linear growth, nothing re-written or accumulated).
"""

import os
import tempfile

import keras
import numpy as np

import kreg

EPOCHS = 30
STEPS_PER_EPOCH = 100
BATCH_SIZE = 32
LOG_EVERY = 10
WARMUP = 3
PROBE_EVERY = 3


def rss_kb():
    """`(VmRSS, VmHWM)` of this process in KB (Linux), or `(ru_maxrss, ru_maxrss)` elsewhere."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak, peak


def event_bytes(log_dir):
    total = 0
    for root, _, files in os.walk(log_dir):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if "tfevents" in f)
    return total


class Probe(keras.callbacks.Callback):
    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self.records = []

    def on_epoch_end(self, epoch, logs=None):
        rss, peak = rss_kb()
        steps = (epoch + 1) * STEPS_PER_EPOCH
        logged = steps // LOG_EVERY + (epoch + 1)  # batch-frequency logs, plus the epoch-end logs
        self.records.append(
            {
                "epoch": epoch + 1,
                "steps": steps,
                "rss_kb": rss,
                "peak_kb": peak,
                "logged": logged,
                "event_bytes": event_bytes(self.log_dir),
            }
        )


def build():
    regularizers = kreg.regularizers
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(64, activation="relu", kernel_regularizer=regularizers.L1(1e-4, proximal=True)),
            keras.layers.Dense(
                64,
                activation="relu",
                kernel_regularizer=regularizers.L2(kreg.schedules.Linear(0.0, 1e-4, steps=1000)),
                kernel_constraint=kreg.constraints.SpectralNorm(2.0),
            ),
            keras.layers.Dense(10, kernel_regularizer=regularizers.GroupLasso(1e-4, proximal=True)),
        ]
    )
    model.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def slope_and_r2(x, y):
    x, y = np.asarray(x, "float64"), np.asarray(y, "float64")
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    return float(slope), float(1.0 - np.sum(residual**2) / total) if total > 0 else 1.0


def run():
    rng = np.random.default_rng(0)
    n = STEPS_PER_EPOCH * BATCH_SIZE
    x = rng.normal(size=(n, 32)).astype("float32")
    y = rng.integers(0, 10, size=n)
    validation = (x[:256], y[:256])
    with tempfile.TemporaryDirectory() as work:
        log_dir, backup_dir = os.path.join(work, "logs"), os.path.join(work, "backup")
        probe = Probe(log_dir)
        callbacks = [
            kreg.callbacks.EarlyStopping(patience=10**6, restore_best_weights=True, backup_dir=backup_dir),
            kreg.callbacks.AdaptiveEarlyStopping(patience=10**6, max_patience=10**6),
            kreg.callbacks.RegularizationReport(log_dir, update_freq=LOG_EVERY),
            keras.callbacks.BackupAndRestore(backup_dir),
            probe,
        ]
        model = build()
        model.fit(
            x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_data=validation, verbose=0, callbacks=callbacks
        )
        records = probe.records
    rows = [
        {
            "epoch": r["epoch"],
            "steps": r["steps"],
            "rss_mb": r["rss_kb"] / 1024,
            "peak_rss_mb": r["peak_kb"] / 1024,
            "logged_steps": r["logged"],
            "event_kb": r["event_bytes"] / 1024,
        }
        for r in records
        if r["epoch"] % PROBE_EVERY == 0 or r["epoch"] == 1
    ]
    steady = records[WARMUP - 1 :]
    rss_slope, _ = slope_and_r2([r["steps"] for r in steady], [r["rss_kb"] for r in steady])
    bytes_slope, r2 = slope_and_r2([r["logged"] for r in records], [r["event_bytes"] for r in records])
    rows.append(
        {
            "epoch": "summary",
            "steps": records[-1]["steps"],
            "rss_growth_mb": (records[-1]["rss_kb"] - steady[0]["rss_kb"]) / 1024,
            "rss_growth_per_1k_steps_kb": rss_slope * 1000,
            "bytes_per_logged_step": bytes_slope,
            "linear_r2": r2,
        }
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
