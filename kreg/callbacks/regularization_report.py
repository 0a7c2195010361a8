"""`RegularizationReport`: sparsity, norms, penalties, schedules and the generalization gap in TensorBoard.

References:
    Prechelt 1998, "Early Stopping - But When?" (generalization loss GL(t) = 100 * (E_va(t) / E_opt(t) - 1)).
    Rudelson & Vershynin 2007 (stable rank); Miyato et al. 2018 (persistent power iteration).
"""

import os
import re
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
#: The loss keys (the gap of the loss is `generalization/loss_gap`, on the data loss).
_LOSS_KEYS = ("loss", "data_loss", "penalty")
#: Log keys that are not metrics (logged under `schedules/` instead).
_NOT_METRICS = ("learning_rate", "lr")
#: What the near-zero threshold is relative to, as the table's note says it.
_SCALE_NOTES = {"max_abs": ", max|w| of that weight", "rms": ", rms(w) = sqrt(mean w^2) of that weight", "absolute": ""}
#: The runs `keras.callbacks.TensorBoard(log_dir)` writes; their presence makes the report write a sub-directory.
KERAS_RUNS = ("train", "validation")
#: The run the report writes next to Keras's runs (and whenever `run_name` is not given and they are present).
SHARED_RUN_NAME = "regularization"


@keras.saving.register_keras_serializable(package="kreg")
class RegularizationReport(BindingCallback):
    """Logs what regularization does to a model to TensorBoard, on every backend, without TensorFlow.

    **Where.** With the default `run_name=None`, the report is a run of its own: it writes directly into
    `log_dir` (so `tensorboard --logdir runs` over `runs/baseline`, `runs/l2` shows the runs `baseline` and `l2`),
    unless `log_dir` holds Keras's `train/` or `validation/` runs when the report first writes (a
    `keras.callbacks.TensorBoard(log_dir)` in the same `fit` creates `train/` when training begins): it then writes
    into `<log_dir>/regularization`, next to them (runs `l2/train`, `l2/validation`, `l2/regularization`). The
    choice is kept for later `fit` calls of the same callback; `run_dir` says where it wrote. A given `run_name`
    always writes `<log_dir>/<run_name>`.

    **What**, at every epoch end. Weights are named by their place in the model, so that runs of the same
    architecture have the same tags: the model's own name is left out, a layer with an automatic name (`dense`,
    `dense_7`: Keras numbers them per process) is keyed by its index in its parent's `layers` (`02_dense`), a layer
    named by the user keeps its name, and the variable's name ends the key (`02_dense/kernel`,
    `encoder/00_conv2d/bias`; see `weight_keys`).

    - `sparsity/global`, `sparsity/<weight>`: fraction of exactly-zero entries; `near_zero/...`: fraction with
      `|w| <= near_zero * scale`; `group_sparsity/<kernel>`: fraction of all-zero output units (filters) of
      kernels of rank >= 2 (the structure group penalties act on).
    - `norms/<weight>/l1`, `/l2`, `/max_abs`, and for kernels of rank >= 2 `/spectral` (largest singular value of
      the `(fan_in, units)` matrix, by power iteration with a persistent vector) and `/stable_rank`.
    - `penalty/<weight>`: `variable.regularizer(variable)`, the term Keras adds to the loss; `penalty/total` and
      `penalty/share` (total / training loss). Activity-regularizer penalties depend on the inputs and are not
      included.
    - `metrics/<name>/train` and `metrics/<name>/validation`: the epoch logs, paired for the dashboard, and always
      `metrics/data_loss/...`: the loss without the penalties (kreg's training binding logs `data_loss` and
      `val_data_loss` when the model has penalties; without penalties it is Keras's `loss`), so runs with and
      without regularization compare on one chart.
    - `generalization/loss_gap` (val - train data loss), `generalization/loss_ratio`, `generalization/<metric>_gap`
      (positive when overfitting), `generalization/gl` (Prechelt's generalization loss of the validation data
      loss); skipped, with one warning, when `fit` has no validation data. Keras's `loss` and `val_loss` include
      the penalty, which hides part of the gap (a shrinking penalty keeps lowering `val_loss`), so they are not
      used.
    - `schedules/learning_rate`; `schedules/regularizers/<weight>/<name>`: scheduled regularizer strengths (see
      `scheduled_values`); `schedules/layers/<layer>/<name>`: the current rates of every layer with a
      `current_values()` method (kreg's random layers at their own step, `ConcreteDropout`'s learned rate; see
      `layer_values`).

    Every weight statistic is computed by one compiled function over all weights (`kreg.ops.WeightStatistics`)
    and transferred to the host as one vector. A custom-scalars layout (`kreg.tensorboard.report_layout`: train vs
    validation per metric, the gaps, sparsity, penalties, norms of kernels and biases apart, schedules, one
    category per layer, no empty chart) is written at the first epoch end; a per-weight table (Text tab, in
    percent) at the end of training. Every logging step ends with a blocking flush, so an exception (or a killed
    process) loses nothing already logged.

    Args:
        log_dir: the TensorBoard log directory; created and checked for writing at the start of `fit` (the
            constructor and `from_config` do not touch the disk).
        update_freq: `"epoch"`; `"batch"` (as in `keras.callbacks.TensorBoard`: the same as 1); or an integer N to
            also log the weight statistics every N batches (their step is then the optimizer's iteration count,
            at batch and epoch ends alike).
        near_zero: threshold of the `near_zero` fraction, relative to `near_zero_scale`.
        near_zero_scale: `"max_abs"` (default: `|w| <= near_zero * max|w|`), `"rms"` or `"absolute"`.
        power_iterations: power iterations per logging step for the spectral norms.
        histogram_freq: log weight histograms every this many epochs (0: never).
        sparsity_table: write the per-weight sparsity table as text at the end of training.
        layout: write the custom-scalars dashboard layout.
        run_name: `None` (write into `log_dir`, or into `log_dir/regularization` when Keras's runs are there: see
            above), or the sub-directory of `log_dir` to write; must differ from Keras's `train` / `validation`.
        jit_compile: compile the statistics with XLA on TensorFlow (`"auto"`: yes). JAX always compiles.

    Example:

    >>> model.fit(x, y, validation_split=0.2, callbacks=[kreg.callbacks.RegularizationReport("runs/l2")])
    >>> # tensorboard --logdir runs  -> Scalars (sections) and Custom Scalars (dashboard)

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
        run_name=None,
        jit_compile="auto",
    ):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise validation.invalid("log_dir", "a non-empty path (str or os.PathLike)", log_dir)
        if update_freq not in ("epoch", "batch"):
            if isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1:
                raise validation.invalid("update_freq", "'epoch', 'batch' or an integer >= 1", update_freq)
        self.near_zero = validation.check_float("near_zero", near_zero, low=0.0)
        self.near_zero_scale = validation.check_choice("near_zero_scale", near_zero_scale, NEAR_ZERO_SCALES)
        self.power_iterations = validation.check_int("power_iterations", power_iterations, low=1)
        self.histogram_freq = validation.check_int("histogram_freq", histogram_freq, low=0)
        self.sparsity_table = validation.check_bool("sparsity_table", sparsity_table)
        self.layout = validation.check_bool("layout", layout)
        if run_name is not None and (not isinstance(run_name, str) or not run_name or run_name in KERAS_RUNS):
            raise validation.invalid(
                "run_name", "None or a non-empty str other than 'train' and 'validation'", run_name
            )
        if jit_compile not in ("auto", True, False):
            raise validation.invalid("jit_compile", "'auto', True or False", jit_compile)
        self.update_freq = update_freq
        self.run_name = run_name
        self.jit_compile = jit_compile
        self.log_dir = os.fspath(log_dir)
        self.run_dir = None
        self.writer = None
        self.last_stats = None
        self._statistics = None
        self._statistics_key = None

    @property
    def batch_frequency(self):
        """Log the weight statistics every this many batches (`None`: at epoch ends only)."""
        return {"epoch": None, "batch": 1}.get(self.update_freq, self.update_freq)

    # Fit lifecycle -----------------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        check_writable(self.log_dir)
        super().on_train_begin(logs)
        self.last_stats = None
        self._best_val_loss = None
        self._warned = set()
        self._layout_tags = None
        self._batch_calls = 0
        self._epoch = 0
        self._statistics = self._weight_statistics(self.model)
        self._layer_keys = layer_keys(self.model)

    def _writer(self):
        """The event writer of this `fit`, opened at the first write (when Keras's runs, if any, exist)."""
        if self.writer is None:
            self.run_dir = self._choose_run_dir()
            self.writer = EventWriter(self.run_dir)
        return self.writer

    def _choose_run_dir(self):
        if self.run_name is not None:
            return os.path.join(self.log_dir, self.run_name)
        previous = self._previous_run_dir()
        if previous is not None:
            return previous
        shared = "://" in self.log_dir or any(os.path.isdir(os.path.join(self.log_dir, r)) for r in KERAS_RUNS)
        return os.path.join(self.log_dir, SHARED_RUN_NAME) if shared else self.log_dir

    def _previous_run_dir(self):
        # A later `fit` of this callback continues the run it chose (unless `log_dir` was changed since).
        if self.run_dir is not None and self.run_dir in (self.log_dir, os.path.join(self.log_dir, SHARED_RUN_NAME)):
            return self.run_dir
        return None

    def on_train_batch_end(self, batch, logs=None):
        frequency = self.batch_frequency
        if frequency is None:
            return
        self._batch_calls += 1
        if self._batch_calls % frequency == 0:
            model = self.model  # On JAX, reading `self.model` syncs the trained values into the variables.
            writer = self._writer()
            writer.scalars(self._weight_scalars(), int(ops.convert_to_numpy(model.optimizer.iterations)))
            writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        model = self.model
        writer = self._writer()
        self._epoch = epoch
        weight_step = epoch if self.batch_frequency is None else int(ops.convert_to_numpy(model.optimizer.iterations))
        weight_scalars = self._weight_scalars(logs)
        writer.scalars(weight_scalars, weight_step)
        scalars = self._metric_scalars(logs)
        scalars.update(self._generalization_scalars(model, logs))
        scalars.update(self._schedule_scalars(model))
        writer.scalars(scalars, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, variable in zip(self._statistics.names, self._statistics.variables):
                writer.histogram(f"weights/{name}", ops.convert_to_numpy(variable.value), epoch)
        tags = [*weight_scalars, *scalars]
        if self.layout and set(tags) != self._layout_tags:
            self._layout_tags = set(tags)
            threshold = layouts.near_zero_label(self.near_zero, self.near_zero_scale)
            layout = layouts.report_layout(tags, near_zero_threshold=threshold)
            writer.plugin_data(layouts.LAYOUT_TAG, layouts.LAYOUT_PLUGIN, layout.SerializeToString(), epoch)
        writer.flush()

    def on_train_end(self, logs=None):
        try:
            self._finish()
        finally:
            super().on_train_end(logs)

    def _finish(self):
        if self.sparsity_table:
            if self.last_stats is None:
                self.model  # noqa: B018 (on JAX, reading `self.model` syncs the trained values into the variables)
                self._weight_scalars()
            self._writer().text("report/sparsity_table", self.sparsity_table_markdown(), self._epoch)
        if self.writer is not None:
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
        jit = keras.backend.backend() == "tensorflow" if self.jit_compile == "auto" else self.jit_compile
        self._statistics_key = key
        return WeightStatistics(
            variables,
            names=weight_keys(model, variables),
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
        # Without penalties, the loss is the data loss: logged under the same tag, so runs compare on one chart.
        for prefix, run in (("", "train"), ("val_", "validation")):
            if f"{prefix}data_loss" not in logs and _is_scalar(logs.get(f"{prefix}loss")):
                scalars[f"metrics/data_loss/{run}"] = float(logs[f"{prefix}loss"])
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
        scalars = {}
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            optimizer = getattr(optimizer, "inner_optimizer", optimizer)
            scalars["schedules/learning_rate"] = float(ops.convert_to_numpy(optimizer.learning_rate))
            seen = set()
            for name, variable in zip(self._statistics.names, self._statistics.variables):
                regularizer = unwrap(getattr(variable, "regularizer", None))
                if regularizer is None or id(regularizer) in seen:
                    continue
                seen.add(id(regularizer))
                for attribute, value in scheduled_values(regularizer, optimizer.iterations).items():
                    scalars[f"schedules/regularizers/{name}/{attribute}"] = value
        for key, value in layer_values(model, self._layer_keys).items():
            scalars[f"schedules/layers/{key}"] = value
        return scalars

    def sparsity_table_markdown(self):
        """The per-weight table of the last logged statistics, as Markdown, fractions in percent."""
        stats = self.last_stats or {}
        threshold = layouts.near_zero_label(self.near_zero, self.near_zero_scale)
        escaped = threshold.replace("|", "\\|")  # keeps the pipes of `|w|` inside the header cell
        rows = [
            f"| weight | shape | exact zeros | near zero ({escaped}) | all-zero units | penalty |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for name, variable in zip(self._statistics.names, self._statistics.variables):
            cells = [name, "x".join(str(d) for d in variable.shape) or "scalar"]
            cells += [percent(stats.get((name, stat))) for stat in ("sparsity", "near_zero", "group_sparsity")]
            penalty = stats.get((name, "penalty"))
            cells.append("" if penalty is None else f"{penalty:.4g}")
            rows.append("| " + " | ".join(cells) + " |")
        rows.append(
            f"| **all weights** | | {percent(stats.get(('global', 'sparsity'), 0.0))} | "
            f"{percent(stats.get(('global', 'near_zero'), 0.0))} | | {stats.get(('global', 'penalty'), 0.0):.4g} |"
        )
        note = _SCALE_NOTES[self.near_zero_scale]
        rows += [
            "",
            f"Exact zeros: entries equal to 0. Near zero: entries with {threshold}{note}. "
            "All-zero units: output units (last axis: Dense units, Conv filters) of a kernel whose weights are all "
            "exactly 0. Penalty: `variable.regularizer(variable)`, the term added to the loss.",
        ]
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


def percent(fraction):
    """A fraction as a percentage for the table: `"37.50%"`, `"0%"`, `"<0.01%"`, `">99.99%"`, `""` for `None`."""
    if fraction is None:
        return ""
    value = 100.0 * float(fraction)
    if value == 0.0 or value == 100.0:
        return f"{value:.0f}%"
    if value < 0.005:
        return "<0.01%"
    if value > 99.995:
        return ">99.99%"
    return f"{value:.2f}%"


def _snake_case(name):
    """Keras's automatic layer-name base of a class name (`Conv2D` -> `conv2d`, `BatchNormalization` ->
    `batch_normalization`), made as Keras's private naming helper `to_snake_case` makes it."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def is_auto_named(layer):
    """Whether `layer` has a name Keras made up: its class name in snake case, optionally with `_<number>`."""
    return re.fullmatch(re.escape(_snake_case(type(layer).__name__)) + r"(_\d+)?", layer.name) is not None


def _children(layer):
    """The direct sub-layers of `layer`, in order: a model's `layers`, else those of `walk_layers` that are not
    inside another one."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    children, inside = [], set()
    for sub in walk_layers(layer):
        if id(sub) not in inside:
            children.append(sub)
            inside.add(id(sub))
            inside.update(id(s) for s in walk_layers(sub))
    return children


def layer_keys(model):
    """Every layer inside `model` with its run-independent key, in model order: a list of `(layer, key)`.

    The key is the path of names from `model` (excluded) down to the layer, where a layer with an automatic name
    (`is_auto_named`: `dense`, `dense_7`, numbered by Keras per process) is named by its index in its parent's
    `layers` and its name base (`02_dense`, two digits or more), and a layer named by the user keeps its name. So
    two builds of one architecture give the same keys (`02_dense`, `encoder/00_conv2d`). A layer reached twice
    (shared) keeps its first key.

    Args:
        model: a Keras model (or layer).

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2, name="logits")])
    >>> [key for _, key in layer_keys(model)]
    ['00_dense', 'logits']
    """
    keys = {}

    def visit(layer, prefix):
        children = _children(layer)
        width = max(2, len(str(len(children) - 1)))
        for index, child in enumerate(children):
            if id(child) in keys:
                continue
            name = f"{index:0{width}d}_{_snake_case(type(child).__name__)}" if is_auto_named(child) else child.name
            keys[id(child)] = (child, prefix + name)
            visit(child, prefix + name + "/")

    visit(model, "")
    return list(keys.values())


def weight_keys(model, variables):
    """The run-independent names of `variables` of `model`: `<key of the owning layer>/<variable name>`.

    The owning layer is the innermost layer of `model` holding the variable (see `layer_keys`); a variable of the
    model itself is named by its own name. Duplicates get `_1`, `_2`, ... in order.

    Example:

    >>> weight_keys(model, model.trainable_weights)
    ['00_dense/kernel', '00_dense/bias', 'logits/kernel', 'logits/bias']
    """
    owners = {}
    for layer, key in layer_keys(model):  # outer layers first: an inner layer's claim overrides its parent's
        for variable in layer.weights:
            owners[id(variable)] = key
    names, seen = [], {}
    for variable in variables:
        owner = owners.get(id(variable))
        name = f"{owner}/{variable.name}" if owner else variable.name
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name] - 1}")
    return names


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


def layer_values(model, keys=None):
    """The current rates of the layers of `model` that report them, as a dict `"<layer key>/<name>" -> float`.

    Every layer found by `kreg.introspection.walk_layers` (nested models and wrapped layers included) with a
    `current_values()` method returning `{name: value}` is asked: a `kreg.layers.ScheduledLayer` gives each
    parameter at its own step, `ConcreteDropout` its learned `rate`. The key is the layer's key (see `layer_keys`).

    Args:
        model: a Keras model (or layer).
        keys: `layer_keys(model)`, if already computed.
    """
    values = {}
    for layer, key in keys if keys is not None else layer_keys(model):
        current_values = getattr(layer, "current_values", None)
        if not callable(current_values):
            continue
        for name, value in current_values().items():
            values[f"{key}/{name}"] = float(value)
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
