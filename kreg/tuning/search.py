"""`kreg.tuning.search`: one call that searches regularization strengths with keras-tuner's RandomSearch,
BayesianOptimization or Hyperband, with kreg inside every trial: `AdaptiveEarlyStopping`, a per-trial
`RegularizationReport`, the pruning callback, per-epoch curves on disk, and one HParams session per trial.

Trials are compared on `val_data_loss`, the validation loss without the regularization penalties (kreg's binding
logs it for a penalized model; for an unpenalized one it equals `val_loss`): Keras's `val_loss` includes the
penalty, which would favour weak penalties for the wrong reason.

Reference: O'Malley et al. 2019, KerasTuner; Li et al. 2018, "Hyperband: A novel bandit-based approach to
hyperparameter optimization", JMLR; Snoek et al. 2012, "Practical Bayesian optimization of machine learning
algorithms", NeurIPS.
"""

import json
import os
import warnings

import keras
import keras_tuner

from kreg import validation
from kreg.callbacks import AdaptiveEarlyStopping, RegularizationReport
from kreg.tuning import pruning as pruning_module
from kreg.tuning.hypermodel import RegularizationHyperModel
from kreg.tuning.results import SearchResults, trial_row, weight_sparsity
from kreg.tuning.space import SearchSpace
from kreg.tuning.store import TrialRecorder, TrialStore

try:  # the HParams writer is optional: without it, trials simply get no HParams session
    from kreg.tensorboard.hparams import write_experiment, write_session
except ImportError:  # pragma: no cover - depends on what is installed
    write_experiment = write_session = None

#: The tuners `search(tuner=...)` knows.
TUNERS = ("random", "bayesian", "hyperband")
#: The metric tags of the HParams experiment.
HPARAMS_METRICS = ["val_loss", "val_accuracy", "gap", "sparsity"]


def _trial_number(trial_id):
    return int(trial_id) if str(trial_id).isdigit() else abs(hash(trial_id)) % 100_000


def _public_values(values):
    """The hyperparameter values without keras-tuner's own (`tuner/epochs`, ... of Hyperband)."""
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


class _KregTrials:
    """What kreg adds to a keras-tuner tuner: its callbacks in every trial, the trial records, HParams sessions.

    Mixed in before a keras-tuner tuner class; `_build_and_fit_model` is keras-tuner's hook for what one trial
    execution does (build, fit, return the history).
    """

    kreg_settings = None

    def _build_and_fit_model(self, trial, *args, **kwargs):
        settings = self.kreg_settings
        trial_id = trial.trial_id
        if settings["seed"] is not None:
            keras.utils.set_random_seed(settings["seed"] + _trial_number(trial_id))
        hp = trial.hyperparameters
        model = self._try_build(hp)
        values = _public_values(hp.values)
        store = settings["store"]
        callbacks = [TrialRecorder(store, trial_id, values)] + list(kwargs.pop("callbacks", None) or [])
        if settings["early_stopping"] is not None:
            callbacks.append(AdaptiveEarlyStopping(**settings["early_stopping"]))
        trial_logdir = os.path.join(settings["logdir"], f"trial_{trial_id}")
        if settings["report"]:
            callbacks.append(RegularizationReport(trial_logdir, sparsity_table=False, run_name="regularization"))
        pruner = None
        if settings["pruner"] is not None:
            pruner = pruning_module.PruningCallback(
                settings["pruner"], store, trial_id, monitor=settings["monitor"], direction=settings["direction"]
            )
            callbacks.append(pruner)
        history = self.hypermodel.fit(hp, model, *args, callbacks=callbacks, **kwargs)

        sparsity, kept = weight_sparsity(model)
        record = store.read(trial_id) or {"values": values, "epochs": [], "history": {}}
        record.update(
            status="pruned" if pruner is not None and pruner.pruned else "completed",
            pruned_at=pruner.pruned_at if pruner is not None else None,
            sparsity=sparsity,
            params_kept=kept,
        )
        record = store.write(trial_id, record)
        self._write_hparams_session(trial_logdir, record)
        # As keras-tuner's own hook does (Keras 3): the build config `load_model` reads.
        with open(self._get_build_config_fname(trial_id), "w", encoding="utf-8") as handle:
            json.dump(model.get_build_config(), handle)
        return history

    def _write_hparams_session(self, trial_logdir, record):
        if write_session is None:
            return
        settings = self.kreg_settings
        row = trial_row(record, settings["monitor"], settings["direction"])
        metrics = {"val_loss": row["best_val"], "val_accuracy": row["val_accuracy"], "gap": row["gap"]}
        metrics["sparsity"] = row["sparsity"]
        metrics = {k: v for k, v in metrics.items() if v is not None}
        session = os.path.basename(
            trial_logdir
        )  # the run `<logdir>/trial_<id>`, whose report is its `regularization` run
        write_session(
            os.path.dirname(trial_logdir), session, record.get("values") or {}, metrics, status=record["status"]
        )


class RandomSearch(_KregTrials, keras_tuner.RandomSearch):
    """keras-tuner's `RandomSearch` with kreg's trial callbacks and records (see `search`)."""


class BayesianOptimization(_KregTrials, keras_tuner.BayesianOptimization):
    """keras-tuner's `BayesianOptimization` with kreg's trial callbacks and records (see `search`)."""


class Hyperband(_KregTrials, keras_tuner.Hyperband):
    """keras-tuner's `Hyperband` with kreg's trial callbacks and records (see `search`)."""


_TUNER_CLASSES = {"random": RandomSearch, "bayesian": BayesianOptimization, "hyperband": Hyperband}


def make_tuner(
    hypermodel,
    tuner="random",
    max_trials=20,
    epochs=50,
    directory="kreg_tuning",
    project_name="search",
    overwrite=False,
    seed=None,
    monitor="val_data_loss",
    direction="min",
    early_stopping=True,
    report=True,
    prune=True,
    **tuner_kwargs,
):
    """The keras-tuner tuner `search` runs (resumed from `directory/project_name` unless `overwrite`), set up with
    kreg's per-trial callbacks; `search`'s arguments. Returns the tuner."""
    validation.check_choice("tuner", tuner, TUNERS)
    validation.check_int("max_trials", max_trials, low=1)
    validation.check_int("epochs", epochs, low=1)
    validation.check_bool("overwrite", overwrite)
    validation.check_int("seed", seed, low=0, allow_none=True)
    validation.check_choice("direction", direction, pruning_module.DIRECTIONS)
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise validation.invalid("directory", "a non-empty path (str or os.PathLike)", directory)
    if not isinstance(project_name, str) or not project_name:
        raise validation.invalid("project_name", "a non-empty str", project_name)
    if early_stopping is True:
        early_stopping = {}
    elif early_stopping is False or early_stopping is None:
        early_stopping = None
    elif not isinstance(early_stopping, dict):
        raise validation.invalid(
            "early_stopping", "True, False or a dict of AdaptiveEarlyStopping arguments", early_stopping
        )
    else:
        AdaptiveEarlyStopping(**early_stopping)  # checks the arguments now, before any trial
    validation.check_bool("report", report)
    pruner = pruning_module.get(prune)
    objective = keras_tuner.Objective(monitor, direction)
    common = {
        "objective": objective,
        # keras-tuner's oracle takes a seed of 0 for "no seed" (`seed or random.randint(...)`), so `seed=0` would
        # sample different strengths in every process: its oracle gets `seed + 1`.
        "seed": None if seed is None else seed + 1,
        "directory": os.fspath(directory),
        "project_name": project_name,
        "overwrite": overwrite,
        **tuner_kwargs,
    }
    if tuner == "hyperband":
        instance = Hyperband(hypermodel, max_epochs=epochs, **common)
        instance.oracle.max_trials = max_trials
    else:
        instance = _TUNER_CLASSES[tuner](hypermodel, max_trials=max_trials, **common)
    project_dir = os.path.join(os.fspath(directory), project_name)
    instance.kreg_settings = {
        "store": TrialStore(os.path.join(project_dir, "kreg")),
        "logdir": os.path.join(project_dir, "logs"),
        "pruner": pruner,
        "monitor": monitor,
        "direction": direction,
        "early_stopping": early_stopping,
        "report": report,
        "seed": seed,
        "epochs": epochs,
    }
    return instance


def search(
    build_fn,
    x=None,
    y=None,
    validation_data=None,
    space=None,
    tuner="random",
    max_trials=20,
    epochs=50,
    directory="kreg_tuning",
    project_name="search",
    overwrite=False,
    prune=True,
    seed=None,
    batch_size=None,
    early_stopping=True,
    report=True,
    monitor="val_data_loss",
    direction="min",
    verbose=0,
    fit_kwargs=None,
    **tuner_kwargs,
):
    """Searches regularization strengths for `build_fn` on `(x, y)`; returns a `SearchResults`.

    Every argument, the space and the model-building function are checked before any trial runs: the function is
    built once with every searched technique on, and must use them (see `RegularizationHyperModel`). Each trial
    trains with `AdaptiveEarlyStopping` (best weights restored), a `RegularizationReport` in
    `<directory>/<project_name>/logs/trial_<id>/regularization`, the pruner (`prune`) and kreg's training binding;
    its per-epoch logs are kept in `<directory>/<project_name>/kreg/trial_<id>.json` and, when
    `kreg.tensorboard.hparams` is available, it gets an HParams session next to its report (the experiment, with the
    declared domains, is written in `<directory>/<project_name>/logs`).

    A search killed at any point continues with `overwrite=False` (the default): finished trials are kept and not
    run again, the trial that was running is run again from its start.

    Args:
        build_fn: `build_fn(reg) -> keras.Model`, compiled; `reg` is a `kreg.tuning.Regularization`.
        x, y: training data, as for `Model.fit`.
        validation_data: `(x_val, y_val)` (or pass `validation_split` in `fit_kwargs`); required.
        space: a `kreg.tuning.SearchSpace` (default `SearchSpace()`).
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: number of trials (for Hyperband, a cap on its schedule's trials).
        epochs: epochs per trial (Hyperband's `max_epochs`).
        directory, project_name: where keras-tuner and kreg keep the search.
        overwrite: start again instead of resuming.
        prune: `True`/`"median"` (`MedianPruner()`), `"successive_halving"`, a pruner instance, or `False`.
        seed: seeds the oracle and each trial (`keras.utils.set_random_seed(seed + trial number)`).
        batch_size: for `fit`.
        early_stopping: `True`, `False` or a dict of `AdaptiveEarlyStopping` arguments.
        report: write a `RegularizationReport` per trial.
        monitor, direction: what trials are compared on (default the penalty-free validation loss, minimized).
        verbose: 1 prints keras-tuner's per-trial progress; 0 is silent.
        fit_kwargs: more `fit` arguments.
        **tuner_kwargs: more arguments of the keras-tuner tuner (e.g. `num_initial_points`, `factor`).

    Returns:
        A `kreg.tuning.SearchResults`.

    Example:

    >>> results = kreg.tuning.search(build, x, y, validation_data=(xv, yv), tuner="bayesian", max_trials=20,
    ...                              epochs=100, directory="runs", project_name="mlp", seed=0)
    >>> results.best_values
    {'penalty': 'l2', 'l2': 0.0012, 'constraint': 'none', 'dropout': 0.21}

    Reference: O'Malley et al. 2019, KerasTuner; Li et al. 2018, "Hyperband", JMLR.
    """
    space = SearchSpace() if space is None else space
    hypermodel = RegularizationHyperModel(build_fn, space)
    fit_kwargs = dict(fit_kwargs or {})
    if x is None:
        raise validation.invalid("x", "training data", x)
    if validation_data is None and "validation_split" not in fit_kwargs:
        raise validation.invalid(
            "validation_data", "(x_val, y_val) (or `validation_split` in fit_kwargs)", validation_data
        )
    validation.check_int("verbose", verbose, low=0, high=2)
    hypermodel.preflight()
    tuner_instance = make_tuner(
        hypermodel,
        tuner=tuner,
        max_trials=max_trials,
        epochs=epochs,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
        monitor=monitor,
        direction=direction,
        early_stopping=early_stopping,
        report=report,
        prune=prune,
        **tuner_kwargs,
    )
    settings = tuner_instance.kreg_settings
    if write_experiment is not None:
        write_experiment(settings["logdir"], space.domains(), list(HPARAMS_METRICS))
    elif report:
        warnings.warn(
            "kreg.tensorboard.hparams is not available: trials get no HParams session.", RuntimeWarning, stacklevel=2
        )
    tuner_instance.oracle.verbose = verbose
    if validation_data is not None:
        fit_kwargs["validation_data"] = validation_data
    if batch_size is not None:
        fit_kwargs["batch_size"] = batch_size
    fit_kwargs.setdefault("verbose", 0)
    if tuner != "hyperband":
        fit_kwargs["epochs"] = epochs
    tuner_instance.search(x, y, **fit_kwargs)
    return collect_results(tuner_instance, hypermodel)


def collect_results(tuner, hypermodel=None):
    """The `SearchResults` of a tuner made by `make_tuner` (from the trial records on disk)."""
    settings = tuner.kreg_settings
    return SearchResults(
        settings["store"].records(),
        monitor=settings["monitor"],
        direction=settings["direction"],
        hypermodel=hypermodel if hypermodel is not None else tuner.hypermodel,
        tuner=tuner,
        logdir=settings["logdir"],
    )


__all__ = [
    "BayesianOptimization",
    "HPARAMS_METRICS",
    "Hyperband",
    "RandomSearch",
    "TUNERS",
    "collect_results",
    "make_tuner",
    "search",
]
