"""`kreg.ops.hashed_random`: the hash against NumPy's uint32 arithmetic bit for bit, the normals against N(0, 1)."""

import keras
import numpy as np
import pytest
from scipy import stats

from kreg.ops import hashed_random


def tensor(array):
    return keras.ops.convert_to_tensor(array)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def numpy_hash(size, key, offset=0):
    """NumPy's uint32 reference of `hashed_bits`: lowbias32 of `(counter * 0x9E3779B9 + key0) ^ key1`."""
    x = np.arange(offset, offset + size, dtype=np.uint64).astype(np.uint32)
    key0, key1 = (np.uint32(int(k) & 0xFFFFFFFF) for k in key)
    with np.errstate(over="ignore"):
        x = (x * np.uint32(0x9E3779B9) + key0) ^ key1
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
    return x


def compiled(fn):
    """`fn` compiled as a training step compiles it: `jax.jit` on JAX, XLA `tf.function` on TensorFlow."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    return fn


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
def test_hashed_bits_are_numpy_lowbias32_bit_for_bit(jit):
    """Int32 wraparound and masked arithmetic shifts give the uint32 hash exactly on every backend, compiled too."""
    key = (tensor(np.int32(-123456789)), tensor(np.int32(2024)))

    def fn(k0, k1):
        return hashed_random.hashed_bits(5000, (k0, k1), offset=70000)

    bits = numpy(compiled(fn)(*key) if jit else fn(*key))
    assert bits.dtype == np.int32
    np.testing.assert_array_equal(bits.view(np.uint32), numpy_hash(5000, (-123456789, 2024), offset=70000))


def test_int32_is_the_signed_reading_of_the_bits():
    assert hashed_random.int32(0x9E3779B9) == np.array(0x9E3779B9, np.uint32).view(np.int32)
    assert hashed_random.int32(5) == 5 and hashed_random.int32(0xFFFFFFFF) == -1


@pytest.mark.parametrize("count", [1, 8, 16, 21, 31])
def test_logical_right_shift_of_negative_words(count):
    words = np.array([-1, -(2**31), -123456789, 0, 2**31 - 1, 77], np.int32)
    shifted = numpy(hashed_random.logical_right_shift(tensor(words), count))
    np.testing.assert_array_equal(shifted.view(np.uint32), words.view(np.uint32) >> np.uint32(count))


def test_a_new_key_gives_new_words_and_the_same_seed_the_same():
    generator = keras.random.SeedGenerator(3)
    first = numpy(hashed_random.hashed_bits(4096, hashed_random.hash_key(generator)))
    second = numpy(hashed_random.hashed_bits(4096, hashed_random.hash_key(generator)))
    again = numpy(hashed_random.hashed_bits(4096, hashed_random.hash_key(keras.random.SeedGenerator(3))))
    np.testing.assert_array_equal(first, again)
    assert np.mean(first == second) < 0.01
    assert len(np.unique(first)) == first.size  # a bijection of the counter


def test_the_top_bits_are_uniform():
    """The 11-bit levels DropConnect uses: a chi-square test over the 2048 levels on 2^20 words."""
    bits = numpy(hashed_random.hashed_bits(2**20, hashed_random.hash_key(11))).view(np.uint32)
    counts = np.bincount(bits >> 21, minlength=2048)
    assert stats.chisquare(counts).pvalue > 0.001


def test_hashed_normal_is_standard_normal():
    """262144 draws on every backend: Kolmogorov-Smirnov against N(0, 1), the 3-sigma tail mass, skewness and excess
    kurtosis, no correlation between neighbours or between two calls of one generator."""
    generator = keras.random.SeedGenerator(21)
    first = numpy(hashed_random.hashed_normal((512, 512), generator)).astype("float64")
    second = numpy(hashed_random.hashed_normal((512, 512), generator)).astype("float64")
    assert first.shape == (512, 512)
    z = first.ravel()
    assert stats.kstest(z, "norm").pvalue > 0.001
    assert abs(np.mean(np.abs(z) > 3) - 0.0027) < 0.0004
    assert abs(stats.skew(z)) < 0.03 and abs(stats.kurtosis(z)) < 0.06
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(z, second.ravel())[0, 1]) < 0.01
