"""Screenshots of kreg's TensorBoard dashboards, for the README: a real TensorBoard server, headless Chromium.

Trains three tiny runs of one over-wide MLP on scikit-learn's digits (no regularization, L2, proximal elastic net;
each with `kreg.callbacks.RegularizationReport`), or uses `--logdir`, starts `tensorboard --logdir ... --host
127.0.0.1` on a free port, waits until it serves every run, and captures with headless Chromium (Debian's
`chromium` package: `apt-get install -y chromium`):

- `docs/images/tensorboard_custom_scalars.png`: the Custom Scalars tab (the report's dashboard);
- `docs/images/tensorboard_scalars.png`: the Scalars tab, filtered to the `generalization/` and data-loss tags;
- `docs/images/tensorboard_sparsity_table.png`: the Text tab, the report's per-weight table (in percent) of one
  run (`--table-run`; default: the first run named like a sparse one, e.g. `elastic_net`);
- `docs/images/tensorboard_hparams.png`: the HParams tab, only with `--hparams-logdir`.

    python scripts/screenshots.py                      # train the tiny runs, then capture (about a minute)
    python scripts/screenshots.py --logdir runs/demo   # capture the demo's runs
    python scripts/screenshots.py --hparams-logdir runs/tuning

Offline; writes only under `--out` (and a temporary directory for the runs it trains). `make screenshots` runs it.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: What each screenshot shows: file name -> (TensorBoard URL fragment, window size in CSS pixels). Smoothing off:
#: one line per run and tag. The width fits TensorBoard's sidebar and three charts per row.
PAGES = {
    "tensorboard_custom_scalars.png": ("#custom_scalars&_smoothingWeight=0", (1650, 1890)),
    "tensorboard_scalars.png": (
        "#scalars&_smoothingWeight=0&tagFilter=generalization%2F%7Cmetrics%2Fdata_loss%2F",
        (1440, 780),
    ),
    "tensorboard_sparsity_table.png": ("#text", (1440, 600)),  # the run of `--table-run` only (see `table_run`)
}
HPARAMS_PAGE = {"tensorboard_hparams.png": ("#hparams", (1440, 900))}


def train_runs(log_dir, epochs):
    """Three runs of one over-wide MLP on 200 digits with 20% of the training labels replaced by random ones (so
    that it overfits within a few epochs): no regularization, L2, proximal elastic net (exact zeros)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    sys.path.insert(0, ROOT)
    import kreg

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_val, y_val = x[:200], y[:200].copy(), x[200:800], y[200:800]
    noisy = rng.random(len(y_train)) < 0.2
    y_train[noisy] = rng.integers(0, 10, int(noisy.sum()))
    # TensorBoard colours runs in the order it finds them (orange, blue, red): the baseline gets the blue.
    variants = {
        "l2": lambda: kreg.regularizers.L2(1e-2),
        "baseline": None,
        "elastic_net": lambda: kreg.regularizers.ElasticNet(l1=3e-2, l2=1e-4, proximal=True),
    }
    for name, regularizer in variants.items():
        keras.utils.set_random_seed(0)
        make = regularizer or (lambda: None)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(512, activation="relu", kernel_regularizer=make()),
                keras.layers.Dense(512, activation="relu", kernel_regularizer=make()),
                keras.layers.Dense(10, kernel_regularizer=make()),
            ]
        )
        model.compile(
            keras.optimizers.Adam(1e-3),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=epochs,
            batch_size=32,
            verbose=0,
            callbacks=[kreg.callbacks.RegularizationReport(os.path.join(log_dir, name))],
        )
        print(f"trained {name}", flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_tensorboard(log_dir, port, cwd=None):
    command = [
        sys.executable, "-m", "tensorboard.main", "--logdir", log_dir, "--host", "127.0.0.1", "--port", str(port),
        "--load_fast", "false", "--reload_interval", "2",
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)


def wait_for_runs(port, server, timeout=120.0):
    """Waits until TensorBoard serves scalars for at least one run; returns the run names."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"tensorboard exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                runs = json.loads(response.read().decode())
            if runs:
                time.sleep(3)  # one more reload, so that every run's events are in
                return sorted(runs)
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(1)
    raise RuntimeError(f"tensorboard served no run in {timeout} s")


def table_run(runs, wanted=None):
    """The run whose per-weight table is shown: `wanted` (a regular expression), else the first sparse-looking run."""
    if wanted:
        return wanted
    sparse = [run for run in runs if re.search(r"elastic|sparse|l1|lasso|proximal", run)]
    return "^" + re.escape(sparse[0]) + "$" if sparse else None


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("headless Chromium not found: `apt-get update && apt-get install -y chromium`")


def screenshot(browser, url, path, size, budget_ms):
    profile = tempfile.mkdtemp(prefix="kreg_chromium_")
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
        f"--virtual-time-budget={budget_ms}", f"--screenshot={path}", url,
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    print(f"wrote {path}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", help="runs to show (default: three tiny runs trained in a temporary directory)")
    parser.add_argument(
        "--table-run",
        help="regular expression of the run whose sparsity table is captured (default: the first run named like "
        "elastic, sparse, l1, lasso or proximal; else every run)",
    )
    parser.add_argument("--hparams-logdir", help="also capture the HParams tab of this log directory")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"), help="where the PNGs go")
    parser.add_argument("--epochs", type=int, default=40, help="epochs of each tiny run")
    parser.add_argument("--budget", type=int, default=15000, help="Chromium's virtual time budget per page, in ms")
    args = parser.parse_args(argv)
    browser = chromium()
    os.makedirs(args.out, exist_ok=True)
    scratch = cwd = None
    log_dir = args.logdir
    if log_dir is None:
        # TensorBoard shows the `--logdir` it was given: `runs`, relative to a scratch directory.
        scratch = cwd = tempfile.mkdtemp(prefix="kreg_screenshots_")
        log_dir = "runs"
    elif not os.path.isdir(log_dir) or not os.listdir(log_dir):
        raise SystemExit(
            f"--logdir {log_dir}: no runs there (`make demo` writes runs/demo; without --logdir, "
            "this script trains three tiny runs itself)"
        )
    jobs = [(log_dir, PAGES, cwd)] + ([(args.hparams_logdir, HPARAMS_PAGE, None)] if args.hparams_logdir else [])
    try:
        if scratch is not None:
            train_runs(os.path.join(scratch, log_dir), args.epochs)
        for directory, pages, where in jobs:
            port = free_port()
            server = start_tensorboard(directory, port, cwd=where)
            try:
                runs = wait_for_runs(port, server)
                print(f"tensorboard on http://127.0.0.1:{port} serves {', '.join(runs)}", flush=True)
                for file_name, (fragment, size) in pages.items():
                    run = table_run(runs, args.table_run) if fragment == "#text" else None
                    if run:
                        fragment += "&regexInput=" + urllib.parse.quote(run, safe="")
                    url = f"http://127.0.0.1:{port}/{fragment}"
                    screenshot(browser, url, os.path.join(args.out, file_name), size, args.budget)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=30)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
