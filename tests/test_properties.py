"""Properties that hold for every input (hypothesis): constraints are idempotent projections that never increase the
norm they bound, soft thresholding only shrinks, penalties are non-negative and zero exactly at their minimum, random
layers are the identity at inference, and schedules are continuous where they say they are.

Inputs are small float32 arrays with entries in [-10, 10] (float64 references); examples are few so the file runs in
seconds on every backend.
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kreg
from kreg.constraints import MaxNorm, SpectralNorm
from kreg.ops import soft_threshold
from kreg.ops.group_threshold import group_norms, group_soft_threshold
from kreg.regularizers import L1, L2, L2SP, ElasticNet, GroupLasso, Orthogonal

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# No subnormals: TensorFlow flushes them to zero on CPU, which is not what these properties are about.
finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=32)
# Zero or at least 1/16 in magnitude: a sum of squares that underflows float32 (1e-30 ** 2) is not the point.
moderate = st.one_of(st.just(0.0), st.floats(0.0625, 10.0, width=32), st.floats(-10.0, -0.0625, width=32))


def arrays(min_rank=1, max_rank=3, min_side=1, max_side=5, elements=finite):
    shapes = hnp.array_shapes(min_dims=min_rank, max_dims=max_rank, min_side=min_side, max_side=max_side)
    return hnp.arrays("float32", shapes, elements=elements)


def run(fn, x):
    return keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x)))


def unit_norms(w, axes):
    return np.sqrt(np.sum(np.square(w.astype("float64")), axis=axes))


# ------------------------------------------------------------------------------------------------- constraints


@SETTINGS
@given(w=arrays(min_rank=2, max_rank=4), max_value=st.floats(0.1, 20.0))
def test_max_norm_is_an_idempotent_projection_that_never_increases_a_norm(w, max_value):
    constraint = MaxNorm(max_value)
    axes = tuple(range(w.ndim - 1))
    once = run(constraint, w)
    twice = run(constraint, once)
    before, after = unit_norms(w, axes), unit_norms(once, axes)
    assert np.all(after <= np.maximum(before, max_value) * (1 + 1e-5))  # never longer than before (or the bound)
    assert np.all(after <= max_value * (1 + 1e-5))  # inside the ball
    np.testing.assert_allclose(after, np.minimum(before, max_value), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(twice, once, rtol=1e-5, atol=1e-6)  # idempotent
    inside = before <= max_value * (1 - 1e-5)
    np.testing.assert_array_equal(once[..., inside], w[..., inside])  # inside the ball: untouched


@SETTINGS
@given(w=arrays(min_rank=2, max_rank=2, min_side=2, max_side=6), max_value=st.floats(0.1, 20.0))
def test_spectral_norm_is_an_idempotent_projection_that_never_increases_the_spectral_norm(w, max_value):
    constraint = SpectralNorm(max_value)
    once = run(constraint, w)
    twice = run(constraint, once)
    sigma = np.linalg.norm(w.astype("float64"), 2)
    after = np.linalg.norm(once.astype("float64"), 2)
    assert after <= max(min(sigma, max_value) * (1 + 1e-4), 1e-6)
    np.testing.assert_allclose(after, min(sigma, max_value), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(twice, once, rtol=1e-4, atol=1e-5)


@SETTINGS
@given(w=arrays(min_rank=2, max_rank=3, min_side=2, elements=moderate), threshold=st.floats(0.0, 5.0))
def test_group_soft_threshold_only_shrinks_each_group(w, threshold):
    out = run(lambda x: group_soft_threshold(x, threshold), w)
    groups = np.moveaxis(w.astype("float64"), -1, 0).reshape(w.shape[-1], -1)
    before = np.linalg.norm(groups, axis=1)
    after = np.linalg.norm(np.moveaxis(out.astype("float64"), -1, 0).reshape(w.shape[-1], -1), axis=1)
    np.testing.assert_allclose(after, np.maximum(before - threshold, 0.0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(group_norms(w)), before, rtol=1e-5)
    assert np.all(out[..., before <= threshold] == 0.0)  # whole groups become exact zeros
    assert np.all(out * w >= 0.0)  # each group keeps its direction


# ---------------------------------------------------------------------------------------------- soft threshold


@SETTINGS
@given(x=arrays(), threshold=st.floats(0.0, 12.0, width=32))
def test_soft_threshold_only_shrinks(x, threshold):
    out = run(lambda v: soft_threshold(v, threshold), x)
    assert np.all(np.abs(out) <= np.abs(x))  # never moves away from zero
    assert np.all(out * x >= 0.0)  # never changes sign
    assert np.all(np.abs(x - out) <= threshold * (1 + 1e-6) + 1e-6)  # moves by at most the threshold
    assert np.all(out[np.abs(x) <= threshold] == 0.0)  # exact zeros inside the threshold
    np.testing.assert_array_equal(run(lambda v: soft_threshold(v, 0.0), x), x)


# -------------------------------------------------------------------------------------------------- penalties


def penalty(regularizer, w):
    return float(keras.ops.convert_to_numpy(regularizer.penalty(keras.ops.convert_to_tensor(w), None)))


@SETTINGS
@given(w=arrays(min_rank=2, max_rank=3), strength=st.floats(0.01, 10.0))
def test_norm_penalties_are_non_negative_and_zero_only_at_zero(w, strength):
    for regularizer in (L1(strength), L2(strength), ElasticNet(strength, strength), GroupLasso(strength)):
        value = penalty(regularizer, w)
        assert value >= 0.0
        assert penalty(regularizer, np.zeros_like(w)) == 0.0
        if np.any(np.abs(w) > 1e-3):
            assert value > 0.0, regularizer


@SETTINGS
@given(
    pair=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5).flatmap(
        lambda shape: st.tuples(
            hnp.arrays("float32", shape, elements=finite), hnp.arrays("float32", shape, elements=finite)
        )
    ),
    strength=st.floats(0.01, 10.0),
)
def test_l2sp_is_non_negative_and_zero_only_at_its_reference(pair, strength):
    w, reference = pair
    regularizer = L2SP(strength, reference=reference)
    assert penalty(regularizer, reference) == 0.0
    value = penalty(regularizer, w)
    assert value >= 0.0
    if np.any(np.abs(w - reference) > 1e-3):
        assert value > 0.0


@SETTINGS
@given(rows=st.integers(2, 8), cols=st.integers(1, 8), seed=st.integers(0, 2**16), scale=st.floats(0.1, 3.0))
def test_orthogonality_penalties_are_non_negative_and_zero_at_orthonormal_columns(rows, cols, seed, scale):
    assume(cols <= rows)
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(rng.standard_normal((rows, cols)))[0].astype("float32")  # orthonormal columns
    w = (q * scale).astype("float32")
    for mode in ("so", "srip"):
        regularizer = Orthogonal(1.0, mode)
        assert penalty(regularizer, q) == pytest.approx(0.0, abs=1e-5)
        value = penalty(regularizer, w)
        assert value >= 0.0
        # Scaled columns are not orthonormal unless the scale is 1: W^T W - I = (scale^2 - 1) I.
        expected = (scale**2 - 1) ** 2 * (cols if mode == "so" else 1)
        np.testing.assert_allclose(value, expected, rtol=1e-3, atol=1e-5)
    assert penalty(Orthogonal(1.0, "dso"), w) >= 0.0


# -------------------------------------------------------------------------------------------- random layers


RANDOM_LAYERS = {
    "GaussianNoise": lambda: kreg.layers.GaussianNoise(0.5),
    "MultiplicativeNoise": lambda: kreg.layers.MultiplicativeNoise(0.5),
    "UniformNoise": lambda: kreg.layers.UniformNoise(0.5),
    "DropPath": lambda: kreg.layers.DropPath(0.5),
    "DropBlock1D": lambda: kreg.layers.DropBlock1D(0.5, block_size=2),
    "DropBlock2D": lambda: kreg.layers.DropBlock2D(0.5, block_size=2),
}
RANK = {"DropBlock1D": 3, "DropBlock2D": 4}


@pytest.mark.parametrize("name", sorted(RANDOM_LAYERS))
def test_random_layers_are_the_identity_at_inference(name):
    layer = RANDOM_LAYERS[name]()
    rank = RANK.get(name, 2)

    @SETTINGS
    @given(x=arrays(min_rank=rank, max_rank=rank, min_side=2, max_side=6))
    def check(x):
        out = keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(x), training=False))
        np.testing.assert_array_equal(out, x)

    check()
    # And the property can fail: in training the same layer changes a large input.
    big = np.ones((4,) + (8,) * (rank - 1), "float32")
    assert not np.array_equal(keras.ops.convert_to_numpy(layer(big, training=True)), big)


@pytest.mark.parametrize("wrapper", ["WeightNoise", "DropConnect"])
def test_weight_wrappers_are_the_wrapped_layer_at_inference(wrapper):
    dense = keras.layers.Dense(3)
    wrapped = getattr(kreg.layers, wrapper)(dense, 0.5)
    model = keras.Sequential([keras.Input((4,)), wrapped])

    @SETTINGS
    @given(x=hnp.arrays("float32", (5, 4), elements=finite))
    def check(x):
        out = keras.ops.convert_to_numpy(model(x, training=False))
        np.testing.assert_array_equal(out, keras.ops.convert_to_numpy(dense(x)))

    check()


# ------------------------------------------------------------------------------------------------- schedules


def schedule_value(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


ramps = st.tuples(
    st.floats(0.0, 10.0), st.floats(0.0, 10.0), st.integers(1, 1000), st.integers(0, 100), st.floats(0.0, 1200.0)
)


@SETTINGS
@given(args=ramps, h=st.floats(1e-3, 5.0))
def test_linear_and_cosine_ramps_are_lipschitz_continuous(args, h):
    start, end, steps, delay, step = args
    # |f(s + h) - f(s)| <= L h with L = |end - start| / steps (linear), pi / 2 times that (cosine): no jumps anywhere,
    # in particular not at `delay` and `delay + steps`, where the ramp meets the constant parts.
    for cls, factor in ((kreg.schedules.Linear, 1.0), (kreg.schedules.Cosine, math.pi / 2)):
        schedule = cls(start, end, steps, delay)
        lipschitz = factor * abs(end - start) / steps
        jump = abs(schedule_value(schedule, step + h) - schedule_value(schedule, step))
        assert jump <= lipschitz * h * (1 + 1e-3) + 1e-5 * max(start, end, 1.0)
        for edge in (delay, delay + steps):  # the two ends, approached from both sides
            left, right = schedule_value(schedule, edge - 1e-2), schedule_value(schedule, edge + 1e-2)
            assert abs(right - left) <= lipschitz * 2e-2 * (1 + 1e-3) + 1e-5 * max(start, end, 1.0)
        assert schedule_value(schedule, delay) == pytest.approx(start, abs=1e-5 * max(start, 1.0))
        assert schedule_value(schedule, delay + steps) == pytest.approx(end, rel=1e-5, abs=1e-6)


@SETTINGS
@given(
    boundaries=st.lists(st.integers(0, 500), min_size=1, max_size=4, unique=True).map(sorted),
    data=st.data(),
)
def test_step_schedule_is_constant_between_its_boundaries(boundaries, data):
    values = data.draw(st.lists(st.floats(0.0, 10.0), min_size=len(boundaries) + 1, max_size=len(boundaries) + 1))
    schedule = kreg.schedules.Step(boundaries, values)
    edges = [0] + boundaries + [boundaries[-1] + 100]
    for i, (low, high) in enumerate(zip(edges, edges[1:])):
        if high <= low:
            continue
        step = data.draw(st.floats(low, high - 1e-3))
        assert schedule_value(schedule, step) == pytest.approx(values[i], rel=1e-6)
