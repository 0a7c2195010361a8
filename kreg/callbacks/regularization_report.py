"""`RegularizationReport`: sparsity, norms, penalties, schedules and the generalization gap in TensorBoard.

References:
    Prechelt 1998, "Early Stopping - But When?" (generalization loss GL(t) = 100 * (E_va(t) / E_opt(t) - 1)).
    Rudelson & Vershynin 2007 (stable rank); Miyato et al. 2018 (persistent power iteration).
"""

import os
import warnings

import keras
from keras import ops

from kreg import validation
from kreg.callbacks.metric_direction import declared_direction
from kreg.callbacks.training_binding import BindingCallback
from kreg.introspection import unwrap, walk_layers
from kreg.ops.weight_stats import NEAR_ZERO_SCALES, WeightStatistics
from kreg.schedules import is_schedule
from kreg.tensorboard import layouts
from kreg.tensorboard.event_writer import EventWriter, check_writable

#: Metric-name fragments telling whether a metric is better when higher ("up") or lower ("down").
_UP_HINTS = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "true_positives", "true_negatives")
_DOWN_HINTS = ("loss", "error", "crossentropy", "mse", "mae", "mape", "msle", "hinge", "divergence", "poisson")
#: The loss keys (the gap of the loss is `generalization/loss_gap`, on the data loss when there is one).
_LOSS_KEYS = ("loss", "data_loss", "penalty")
#: Log keys that are not metrics (logged under `schedules/` instead).
_NOT_METRICS = ("learning_rate", "lr")


@keras.saving.register_keras_serializable(package="kreg")
class RegularizationReport(BindingCallback):
    """Logs what regularization does to a model to TensorBoard, on every backend, without TensorFlow.

    Written to the run `<log_dir>/<run_name>` (next to the `train/` and `validation/` runs of
    `keras.callbacks.TensorBoard(log_dir)`, which can share the same `log_dir`), at every epoch end:

    - `sparsity/global`, `sparsity/<weight path>`: fraction of exactly-zero entries; `near_zero/...`: fraction with
      `|w| <= near_zero * scale`; `group_sparsity/<kernel path>`: fraction of all-zero output units (filters) of
      kernels of rank >= 2 (the structure group penalties act on).
    - `norms/<weight path>/l1`, `/l2`, `/max_abs`, and for kernels of rank >= 2 `/spectral` (largest singular value
      of the `(fan_in, units)` matrix, by power iteration with a persistent vector) and `/stable_rank`.
    - `penalty/<weight path>`: `variable.regularizer(variable)`, the term Keras adds to the loss; `penalty/total` and
      `penalty/share` (total / training loss). Activity-regularizer penalties depend on the inputs and are not
      included.
    - `generalization/loss_gap` (val - train), `generalization/loss_ratio`, `generalization/<metric>_gap`
      (positive when overfitting), `generalization/gl` (Prechelt's generalization loss); skipped, with one warning,
      when `fit` has no validation data. When the model has regularization penalties, the loss scalars use the data
      loss (`data_loss`, `val_data_loss`: the loss without the penalties, logged by kreg's training binding, which
      this callback takes): Keras's `loss` and `val_loss` both include the penalty, which hides part of the gap.
    - `metrics/<name>/train` and `metrics/<name>/validation`: the epoch logs, paired for the dashboard.
    - `schedules/learning_rate` and `schedules/<weight path>/<name>`: scheduled regularizer strengths (see
      `scheduled_values`); `schedules/<layer path>/<name>`: the current rates of kreg's random layers, every layer
      with a `current_values()` method (`ScheduledLayer` subclasses at their own step, `ConcreteDropout`'s learned
      rate; see `layer_values`).

    Every weight statistic is computed by one compiled function over all weights (`kreg.ops.WeightStatistics`)
    and transferred to the host as one vector. A custom-scalars layout (train vs validation per metric, the gap,
    per-layer sparsity/penalties) is written at the first epoch end; a per-weight sparsity table (Text tab) at the
    end of training. Every logging step ends with a blocking flush, so an exception (or a killed process) loses
    nothing already logged.

    Args:
        log_dir: the TensorBoard log directory; created and checked for writing at the start of `fit` (the
            constructor and `from_config` do not touch the disk).
        update_freq: `"epoch"`, or an integer N to also log the weight statistics every N batches (their step is
            then the optimizer's iteration count, at batch and epoch ends alike).
        near_zero: threshold of the `near_zero` fraction, relative to `near_zero_scale`.
        near_zero_scale: `"max_abs"` (default: `|w| <= near_zero * max|w|`), `"rms"` or `"absolute"`.
        power_iterations: power iterations per logging step for the spectral norms.
        histogram_freq: log weight histograms every this many epochs (0: never).
        sparsity_table: write the per-weight sparsity table as text at the end of training.
        layout: write the custom-scalars dashboard layout.
        run_name: the run (sub-directory of `log_dir`) written; must differ from Keras's `train` / `validation`.
        jit_compile: compile the statistics with XLA on TensorFlow (`"auto"`: yes). JAX always compiles.

    Example:

    >>> model.fit(x, y, validation_split=0.2, callbacks=[kreg.callbacks.RegularizationReport("logs")])
    >>> # tensorboard --logdir logs  -> Scalars (sections) and Custom Scalars (dashboard)

    Reference: Prechelt 1998, "Early Stopping - But When?" (the GL criterion).
    """

    def __init__(
        self,
        log_dir,
        update_freq="epoch",
        near_zero=1e-3,
        near_zero_scale="max_abs",
        power_iterations=1,
        histogram_freq=0,
        sparsity_table=True,
        layout=True,
        run_name="regularization",
        jit_compile="auto",
    ):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise validation.invalid("log_dir", "a non-empty path (str or os.PathLike)", log_dir)
        if update_freq != "epoch":
            if isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1:
                raise validation.invalid("update_freq", "'epoch' or an integer >= 1", update_freq)
        self.near_zero = validation.check_float("near_zero", near_zero, low=0.0)
        self.near_zero_scale = validation.check_choice("near_zero_scale", near_zero_scale, NEAR_ZERO_SCALES)
        self.power_iterations = validation.check_int("power_iterations", power_iterations, low=1)
        self.histogram_freq = validation.check_int("histogram_freq", histogram_freq, low=0)
        self.sparsity_table = validation.check_bool("sparsity_table", sparsity_table)
        self.layout = validation.check_bool("layout", layout)
        if not isinstance(run_name, str) or not run_name or run_name in ("train", "validation"):
            raise validation.invalid("run_name", "a non-empty str other than 'train' and 'validation'", run_name)
        if jit_compile not in ("auto", True, False):
            raise validation.invalid("jit_compile", "'auto', True or False", jit_compile)
        self.update_freq = update_freq
        self.run_name = run_name
        self.jit_compile = jit_compile
        self.log_dir = os.fspath(log_dir)
        self.writer = None
        self.last_stats = None
        self._statistics = None
        self._statistics_key = None

    # Fit lifecycle -----------------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self.writer is not None:
            self.writer.close()
        self.writer = EventWriter(os.path.join(check_writable(self.log_dir), self.run_name))
        super().on_train_begin(logs)
        self.last_stats = None
        self._best_val_loss = None
        self._warned = set()
        self._metric_names = None
        self._batch_calls = 0
        self._epoch = 0
        self._statistics = self._weight_statistics(self.model)

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch":
            return
        self._batch_calls += 1
        if self._batch_calls % self.update_freq == 0:
            model = self.model  # On JAX, reading `self.model` syncs the trained values into the variables.
            self.writer.scalars(self._weight_scalars(), int(ops.convert_to_numpy(model.optimizer.iterations)))
            self.writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        model = self.model
        self._epoch = epoch
        weight_step = epoch if self.update_freq == "epoch" else int(ops.convert_to_numpy(model.optimizer.iterations))
        self.writer.scalars(self._weight_scalars(logs), weight_step)
        scalars = self._metric_scalars(logs)
        scalars.update(self._generalization_scalars(model, logs))
        scalars.update(self._schedule_scalars(model))
        self.writer.scalars(scalars, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, variable in zip(self._statistics.names, self._statistics.variables):
                self.writer.histogram(f"weights/{name}", ops.convert_to_numpy(variable.value), epoch)
        metric_names = sorted({key.removeprefix("val_") for key in logs if key not in _NOT_METRICS})
        if self.layout and metric_names != self._metric_names:
            self._metric_names = metric_names
            layers = sorted({name.rpartition("/")[0] or name for name in self._statistics.names})
            ordered = [m for m in _LOSS_KEYS if m in metric_names] + [m for m in metric_names if m not in _LOSS_KEYS]
            layout = layouts.report_layout(ordered, layers)
            self.writer.plugin_data(layouts.LAYOUT_TAG, layouts.LAYOUT_PLUGIN, layout.SerializeToString(), epoch)
        self.writer.flush()

    def on_train_end(self, logs=None):
        try:
            self._finish()
        finally:
            super().on_train_end(logs)

    def _finish(self):
        if self.writer is None:
            return
        if self.sparsity_table:
            if self.last_stats is None:
                self.model  # noqa: B018 (on JAX, reading `self.model` syncs the trained values into the variables)
                self._weight_scalars()
            self.writer.text("report/sparsity_table", self.sparsity_table_markdown(), self._epoch)
        self.writer.close()

    # Scalars -----------------------------------------------------------------------------------------------

    def _weight_statistics(self, model):
        """The compiled statistics of the model's trainable float weights, rebuilt only when they changed."""
        variables = [v for v in model.trainable_weights if "float" in keras.backend.standardize_dtype(v.dtype)]
        optimizer = getattr(model, "optimizer", None)
        state = list(getattr(optimizer, "variables", []) or [])
        # The optimizer adds its slot variables when it builds; only `iterations` (and the learning rate) matter
        # to schedules, so the optimizer's identity, not its variable list, decides whether to rebuild.
        key = (tuple(id(v) for v in variables), id(optimizer))
        if self._statistics is not None and key == self._statistics_key:
            return self._statistics
        names, seen = [], {}
        for variable in variables:
            name = variable.path
            seen[name] = seen.get(name, 0) + 1
            names.append(name if seen[name] == 1 else f"{name}_{seen[name] - 1}")
        jit = keras.backend.backend() == "tensorflow" if self.jit_compile == "auto" else self.jit_compile
        self._statistics_key = key
        return WeightStatistics(
            variables,
            names=names,
            near_zero=self.near_zero,
            near_zero_scale=self.near_zero_scale,
            power_iterations=self.power_iterations,
            state_variables=state,
            jit_compile=bool(jit),
            warmup_calls=20,
        )

    def _weight_scalars(self, logs=None):
        """Runs the compiled pass and names its results as TensorBoard tags."""
        stats = self._statistics()
        self.last_stats = stats
        scalars = {}
        for (name, stat), value in stats.items():
            if name == "global":
                scalars[{"penalty": "penalty/total"}.get(stat, f"{stat}/global")] = value
            elif stat in ("sparsity", "near_zero", "group_sparsity", "penalty"):
                scalars[f"{stat}/{name}"] = value
            else:
                scalars[f"norms/{name}/{stat}"] = value
        loss = (logs or {}).get("loss")
        if loss is not None and float(loss) != 0.0:
            scalars["penalty/share"] = stats[("global", "penalty")] / float(loss)
        return scalars

    def _metric_scalars(self, logs):
        scalars = {}
        for key, value in logs.items():
            if key in _NOT_METRICS or not _is_scalar(value):
                continue
            name, run = (key[4:], "validation") if key.startswith("val_") else (key, "train")
            scalars[f"metrics/{name}/{run}"] = float(value)
        return scalars

    def _generalization_scalars(self, model, logs):
        train_key, val_key = ("data_loss", "val_data_loss") if "val_data_loss" in logs else ("loss", "val_loss")
        if val_key not in logs or train_key not in logs:
            self._warn_once(
                "no_validation",
                "RegularizationReport: `fit` has no validation data (no `val_loss` in the logs), so the "
                "`generalization/` scalars (gap, ratio, GL) are skipped. Pass `validation_data` or "
                "`validation_split` to `fit` to get them.",
            )
            return {}
        loss, val_loss = float(logs[train_key]), float(logs[val_key])
        self._best_val_loss = val_loss if self._best_val_loss is None else min(self._best_val_loss, val_loss)
        scalars = {"generalization/loss_gap": val_loss - loss}
        if loss != 0.0:
            scalars["generalization/loss_ratio"] = val_loss / loss
        if self._best_val_loss > 0.0:
            scalars["generalization/gl"] = 100.0 * (val_loss / self._best_val_loss - 1.0)
        for key, value in logs.items():
            if key in _LOSS_KEYS or key in _NOT_METRICS or key.startswith("val_") or f"val_{key}" not in logs:
                continue
            if not (_is_scalar(value) and _is_scalar(logs[f"val_{key}"])):
                continue
            direction = metric_direction(model, key)
            if direction is None:
                self._warn_once(
                    f"direction_{key}",
                    f"RegularizationReport: cannot tell whether metric `{key}` is better when higher or lower; "
                    f"`generalization/{key}_gap` is skipped.",
                )
                continue
            train, val = float(value), float(logs[f"val_{key}"])
            scalars[f"generalization/{key}_gap"] = train - val if direction == "up" else val - train
        return scalars

    def _schedule_scalars(self, model):
        scalars = {f"schedules/{key}": value for key, value in layer_values(model).items()}
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            return scalars
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        scalars["schedules/learning_rate"] = float(ops.convert_to_numpy(optimizer.learning_rate))
        seen = set()
        for name, variable in zip(self._statistics.names, self._statistics.variables):
            regularizer = unwrap(getattr(variable, "regularizer", None))
            if regularizer is None or id(regularizer) in seen:
                continue
            seen.add(id(regularizer))
            for attribute, value in scheduled_values(regularizer, optimizer.iterations).items():
                scalars[f"schedules/{name}/{attribute}"] = value
        return scalars

    def sparsity_table_markdown(self):
        """The per-weight table of the last logged statistics, as Markdown."""
        stats = self.last_stats or {}
        rows = [
            "| weight | shape | exact zeros | near zero | all-zero units | penalty |",
            "|---|---|---|---|---|---|",
        ]
        for name, variable in zip(self._statistics.names, self._statistics.variables):
            cells = [name, "x".join(str(d) for d in variable.shape) or "scalar"]
            for stat in ("sparsity", "near_zero", "group_sparsity", "penalty"):
                value = stats.get((name, stat))
                cells.append("" if value is None else f"{value:.4g}")
            rows.append("| " + " | ".join(cells) + " |")
        rows.append(
            f"| **all weights** | | {stats.get(('global', 'sparsity'), 0.0):.4g} | "
            f"{stats.get(('global', 'near_zero'), 0.0):.4g} | | {stats.get(('global', 'penalty'), 0.0):.4g} |"
        )
        return "\n".join(rows)

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, UserWarning, stacklevel=3)

    def get_config(self):
        return {
            "log_dir": self.log_dir,
            "update_freq": self.update_freq,
            "near_zero": self.near_zero,
            "near_zero_scale": self.near_zero_scale,
            "power_iterations": self.power_iterations,
            "histogram_freq": self.histogram_freq,
            "sparsity_table": self.sparsity_table,
            "layout": self.layout,
            "run_name": self.run_name,
            "jit_compile": self.jit_compile,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def scheduled_values(regularizer, step):
    """The current values of a regularizer's scheduled strengths, as a dict `name -> float`.

    The hook the report uses to log schedules generically: a regularizer that defines
    `current_strengths(step) -> dict` is asked directly; otherwise every attribute holding a schedule (see
    `kreg.schedules.is_schedule`) is evaluated at `step`, and every scalar `keras.Variable` attribute (a strength updated by a
    callback) is read. Leading underscores are dropped from the names.

    Args:
        regularizer: any regularizer object.
        step: the optimizer's iteration count (a scalar tensor or int).
    """
    if callable(getattr(regularizer, "current_strengths", None)):
        return {k: float(ops.convert_to_numpy(v)) for k, v in regularizer.current_strengths(step).items()}
    values = {}
    for attribute, value in vars(regularizer).items():
        if is_schedule(value):
            values[attribute.lstrip("_")] = float(ops.convert_to_numpy(value(step)))
        elif isinstance(value, keras.Variable) and tuple(value.shape) == ():
            values[attribute.lstrip("_")] = float(ops.convert_to_numpy(value.value))
    return values


def layer_values(model):
    """The current rates of the layers of `model` that report them, as a dict `"<layer path>/<name>" -> float`.

    Every layer found by `kreg.introspection.walk_layers` (nested models and wrapped layers included) with a
    `current_values()` method returning `{name: value}` is asked: a `kreg.layers.ScheduledLayer` gives each
    parameter at its own step, `ConcreteDropout` its learned `rate`. The key is the layer's `path` (its name when it
    has no path yet).

    Args:
        model: a Keras model (or layer).
    """
    values = {}
    for layer in walk_layers(model):
        current_values = getattr(layer, "current_values", None)
        if not callable(current_values):
            continue
        for name, value in current_values().items():
            values[f"{layer.path or layer.name}/{name}"] = float(value)
    return values


def metric_direction(model, name):
    """`"up"` if metric `name` is better when higher, `"down"` if lower, `None` if unknown.

    Uses the metric object's own direction (Keras metrics set `_direction`), else its name.
    """
    direction = declared_direction(model, name)
    if direction is not None:
        return direction
    lowered = name.lower()
    if any(hint in lowered for hint in _DOWN_HINTS):
        return "down"
    if any(hint in lowered for hint in _UP_HINTS):
        return "up"
    return None


def _is_scalar(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
