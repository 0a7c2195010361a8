"""Mutation-testing follow-ups for `kreg.ops.drop`: `training` defaults to false, low-precision inputs keep their
dtype, the draws do not depend on `keras.config.floatx()`, and DropBlock's mask follows its seed."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.ops.drop import drop_block_mask, drop_path
from tests.floatx import floatx


def test_drop_path_does_not_drop_unless_training_is_passed():
    x = ops.ones((64, 3))
    assert drop_path(x, 0.5) is x
    assert drop_path(x, 0.5, seed=1) is x


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_drop_path_keeps_a_low_precision_dtype(dtype):
    x = ops.ones((256, 2), dtype=dtype)
    y = drop_path(x, 0.25, training=True, seed=3)
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    values = np.unique(ops.convert_to_numpy(ops.cast(y, "float32")))
    np.testing.assert_array_equal(
        values, [0.0, float(ops.convert_to_numpy(ops.cast(1.0 / ops.cast(0.75, dtype), "float32")))]
    )


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs without x64 here")
def test_drop_path_draws_in_float32_whatever_floatx():
    x = np.ones((512, 1), "float32")
    expected = ops.convert_to_numpy(drop_path(x, 0.5, training=True, seed=7))
    with floatx("float64"):
        y = drop_path(x, 0.5, training=True, seed=7)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    np.testing.assert_array_equal(ops.convert_to_numpy(y), expected)


def test_drop_block_mask_follows_its_seed():
    shape = (4, 12, 12, 3)
    first = ops.convert_to_numpy(drop_block_mask(shape, 0.2, 3, seed=5))
    np.testing.assert_array_equal(first, ops.convert_to_numpy(drop_block_mask(shape, 0.2, 3, seed=5)))
    assert not np.array_equal(first, ops.convert_to_numpy(drop_block_mask(shape, 0.2, 3, seed=6)))
    generator = keras.random.SeedGenerator(9)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(drop_block_mask(shape, 0.2, 3, seed=keras.random.SeedGenerator(9))),
        ops.convert_to_numpy(drop_block_mask(shape, 0.2, 3, seed=generator)),
    )
