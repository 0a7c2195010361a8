"""TensorBoard's HParams dashboard written without TensorFlow, on every Keras backend.

keras-tuner wires TensorBoard's HParams plugin only on the TensorFlow backend and only for a callback whose class is
named `TensorBoard`, and it then declares no ranges and no scales. This module writes the plugin's data itself,
with TensorBoard's own hparams protos (`tensorboard.plugins.hparams`: `api_pb2`, `plugin_data_pb2`, `metadata`,
and the `HParam`/domain/`Metric` classes of `summary_v2`) through kreg's `EventWriter`:

- `write_experiment(logdir, domains, metrics)`: the experiment, in the run `logdir` itself: every hyperparameter
  with its declared domain (an interval or a set of values) and every metric column;
- `write_session(logdir, session, values, metrics, status)`: one session per trial, in the run
  `<logdir>/<session>`: its hyperparameter values (`SessionStartInfo`), its metric values as scalars of that run
  (what the HParams table and the `session_groups` endpoint show), and its end status (`SessionEndInfo`).

The layout is the one `tensorboard/plugins/hparams/summary.py` documents (experiment in the top-level run, one run
per session), so `tensorboard --logdir <logdir>` shows the HParams tab next to each trial's other runs (for
instance a `RegularizationReport(<logdir>/<session>)`, which writes into that folder itself, or into
`<logdir>/<session>/regularization` next to Keras's `train/`/`validation/`).

Log scale: TensorBoard's `HParamInfo` has no scale field, and its HParams dashboard draws every numeric column on a
linear axis until the user picks "Logarithmic" in that column's scale options (offered when all values are > 0).
A log-scaled interval therefore gets the display name `"<name> (log)"` and a description giving the range and the
scale, and the experiment description ends with a table of the declared domains and their scales.

Status: TensorBoard's sessions have four statuses (unknown, success, failure, running). A pruned trial (stopped
early by a pruner, not failed) is a success in TensorBoard's terms; to tell it apart, every experiment also declares
the metric `trial/pruned` (`PRUNED_METRIC`), which `write_session` sets to 1 for a pruned trial and 0 otherwise.

Example:

>>> write_experiment("runs/hp", {"l2": {"type": "interval", "min": 1e-6, "max": 1e-1, "log": True},
...                              "rate": {"type": "discrete", "values": [0.0, 0.25, 0.5]}},
...                  metrics=["val_loss", "val_accuracy"])
>>> write_session("runs/hp", "trial_00", {"l2": 3e-4, "rate": 0.25}, {"val_loss": 0.41, "val_accuracy": 0.9})
>>> # tensorboard --logdir runs/hp  -> HPARAMS tab

Reference: TensorBoard's HParams plugin, `tensorboard/plugins/hparams/api.proto` and `summary_v2.py`.
"""

import math
import numbers
import os
import time
import warnings

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2, summary_v2
from tensorboard.plugins.hparams import metadata as hparams_metadata

from kreg import validation
from kreg.tensorboard.event_writer import EventWriter, check_writable

#: The metric every experiment declares and every finished session sets: 1 for a pruned trial, 0 otherwise.
PRUNED_METRIC = "trial/pruned"

#: `status` of `write_session` -> TensorBoard's session status (`api_pb2.Status`). "stopped" and "invalid" are
#: keras-tuner's names (a trial stopped by its oracle, a trial whose model could not be built).
STATUSES = {
    "completed": api_pb2.STATUS_SUCCESS,
    "pruned": api_pb2.STATUS_SUCCESS,
    "stopped": api_pb2.STATUS_SUCCESS,
    "failed": api_pb2.STATUS_FAILURE,
    "invalid": api_pb2.STATUS_FAILURE,
    "running": api_pb2.STATUS_RUNNING,
    "unknown": api_pb2.STATUS_UNKNOWN,
}

_INTERVAL_KEYS = {"type", "min", "max", "log", "display_name", "description"}
_DISCRETE_KEYS = {"type", "values", "display_name", "description"}


def _is_real(value):
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


def _plain(value):
    """A numpy scalar as the Python scalar TensorBoard's protos take (`np.float32(3.0)` -> `3.0`)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_domain(name, spec):
    """Validates one domain spec and returns it normalized (plain Python numbers, every key present)."""
    argument = f"domains[{name!r}]"
    if not isinstance(spec, dict) or spec.get("type") not in ("interval", "discrete"):
        raise validation.invalid(
            argument,
            "a dict {'type': 'interval', 'min': .., 'max': .., 'log': bool} or {'type': 'discrete', 'values': [..]}",
            spec,
        )
    allowed = _INTERVAL_KEYS if spec["type"] == "interval" else _DISCRETE_KEYS
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise validation.invalid(argument, f"only the keys {sorted(allowed)} when type is {spec['type']!r}", spec)
    for key in ("display_name", "description"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise validation.invalid(f"{argument}[{key!r}]", "a str or None", spec[key])
    if spec["type"] == "interval":
        low = validation.check_float(f"{argument}['min']", _plain(spec.get("min")))
        high = validation.check_float(f"{argument}['max']", _plain(spec.get("max")))
        if not low < high:
            raise validation.invalid(argument, "an interval with min < max", spec)
        log = validation.check_bool(f"{argument}['log']", _plain(spec.get("log", False)))
        if log and low <= 0:
            raise validation.invalid(argument, "min > 0 for a log-scaled interval", spec)
        return {**spec, "min": low, "max": high, "log": log}
    values = spec.get("values")
    if not isinstance(values, (list, tuple)) or not values:
        raise validation.invalid(f"{argument}['values']", "a non-empty list of bools, numbers or strings", values)
    values = [_plain(v) for v in values]
    kinds = {
        bool if isinstance(v, bool) else float if _is_real(v) else str if isinstance(v, str) else None for v in values
    }
    if None in kinds or len(kinds) != 1:
        raise validation.invalid(f"{argument}['values']", "bools, numbers or strings, all of one kind", spec["values"])
    if kinds == {float}:
        if not all(math.isfinite(v) for v in values):
            raise validation.invalid(f"{argument}['values']", "finite numbers", spec["values"])
        values = [float(v) for v in values]
    if len(set(values)) != len(values):
        raise validation.invalid(f"{argument}['values']", "distinct values", spec["values"])
    return {**spec, "values": values}


def _describe(spec):
    if spec["type"] == "interval":
        scale = "log" if spec["log"] else "linear"
        return f"[{spec['min']:g}, {spec['max']:g}]", scale
    return "{" + ", ".join(repr(v) for v in sorted(spec["values"])) + "}", "discrete"


def hparam_info(name, spec):
    """The `api_pb2.HParamInfo` of one declared domain (see `write_experiment` for the `spec` forms).

    A log-scaled interval gets the display name `"<name> (log)"` and a description stating its range and scale,
    unless `spec` gives its own `display_name` / `description`.
    """
    if not isinstance(name, str) or not name:
        raise validation.invalid("domains", "a dict whose keys are non-empty hyperparameter names (str)", name)
    spec = _check_domain(name, spec)
    if spec["type"] == "interval":
        domain = summary_v2.RealInterval(spec["min"], spec["max"])
        display_name = f"{name} (log)" if spec["log"] else None
        description = (
            f"Searched on a log scale in [{spec['min']:g}, {spec['max']:g}]; pick 'Logarithmic' in this column's "
            "scale options to see it so."
            if spec["log"]
            else f"Searched on a linear scale in [{spec['min']:g}, {spec['max']:g}]."
        )
    else:
        domain = summary_v2.Discrete(spec["values"])
        display_name = None
        description = f"One of {_describe(spec)[0]}."
    hparam = summary_v2.HParam(
        name,
        domain,
        display_name=spec.get("display_name") or display_name,
        description=spec.get("description") or description,
    )
    info = api_pb2.HParamInfo(name=hparam.name, display_name=hparam.display_name, description=hparam.description)
    hparam.domain.update_hparam_info(info)
    return info


def _metric_info(metric):
    if isinstance(metric, str):
        metric = (metric,)
    if (
        not isinstance(metric, (tuple, list))
        or not 1 <= len(metric) <= 3
        or not all(isinstance(part, str) for part in metric)
        or not metric[0]
    ):
        raise validation.invalid(
            "metrics", "a list of metric tags (str) or (tag, display_name, description) tuples of str", metric
        )
    tag, display_name, description = (list(metric) + [None, None])[:3]
    dataset = summary_v2.Metric.VALIDATION if tag.startswith("val_") or "validation" in tag else None
    return summary_v2.Metric(
        tag, group="", display_name=display_name, description=description, dataset_type=dataset
    ).as_proto()


def experiment_proto(domains, metrics, description=None, time_created_secs=None):
    """The `api_pb2.Experiment` `write_experiment` writes (no disk access): see `write_experiment` for the arguments."""
    if not isinstance(domains, dict) or not domains:
        raise validation.invalid("domains", "a non-empty dict {hyperparameter name: domain spec}", domains)
    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, (list, tuple)):
        raise validation.invalid(
            "metrics", "a list of metric tags (str) or (tag, display_name, description) tuples", metrics
        )
    if description is not None and not isinstance(description, str):
        raise validation.invalid("description", "a str or None", description)
    infos = [hparam_info(name, spec) for name, spec in domains.items()]
    metric_infos = [_metric_info(metric) for metric in metrics]
    tags = [info.name.tag for info in metric_infos]
    if len(set(tags)) != len(tags):
        raise validation.invalid("metrics", "distinct metric tags", metrics)
    if PRUNED_METRIC not in tags:
        metric_infos.append(
            summary_v2.Metric(
                PRUNED_METRIC,
                group="",
                display_name="pruned",
                description="1: the trial was stopped early by the pruner; 0: it ran to its end.",
            ).as_proto()
        )
    rows = "\n".join(
        f"| {name} | {' | '.join(_describe(_check_domain(name, spec)))} |" for name, spec in domains.items()
    )
    table = "Search space (declared by kreg):\n\n| hyperparameter | domain | scale |\n|---|---|---|\n" + rows
    return api_pb2.Experiment(
        description=f"{description}\n\n{table}" if description else table,
        time_created_secs=time.time() if time_created_secs is None else float(time_created_secs),
        hparam_infos=infos,
        metric_infos=metric_infos,
    )


def _summary_value(tag, plugin_data):
    """A `Summary.Value` holding `plugin_data` (an `HParamsPluginData`), as `summary_v2` builds it."""
    summary = summary_pb2.Summary()
    return summary.value.add(
        tag=tag, metadata=hparams_metadata.create_summary_metadata(plugin_data), tensor=hparams_metadata.NULL_TENSOR
    )


def _hparams_contents(run_dir):
    """`tag -> HParamsPluginData` of the hparams summaries in the run directory `run_dir` (its own files only)."""
    if not os.path.isdir(run_dir):
        return {}
    accumulator = EventAccumulator(run_dir, size_guidance={"tensors": 1})
    accumulator.Reload()
    contents = {}
    for tag in accumulator.Tags()["tensors"]:
        summary_metadata = accumulator.SummaryMetadata(tag)
        if summary_metadata.plugin_data.plugin_name == hparams_metadata.PLUGIN_NAME:
            contents[tag] = plugin_data_pb2.HParamsPluginData.FromString(summary_metadata.plugin_data.content)
    return contents


def read_experiment(logdir):
    """The `api_pb2.Experiment` written in the run `logdir` (the first one, as TensorBoard reads it), or `None`."""
    content = _hparams_contents(os.fspath(logdir)).get(hparams_metadata.EXPERIMENT_TAG)
    return content.experiment if content is not None else None


def read_session(logdir, session):
    """`(SessionStartInfo or None, SessionEndInfo or None)` of the run `<logdir>/<session>`, as TensorBoard reads them."""
    contents = _hparams_contents(os.path.join(os.fspath(logdir), _check_session(session)))
    start = contents.get(hparams_metadata.SESSION_START_INFO_TAG)
    end = contents.get(hparams_metadata.SESSION_END_INFO_TAG)
    return (start.session_start_info if start else None, end.session_end_info if end else None)


def _same_experiment(a, b):
    a, b = api_pb2.Experiment.FromString(a.SerializeToString()), api_pb2.Experiment.FromString(b.SerializeToString())
    a.ClearField("time_created_secs")
    b.ClearField("time_created_secs")
    return a == b


def _check_logdir(logdir):
    if not isinstance(logdir, (str, os.PathLike)) or not os.fspath(logdir):
        raise validation.invalid("logdir", "a non-empty path (str or os.PathLike)", logdir)
    return check_writable(logdir)


def write_experiment(logdir, domains, metrics, description=None):
    """Declares the HParams experiment: every hyperparameter with its domain, and the metric columns.

    Written to the run `logdir` itself (the trials' sessions are its sub-directories). TensorBoard reads the first
    experiment of a log directory: writing the same experiment again (a resumed search) writes nothing; declaring a
    different one in the same `logdir` warns, and TensorBoard keeps showing the first (use a new `logdir`).

    Args:
        logdir: the experiment's log directory (created if needed).
        domains: `{name: spec}`, each `spec` either `{"type": "interval", "min": float, "max": float, "log": bool}`
            (`log` optional, default `False`; a log-scaled interval needs `min > 0`) or
            `{"type": "discrete", "values": [...]}` (bools, numbers or strings, all of one kind); both may add
            `"display_name"` and `"description"` strings. `domains_from_hyperparameters` builds this from a
            keras-tuner `HyperParameters`.
        metrics: the metric columns: tags (str) of the scalars `write_session` writes, or
            `(tag, display_name, description)` tuples. Tags starting with `val_` are marked as validation metrics.
            `PRUNED_METRIC` is always added.
        description: a Markdown description of the experiment; a table of the declared domains (with their scales)
            is appended to it.

    Returns:
        The `api_pb2.Experiment` that TensorBoard shows.

    Example:

    >>> write_experiment("runs/hp", {"l2": {"type": "interval", "min": 1e-6, "max": 0.1, "log": True}}, ["val_loss"])

    Reference: `tensorboard/plugins/hparams/summary_v2.py` (`hparams_config_pb`).
    """
    experiment = experiment_proto(domains, metrics, description)
    logdir = _check_logdir(logdir)
    existing = read_experiment(logdir)
    if existing is not None:
        if not _same_experiment(existing, experiment):
            warnings.warn(
                f"An HParams experiment with other domains or metrics is already in {logdir!r}; TensorBoard shows "
                "the first one written. Use a new log directory to declare another search space.",
                stacklevel=2,
            )
        return existing
    writer = EventWriter(logdir)
    try:
        writer.add_summary(
            [_summary_value(hparams_metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment))],
            step=0,
        )
    finally:
        writer.close()
    return experiment


def _check_session(session):
    if isinstance(session, numbers.Integral) and not isinstance(session, bool):
        session = str(session)
    parts = session.replace("\\", "/").split("/") if isinstance(session, str) else []
    if not parts or os.path.isabs(session) or any(part in ("", ".", "..") for part in parts):
        raise validation.invalid(
            "session", "a trial id or a relative run name (str, no empty, '.' or '..' component)", session
        )
    return session


def _check_values(values):
    if not isinstance(values, dict):
        raise validation.invalid("values", "a dict {hyperparameter name: bool, number or str}", values)
    checked = {}
    for name, value in values.items():
        value = _plain(value)
        if value is None:
            continue  # an inactive conditional hyperparameter: left unset, as TensorBoard shows a missing value
        if not isinstance(name, str) or not name or not isinstance(value, (bool, str)) and not _is_real(value):
            raise validation.invalid(f"values[{name!r}]", "a bool, a number, a str or None", value)
        checked[name] = float(value) if _is_real(value) else value
    return checked


def _check_metrics(metrics):
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise validation.invalid("metrics", "a dict {metric tag: number} or None", metrics)
    checked = {}
    for tag, value in metrics.items():
        value = _plain(value)
        if value is None:
            continue
        if not isinstance(tag, str) or not tag or not _is_real(value):
            raise validation.invalid(f"metrics[{tag!r}]", "a number or None", value)
        checked[tag] = float(value)
    return checked


def write_session(
    logdir, session, values, metrics=None, status="completed", step=0, start_time_secs=None, end_time_secs=None
):
    """Writes one trial's session: its hyperparameter values, its metric values and its end status.

    Written to the run `<logdir>/<session>`: the `SessionStartInfo` (values; the session is its own group, named
    `session`), the metrics as scalars at `step` (the HParams table shows each tag's last value), and, unless
    `status` is `"running"`, the `SessionEndInfo`. A running trial may be written again once finished (the values
    must not change: TensorBoard keeps the first start info, and the first end info).

    Args:
        logdir: the experiment's log directory (as given to `write_experiment`).
        session: the trial id, or a run name relative to `logdir` (e.g. `"trial_03"`); also the group name.
        values: `{hyperparameter name: value}`: bools, numbers (numpy scalars too) or strings; `None` values
            (inactive conditional hyperparameters) are left out.
        metrics: `{tag: number}` or `None`: the trial's results (e.g. best val loss, gap, sparsity); declare the
            tags in `write_experiment`.
        status: one of `STATUSES`: `"completed"`, `"pruned"` (a success for TensorBoard, with `PRUNED_METRIC` = 1),
            `"stopped"`, `"failed"`, `"invalid"`, `"running"` (no end info yet), `"unknown"`.
        step: the step of the metric scalars (e.g. the trial's last epoch).
        start_time_secs: the session start, seconds since the epoch (default: now).
        end_time_secs: the session end, seconds since the epoch (default: now).

    Returns:
        The session's run directory.

    Example:

    >>> write_session("runs/hp", "trial_03", {"l2": 3e-4}, {"val_loss": 0.41}, status="pruned", step=4)

    Reference: `tensorboard/plugins/hparams/summary_v2.py` (`hparams_pb`) and `summary.py` (`session_end_pb`).
    """
    session = _check_session(session)
    values = _check_values(values)
    metrics = _check_metrics(metrics)
    validation.check_choice("status", status, tuple(STATUSES))
    step = validation.check_int("step", step, low=0)
    run_dir = os.path.join(_check_logdir(logdir), session)
    _, previous_end = read_session(logdir, session)
    if previous_end is not None:
        warnings.warn(
            f"The session {session!r} in {os.fspath(logdir)!r} already has an end status; TensorBoard keeps the first "
            "one. Its metric values are updated.",
            stacklevel=2,
        )
    if status != "running":
        metrics = {**metrics, PRUNED_METRIC: float(status == "pruned")}
    start = summary_v2.hparams_pb(values, trial_id=session, start_time_secs=start_time_secs)
    writer = EventWriter(run_dir)
    try:
        writer.add_summary(list(start.value), step=0)
        writer.scalars(metrics, step=step)
        if status != "running" and previous_end is None:
            end = plugin_data_pb2.SessionEndInfo(
                status=STATUSES[status], end_time_secs=time.time() if end_time_secs is None else float(end_time_secs)
            )
            writer.add_summary(
                [
                    _summary_value(
                        hparams_metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)
                    )
                ],
                step=0,
            )
    finally:
        writer.close()
    return run_dir


def domains_from_hyperparameters(hyperparameters):
    """The `domains` of `write_experiment` from a keras-tuner `HyperParameters` (its declared space).

    `Float`/`Int` -> intervals (log-scaled for `sampling="log"` or `"reverse_log"`), `Choice` -> its values,
    `Boolean` -> `[False, True]`, `Fixed` -> its one value. Conditional hyperparameters are included (a session
    where one is inactive leaves it unset).

    Args:
        hyperparameters: a `keras_tuner.HyperParameters` (e.g. `tuner.oracle.get_space()`).

    Returns:
        A dict `{name: spec}`.

    Example:

    >>> hp = keras_tuner.HyperParameters()
    >>> hp.Float("l2", 1e-6, 1e-1, sampling="log")
    >>> domains_from_hyperparameters(hp)
    {'l2': {'type': 'interval', 'min': 1e-06, 'max': 0.1, 'log': True}}

    Reference: keras-tuner's `keras_tuner.HyperParameters` space.
    """
    import keras_tuner

    hp_types = keras_tuner.engine.hyperparameters
    if not isinstance(hyperparameters, keras_tuner.HyperParameters):
        raise validation.invalid("hyperparameters", "a keras_tuner.HyperParameters", hyperparameters)
    domains = {}
    for hp in hyperparameters.space:
        if isinstance(hp, (hp_types.Float, hp_types.Int)):
            domains[hp.name] = {
                "type": "interval",
                "min": float(hp.min_value),
                "max": float(hp.max_value),
                "log": hp.sampling in ("log", "reverse_log"),
            }
        elif isinstance(hp, hp_types.Choice):
            domains[hp.name] = {"type": "discrete", "values": list(hp.values)}
        elif isinstance(hp, hp_types.Boolean):
            domains[hp.name] = {"type": "discrete", "values": [False, True]}
        elif isinstance(hp, hp_types.Fixed):
            domains[hp.name] = {"type": "discrete", "values": [hp.value]}
        else:
            raise validation.invalid("hyperparameters", "Float, Int, Choice, Boolean or Fixed hyperparameters", hp)
    return domains
