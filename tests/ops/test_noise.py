"""`kreg.ops.noise`: noise statistics on large seeded tensors, exact DropConnect values, identity when not training."""

import keras
import numpy as np
import pytest
from scipy import stats

from kreg.ops import hashed_random, noise
from kreg.ops.noise import (
    RATE_LEVELS,
    drop_connect,
    drop_connect_keep,
    gaussian_noise,
    multiplicative_noise,
    uniform_noise,
)

SHAPE = (256, 512)  # 131072 draws: the standard error of a std estimate is ~0.2% of it.
FUNCTIONS = [gaussian_noise, multiplicative_noise, uniform_noise, drop_connect]
ARGUMENT = {gaussian_noise: "stddev", multiplicative_noise: "stddev", uniform_noise: "scale", drop_connect: "rate"}


def tensor(array):
    return keras.ops.convert_to_tensor(array)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def normal(shape=SHAPE, seed=0, dtype="float32"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    "fn, value, x, noise_of, expected_std",
    [
        (gaussian_noise, 0.3, normal(), lambda x, y: y - x, 0.3),
        (multiplicative_noise, 0.4, np.full(SHAPE, 2.0, "float32"), lambda x, y: y / x - 1, 0.4),
        (uniform_noise, 0.5, normal(), lambda x, y: y - x, 0.5 / np.sqrt(3)),
    ],
    ids=["gaussian", "multiplicative", "uniform"],
)
def test_noise_statistics_on_a_large_seeded_batch(fn, value, x, noise_of, expected_std):
    drawn = noise_of(x.astype("float64"), numpy(fn(tensor(x), value, training=True, seed=7)).astype("float64"))
    assert abs(drawn.std() - expected_std) <= 0.02 * expected_std
    assert abs(drawn.mean()) <= 0.02 * expected_std
    if fn is uniform_noise:
        assert drawn.min() >= -value - 1e-6 and drawn.max() <= value + 1e-6
        assert drawn.min() < -0.99 * value and drawn.max() > 0.99 * value


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_drop_connect_drops_the_rate_and_keeps_exactly_w_over_keep(rate):
    w = normal(seed=1)
    out = numpy(drop_connect(tensor(w), rate, training=True, seed=3))
    dropped = out == 0
    assert abs(dropped.mean() - rate) <= 0.02
    keep = np.float32(drop_connect_keep(rate))
    # Bit for bit the backend's own `w / keep` (XLA's float32 division on CPU is within 1 ulp, not always
    # correctly rounded, so NumPy's quotient is matched to 1 ulp).
    np.testing.assert_array_equal(out[~dropped], numpy(keras.ops.divide(tensor(w), tensor(keep)))[~dropped])
    np.testing.assert_array_max_ulp(out[~dropped], w[~dropped] / keep, maxulp=1)


@pytest.mark.parametrize("rate", [0.0001, 0.1, 0.3, 1 / 3, 0.5, 0.9999])
def test_drop_connect_keep_is_the_rate_rounded_to_a_2048th(rate):
    keep = drop_connect_keep(rate)
    assert keep * RATE_LEVELS == round(keep * RATE_LEVELS)  # a multiple of 1/2048
    assert abs(keep - max(1 - rate, 1 / RATE_LEVELS)) <= 1 / 4096 + 1e-12  # the rate is at most 2047/2048
    assert 1 / RATE_LEVELS <= keep <= 1
    assert abs(float(numpy(drop_connect_keep(tensor(np.float32(rate))))) - keep) < 1e-7


@pytest.mark.parametrize("shape", [(512, 256), (7, 9, 33), (4097,), (3, 3, 16, 32)])
@pytest.mark.parametrize("rate", [0.25, 0.7])
def test_drop_connect_mask_rate_and_independence_for_any_shape(shape, rate):
    """Off JAX two entries come from one uniform draw: along the even axis, or in the flattened kernel, entry `i` and
    entry `i + half` share a draw (on JAX each entry has its own hashed word, and the same pairs are checked). Each is
    dropped at the rate, and they are dropped together at `rate**2` (independent)."""
    w = np.ones(shape, "float32")
    reps = int(np.ceil(200_000 / w.size))
    drops = [numpy(drop_connect(tensor(w), rate, training=True, seed=s)) == 0 for s in range(reps)]
    dropped = np.stack(drops)
    assert abs(dropped.mean() - rate) <= 0.01
    axis = next((a for a, n in enumerate(shape) if n % 2 == 0), None)
    if axis is None:
        flat = dropped.reshape(reps, -1)
        half = (flat.shape[1] + 1) // 2
        first, second = flat[:, : flat.shape[1] - half], flat[:, half:]
    else:
        first, second = np.split(dropped, 2, axis=axis + 1)
    both = (first & second).mean()
    assert abs(both - rate**2) <= 0.01, (both, rate**2)


def test_drop_connect_rate_rounds_to_the_levels():
    w = np.ones((256, 512), "float32")
    assert not (numpy(drop_connect(tensor(w), 0.2 / RATE_LEVELS, training=True, seed=0)) == 0).any()
    out = numpy(drop_connect(tensor(w), 0.9999, training=True, seed=0))
    np.testing.assert_array_equal(out[out != 0], np.float32(1) / np.float32(1 / RATE_LEVELS))


def test_drop_connect_with_a_tensor_rate_matches_the_python_rate():
    w = normal(seed=2)
    from_python = numpy(drop_connect(tensor(w), 0.25, training=True, seed=5))
    from_tensor = numpy(drop_connect(tensor(w), tensor(np.float32(0.25)), training=True, seed=5))
    np.testing.assert_array_equal(from_tensor, from_python)


def test_a_tensor_rate_of_one_is_clipped_and_stays_finite():
    out = numpy(drop_connect(tensor(normal(seed=4)), tensor(np.float32(1.0)), training=True, seed=0))
    assert np.all(np.isfinite(out)) and (out == 0).mean() > 0.99


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_not_training_and_zero_strength_return_the_input_itself(fn):
    x = tensor(normal((4, 3)))
    assert fn(x, 0.5 if fn is drop_connect else 1.0, training=False, seed=0) is x
    assert fn(x, 0.0, training=True, seed=0) is x
    assert fn(x, 0, training=True, seed=0) is x


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_the_same_seed_gives_the_same_output(fn):
    x = tensor(normal((32, 16)))
    first = numpy(fn(x, 0.3, training=True, seed=11))
    np.testing.assert_array_equal(numpy(fn(x, 0.3, training=True, seed=11)), first)
    assert not np.array_equal(numpy(fn(x, 0.3, training=True, seed=12)), first)
    # Two generators from the same seed draw the same sequence; one generator draws new noise at each call.
    a, b = keras.random.SeedGenerator(4), keras.random.SeedGenerator(4)
    a1, a2 = numpy(fn(x, 0.3, training=True, seed=a)), numpy(fn(x, 0.3, training=True, seed=a))
    np.testing.assert_array_equal(numpy(fn(x, 0.3, training=True, seed=b)), a1)
    assert not np.array_equal(a1, a2)


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), (1, 2, 3, 2, 2)])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_any_rank(fn, shape):
    out = fn(tensor(normal(shape)), 0.5, training=True, seed=0)
    assert tuple(out.shape) == shape


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_the_dtype_of_the_input_is_kept(fn, dtype):
    x = keras.ops.cast(tensor(normal((64, 8))), dtype)
    out = fn(x, 0.5, training=True, seed=0)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert np.all(np.isfinite(numpy(keras.ops.cast(out, "float32"))))


def test_an_integer_input_gets_float_noise():
    out = gaussian_noise(tensor(np.ones((4, 4), "int32")), 0.1, training=True, seed=0)
    assert keras.backend.standardize_dtype(out.dtype) == keras.config.floatx()


@pytest.mark.parametrize(
    "fn, value, expected",
    [
        (gaussian_noise, -0.1, "Expected a non-negative finite float. Received: stddev=-0.1"),
        (multiplicative_noise, float("nan"), "Expected a non-negative finite float. Received: stddev=nan"),
        (uniform_noise, -1, "Expected a non-negative finite float. Received: scale=-1"),
        (drop_connect, 1.0, "Expected a finite float in [0.0, 1.0). Received: rate=1.0"),
        (drop_connect, -0.5, "Expected a finite float in [0.0, 1.0). Received: rate=-0.5"),
        (drop_connect, "0.5", "Expected a finite float in [0.0, 1.0). Received: rate='0.5'"),
    ],
)
def test_bad_python_strengths(fn, value, expected):
    with pytest.raises(ValueError) as error:
        fn(tensor(np.ones((2, 2), "float32")), value, training=True)
    assert str(error.value) == f"Invalid value received for argument `{ARGUMENT[fn]}`. {expected}"


@pytest.mark.parametrize("rate", [0.3, 0.0, 1 / RATE_LEVELS, 2047 / RATE_LEVELS])
@pytest.mark.parametrize("as_tensor", [False, True], ids=["python", "tensor"])
def test_the_mask_is_its_levels_against_the_rate(rate, as_tensor):
    """JAX: an entry is kept when the top 11 bits of its hashed word reach `d = 2048 rate`; elsewhere the two 11-bit
    levels of each uniform draw are compared with `d` (the mask's float arithmetic equals these comparisons, at the
    extreme rates too: `floor(v + keep)` with `keep = 1` from a tensor rate of 0)."""
    shape, seed = (64, 30), 5
    keep = drop_connect_keep(rate)
    dropped = round(rate * RATE_LEVELS)
    mask = numpy(noise._keep_mask(shape, tensor(np.float32(keep)) if as_tensor else keep, seed=seed))
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    if keras.backend.backend() == "jax":
        bits = numpy(hashed_random.hashed_bits(mask.size, hashed_random.hash_key(seed)))  # tested against NumPy
        expected = (bits.view(np.uint32) >> 21) >= dropped
    else:
        u = numpy(keras.random.uniform((32, 30), dtype="float32", seed=seed)).astype("float64")  # the first even axis
        high = np.floor(u * RATE_LEVELS)
        low = np.floor((u * RATE_LEVELS - high) * RATE_LEVELS)
        expected = np.concatenate([high >= dropped, low >= dropped], axis=0)
    np.testing.assert_array_equal(mask, expected.reshape(shape).astype("float32"))


def test_gaussian_noise_is_normal():
    """262144 draws: Kolmogorov-Smirnov against N(0, 1), the 3-sigma tail mass, skewness and excess kurtosis, and no
    correlation between neighbouring entries or between two calls of one generator."""
    generator = keras.random.SeedGenerator(21)
    zero = tensor(np.zeros((512, 512), "float32"))
    first = numpy(gaussian_noise(zero, 1.0, training=True, seed=generator)).astype("float64")
    second = numpy(gaussian_noise(zero, 1.0, training=True, seed=generator)).astype("float64")
    z = first.ravel()
    assert stats.kstest(z, "norm").pvalue > 0.001
    assert abs(np.mean(np.abs(z) > 3) - 0.0027) < 0.0004  # 2 * (1 - Phi(3)); the count's sd is about 0.0001
    assert abs(stats.skew(z)) < 0.03 and abs(stats.kurtosis(z)) < 0.06
    assert np.abs(z).max() > 4
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(first[:, :-1].ravel(), first[:, 1:].ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(z, second.ravel())[0, 1]) < 0.01
