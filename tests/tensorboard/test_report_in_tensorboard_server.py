"""End to end: a real `tensorboard` server serves the report's tags and its custom-scalars layout over HTTP."""

import json
import os
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


def test_tensorboard_serves_the_report(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L1(0.01)),
            keras.layers.Dense(3),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(
        x, y, validation_split=0.25, epochs=2, batch_size=16, verbose=0, callbacks=[RegularizationReport(tmp_path)]
    )

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
            f"{base}/scalars/tags", lambda j: "generalization/gl" in j.get("regularization", {}), server, deadline
        )
        run_tags = set(tags["regularization"])
        kernel = model.layers[0].kernel.path
        for tag in (
            "sparsity/global",
            f"sparsity/{kernel}",
            f"norms/{kernel}/spectral",
            f"penalty/{kernel}",
            "penalty/total",
            "generalization/loss_gap",
            "metrics/loss/validation",
            "schedules/learning_rate",
        ):
            assert tag in run_tags, tag
        layout = wait_for(f"{base}/custom_scalars/layout", lambda j: bool(j.get("category")), server, deadline)
        titles = [category["title"] for category in layout["category"]]
        assert titles[:3] == ["Training vs validation", "Generalization gap", "Sparsity"]
        first_chart = layout["category"][0]["chart"][0]
        assert first_chart["title"] == "loss"
        assert first_chart["multiline"]["tag"] == ["^metrics/loss/(train|validation)$"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
