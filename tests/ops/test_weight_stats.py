"""weight_statistics / WeightStatistics against NumPy formulas and numpy.linalg.svd, on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.ops.power_iteration import as_matrix
from kreg.ops.weight_stats import WeightStatistics, has_matrix_stats, weight_statistics


def numpy_stats(w, near_zero=1e-3, scale="max_abs"):
    w = np.asarray(w, dtype=np.float64)
    a = np.abs(w)
    threshold = {"max_abs": near_zero * a.max(), "rms": near_zero * np.sqrt(np.mean(w**2)), "absolute": near_zero}
    stats = {
        "sparsity": np.mean(w == 0),
        "near_zero": np.mean(a <= threshold[scale]),
        "l1": a.sum(),
        "l2": np.sqrt((w**2).sum()),
        "max_abs": a.max(),
    }
    if w.ndim >= 2:
        m = w.reshape(-1, w.shape[-1])
        sigma = np.linalg.svd(m, compute_uv=False)[0]
        stats["spectral"] = sigma
        stats["stable_rank"] = (m**2).sum() / sigma**2 if sigma > 0 else 0.0
        stats["group_sparsity"] = np.mean(np.all(m == 0, axis=0))
    return stats


def sparse_kernel(shape, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape).astype("float32")
    w[rng.random(shape) < 0.3] = 0.0
    w[..., 1] = 0.0  # one all-zero unit
    w.flat[0] = 1e-6  # near zero but not zero
    return w


@pytest.mark.parametrize("shape", [(7,), (6, 5), (3, 3, 4, 6)])
@pytest.mark.parametrize("scale", ["max_abs", "rms", "absolute"])
def test_weight_statistics_match_numpy(shape, scale):
    w = sparse_kernel(shape)
    u = np.random.default_rng(1).normal(size=as_matrix(w).shape[0]).astype("float32") if len(shape) >= 2 else None
    stats, new_u = weight_statistics(
        ops.convert_to_tensor(w), u, near_zero=1e-2, near_zero_scale=scale, power_iterations=100
    )
    expected = numpy_stats(w, 1e-2, scale)
    assert set(stats) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(float(ops.convert_to_numpy(stats[key])), value, rtol=1e-4, err_msg=key)
    assert (new_u is None) == (len(shape) < 2)


def test_zero_weight_is_fully_sparse_and_finite():
    stats, _ = weight_statistics(ops.zeros((4, 3)), np.ones(4, "float32"))
    got = {k: float(ops.convert_to_numpy(v)) for k, v in stats.items()}
    assert got == {
        "sparsity": 1.0,
        "near_zero": 1.0,
        "l1": 0.0,
        "l2": 0.0,
        "max_abs": 0.0,
        "spectral": 0.0,
        "stable_rank": 0.0,
        "group_sparsity": 1.0,
    }


def make_variables():
    k1 = keras.Variable(sparse_kernel((8, 6), 2), name="k1")
    b1 = keras.Variable(np.zeros(6, "float32"), name="b1")
    k2 = keras.Variable(sparse_kernel((2, 2, 3, 4), 3), name="k2")
    k1.regularizer = keras.regularizers.L1(0.01)
    k2.regularizer = keras.regularizers.L2(0.1)
    return [k1, b1, k2]


def test_one_pass_over_all_weights_matches_numpy(jit_compile):
    variables = make_variables()
    stats = WeightStatistics(
        variables, names=["a/k1", "a/b1", "b/k2"], power_iterations=8, jit_compile=jit_compile, warmup_calls=9
    )
    result = stats()
    assert list(result) == stats.keys
    weights = [ops.convert_to_numpy(v.value) for v in variables]
    for name, w in zip(["a/k1", "a/b1", "b/k2"], weights):
        for key, value in numpy_stats(w).items():
            np.testing.assert_allclose(result[(name, key)], value, rtol=1e-3, atol=1e-7, err_msg=f"{name} {key}")
    assert not any(key[1] in ("spectral", "penalty") for key in result if key[0] == "a/b1")
    penalties = 0.01 * np.abs(weights[0]).sum(), 0.1 * (weights[2] ** 2).sum()
    np.testing.assert_allclose(result[("a/k1", "penalty")], penalties[0], rtol=1e-5)
    np.testing.assert_allclose(result[("b/k2", "penalty")], penalties[1], rtol=1e-5)
    np.testing.assert_allclose(result[("global", "penalty")], sum(penalties), rtol=1e-5)
    sizes = [w.size for w in weights]
    zeros = sum(int((w == 0).sum()) for w in weights)
    np.testing.assert_allclose(result[("global", "sparsity")], zeros / sum(sizes), rtol=1e-6)


def test_statistics_follow_the_variables_and_vectors_persist():
    variables = make_variables()
    stats = WeightStatistics(variables, power_iterations=1, warmup_calls=0)
    first = stats()
    vector = ops.convert_to_numpy(stats.vectors[0])
    variables[0].assign(np.zeros((8, 6), "float32"))
    second = stats()
    assert first[("k1", "sparsity")] < 1.0 and second[("k1", "sparsity")] == 1.0
    assert not np.allclose(ops.convert_to_numpy(stats.vectors[2]), 0)
    assert vector.shape == (8,)
    # Persistent vectors: 1 iteration per call converges over calls like many iterations at once.
    w = ops.convert_to_numpy(variables[2].value).reshape(-1, 4)
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    estimates = [stats()[("k2", "spectral")] for _ in range(80)]
    assert all(e <= sigma * (1 + 1e-5) for e in estimates)  # the Rayleigh quotient never overshoots
    assert estimates[0] < estimates[-1]
    np.testing.assert_allclose(estimates[-1], sigma, rtol=1e-4)


def test_penalties_can_be_left_out():
    stats = WeightStatistics(make_variables(), penalties=False)
    assert not any(stat == "penalty" for name, stat in stats.keys if name != "global")
    assert stats()[("global", "penalty")] == 0.0


def test_has_matrix_stats():
    assert has_matrix_stats(keras.Variable(np.ones((3, 1))))
    assert has_matrix_stats(keras.Variable(np.ones((1, 1, 2, 3))))
    assert not has_matrix_stats(keras.Variable(np.ones((3,))))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"near_zero": -1.0},
            "Invalid value received for argument `near_zero`. Expected a non-negative finite float. Received: near_zero=-1.0",
        ),
        (
            {"near_zero_scale": "max"},
            "Invalid value received for argument `near_zero_scale`. Expected one of 'max_abs', 'rms', 'absolute'. Received: near_zero_scale='max'",
        ),
        (
            {"power_iterations": 0},
            "Invalid value received for argument `power_iterations`. Expected an integer >= 1. Received: power_iterations=0",
        ),
        (
            {"penalties": 1},
            "Invalid value received for argument `penalties`. Expected a bool (True or False). Received: penalties=1",
        ),
        (
            {"jit_compile": "yes"},
            "Invalid value received for argument `jit_compile`. Expected a bool (True or False). Received: jit_compile='yes'",
        ),
        (
            {"warmup_calls": -1},
            "Invalid value received for argument `warmup_calls`. Expected an integer >= 0. Received: warmup_calls=-1",
        ),
        ({"names": ["only_one"]}, "Expected one name per variable. Received 1 names for 3 variables."),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        WeightStatistics(make_variables(), **kwargs)
    assert str(error.value) == message
