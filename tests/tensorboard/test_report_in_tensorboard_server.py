"""End to end: a real `tensorboard` server serves the report's tags and its custom-scalars layout over HTTP."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import keras
import numpy as np

from kreg.callbacks import RegularizationReport

SERVER_TIMEOUT = 90.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read().decode())


def wait_for(url, ready, server, deadline):
    """Polls `url` until `ready(json)` holds; fails if the server died or the deadline passed."""
    last = None
    while time.monotonic() < deadline:
        assert server.poll() is None, f"tensorboard exited with code {server.returncode}"
        try:
            last = get_json(url)
            if ready(last):
                return last
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"tensorboard did not serve {url} in {SERVER_TIMEOUT} s; last answer: {last}")


def auto_named_model(regularizer):
    """The same architecture each call; Keras numbers the auto-named layers apart (`dense_4`, `dense_6`, ...)."""
    return keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, kernel_regularizer=regularizer), keras.layers.Dense(3)]
    )


def test_tensorboard_serves_the_report(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)
    models = {}
    for run, regularizer in (("l1", keras.regularizers.L1(0.01)), ("plain", None)):
        model = models[run] = auto_named_model(regularizer)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(
            x,
            y,
            validation_split=0.25,
            epochs=2,
            batch_size=16,
            verbose=0,
            callbacks=[RegularizationReport(tmp_path / run)],
        )
    assert models["l1"].layers[0].name != models["plain"].layers[0].name

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        base = f"http://127.0.0.1:{port}/data/plugin"
        tags = wait_for(
            f"{base}/scalars/tags",
            lambda j: all("generalization/gl" in j.get(run, {}) for run in ("l1", "plain")),
            server,
            deadline,
        )
        # Each report is the only writer of its folder: the runs are `l1` and `plain`, no `/regularization`.
        assert set(tags) == {"l1", "plain"}
        l1, plain = set(tags["l1"]), set(tags["plain"])
        for tag in (
            "sparsity/global",
            "sparsity/00_dense/kernel",
            "norms/00_dense/kernel/spectral",
            "penalty/00_dense/kernel",
            "penalty/total",
            "generalization/loss_gap",
            "metrics/data_loss/validation",
            "metrics/loss/validation",
            "schedules/learning_rate",
        ):
            assert tag in l1, tag
        # The same tags in both runs, whatever Keras numbered the layers; only the penalties differ.
        assert l1 - plain == {"penalty/00_dense/kernel", "metrics/penalty/train", "metrics/penalty/validation"}
        assert plain <= l1
        assert not any(name in tag for tag in l1 | plain for name in ("sequential", "dense_"))

        layout = wait_for(f"{base}/custom_scalars/layout", lambda j: len(j.get("category", ())) >= 9, server, deadline)
        titles = [category["title"] for category in layout["category"]]
        assert titles == [
            "Validation",
            "Generalization gap",
            "Training",
            "Sparsity",
            "Penalties",
            "Norms",
            "Schedules",
            "Layer 00_dense",
            "Layer 01_dense",
        ]
        first_chart = layout["category"][0]["chart"][0]
        assert first_chart["title"] == "validation data loss (the loss without penalties)"
        assert first_chart["multiline"]["tag"] == ["^metrics/data_loss/validation$"]
        # The two runs' layouts merged into one: no chart twice, and every chart plots a tag of some run.
        for category in layout["category"]:
            chart_titles = [chart["title"] for chart in category["chart"]]
            assert len(chart_titles) == len(set(chart_titles)), category["title"]
            for chart in category["chart"]:
                patterns = chart["multiline"]["tag"]
                assert any(re.match(p, t) for p in patterns for t in l1 | plain), (category["title"], chart["title"])
        layer_charts = [chart["title"] for chart in layout["category"][7]["chart"]]
        assert "00_dense: penalty" in layer_charts and "01_dense: penalty" not in str(layout)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
