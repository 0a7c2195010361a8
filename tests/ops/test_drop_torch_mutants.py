"""Mutation-testing follow-ups for `kreg.ops.drop` on PyTorch (and the other backends): the dropped mask is exactly
the NumPy max pooling of its seeds, for every block size (the running max of PyTorch's branch shifts by powers of two
and a remainder), every rank and both data formats; a rate tensor is never taken for the number 0; `gamma` is a
Python float only when every argument is a Python number."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.ops.drop import check_block_size, drop_block, drop_block_gamma, drop_block_mask, drop_path
from tests.floatx import floatx


def reference_dropped(shape, rate, block_size, seed, data_format):
    """NumPy DropBlock dropped mask from the same uniform draws: seeds over the valid region, zero-padded by
    `block_size - 1` on both sides of every spatial axis, max-pooled with a `block_size` window at stride 1."""
    channels_last = data_format == "channels_last"
    feature_shape = shape[1:-1] if channels_last else shape[2:]
    channels = shape[-1] if channels_last else shape[1]
    valid = tuple(size - block_size + 1 for size in feature_shape)
    seeds_shape = (shape[0],) + (valid + (channels,) if channels_last else (channels,) + valid)
    gamma = drop_block_gamma(rate, block_size, feature_shape)
    draws = ops.convert_to_numpy(keras.random.uniform(seeds_shape, seed=seed, dtype="float32"))
    seeds = (draws < gamma).astype("float32")
    if channels_last:
        seeds = np.moveaxis(seeds, -1, 1)  # (batch, channels, *valid)
    spatial = len(feature_shape)
    seeds = np.pad(seeds, [(0, 0), (0, 0)] + [(block_size - 1, block_size - 1)] * spatial)
    axes = tuple(range(2, 2 + spatial))
    windows = np.lib.stride_tricks.sliding_window_view(seeds, (block_size,) * spatial, axis=axes)
    dropped = windows.max(axis=tuple(range(-spatial, 0)))
    assert dropped.shape[2:] == tuple(feature_shape)
    return np.moveaxis(dropped, 1, -1) if channels_last else dropped


CASES = [
    # (shape without batch and channels, block_size): widths 1..7 cover span doublings with and without a remainder
    ((9,), 1),
    ((9,), 2),
    ((11,), 3),
    ((12,), 4),
    ((13,), 5),
    ((13,), 6),
    ((14,), 7),
    ((7, 9), 3),
    ((8, 6), 2),
    ((10, 11), 5),
    ((11, 12), 7),
    ((5, 6, 7), 3),
    ((6, 5, 6), 4),
]
if keras.backend.backend() != "torch":
    # TensorFlow and JAX pool with `ops.max_pool` (one compiled pooling per shape, slow on JAX): one case per rank
    # is enough there.
    CASES = [CASES[5], CASES[9], CASES[11]]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("feature_shape, block_size", CASES)
def test_the_dropped_mask_is_the_numpy_max_pooling_of_its_seeds(feature_shape, block_size, data_format):
    batch, channels = 2, 3
    if data_format == "channels_last":
        shape = (batch,) + feature_shape + (channels,)
    else:
        shape = (batch, channels) + feature_shape
    rate = 0.3
    expected = reference_dropped(shape, rate, block_size, 11, data_format)
    assert 0 < expected.sum() < expected.size  # some dropped, some kept
    mask = ops.convert_to_numpy(drop_block_mask(shape, rate, block_size, seed=11, data_format=data_format))
    assert mask.shape == shape
    np.testing.assert_array_equal(mask, 1.0 - expected)
    x = np.arange(1, np.prod(shape) + 1, dtype="float32").reshape(shape)
    y = ops.convert_to_numpy(drop_block(x, rate, block_size, training=True, seed=11, data_format=data_format))
    kept = 1.0 - expected
    np.testing.assert_allclose(y, x * kept * (kept.size / kept.sum()), rtol=1e-6)


def test_a_rate_tensor_equal_to_zero_still_runs_the_op():
    x = ops.ones((8, 6, 6, 2))
    zero = ops.convert_to_tensor(0.0)
    y = drop_path(x, zero, training=True, seed=1)
    assert y is not x
    np.testing.assert_array_equal(ops.convert_to_numpy(y), np.ones((8, 6, 6, 2), "float32"))
    y = drop_block(x, zero, 3, training=True, seed=1)
    assert y is not x
    np.testing.assert_array_equal(ops.convert_to_numpy(y), np.ones((8, 6, 6, 2), "float32"))


def test_the_python_number_zero_returns_the_input_itself_and_nonzero_rates_do_not():
    x = ops.ones((8, 6, 6, 2))
    assert drop_path(x, 0, training=True) is x
    assert drop_block(x, 0.0, 3, training=True) is x
    assert drop_path(x, 0.1, training=True, seed=1) is not x
    assert drop_block(x, 0.1, 3, training=True, seed=1) is not x


def test_gamma_is_a_python_float_only_for_python_arguments():
    expected = 0.1 / 9 * 64 / 36
    gamma = drop_block_gamma(0.1, 3, (8, 8))
    assert type(gamma) is float
    assert gamma == pytest.approx(expected, rel=1e-12)
    for gamma in (
        drop_block_gamma(ops.convert_to_tensor(0.1), 3, (8, 8)),
        drop_block_gamma(0.1, 3, (ops.convert_to_tensor(8), 8)),
    ):
        assert hasattr(gamma, "shape")
        assert keras.backend.standardize_dtype(gamma.dtype) == "float32"
        np.testing.assert_allclose(float(ops.convert_to_numpy(gamma)), expected, rtol=1e-6)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs without x64 here")
def test_drop_path_keeps_in_float32_arithmetic_under_a_float64_floatx():
    """`keep = 1 - rate` in float32: at rate 1/3 it is 0.66666666 in float32 arithmetic, 0.66666669 when rounded from
    float64, so the kept entries tell the two apart."""
    keep = np.float32(1.0) - np.float32(1.0 / 3.0)
    assert keep != np.float32(1.0 - 1.0 / 3.0)
    x = np.ones((512, 1), "float32")
    with floatx("float64"):
        y = drop_path(x, 1.0 / 3.0, training=True, seed=7)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    values = np.unique(ops.convert_to_numpy(y))
    np.testing.assert_array_equal(values, [0.0, np.float32(1.0) / keep])


def test_drop_block_does_not_drop_unless_training_is_passed():
    x = ops.ones((2, 6, 6, 1))
    assert drop_block(x, 0.5, 3) is x
    assert drop_block(x, 0.5, 3, seed=1) is x


def test_a_block_as_wide_as_the_smallest_axis_is_accepted():
    x = np.ones((2, 5, 7, 1), "float32")
    y = ops.convert_to_numpy(drop_block(x, 0.3, 5, training=True, seed=2))
    assert y.shape == x.shape
    check_block_size(5, (5, 7))
    check_block_size(3, (None, 3))


def test_block_size_and_rank_messages():
    with pytest.raises(ValueError) as info:
        check_block_size(9, (None, 8))
    assert str(info.value) == (
        "Invalid value received for argument `block_size`. Expected an integer in [1, 8] (a block must fit in the "
        "input's ? x 8 feature map). Received: block_size=9"
    )
    x = np.ones((2, 3, 4, 9), "float32")  # channels_first: the feature map is 4 x 9, not 9 alone
    with pytest.raises(ValueError) as info:
        drop_block(x, 0.1, 5, training=True, data_format="channels_first")
    assert str(info.value) == (
        "Invalid value received for argument `block_size`. Expected an integer in [1, 4] (a block must fit in the "
        "input's 4 x 9 feature map). Received: block_size=5"
    )
    with pytest.raises(ValueError) as info:
        drop_block(np.ones((2, 3, 4, 4, 4, 4), "float32"), 0.1, 2, training=True)
    assert str(info.value) == (
        "Invalid value received for argument `inputs`. Expected a tensor of rank 3 to 5 (batch, spatial axes and "
        "channels). Received: inputs with shape (2, 3, 4, 4, 4, 4)"
    )


def test_a_single_kept_entry_is_scaled_by_the_whole_size():
    """`scale = size / max(count_ones, 1)`: with one kept entry of two, the kept one is doubled."""
    x = np.array([[[3.0], [5.0]]], "float32")  # (batch 1, 2 positions, 1 channel), block_size 1: gamma = rate
    for seed in range(200):
        kept = ops.convert_to_numpy(drop_block_mask(x.shape, 0.5, 1, seed=seed, data_format="channels_last"))
        if kept.sum() == 1:
            break
    else:
        pytest.fail("no seed in 0..199 keeps exactly one of the two entries")
    y = ops.convert_to_numpy(drop_block(x, 0.5, 1, training=True, seed=seed, data_format="channels_last"))
    np.testing.assert_array_equal(y, x * kept * 2.0)


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="JAX runs without x64 here")
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_the_mask_is_drawn_and_kept_in_float32_under_a_float64_floatx(data_format):
    shape = (2, 9, 9, 3) if data_format == "channels_last" else (2, 3, 9, 9)
    expected = ops.convert_to_numpy(drop_block_mask(shape, 0.3, 3, seed=4, data_format=data_format))
    with floatx("float64"):
        mask = drop_block_mask(shape, 0.3, 3, seed=4, data_format=data_format)
    assert keras.backend.standardize_dtype(mask.dtype) == "float32"
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), expected)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the running-max branch is PyTorch's only")
def test_pytorch_pools_by_running_max_not_by_max_pool(monkeypatch):
    def no_max_pool(*args, **kwargs):
        raise AssertionError("ops.max_pool called on PyTorch")

    monkeypatch.setattr(ops, "max_pool", no_max_pool)
    for shape, data_format in (((2, 8, 8, 2), "channels_last"), ((2, 2, 8, 8), "channels_first")):
        mask = drop_block_mask(shape, 0.3, 3, seed=1, data_format=data_format)
        assert tuple(mask.shape) == shape
