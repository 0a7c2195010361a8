"""Orthogonal (SO, DSO, SRIP): NumPy and SVD references, validation, mixed precision, `.keras` round trip."""

import math
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


def numpy_power_iteration_srip(w, iterations):
    """SRIP by plain power iteration in float64, as `kreg.ops.power_iteration` runs it (`v = u A / |u A|`,
    `u = A v / |A v|`), from SRIP's fixed start vector (a unit Gaussian vector drawn with seed `units`), for
    `iterations` rounded up to a power of 2 (the documented count); the value is `|A u|^2`."""
    m = w.reshape(-1, w.shape[-1]).astype("float64")
    a = m.T @ m - np.eye(m.shape[1])
    start = np.random.default_rng(a.shape[0]).standard_normal(a.shape[0])
    u = start / np.linalg.norm(start)
    for _ in range(2 ** math.ceil(math.log2(iterations))):
        v = u @ a
        v /= np.linalg.norm(v)
        u = a @ v
        u /= np.linalg.norm(u)
    return float(np.linalg.norm(a @ u) ** 2)


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


@pytest.mark.parametrize(
    "shape, iterations",
    [((64, 64), 128), ((64, 64), 32), ((64, 64), 5), ((3, 3, 32, 64), 128), ((3, 3, 32, 64), 8), ((10, 64), 8)],
)
def test_srip_runs_exactly_its_power_iterations(shape, iterations):
    # Against the SVD a 1 % tolerance cannot tell 128 power iterations from 32 (Glorot 64x64: 3e-4 apart). Against a
    # power iteration with the same count and start vector the value is pinned to float32 rounding (< 5e-7 apart).
    w = glorot(shape)
    value = float(keras.ops.convert_to_numpy(Orthogonal(1.0, "srip", iterations=iterations)(w)))
    expected = numpy_power_iteration_srip(w, iterations)
    np.testing.assert_allclose(value, expected, rtol=2e-6)
    # The case can fail: a quarter of the iterations (or a different start vector) is far outside that tolerance.
    assert abs(numpy_power_iteration_srip(w, max(iterations // 4, 1)) / expected - 1) > 1e-5


@pytest.mark.parametrize("iterations", [1, 2, 8])
def test_srip_estimate_grows_with_iterations_towards_the_svd_value(iterations):
    w = glorot((3, 3, 32, 64))
    fewer = float(keras.ops.convert_to_numpy(Orthogonal(1.0, "srip", iterations=iterations)(w)))
    more = float(keras.ops.convert_to_numpy(Orthogonal(1.0, "srip", iterations=4 * iterations)(w)))
    assert fewer < more <= numpy_srip(w) * (1 + 1e-6)


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


@pytest.mark.parametrize("mode", ["so", "dso", "srip"])
def test_a_rank_1_weight_is_refused_clearly(mode, jit_compile):
    # Issue 14: a bias (rank 1) used to be silently accepted as a one-column matrix.
    message = r"Orthogonal needs a weight of rank >= 2 .* received a weight of rank 1 \(shape \(4,\)\)"
    with pytest.raises(ValueError, match=message):
        Orthogonal(0.1, mode=mode)(np.ones((4,), "float32"))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, bias_regularizer=Orthogonal(0.1, mode=mode))])
    model.compile("sgd", "mse", jit_compile=jit_compile)
    with pytest.raises(ValueError, match=message):
        model.fit(np.ones((8, 3), "float32"), np.ones((8, 4), "float32"), verbose=0)
