"""Counter-based random bits and normals in `keras.ops` arithmetic, for backends whose generator is the slow part.

On a CPU, XLA computes JAX's threefry random bits at several times the cost of the integer arithmetic of a hash, which
XLA fuses into one loop with its consumer (figures in `docs/noise_layers.md`, "Performance"). Each call is keyed by
one tiny `keras.random` draw (`hash_key`), so seeds and `keras.random.SeedGenerator`s behave as with `keras.random`.

- `hashed_bits(size, key, offset)`: int32 words, the "lowbias32" finalizer (C. Wellons, "Prospecting for hash
  functions", 2018) of a key-offset counter: the counter-based construction of Salmon et al. 2011, "Parallel random
  numbers: as easy as 1, 2, 3" (SC'11), with a hash in place of their block cipher.
- `hashed_normal(shape, seed)`: standard normal float32 draws by the Box-Muller transform (Box & Muller 1958, "A note
  on the generation of random normal deviates"), with a polynomial cosine (XLA's CPU `cos` and `erf_inv` cost
  several times this).

Example:

>>> bits = kreg.ops.hashed_random.hashed_bits(1000, kreg.ops.hashed_random.hash_key(seed=0))
>>> z = kreg.ops.hashed_random.hashed_normal((256, 512), seed=0)
"""

import math

import keras
from keras import ops


def int32(value):
    """A 32-bit pattern as the signed Python int of the same int32 bits."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def logical_right_shift(bits, count):
    """`bits >>> count` on int32 (the right shift of `keras.ops` is arithmetic on signed integers)."""
    return ops.bitwise_and(ops.right_shift(bits, count), (1 << (32 - count)) - 1)


#: The multiplier of the counter (2^32 / golden ratio, odd: a bijection of the 32-bit integers), and the two
#: multipliers of the "lowbias32" finalizer (C. Wellons, "Prospecting for hash functions", 2018).
_GOLDEN = int32(0x9E3779B9)
_MIX_1 = int32(0x7FEB352D)
_MIX_2 = int32(0x846CA68B)


def hash_key(seed):
    """Two int32 scalars drawn from `seed` with `keras.random` (one tiny draw per call; a new key at each call of a
    `SeedGenerator`)."""
    key = keras.random.randint((2,), minval=-(2**31), maxval=2**31 - 1, dtype="int32", seed=seed)
    return key[0], key[1]


def hashed_bits(size, key, offset=0):
    """`size` pseudo-random int32 words: the lowbias32 finalizer of `(counter * golden + key[0]) ^ key[1]`.

    A counter-based generator (the construction of Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2,
    3", with a hash finalizer in place of their block cipher): word `i` depends only on `i + offset` and the key,
    every word is a bijective function of its counter (distinct counters, distinct words), and a new key gives new
    words. Int32 arithmetic wraps on every backend; logical shifts are arithmetic shifts masked.
    """
    counter = ops.arange(offset, offset + size, dtype="int32")
    bits = ops.bitwise_xor(counter * _GOLDEN + key[0], key[1])
    bits = ops.bitwise_xor(bits, logical_right_shift(bits, 16)) * _MIX_1
    bits = ops.bitwise_xor(bits, logical_right_shift(bits, 15)) * _MIX_2
    return ops.bitwise_xor(bits, logical_right_shift(bits, 16))


#: `cos(t) = sum_k (-1)^k t^(2k) / (2k)!` for k = 6, 5, ..., 0 (on [0, pi/2] the next term is below 1e-8).
_COS_TAYLOR = tuple((-1) ** k / math.factorial(2 * k) for k in range(6, -1, -1))


def hashed_normal(shape, seed):
    """Standard normal float32 draws of `shape` from hashed bits, by the Box-Muller transform.

    `sqrt(-2 ln u) * cos(2 pi v)` is standard normal for independent uniforms `u`, `v` (Box & Muller 1958, "A note on
    the generation of random normal deviates"); `cos(2 pi v)` has the law of `s * cos(pi/2 * w)` with a random sign
    `s` and `w` uniform on [0, 1), and `cos` on [0, pi/2] is a Taylor polynomial in `x^2` (truncation error below
    1e-8, under float32's rounding). Each entry has its own two words: `u = (k + 1/2) / 2^24` from 24 bits of the
    first (tails to 5.9 standard deviations, as float32 uniforms give), the sign and 23 bits of `w` from the second.
    XLA's CPU `erf_inv` and `cos` cost several times this.
    """
    size = 1
    for dim in shape:
        size *= dim
    key = hash_key(seed)
    first = hashed_bits(size, key)
    second = hashed_bits(size, key, offset=size)
    u = (ops.cast(logical_right_shift(first, 8), "float32") + 0.5) * (2.0**-24)
    w = (ops.cast(ops.bitwise_and(second, 0x7FFFFF), "float32") + 0.5) * (2.0**-23)
    x2 = ops.square(w * (math.pi / 2))
    cos = _COS_TAYLOR[0]
    for coefficient in _COS_TAYLOR[1:]:
        cos = cos * x2 + coefficient  # Horner's rule
    normal = ops.sqrt(-2.0 * ops.log(u)) * cos
    return ops.reshape(ops.where(second < 0, -normal, normal), shape)  # the sign: the top bit of the second word
