"""Data-parallel training over two CPU devices gives what one device gives.

`tf.distribute.MirroredStrategy` over two logical CPUs (`tf.config.set_logical_device_configuration`) on TensorFlow,
and `keras.distribution.DataParallel` over two host devices (`XLA_FLAGS=--xla_force_host_platform_device_count=2`)
on JAX: the same regularization losses, constraint projections (MaxNorm, SpectralNorm with its bound vector),
proximal zeros (L1, group lasso) and early-stopping decisions as a run on one device from the same weights. Each
configuration must be set before the backend initializes, so each runs in a subprocess; a test runs only under its
own backend (`KERAS_BACKEND`), so the suite pays for it once. Under PyTorch both are skipped: Keras's distribution
API (`keras.distribution`) supports JAX only, and PyTorch's DDP runs outside Keras's `fit`.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

SCRIPT = """
import json, os, sys
BACKEND = sys.argv[1]
if BACKEND == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
import keras
import kreg
from kreg import constraints as C, regularizers as R

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 8)).astype("float32")
y = (x @ rng.standard_normal((8, 1)) + 0.1 * rng.standard_normal((64, 1))).astype("float32")
# `min_delta=0.3` below: the validation loss soon improves by less, so early stopping decides within the run.
x_val, y_val = x[:16], y[:16]


def build():
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="tanh", kernel_regularizer=R.L1(0.05, proximal=True),
                           kernel_constraint=C.MaxNorm(1.0)),
        keras.layers.Dense(16, activation="tanh", kernel_regularizer=R.GroupLasso(0.5, proximal=True),
                           kernel_constraint=C.SpectralNorm(1.5)),
        keras.layers.Dense(8, kernel_regularizer=R.Orthogonal(0.01), bias_regularizer=R.L2(0.1),
                           activity_regularizer=R.L2(1e-3)),
        keras.layers.Dense(1, kernel_regularizer=R.ElasticNet(0.01, 0.01)),
    ])
    return model


def run(initial):
    model = build()
    model.compile(keras.optimizers.SGD(0.05), "mse")
    model.set_weights(initial)
    stopper = kreg.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True,
                                           min_delta=0.3)
    history = model.fit(x, y, batch_size=16, epochs=8, shuffle=False, verbose=0, validation_data=(x_val, y_val),
                        callbacks=[stopper])
    model(x[:4])
    kernels = [np.asarray(keras.ops.convert_to_numpy(layer.kernel)) for layer in model.layers]
    return {
        "loss": history.history["loss"],
        "val_loss": history.history["val_loss"],
        "epochs": len(history.history["loss"]),
        "stopped_epoch": stopper.stopped_epoch,
        "best_epoch": stopper.best_epoch,
        "penalties": [float(keras.ops.convert_to_numpy(loss)) for loss in model.losses],
        "kernels": [k.tolist() for k in kernels],
        "zeros": [np.flatnonzero(k == 0).tolist() for k in kernels],
        "max_unit_norm": float(np.sqrt((kernels[0] ** 2).sum(axis=0)).max()),
        "sigma": float(np.linalg.svd(kernels[1], compute_uv=False)[0]),
        "replicas": None,
    }


initial = build().get_weights()
single = run(initial)
if BACKEND == "tensorflow":
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        distributed = run(initial)
    distributed["replicas"] = strategy.num_replicas_in_sync
else:
    import jax
    devices = jax.devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    distributed = run(initial)
    distributed["replicas"] = len(devices)
print("RESULT " + json.dumps({"single": single, "distributed": distributed}))
"""


def run_script(backend, tmp_path):
    script = tmp_path / "distributed.py"
    script.write_text(textwrap.dedent(SCRIPT))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    if backend == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
        env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, str(script), backend], env=env, capture_output=True, text=True, timeout=600, cwd=root
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def check_same(result):
    single, distributed = result["single"], result["distributed"]
    assert distributed["replicas"] == 2
    assert 0 < single["stopped_epoch"] < 7  # early stopping decided
    # Callback decisions.
    assert distributed["epochs"] == single["epochs"]
    assert distributed["stopped_epoch"] == single["stopped_epoch"]
    assert distributed["best_epoch"] == single["best_epoch"]
    # Losses and the regularization losses (the gradient is averaged over the replicas: equal up to rounding).
    np.testing.assert_allclose(distributed["loss"], single["loss"], rtol=1e-4)
    np.testing.assert_allclose(distributed["val_loss"], single["val_loss"], rtol=1e-4)
    np.testing.assert_allclose(distributed["penalties"], single["penalties"], rtol=1e-4, atol=1e-6)
    # Proximal zeros: the same entries are exactly zero (a whole group included).
    assert distributed["zeros"] == single["zeros"]
    assert len(single["zeros"][0]) > 0  # the L1 step made exact zeros
    assert any(np.all(np.asarray(single["kernels"][1]) == 0, axis=0))  # a group lasso column
    for ours, theirs in zip(distributed["kernels"], single["kernels"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    # Constraint projections hold on the distributed run.
    assert distributed["max_unit_norm"] <= 1.0 + 1e-5
    assert distributed["sigma"] <= 1.5 * (1 + 1e-3)


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="MirroredStrategy runs under the TF suite")
def test_mirrored_strategy_over_two_logical_cpus_matches_one_device(tmp_path):
    check_same(run_script("tensorflow", tmp_path))


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="DataParallel runs under the JAX suite")
def test_jax_data_parallel_over_two_host_devices_matches_one_device(tmp_path):
    check_same(run_script("jax", tmp_path))
