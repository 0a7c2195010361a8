"""Mutation-testing follow-ups for `kreg.ops.hashed_random`: `hashed_normal` is the NumPy Box-Muller of the hashed
words entry for entry (the 24-bit `u`, the 23-bit `w`, the sign bit, the cosine polynomial), keyed by `hash_key`
exactly as `keras.random.randint` draws it, and the module's constants are the documented bit patterns."""

import math

import keras
import numpy as np
import pytest

from kreg.ops import hashed_random
from tests.ops.test_hashed_random import numpy_hash as numpy_lowbias32


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def numpy_hashed_normal(shape, key):
    """Box-Muller in float64 from the same words: `u` from the top 24 bits of the first word, `w` from the low 23 bits
    of the second, the sign from its top bit."""
    size = int(np.prod(shape))
    first = numpy_lowbias32(size, key)
    second = numpy_lowbias32(size, key, offset=size)
    u = ((first >> np.uint32(8)).astype(np.float64) + 0.5) * 2.0**-24
    w = ((second & np.uint32(0x7FFFFF)).astype(np.float64) + 0.5) * 2.0**-23
    normal = np.sqrt(-2.0 * np.log(u)) * np.cos(w * math.pi / 2)
    return np.where(second >= np.uint32(2**31), -normal, normal).reshape(shape)


def test_the_constants_are_the_documented_bit_patterns():
    assert hashed_random._GOLDEN == np.array(0x9E3779B9, np.uint32).view(np.int32)
    assert hashed_random._MIX_1 == 0x7FEB352D
    assert hashed_random._MIX_2 == np.array(0x846CA68B, np.uint32).view(np.int32)
    assert hashed_random.int32(1 << 31) == -(2**31)
    assert hashed_random.int32((1 << 31) - 1) == 2**31 - 1
    assert hashed_random.int32((1 << 32) + 7) == 7
    np.testing.assert_allclose(
        hashed_random._COS_TAYLOR, [(-1) ** k / math.factorial(2 * k) for k in range(6, -1, -1)], rtol=0
    )


def test_hash_key_is_a_full_range_int32_randint_of_the_seed():
    k0, k1 = hashed_random.hash_key(5)
    expected = numpy(keras.random.randint((2,), minval=-(2**31), maxval=2**31 - 1, dtype="int32", seed=5))
    assert keras.backend.standardize_dtype(k0.dtype) == "int32"
    assert (int(numpy(k0)), int(numpy(k1))) == (int(expected[0]), int(expected[1]))
    many = np.array([[int(numpy(k)) for k in hashed_random.hash_key(keras.random.SeedGenerator(s))] for s in range(64)])
    assert (many < 0).any() and (many > 2**30).any()  # the full signed range, not a small interval


@pytest.mark.parametrize("shape", [(3, 5), (4, 3, 2), (1000,)])
def test_hashed_normal_is_numpy_box_muller_of_the_hashed_words(shape):
    key = hashed_random.hash_key(9)
    expected = numpy_hashed_normal(shape, (numpy(key[0]), numpy(key[1])))
    z = numpy(hashed_random.hashed_normal(shape, 9))
    assert z.shape == shape and z.dtype == np.float32
    np.testing.assert_allclose(z, expected, rtol=2e-6, atol=2e-6)
    assert (z < 0).any() and (z > 0).any()


def test_hashed_bits_offset_shifts_the_counter():
    key = (np.int32(17), np.int32(-5))
    whole = numpy(hashed_random.hashed_bits(20, key)).view(np.uint32)
    np.testing.assert_array_equal(whole, numpy_lowbias32(20, key))
    np.testing.assert_array_equal(numpy(hashed_random.hashed_bits(8, key, offset=12)).view(np.uint32), whole[12:])
