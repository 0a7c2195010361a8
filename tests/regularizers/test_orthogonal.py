"""Orthogonal (SO, DSO, SRIP): NumPy and SVD references, validation, mixed precision, `.keras` round trip."""

import os

import keras
import numpy as np
import pytest

import kreg
from kreg.regularizers import Orthogonal


def glorot(shape, seed=1):
    """A Glorot-uniform kernel drawn by NumPy (the same on every backend)."""
    limit = np.sqrt(6 / (np.prod(shape[:-1]) + shape[-1]))
    return np.random.default_rng(seed).uniform(-limit, limit, size=shape).astype("float32")


def numpy_so(w):
    m = w.reshape(-1, w.shape[-1])
    return np.sum((m.T @ m - np.eye(m.shape[1])) ** 2)


def numpy_dso(w):
    m = w.reshape(-1, w.shape[-1])
    return numpy_so(w) + np.sum((m @ m.T - np.eye(m.shape[0])) ** 2)


def numpy_srip(w):
    m = w.reshape(-1, w.shape[-1]).astype("float64")
    return np.linalg.svd(m.T @ m - np.eye(m.shape[1]), compute_uv=False)[0] ** 2


@pytest.mark.parametrize("shape", [(8, 5), (5, 8), (3, 3, 4, 6), (3, 4, 6)])
def test_so_and_dso_match_numpy(shape):
    w = glorot(shape)
    np.testing.assert_allclose(float(Orthogonal(0.2, "so")(w)), 0.2 * numpy_so(w), rtol=1e-5)
    np.testing.assert_allclose(float(Orthogonal(0.2, "dso")(w)), 0.2 * numpy_dso(w), rtol=1e-5)


@pytest.mark.parametrize("shape", [(64, 64), (10, 64), (128, 10), (3, 3, 16, 32), (3, 3, 32, 64), (3, 3, 64, 128)])
@pytest.mark.parametrize("seed", [1, 2])
def test_srip_matches_svd_within_one_percent(shape, seed):
    w = glorot(shape, seed)  # Glorot kernels are a hard case: the top of their spectrum is crowded
    value = float(keras.ops.convert_to_numpy(Orthogonal(0.5, "srip")(w)))
    np.testing.assert_allclose(value, 0.5 * numpy_srip(w), rtol=0.01)
    assert float(keras.ops.convert_to_numpy(Orthogonal(0.5, "srip", iterations=1)(w))) < 0.5 * numpy_srip(w)


def test_orthonormal_kernel_has_zero_penalty_and_srip_gradient_reduces_it():
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(16, 8)))[0].astype("float32")
    for mode in ("so", "srip"):
        assert float(Orthogonal(1.0, mode)(q)) == pytest.approx(0.0, abs=1e-8)
    # Training on the penalty alone makes a random kernel (close to) orthonormal.
    layer = keras.layers.Dense(8, use_bias=False, kernel_regularizer=Orthogonal(1.0, "srip"))
    model = keras.Sequential([keras.Input((16,)), layer])
    per_execution = 1 if keras.backend.backend() == "torch" else 20
    model.compile(keras.optimizers.SGD(0.05), "mse", steps_per_execution=per_execution)
    x = np.zeros((4 * 60, 16), "float32")  # zero inputs: only the penalty trains the kernel, 60 steps
    before = numpy_srip(keras.ops.convert_to_numpy(layer.kernel))
    model.fit(x, np.zeros((4 * 60, 8), "float32"), batch_size=4, epochs=1, verbose=0)
    after = numpy_srip(keras.ops.convert_to_numpy(layer.kernel))
    assert after < 0.05 * before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"factor": -1}, "Expected a non-negative finite float. Received: factor=-1"),
        ({"mode": "SRIP"}, "Expected one of 'so', 'dso', 'srip'. Received: mode='SRIP'"),
        ({"iterations": 0}, "Expected an integer >= 1. Received: iterations=0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="Invalid value received for argument") as info:
        Orthogonal(**kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize("mode", ["so", "dso", "srip"])
def test_mixed_precision_training_and_keras_round_trip(mode, tmp_path, jit_compile):
    keras.config.set_dtype_policy("mixed_bfloat16")
    regularizer = Orthogonal(0.01, mode, iterations=10)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, kernel_regularizer=regularizer),
            keras.layers.Flatten(),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile("sgd", "mse", jit_compile=jit_compile)
    x = np.random.default_rng(1).normal(size=(8, 6, 6, 2)).astype("float32")
    y = np.ones((8, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    reference = {"so": numpy_so, "dso": numpy_dso, "srip": numpy_srip}[mode](kernel)
    assert keras.backend.standardize_dtype(model.losses[0].dtype) == "float32"
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(model.losses[0])), 0.01 * reference, rtol=1e-3)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[0].kernel_regularizer.get_config() == {"factor": 0.01, "mode": mode, "iterations": 10}
    history = loaded.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert kreg.regularizers.get("orthogonal").mode == "so"
