"""The HParams writer: TensorBoard's own hparams protos read back from the event files, bad arguments, and a live
`tensorboard` server on 127.0.0.1 serving a search written under JAX with TensorFlow absent."""

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
import warnings

import keras_tuner
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, summary_v2
from tensorboard.plugins.hparams import metadata as hparams_metadata

from kreg.tensorboard import hparams
from kreg.tensorboard.event_reader import read_scalars, read_tensors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DOMAINS = {
    "l2": {"type": "interval", "min": 1e-6, "max": 1e-1, "log": True},
    "dropout": {"type": "interval", "min": 0.0, "max": 0.5},
    "penalty": {"type": "discrete", "values": ["none", "l2", "l1"]},
    "units": {"type": "discrete", "values": [64, 32, 128.0]},
    "batchnorm": {"type": "discrete", "values": [True, False]},
}
METRICS = ["val_loss", ("val_accuracy", "val acc", "accuracy on the validation data"), "gap", "sparsity"]


def hparams_events(run_dir):
    """`tag -> (SummaryMetadata, [TensorEvent])` of the hparams plugin's summaries in `run_dir`, as TensorBoard
    loads them."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: (accumulator.SummaryMetadata(tag), accumulator.Tensors(tag))
        for tag in accumulator.Tags()["tensors"]
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name == hparams_metadata.PLUGIN_NAME
    }


# --- The experiment --------------------------------------------------------------------------------------------


def test_experiment_declares_every_domain_with_tensorboards_own_protos(tmp_path):
    experiment = hparams.write_experiment(tmp_path, DOMAINS, METRICS, description="Digits MLP.")
    events = hparams_events(tmp_path)
    assert list(events) == [hparams_metadata.EXPERIMENT_TAG]
    summary_metadata, tensors = events[hparams_metadata.EXPERIMENT_TAG]
    # What TensorBoard's hparams backend parses (version check included), on a null tensor as summary_v2 writes.
    read_back = hparams_metadata.parse_experiment_plugin_data(summary_metadata.plugin_data.content)
    assert read_back == experiment == hparams.read_experiment(tmp_path)
    assert len(tensors) == 1 and tensors[0].step == 0 and tensors[0].tensor_proto == hparams_metadata.NULL_TENSOR
    assert read_tensors(tmp_path)[hparams_metadata.EXPERIMENT_TAG][0][1].shape == (0,)
    assert abs(read_back.time_created_secs - time.time()) < 60

    infos = {info.name: info for info in read_back.hparam_infos}
    assert list(infos) == list(DOMAINS)
    l2 = infos["l2"]
    assert l2.type == api_pb2.DATA_TYPE_FLOAT64
    assert (l2.domain_interval.min_value, l2.domain_interval.max_value) == (1e-6, 1e-1)
    assert l2.display_name == "l2 (log)" and "log scale in [1e-06, 0.1]" in l2.description
    dropout = infos["dropout"]
    assert (dropout.domain_interval.min_value, dropout.domain_interval.max_value) == (0.0, 0.5)
    assert dropout.display_name == "" and "linear scale" in dropout.description
    assert infos["penalty"].type == api_pb2.DATA_TYPE_STRING
    assert [v.string_value for v in infos["penalty"].domain_discrete.values] == ["l1", "l2", "none"]
    assert infos["units"].type == api_pb2.DATA_TYPE_FLOAT64  # ints and floats: one numeric kind, sorted
    assert [v.number_value for v in infos["units"].domain_discrete.values] == [32.0, 64.0, 128.0]
    assert infos["batchnorm"].type == api_pb2.DATA_TYPE_BOOL
    assert [v.bool_value for v in infos["batchnorm"].domain_discrete.values] == [False, True]

    metrics = [
        (m.name.group, m.name.tag, m.display_name, m.description, m.dataset_type) for m in read_back.metric_infos
    ]
    assert metrics == [
        ("", "val_loss", "", "", api_pb2.DATASET_VALIDATION),
        ("", "val_accuracy", "val acc", "accuracy on the validation data", api_pb2.DATASET_VALIDATION),
        ("", "gap", "", "", api_pb2.DATASET_UNKNOWN),
        ("", "sparsity", "", "", api_pb2.DATASET_UNKNOWN),
        ("", hparams.PRUNED_METRIC, "pruned", metrics[-1][3], api_pb2.DATASET_UNKNOWN),
    ]
    assert read_back.description.startswith("Digits MLP.\n\nSearch space (declared by kreg):")
    assert "| l2 | [1e-06, 0.1] | log |" in read_back.description
    assert "| dropout | [0, 0.5] | linear |" in read_back.description
    assert "| penalty | {'l1', 'l2', 'none'} | discrete |" in read_back.description


def test_domains_match_what_tensorboards_summary_v2_declares():
    """Same `HParamInfo` domains and `MetricInfo`s as `summary_v2.hparams_config_pb` (TensorFlow's own path)."""
    reference = summary_v2.hparams_config_pb(
        [
            summary_v2.HParam("l2", summary_v2.RealInterval(1e-6, 1e-1)),
            summary_v2.HParam("penalty", summary_v2.Discrete(["none", "l2", "l1"])),
        ],
        [summary_v2.Metric("gap", group="")],
    )
    content = reference.value[0].metadata.plugin_data.content
    expected = hparams_metadata.parse_experiment_plugin_data(content)
    ours = hparams.experiment_proto({k: DOMAINS[k] for k in ("l2", "penalty")}, ["gap"])
    for mine, theirs in zip(ours.hparam_infos, expected.hparam_infos):
        mine.ClearField("display_name")
        mine.ClearField("description")
        assert mine == theirs
    assert ours.metric_infos[0] == expected.metric_infos[0]


def test_pruned_metric_is_declared_once():
    experiment = hparams.experiment_proto({"l2": DOMAINS["l2"]}, ["val_loss", hparams.PRUNED_METRIC])
    assert [m.name.tag for m in experiment.metric_infos] == ["val_loss", hparams.PRUNED_METRIC]
    assert experiment.metric_infos[1].display_name == ""


def test_user_display_name_and_description_win():
    spec = {**DOMAINS["l2"], "display_name": "L2 strength", "description": "weight decay"}
    info = hparams.hparam_info("l2", spec)
    assert (info.display_name, info.description) == ("L2 strength", "weight decay")


def test_writing_the_same_experiment_again_writes_nothing_and_another_warns(tmp_path):
    first = hparams.write_experiment(tmp_path, DOMAINS, METRICS)
    files = sorted(os.listdir(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = hparams.write_experiment(tmp_path, DOMAINS, METRICS)  # a resumed search
    assert again == first and sorted(os.listdir(tmp_path)) == files
    other = {**DOMAINS, "l2": {**DOMAINS["l2"], "max": 1.0}}
    with pytest.warns(UserWarning, match="TensorBoard shows the first one written"):
        kept = hparams.write_experiment(tmp_path, other, METRICS)
    assert kept == first == hparams.read_experiment(tmp_path) and sorted(os.listdir(tmp_path)) == files


def test_domains_from_keras_tuner_hyperparameters():
    hp = keras_tuner.HyperParameters()
    hp.Choice("penalty", ["none", "l2"])
    with hp.conditional_scope("penalty", ["l2"]):
        hp.Float("l2", 1e-6, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.5)
    hp.Int("units", 16, 256, step=16)
    hp.Float("decay", 1e-3, 0.5, sampling="reverse_log")
    hp.Boolean("batchnorm")
    hp.Fixed("epochs", 5)
    domains = hparams.domains_from_hyperparameters(hp)
    assert domains == {
        "penalty": {"type": "discrete", "values": ["none", "l2"]},
        "l2": {"type": "interval", "min": 1e-6, "max": 0.1, "log": True},
        "dropout": {"type": "interval", "min": 0.0, "max": 0.5, "log": False},
        "units": {"type": "interval", "min": 16.0, "max": 256.0, "log": False},
        "decay": {"type": "interval", "min": 1e-3, "max": 0.5, "log": True},
        "batchnorm": {"type": "discrete", "values": [False, True]},
        "epochs": {"type": "discrete", "values": [5]},
    }
    assert len(hparams.experiment_proto(domains, ["val_loss"]).hparam_infos) == 7
    with pytest.raises(ValueError, match=r"Expected a keras_tuner\.HyperParameters\. Received: hyperparameters=\{\}"):
        hparams.domains_from_hyperparameters({})


# --- Sessions ----------------------------------------------------------------------------------------------------


def test_session_holds_values_metrics_and_status(tmp_path):
    hparams.write_experiment(tmp_path, DOMAINS, METRICS)
    values = {"l2": np.float32(3e-4), "dropout": 0.25, "penalty": "l2", "units": np.int64(64), "batchnorm": True}
    run_dir = hparams.write_session(
        tmp_path, "trial_03", values, {"val_loss": 0.41, "val_accuracy": np.float64(0.9), "gap": None}, step=7,
        start_time_secs=100.0, end_time_secs=200.0,
    )  # fmt: skip
    assert run_dir == os.path.join(str(tmp_path), "trial_03")
    events = hparams_events(run_dir)
    assert set(events) == {hparams_metadata.SESSION_START_INFO_TAG, hparams_metadata.SESSION_END_INFO_TAG}
    start = hparams_metadata.parse_session_start_info_plugin_data(
        events[hparams_metadata.SESSION_START_INFO_TAG][0].plugin_data.content
    )
    assert start.group_name == "trial_03" and start.start_time_secs == 100.0
    assert start.hparams["l2"].number_value == float(np.float32(3e-4))
    assert start.hparams["units"].number_value == 64.0
    assert start.hparams["penalty"].string_value == "l2"
    assert start.hparams["batchnorm"].bool_value is True
    end = hparams_metadata.parse_session_end_info_plugin_data(
        events[hparams_metadata.SESSION_END_INFO_TAG][0].plugin_data.content
    )
    assert (end.status, end.end_time_secs) == (api_pb2.STATUS_SUCCESS, 200.0)
    assert hparams.read_session(tmp_path, "trial_03") == (start, end)

    scalars = read_scalars(run_dir)
    assert set(scalars) == {"val_loss", "val_accuracy", hparams.PRUNED_METRIC}  # None metrics left out
    assert scalars["val_loss"] == [(7, pytest.approx(0.41, rel=1e-6))]
    assert scalars["val_accuracy"] == [(7, pytest.approx(0.9, rel=1e-6))]
    assert scalars[hparams.PRUNED_METRIC] == [(7, 0.0)]


def test_start_info_is_the_one_summary_v2_builds(tmp_path):
    values = {"l2": 1e-3, "penalty": "l1", "batchnorm": False}
    hparams.write_session(tmp_path, "7", values, start_time_secs=5.0)
    start, _ = hparams.read_session(tmp_path, "7")
    content = summary_v2.hparams_pb(values, trial_id="7", start_time_secs=5.0).value[0].metadata.plugin_data.content
    assert start == hparams_metadata.parse_session_start_info_plugin_data(content)


@pytest.mark.parametrize(
    "status, expected, pruned",
    [
        ("completed", api_pb2.STATUS_SUCCESS, 0.0),
        ("pruned", api_pb2.STATUS_SUCCESS, 1.0),
        ("stopped", api_pb2.STATUS_SUCCESS, 0.0),
        ("failed", api_pb2.STATUS_FAILURE, 0.0),
        ("invalid", api_pb2.STATUS_FAILURE, 0.0),
        ("unknown", api_pb2.STATUS_UNKNOWN, 0.0),
    ],
)
def test_status_maps_to_tensorboards_and_the_pruned_metric(tmp_path, status, expected, pruned):
    hparams.write_session(tmp_path, 3, {"l2": 0.1}, None, status=status, step=2)
    _, end = hparams.read_session(tmp_path, "3")
    assert end.status == expected
    assert read_scalars(tmp_path / "3") == {hparams.PRUNED_METRIC: [(2, pruned)]}


def test_running_session_then_finished(tmp_path):
    hparams.write_session(tmp_path, "trial_1", {"l2": 0.01}, {"val_loss": 0.9}, status="running", step=1)
    start, end = hparams.read_session(tmp_path, "trial_1")
    assert start.hparams["l2"].number_value == 0.01 and end is None
    assert read_scalars(tmp_path / "trial_1") == {"val_loss": [(1, pytest.approx(0.9))]}
    time.sleep(1.1)  # a new event file name (TensorBoard's loaders read a run's files in name order)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hparams.write_session(tmp_path, "trial_1", {"l2": 0.01}, {"val_loss": 0.5}, status="pruned", step=3)
    start, end = hparams.read_session(tmp_path, "trial_1")
    assert end.status == api_pb2.STATUS_SUCCESS
    scalars = read_scalars(tmp_path / "trial_1")
    assert scalars["val_loss"] == [(1, pytest.approx(0.9)), (3, pytest.approx(0.5))]
    assert scalars[hparams.PRUNED_METRIC] == [(3, 1.0)]
    with pytest.warns(UserWarning, match="already has an end status"):
        hparams.write_session(tmp_path, "trial_1", {"l2": 0.01}, {"val_loss": 0.4}, status="completed", step=4)
    assert len(hparams_events(tmp_path / "trial_1")[hparams_metadata.SESSION_END_INFO_TAG][1]) == 1


def test_nested_session_name_and_inactive_values(tmp_path):
    hparams.write_session(tmp_path, "trials/a", {"penalty": "none", "l2": None}, {"val_loss": float("nan")})
    start, end = hparams.read_session(tmp_path, "trials/a")
    assert dict(start.hparams).keys() == {"penalty"} and start.group_name == "trials/a"
    assert math.isnan(read_scalars(tmp_path / "trials" / "a")["val_loss"][0][1])


# --- Bad arguments -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domains, message",
    [
        ({}, r"argument `domains`\. Expected a non-empty dict \{hyperparameter name: domain spec\}\. Received: domains=\{\}"),
        ([("l2", {})], r"argument `domains`\. Expected a non-empty dict"),
        ({"l2": {"type": "range"}}, r"argument `domains\['l2'\]`\. Expected a dict \{'type': 'interval'"),
        ({"l2": {"type": "interval", "min": 0.1, "max": 0.1}}, r"argument `domains\['l2'\]`\. Expected an interval with min < max\. Received: domains\['l2'\]=\{'type': 'interval', 'min': 0\.1, 'max': 0\.1\}"),
        ({"l2": {"type": "interval", "min": 0.2, "max": 0.1}}, r"Expected an interval with min < max"),
        ({"l2": {"type": "interval", "min": 0.0, "max": 0.1, "log": True}}, r"argument `domains\['l2'\]`\. Expected min > 0 for a log-scaled interval"),
        ({"l2": {"type": "interval", "min": -1.0, "max": 0.1, "log": True}}, r"Expected min > 0 for a log-scaled interval"),
        ({"l2": {"type": "interval", "min": "a", "max": 0.1}}, r"argument `domains\['l2'\]\['min'\]`\. Expected a finite float in \(-inf, inf\)\. Received: domains\['l2'\]\['min'\]='a'"),
        ({"l2": {"type": "interval", "min": 0.0, "max": float("inf")}}, r"argument `domains\['l2'\]\['max'\]`"),
        ({"l2": {"type": "interval", "min": 0.0, "max": 1.0, "log": "yes"}}, r"argument `domains\['l2'\]\['log'\]`\. Expected a bool"),
        ({"l2": {"type": "interval", "min": 0.0, "max": 1.0, "scale": "log"}}, r"Expected only the keys \['description', 'display_name', 'log', 'max', 'min', 'type'\] when type is 'interval'"),
        ({"p": {"type": "discrete", "values": []}}, r"argument `domains\['p'\]\['values'\]`\. Expected a non-empty list"),
        ({"p": {"type": "discrete", "values": "l1"}}, r"Expected a non-empty list of bools, numbers or strings"),
        ({"p": {"type": "discrete", "values": ["l1", 2]}}, r"Expected bools, numbers or strings, all of one kind\. Received: domains\['p'\]\['values'\]=\['l1', 2\]"),
        ({"p": {"type": "discrete", "values": [True, 1]}}, r"all of one kind"),
        ({"p": {"type": "discrete", "values": [None]}}, r"all of one kind"),
        ({"p": {"type": "discrete", "values": [1.0, float("nan")]}}, r"Expected finite numbers"),
        ({"p": {"type": "discrete", "values": ["a", "a"]}}, r"Expected distinct values"),
        ({"p": {"type": "discrete", "values": ["a"], "display_name": 3}}, r"argument `domains\['p'\]\['display_name'\]`\. Expected a str or None"),
        ({"": {"type": "discrete", "values": ["a"]}}, r"argument `domains`\. Expected a dict whose keys are non-empty hyperparameter names"),
    ],
)  # fmt: skip
def test_bad_domains(tmp_path, domains, message):
    with pytest.raises(ValueError, match=message) as error:
        hparams.write_experiment(tmp_path, domains, ["val_loss"])
    assert str(error.value).startswith("Invalid value received for argument `")
    assert os.listdir(tmp_path) == []  # nothing written


@pytest.mark.parametrize(
    "metrics, description, message",
    [
        ("val_loss", None, r"argument `metrics`\. Expected a list of metric tags .* Received: metrics='val_loss'"),
        ([3], None, r"argument `metrics`\. Expected a list of metric tags \(str\) or \(tag, display_name, description\) tuples of str\. Received: metrics=3"),
        ([("a", "b", "c", "d")], None, r"Received: metrics=\('a', 'b', 'c', 'd'\)"),
        ([""], None, r"Received: metrics=\(''\,\)"),
        (["a", ("a", "A")], None, r"Expected distinct metric tags"),
        (["a"], 3, r"argument `description`\. Expected a str or None\. Received: description=3"),
    ],
)  # fmt: skip
def test_bad_metrics_and_description(tmp_path, metrics, description, message):
    with pytest.raises(ValueError, match=message) as error:
        hparams.write_experiment(tmp_path, {"l2": DOMAINS["l2"]}, metrics, description)
    assert str(error.value).startswith("Invalid value received for argument `")


def test_bad_logdir(tmp_path):
    with pytest.raises(ValueError, match=r"argument `logdir`\. Expected a non-empty path .* Received: logdir=''"):
        hparams.write_experiment("", DOMAINS, METRICS)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=r"argument `log_dir`\. Expected a writable directory"):
        hparams.write_session(blocker / "logs", "1", {"l2": 0.1})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"session": ""}, r"argument `session`\. Expected a trial id or a relative run name \(str, no empty, '\.' or '\.\.' component\)\. Received: session=''"),
        ({"session": "../x"}, r"Received: session='\.\./x'"),
        ({"session": "a//b"}, r"Received: session='a//b'"),
        ({"session": "/abs"}, r"Received: session='/abs'"),
        ({"session": None}, r"Received: session=None"),
        ({"session": True}, r"Received: session=True"),
        ({"values": [("l2", 0.1)]}, r"argument `values`\. Expected a dict \{hyperparameter name: bool, number or str\}"),
        ({"values": {"l2": [0.1]}}, r"argument `values\['l2'\]`\. Expected a bool, a number, a str or None\. Received: values\['l2'\]=\[0\.1\]"),
        ({"values": {3: 0.1}}, r"argument `values\[3\]`"),
        ({"metrics": [0.1]}, r"argument `metrics`\. Expected a dict \{metric tag: number\} or None"),
        ({"metrics": {"val_loss": "low"}}, r"argument `metrics\['val_loss'\]`\. Expected a number or None\. Received: metrics\['val_loss'\]='low'"),
        ({"metrics": {"val_loss": True}}, r"argument `metrics\['val_loss'\]`"),
        ({"status": "done"}, r"argument `status`\. Expected one of 'completed', 'pruned', 'stopped', 'failed', 'invalid', 'running', 'unknown'\. Received: status='done'"),
        ({"step": -1}, r"argument `step`\. Expected an integer >= 0\. Received: step=-1"),
    ],
)  # fmt: skip
def test_bad_session_arguments(tmp_path, kwargs, message):
    arguments = {"session": "t", "values": {"l2": 0.1}, "metrics": None, **kwargs}
    with pytest.raises(ValueError, match=message) as error:
        hparams.write_session(tmp_path, **arguments)
    assert str(error.value).startswith("Invalid value received for argument `")
    assert os.listdir(tmp_path) == []


# --- A live TensorBoard server, the search written under JAX with TensorFlow absent --------------------------------

WRITER = textwrap.dedent(
    """
    import json, os, sys
    sys.modules["tensorflow"] = None  # `import tensorflow` now raises ImportError
    import keras
    import numpy as np
    from kreg.callbacks import RegularizationReport
    from kreg.regularizers import L2
    from kreg.tensorboard.hparams import write_experiment, write_session

    assert keras.backend.backend() == "jax", keras.backend.backend()
    logdir, domains, metrics = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    write_experiment(logdir, domains, metrics, description="live test")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)
    trials = {
        "trial_00": ({"l2": 1e-4, "dropout": 0.1, "penalty": "l2"}, "completed"),
        "trial_01": ({"l2": 3e-2, "dropout": 0.4, "penalty": "l2"}, "pruned"),
        "trial_02": ({"penalty": "none", "dropout": 0.0}, "failed"),
    }
    written = {}
    for name, (values, status) in trials.items():
        metrics = None
        if status != "failed":
            model = keras.Sequential([
                keras.Input((8,)),
                keras.layers.Dense(8, activation="relu", kernel_regularizer=L2(values["l2"])),
                keras.layers.Dropout(values["dropout"]),
                keras.layers.Dense(3),
            ])
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            report = RegularizationReport(os.path.join(logdir, name), sparsity_table=False)
            history = model.fit(x, y, validation_split=0.25, epochs=2, batch_size=16, verbose=0, callbacks=[report])
            h = history.history
            metrics = {"val_loss": min(h["val_loss"]), "val_accuracy": max(h["val_accuracy"]),
                       "gap": h["val_loss"][-1] - h["loss"][-1], "sparsity": 0.0}
        write_session(logdir, name, values, metrics, status=status, step=2)
        written[name] = {"values": values, "metrics": metrics, "status": status}
    loaded = sorted(m for m, module in sys.modules.items() if m.split(".")[0] == "tensorflow" and module is not None)
    print(json.dumps({"written": written, "tensorflow_modules": loaded}))
    """
)
LIVE_DOMAINS = {
    "l2": {"type": "interval", "min": 1e-6, "max": 1e-1, "log": True},
    "dropout": {"type": "interval", "min": 0.0, "max": 0.5, "log": False},
    "penalty": {"type": "discrete", "values": ["none", "l2", "l1"]},
}
LIVE_METRICS = ["val_loss", "val_accuracy", "gap", "sparsity"]
STATUS = {"completed": "STATUS_SUCCESS", "pruned": "STATUS_SUCCESS", "failed": "STATUS_FAILURE"}
SERVER_TIMEOUT = 120.0
HIDE_TENSORFLOW = "import sys; sys.modules['tensorflow'] = None; "


@pytest.fixture(scope="module")
def written_search(tmp_path_factory):
    """A three-trial search written by a JAX process in which `import tensorflow` fails."""
    logdir = tmp_path_factory.mktemp("hparams_live")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-c", WRITER, str(logdir), json.dumps(LIVE_DOMAINS), json.dumps(LIVE_METRICS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["tensorflow_modules"] == []
    return logdir, output["written"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode())


def wait_for_post(url, body, ready, server, deadline):
    last = None
    while time.monotonic() < deadline:
        assert server.poll() is None, f"tensorboard exited with code {server.returncode}"
        try:
            last = post(url, body)
            if ready(last):
                return last
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"tensorboard did not serve {url} in {SERVER_TIMEOUT} s; last answer: {last}")


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python_loader", "rust_loader"])
def test_live_tensorboard_lists_every_trial(written_search, load_fast):
    logdir, written = written_search
    port = free_port()
    launcher = HIDE_TENSORFLOW + "sys.argv[0] = 'tensorboard'; from tensorboard.main import run_main; run_main()"
    server = subprocess.Popen(
        [sys.executable, "-c", launcher, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port),
         "--load_fast", load_fast, "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        base = f"http://127.0.0.1:{port}/data/plugin/hparams"
        statuses = ["STATUS_FAILURE", "STATUS_RUNNING", "STATUS_SUCCESS", "STATUS_UNKNOWN"]
        # The HPARAMS dashboard's requests: the experiment, then the session groups with a column per hparam and metric.
        experiment = wait_for_post(
            f"{base}/experiment", {"experimentName": "", "hparamsLimit": 1000}, lambda j: j.get("hparamInfos"), server,
            deadline,
        )  # fmt: skip
        metric_names = [info["name"] for info in experiment["metricInfos"]]
        columns = [{"hparam": info["name"], "includeInResult": True} for info in experiment["hparamInfos"]]
        columns += [{"metric": name, "includeInResult": True} for name in metric_names]
        groups_request = {
            "experimentName": "", "allowedStatuses": statuses, "colParams": columns, "startIndex": 0, "sliceSize": 100,
        }  # fmt: skip
        groups = wait_for_post(
            f"{base}/session_groups", groups_request, lambda j: len(j.get("sessionGroups", [])) == len(written), server,
            deadline,
        )  # fmt: skip
        # The time-series dashboard's requests (hparams only, `includeMetrics: false`).
        lean_experiment = post(
            f"{base}/experiment", {"experimentName": "", "hparamsLimit": 1000, "includeMetrics": False}
        )
        lean_groups = post(
            f"{base}/session_groups",
            {
                **groups_request,
                "colParams": columns[: len(LIVE_DOMAINS)],
                "sliceSize": 1000000,
                "includeMetrics": False,
            },
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=10) as response:
            scalar_tags = json.loads(response.read().decode())
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)

    # The declared domains, with the log scale in the display name and description.
    infos = {info["name"]: info for info in experiment["hparamInfos"]}
    assert set(infos) == set(LIVE_DOMAINS)
    assert infos["l2"]["domainInterval"] == {"minValue": 1e-6, "maxValue": 0.1}
    assert infos["l2"]["displayName"] == "l2 (log)" and "log scale" in infos["l2"]["description"]
    assert infos["dropout"]["domainInterval"] == {"minValue": 0.0, "maxValue": 0.5}
    assert infos["penalty"]["domainDiscrete"] == ["l1", "l2", "none"]
    assert "| l2 | [1e-06, 0.1] | log |" in experiment["description"]
    assert [name["tag"] for name in metric_names] == LIVE_METRICS + [hparams.PRUNED_METRIC]
    assert {info["name"] for info in lean_experiment["hparamInfos"]} == set(LIVE_DOMAINS)

    # Every trial: its values, its metrics, its status.
    assert groups["totalSize"] == len(written)
    by_name = {group["name"]: group for group in groups["sessionGroups"]}
    assert set(by_name) == set(written)
    for name, trial in written.items():
        group = by_name[name]
        assert group["hparams"] == trial["values"]
        (session,) = group["sessions"]
        assert session["name"] == name and session["status"] == STATUS[trial["status"]]
        values = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}
        expected = dict(trial["metrics"] or {}, **{hparams.PRUNED_METRIC: float(trial["status"] == "pruned")})
        assert values == pytest.approx(expected, rel=1e-6), name
        assert {m["name"]["tag"]: m["value"] for m in group["metricValues"]} == pytest.approx(expected, rel=1e-6)
        assert all(m["trainingStep"] == 2 for m in session["metricValues"])
    lean = {group["name"]: group["hparams"] for group in lean_groups["sessionGroups"]}
    assert lean == {name: trial["values"] for name, trial in written.items()}
    # Each session shares its trial's log directory with the trial's RegularizationReport (whose scalars are there).
    for name in ("trial_00", "trial_01"):
        report_tags = {tag for run, tags in scalar_tags.items() if run.split("/")[0] == name for tag in tags}
        assert set(LIVE_METRICS) < report_tags and len(report_tags - set(LIVE_METRICS)) > 5, report_tags
