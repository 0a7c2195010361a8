"""Mutation-testing follow-ups for `kreg.regularizers.group_lasso`: the axis range, scheduled strengths read at the
given step, the proximal step's axis and float64 weights."""

import keras
import numpy as np
import pytest

import kreg
from kreg.regularizers import GroupLasso


def numpy_penalty(w, factor, axis):
    norms = np.sqrt(np.sum(w.astype(np.float64) ** 2, axis=tuple(a for a in range(w.ndim) if a != axis % w.ndim)))
    size = w.size // w.shape[axis]
    return factor * np.sqrt(size) * np.sum(norms)


def test_every_axis_from_minus_rank_to_rank_minus_one_is_accepted_and_rank_is_not():
    w = np.arange(1.0, 7.0, dtype="float32").reshape(2, 3)
    for axis in (-2, -1, 0, 1):
        assert float(GroupLasso(0.1, axis=axis)(w)) == pytest.approx(numpy_penalty(w, 0.1, axis), rel=1e-5)
    for axis in (2, -3):
        with pytest.raises(ValueError, match=rf"GroupLasso\(axis={axis}\) cannot group a weight of rank 2"):
            GroupLasso(0.1, axis=axis)(w)


def test_a_scheduled_factor_is_read_at_the_given_step():
    w = np.arange(1.0, 7.0, dtype="float32").reshape(2, 3)
    regularizer = GroupLasso(kreg.schedules.Linear(0.0, 1.0, steps=10), axis=0, proximal=True)
    assert float(regularizer.penalty(w, 5)) == pytest.approx(numpy_penalty(w, 0.5, 0), rel=1e-5)
    shrunk = keras.ops.convert_to_numpy(regularizer.proximal_step(w, 0.1, 5))
    threshold = 0.1 * 0.5 * np.sqrt(3)
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(shrunk, w * np.maximum(1 - threshold / norms, 0), rtol=1e-5)


def test_the_proximal_penalty_has_its_value_and_no_gradient():
    w = keras.Variable(np.arange(1.0, 7.0, dtype="float32").reshape(2, 3))
    regularizer = GroupLasso(0.1, axis=0, proximal=True)
    assert float(regularizer.penalty(w.value, None)) == pytest.approx(numpy_penalty(w.numpy(), 0.1, 0), rel=1e-5)


@pytest.mark.parametrize("axis", [0, 1])
def test_the_proximal_step_thresholds_the_groups_of_its_axis(axis):
    w = np.array([[3.0, 0.1, 0.2], [4.0, 0.1, 0.2]], "float32")
    out = keras.ops.convert_to_numpy(GroupLasso(0.5, axis=axis, proximal=True).proximal_step(w, 1.0))
    reduce = 1 - axis
    norms = np.linalg.norm(w, axis=reduce, keepdims=True)
    threshold = 0.5 * np.sqrt(w.shape[reduce])
    np.testing.assert_allclose(out, w * np.maximum(1 - threshold / norms, 0), rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs without x64 here")
def test_a_float64_weight_stays_float64_with_an_exact_strength():
    w = np.array([[0.3, 0.1], [0.7, 0.9]], "float64")
    tensor = keras.ops.convert_to_tensor(w, "float64")
    # 0.5 and 0.25 are exact in float32: TensorFlow's `ops.cast(0.1, "float64")` rounds through float32.
    value = GroupLasso(0.5, axis=0).penalty(tensor, None)
    assert keras.backend.standardize_dtype(value.dtype) == "float64"
    assert float(value) == pytest.approx(numpy_penalty(w, 0.5, 0), rel=1e-13)
    out = GroupLasso(0.5, axis=0, proximal=True).proximal_step(tensor, 0.25)
    assert keras.backend.standardize_dtype(out.dtype) == "float64"
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), w * np.maximum(1 - 0.25 * 0.5 * np.sqrt(2) / norms, 0), rtol=1e-6
    )


def test_the_defaults():
    assert GroupLasso().get_config() == {"factor": 0.01, "axis": -1, "proximal": False}
