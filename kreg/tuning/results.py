"""`SearchResults`: what `kreg.tuning.search` returns: the best strengths, a builder of the best model, and the
results table (one row per trial: strengths, best val metric, generalization gap, weight sparsity, epochs, status,
Pareto membership).

Reference: Deb et al. 2002, "A fast and elitist multiobjective genetic algorithm: NSGA-II" (the Pareto front).
"""

import math

import numpy as np

from kreg.tuning import pareto

#: The columns of the results table after the hyperparameter values.
METRIC_COLUMNS = ("best_val", "best_epoch", "val_accuracy", "gap", "sparsity", "params_kept", "epochs", "status")


def weight_sparsity(model):
    """`(fraction of exactly-zero entries, count of non-zero entries)` over the model's trainable kernels (weights
    of rank >= 2), where sparsity-inducing penalties act."""
    total = kept = 0
    for variable in model.trainable_weights:
        if len(variable.shape) < 2:
            continue
        values = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        total += values.size
        kept += int(np.count_nonzero(values))
    return (1.0 - kept / total if total else 0.0), kept


def trial_row(record, monitor="val_data_loss", direction="min"):
    """One results-table row from a `TrialStore` record: the values, the best monitored value and its epoch, the
    validation accuracy and the generalization gap (val - train of the monitored loss) at that epoch, and the
    sparsity, epochs and status the trial recorded."""
    history = record.get("history") or {}
    column = [v if v is not None else math.nan for v in history.get(monitor) or []]
    row = {"trial_id": record.get("trial_id"), **(record.get("values") or {})}
    best_index = None
    finite = [(v, i) for i, v in enumerate(column) if math.isfinite(v)]
    if finite:
        best_index = (min(finite) if direction == "min" else max(finite))[1]
    epochs = record.get("epochs") or []
    row["best_val"] = column[best_index] if best_index is not None else None
    row["best_epoch"] = epochs[best_index] if best_index is not None and best_index < len(epochs) else None
    accuracy = next((k for k in ("val_accuracy", "val_acc", "val_sparse_categorical_accuracy") if k in history), None)
    row["val_accuracy"] = history[accuracy][best_index] if accuracy and best_index is not None else None
    train_key = monitor[4:] if monitor.startswith("val_") else None
    train = history.get(train_key) if train_key else None
    if best_index is not None and train and train[best_index] is not None and row["best_val"] is not None:
        row["gap"] = row["best_val"] - train[best_index]
    else:
        row["gap"] = None
    row["sparsity"] = record.get("sparsity")
    row["params_kept"] = record.get("params_kept")
    row["epochs"] = len(epochs)
    row["status"] = record.get("status")
    return row


def _format(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class SearchResults:
    """The outcome of a search: every trial's row, the best one, the Pareto front.

    Attributes:
        rows: one dict per trial (running trials of a killed search left out), ordered by trial id, with the
            hyperparameter values, `best_val` (the best monitored value, default the validation loss without
            penalties), `best_epoch`, `val_accuracy` (at the best epoch), `gap` (val - train at the best epoch),
            `sparsity` (fraction of exactly-zero kernel entries after training), `params_kept` (non-zero kernel
            entries), `epochs` (run by the trial), `status` (`"completed"` or `"pruned"`) and `pareto` (whether the
            trial is on the front of validation accuracy vs sparsity).
        best_values: the hyperparameter values of the best completed trial.
        best_trial_id: its id.
        monitor, direction: what `best_val` is and which way is better.
        tuner: the keras-tuner tuner (for `get_best_models`, the oracle, ...), if any.

    Example:

    >>> results = kreg.tuning.search(build, x, y, validation_data=(xv, yv), max_trials=10)
    >>> print(results.table())
    >>> model = results.build_best()          # a fresh, untrained model with the best strengths
    >>> results.save_pareto_png("pareto.png")

    Reference: Deb et al. 2002, "A fast and elitist multiobjective genetic algorithm: NSGA-II".
    """

    def __init__(self, records, monitor="val_data_loss", direction="min", hypermodel=None, tuner=None, logdir=None):
        self.monitor = monitor
        self.direction = direction
        self.hypermodel = hypermodel
        self.tuner = tuner
        self.logdir = logdir
        finished = [r for r in records if r.get("status") in ("completed", "pruned")]
        self.rows = [trial_row(r, monitor, direction) for r in finished]
        front = set(self.pareto_front())
        for index, row in enumerate(self.rows):
            row["pareto"] = index in front
        candidates = [r for r in self.rows if r["status"] == "completed" and r["best_val"] is not None]
        if not candidates:  # every trial pruned: fall back on the pruned ones
            candidates = [r for r in self.rows if r["best_val"] is not None]
        best = None
        if candidates:
            best = (min if direction == "min" else max)(candidates, key=lambda r: r["best_val"])
        self.best_row = best
        self.best_trial_id = best["trial_id"] if best else None
        hidden = METRIC_COLUMNS + ("trial_id", "pareto")
        self.best_values = {k: best[k] for k in self.columns() if k not in hidden and k in best} if best else {}

    def pareto_front(self, x="sparsity", y="val_accuracy"):
        """Indices (into `rows`) of the trials on the Pareto front of `y` (higher better) vs `x` (higher better)."""
        return pareto.pareto_front([(row.get(y), row.get(x)) for row in self.rows])

    def save_pareto_png(self, path, x="sparsity", y="val_accuracy"):
        """Saves the scatter of every trial with the Pareto front (needs matplotlib); returns `path`."""
        return pareto.save_pareto_png(self.rows, path, x=x, y=y)

    def build_best(self):
        """A fresh (untrained) model built with the best trial's values, through the hypermodel."""
        if self.hypermodel is None or self.tuner is None or self.best_trial_id is None:
            raise ValueError("build_best() needs a search result with a hypermodel, a tuner and a finished trial.")
        trial = self.tuner.oracle.get_trial(self.best_trial_id)
        return self.hypermodel.build(trial.hyperparameters.copy())

    def best_model(self):
        """The best trial's trained model, loaded from keras-tuner's checkpoint of its best epoch."""
        if self.tuner is None or self.best_trial_id is None:
            raise ValueError("best_model() needs a search result with a tuner and a finished trial.")
        return self.tuner.load_model(self.tuner.oracle.get_trial(self.best_trial_id))

    def columns(self):
        """The table's columns: the trial id, the hyperparameters (in the space's order), the metrics."""
        keys = ["trial_id"]
        space = getattr(self.hypermodel, "space", None)
        if space is not None:
            keys += [k for k in space.domains() if any(k in row for row in self.rows)]
        for row in self.rows:
            keys += [k for k in row if k not in keys and k not in METRIC_COLUMNS and k != "pareto"]
        return keys + list(METRIC_COLUMNS) + ["pareto"]

    def table(self):
        """The results table as Markdown text (the best trial's id marked with `*`)."""
        keys = self.columns()
        header = [k if k != "best_val" else f"best {self.monitor}" for k in keys]
        cells = []
        for row in self.rows:
            line = [_format(row.get(k)) for k in keys]
            if row["trial_id"] == self.best_trial_id:
                line[0] += " *"
            line[-1] = "yes" if row.get("pareto") else ""
            cells.append(line)
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
        lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"]
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(line, widths)) + " |" for line in cells]
        return "\n".join(lines)

    def __repr__(self):
        return f"SearchResults({len(self.rows)} trials, best {self.best_trial_id}: {self.best_values})"


__all__ = ["METRIC_COLUMNS", "SearchResults", "trial_row", "weight_sparsity"]
