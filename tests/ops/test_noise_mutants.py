"""Mutation-testing follow-ups for `kreg.ops.noise` on JAX, whose random bits come from `kreg.ops.hashed_random`:
the Gaussian noises are `hashed_normal` of the same seed entry for entry, and DropConnect keeps an entry exactly when
the top 11 bits of its hashed word reach `round(2048 * rate)`, for a Python and a tensor rate."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg.ops import hashed_random, noise

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="the hashed random path is taken on JAX only (`noise._uses_hash`)"
)


def numpy(x):
    return ops.convert_to_numpy(x)


def hashed_levels(size, seed):
    """The 11-bit level of each entry: the top 11 bits of its hashed word, as unsigned integers."""
    bits = numpy(hashed_random.hashed_bits(size, hashed_random.hash_key(seed))).view(np.uint32)
    return bits >> np.uint32(21)


def test_the_hash_is_used_on_jax():
    assert noise._uses_hash()


@pytest.mark.parametrize("stddev_is_tensor", [False, True], ids=["python", "tensor"])
def test_gaussian_and_multiplicative_noise_are_the_hashed_normal_of_the_seed(stddev_is_tensor):
    x = np.linspace(-2.0, 3.0, 60, dtype="float32").reshape(6, 10)
    stddev = ops.convert_to_tensor(0.3) if stddev_is_tensor else 0.3
    z = numpy(hashed_random.hashed_normal((6, 10), 4))
    np.testing.assert_allclose(
        numpy(noise.gaussian_noise(x, stddev, training=True, seed=4)), x + 0.3 * z, rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        numpy(noise.multiplicative_noise(x, stddev, training=True, seed=4)), x * (1.0 + 0.3 * z), rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_noise_is_the_cast_hashed_normal(dtype):
    x = np.ones((4, 8), "float32")
    y = noise.gaussian_noise(ops.cast(x, dtype), 0.5, training=True, seed=6)
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    z = ops.cast(hashed_random.hashed_normal((4, 8), 6), dtype)
    expected = ops.cast(x, dtype) + ops.cast(0.5, dtype) * z
    np.testing.assert_array_equal(numpy(ops.cast(y, "float32")), numpy(ops.cast(expected, "float32")))


@pytest.mark.parametrize("rate", [0.25, 0.8, 1.0 / 2048])
@pytest.mark.parametrize("rate_is_tensor", [False, True], ids=["python", "tensor"])
def test_drop_connect_keeps_exactly_the_entries_whose_level_reaches_the_rate(rate, rate_is_tensor):
    shape = (16, 24)
    kernel = np.linspace(0.5, 2.0, 16 * 24, dtype="float32").reshape(shape)
    dropped = round(rate * 2048)
    keep = 1.0 - dropped / 2048
    kept = (hashed_levels(16 * 24, 9) >= dropped).reshape(shape)
    assert kept.any() and (rate < 0.01 or not kept.all())
    rate_arg = ops.convert_to_tensor(rate, "float32") if rate_is_tensor else rate
    y = numpy(noise.drop_connect(kernel, rate_arg, training=True, seed=9))
    np.testing.assert_allclose(y, np.where(kept, kernel / np.float32(keep), 0.0), rtol=1e-6)
    mask = numpy(noise._keep_mask(shape, ops.convert_to_tensor(keep) if rate_is_tensor else keep, seed=9))
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(mask, kept.astype("float32"))


def test_the_keep_mask_of_keep_one_keeps_everything_and_of_a_rate_level_drops_that_share():
    assert numpy(noise._keep_mask((64,), 1.0, seed=3)).min() == 1.0
    levels = hashed_levels(4096, 3)
    mask = numpy(noise._keep_mask((64, 64), 0.5, seed=3)).ravel()
    np.testing.assert_array_equal(mask, (levels >= 1024).astype("float32"))
