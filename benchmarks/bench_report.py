"""Cost of `kreg.callbacks.RegularizationReport`: `python -m benchmarks report`.

An MLP of about 1M parameters (64 -> 1024 -> 896 -> 10, L1 on the hidden kernels, L2 on the output kernel) trains on
scikit-learn's digits (1,437 training rows, 360 validation rows, Keras's default batch size 32: 45 steps per
epoch). Each variant runs `fit(epochs=EPOCHS)` on the same compiled model, interleaved with the others
(`benchmarks.timing`), and the median per-epoch time is compared with the run without callbacks:

- `none`: no callback.
- `RegularizationReport`: the report with its defaults (every scalar every epoch, no histograms).
- `keras TensorBoard(histogram_freq=1)`: Keras's callback with weight histograms every epoch (what one would use to
  watch weights with Keras alone; it needs TensorFlow installed, on any backend).
- `RegularizationReport + keras TensorBoard(histogram_freq=0)`: both callbacks side by side on one `log_dir`.

The report's cost is per logging step, not per training step: it is a fixed time per epoch, so its share is
inversely proportional to the epoch's length (`BATCH_SIZE = 64` halves the epoch and doubles the share).

The whole-fit rows are noisy on a shared machine; the `on_epoch_end` row times the report's own hook during the
same fits and is the overhead figure. Target (issue 6): at most 3% of the epoch time. The backend is
`KERAS_BACKEND`'s.
"""

import importlib.util
import tempfile
import time

import keras
import numpy as np
from sklearn.datasets import load_digits

from benchmarks.timing import interleaved_times
from kreg.callbacks import RegularizationReport

EPOCHS = 3
REPEATS = 7
BATCH_SIZE = 32


class TimedReport(RegularizationReport):
    """The report, also timing its own hooks (its overhead, free of the other variants' noise).

    `epoch_seconds` sums `on_epoch_end` (the per-epoch cost: statistics, scalars, flush); `fit_seconds` sums
    `on_train_begin` + `on_train_end` (the per-fit cost: opening the event file, the text table, closing).
    """

    epoch_seconds = 0.0
    fit_seconds = 0.0

    def on_train_begin(self, logs=None):
        start = time.perf_counter()
        super().on_train_begin(logs)
        self.fit_seconds += time.perf_counter() - start

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        super().on_epoch_end(epoch, logs)
        self.epoch_seconds += time.perf_counter() - start

    def on_train_end(self, logs=None):
        start = time.perf_counter()
        super().on_train_end(logs)
        self.fit_seconds += time.perf_counter() - start


def digits():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order].astype("int32")
    return (x[:1437], y[:1437]), (x[1437:], y[1437:])


def mlp():
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(1024, activation="relu", kernel_regularizer=keras.regularizers.L1(1e-6)),
            keras.layers.Dense(896, activation="relu", kernel_regularizer=keras.regularizers.L1(1e-6)),
            keras.layers.Dense(10, kernel_regularizer=keras.regularizers.L2(1e-4)),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def run():
    with tempfile.TemporaryDirectory(prefix="kreg_bench_report_") as log_root:
        return measure(log_root)


def measure(log_root):
    keras.utils.set_random_seed(0)
    (x, y), validation = digits()
    model = mlp()

    def fit(callbacks):
        return lambda: model.fit(
            x, y, validation_data=validation, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0, callbacks=callbacks()
        )

    report = TimedReport(f"{log_root}/report")
    paired = RegularizationReport(f"{log_root}/paired")
    variants = {"none": fit(list), "RegularizationReport": fit(lambda: [report])}
    has_tf = importlib.util.find_spec("tensorflow") is not None
    if has_tf:
        variants["keras TensorBoard(histogram_freq=1)"] = fit(
            lambda: [keras.callbacks.TensorBoard(f"{log_root}/keras", histogram_freq=1)]
        )
        variants["RegularizationReport + keras TensorBoard(histogram_freq=0)"] = fit(
            lambda: [paired, keras.callbacks.TensorBoard(f"{log_root}/paired")]
        )
    for variant in variants.values():  # warm-up: traces the train step and compiles the report's statistics
        variant()
    first_fit_seconds = report.epoch_seconds + report.fit_seconds
    report.epoch_seconds = report.fit_seconds = 0.0
    times = interleaved_times(variants, repeats=REPEATS, warmup=0)
    per_epoch = report.epoch_seconds / (REPEATS * EPOCHS)
    per_fit = report.fit_seconds / REPEATS
    base = times["none"] / EPOCHS
    rows = []
    for name, seconds in times.items():
        epoch = seconds / EPOCHS
        rows.append(
            {
                "backend": keras.backend.backend(),
                "callbacks": name,
                "params": model.count_params(),
                "epoch_s": epoch,
                "vs none": epoch / base,
                "overhead %": 100.0 * (epoch / base - 1.0),
            }
        )
    rows.append(
        {
            "backend": keras.backend.backend(),
            "callbacks": "RegularizationReport: on_epoch_end, per epoch",
            "params": model.count_params(),
            "epoch_s": per_epoch,
            "vs none": 1.0 + per_epoch / base,
            "overhead %": 100.0 * per_epoch / base,
        }
    )
    rows.append(
        {
            "backend": keras.backend.backend(),
            "callbacks": f"RegularizationReport: on_train_begin + on_train_end, per fit, / {EPOCHS} epochs",
            "params": model.count_params(),
            "epoch_s": per_fit / EPOCHS,
            "vs none": 1.0 + per_fit / EPOCHS / base,
            "overhead %": 100.0 * per_fit / EPOCHS / base,
        }
    )
    rows.append(
        {
            "backend": keras.backend.backend(),
            "callbacks": "RegularizationReport: first fit (compiles the statistics), once",
            "params": model.count_params(),
            "epoch_s": first_fit_seconds,
        }
    )
    if not has_tf:
        rows.append({"backend": keras.backend.backend(), "callbacks": "keras TensorBoard: skipped (needs TensorFlow)"})
    return rows
