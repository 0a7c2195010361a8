"""`kreg.ops.masking`: masked and swapped fractions on large seeded batches, exact invariants of every output entry,
SpecAugment's span distribution against its exact formula, seeds, dtypes, a batch of one and every bad argument."""

import keras
import numpy as np
import pytest
from scipy import stats

from kreg.ops.masking import (
    feature_mask,
    frequency_mask,
    mask_spans,
    spans_to_mask,
    swap_noise,
    swap_sources,
    time_mask,
)


def tensor(array):
    return keras.ops.convert_to_tensor(array)


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def positive(shape, seed=0, dtype="float32"):
    """Values in [1, 2): never equal to the mask values used below (0, -7.5)."""
    return np.random.default_rng(seed).uniform(1.0, 2.0, shape).astype(dtype)


def coded(batch, features):
    """`x[i, f] = f * batch + i`: each value names its row and its column (exact in float32)."""
    return (np.arange(features)[None, :] * batch + np.arange(batch)[:, None]).astype("float32")


# feature_mask ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.05, 0.15, 0.5])
def test_feature_mask_hits_the_rate_and_every_entry_is_x_or_the_mask_value(rate):
    x = positive((1024, 1024))  # 2^20 draws: at rate 0.05 the fraction's standard error is 0.4% of the rate
    out = numpy(feature_mask(tensor(x), rate, mask_value=-7.5, seed=3))
    masked = out == -7.5
    assert abs(masked.mean() - rate) <= 0.02 * rate
    np.testing.assert_array_equal(out[~masked], x[~masked])
    # Columns and rows are masked alike (independent entries): every column's fraction is near `rate`.
    assert abs(masked.mean(axis=0) - rate).max() < 6 * np.sqrt(rate * (1 - rate) / 1024)


def test_feature_mask_with_a_tensor_rate_matches_the_python_rate():
    x = tensor(positive((64, 32)))
    from_python = numpy(feature_mask(x, 0.3, seed=5))
    np.testing.assert_array_equal(numpy(feature_mask(x, tensor(np.float32(0.3)), seed=5)), from_python)
    # A tensor rate is clipped to [0, 1]: 1 masks everything, a negative rate nothing.
    assert np.all(numpy(feature_mask(x, tensor(np.float32(1.5)), mask_value=-7.5, seed=0)) == -7.5)
    np.testing.assert_array_equal(numpy(feature_mask(x, tensor(np.float32(-0.5)), seed=0)), numpy(x))


def test_feature_mask_keeps_an_integer_dtype():
    x = tensor(np.arange(1, 2001, dtype="int32").reshape(40, 50))
    out = feature_mask(x, 0.5, mask_value=-1, seed=0)
    assert keras.backend.standardize_dtype(out.dtype) == "int32"
    out = numpy(out)
    assert set(np.unique(out[out < 0])) == {-1} and np.all((out == -1) | (out == numpy(x)))


# swap_noise --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.15, 0.6])
def test_swap_noise_takes_the_same_column_of_another_row(rate):
    batch, features = 512, 1024  # 2^19 entries: at rate 0.1 the fraction's standard error is 0.4% of the rate
    x = coded(batch, features)
    out = numpy(swap_noise(tensor(x), rate, seed=1)).astype("int64")
    column, row = out // batch, out % batch
    np.testing.assert_array_equal(column, np.broadcast_to(np.arange(features), out.shape))  # always its own column
    swapped = row != np.arange(batch)[:, None]
    assert abs(swapped.mean() - rate) <= 0.02 * rate  # a swapped entry never takes its own row: changed == rate
    # The other row is uniform among the batch - 1 others: the offsets (j - i) mod batch are uniform on 1..batch-1.
    offsets = ((row - np.arange(batch)[:, None]) % batch)[swapped]
    counts = np.bincount(offsets, minlength=batch)
    assert counts[0] == 0
    assert stats.chisquare(counts[1:]).pvalue > 1e-3


@pytest.mark.parametrize("batch", [2, 3, 5])
def test_swap_noise_never_picks_the_row_itself_in_small_batches(batch):
    """Drawing among all rows, the row itself included, would change only rate * (1 - 1 / batch) of the entries."""
    x = coded(batch, 2**18 // batch)
    out = numpy(swap_noise(tensor(x), 0.3, seed=6))
    assert abs((out != x).mean() - 0.3) <= 0.02 * 0.3
    sources = numpy(swap_sources(batch, x.shape, 0.3, seed=6))
    np.testing.assert_array_equal(out, np.take_along_axis(x, sources, axis=0))


def test_swap_sources_are_the_rows_swap_noise_uses():
    x = coded(16, 8)
    sources = numpy(swap_sources(16, (16, 8), 0.4, seed=9))
    np.testing.assert_array_equal(numpy(swap_noise(tensor(x), 0.4, seed=9)), np.take_along_axis(x, sources, axis=0))


def test_swap_noise_on_a_rank_3_input_swaps_each_position_across_rows():
    x = np.random.default_rng(0).standard_normal((32, 5, 6)).astype("float32")
    out = numpy(swap_noise(tensor(x), 0.5, seed=2))
    # Every output entry is a value of its own position (t, f) in some row.
    assert np.all((out[:, None] == x[None, :]).any(axis=1))
    assert 0.4 < (out != x).mean() < 0.6


def test_swap_noise_on_a_batch_of_one_returns_the_values_unchanged():
    x = positive((1, 40))
    np.testing.assert_array_equal(numpy(swap_noise(tensor(x), 0.9, seed=0)), x)
    x2 = coded(2, 100)  # a batch of two: every swapped entry comes from the other row
    out = numpy(swap_noise(tensor(x2), 0.5, seed=0))
    assert np.all((out == x2) | (out == x2[::-1]))


def test_swap_noise_keeps_an_integer_dtype():
    x = tensor(np.arange(200, dtype="int32").reshape(20, 10))
    out = swap_noise(x, 0.5, seed=0)
    assert keras.backend.standardize_dtype(out.dtype) == "int32"
    np.testing.assert_array_equal(numpy(out) % 10, np.broadcast_to(np.arange(10), (20, 10)))


# time_mask and frequency_mask -------------------------------------------------------------------------------------


def expected_masked_fraction(size, max_width, count):
    """Exact expected masked fraction of `count` independent spans: width uniform on {0..W}, start on {0..size-w}."""
    positions = np.arange(size)
    covered = np.zeros(size)
    for width in range(max_width + 1):
        first = np.maximum(0, positions - width + 1)  # starts s with s <= p < s + width, s in [0, size - width]
        last = np.minimum(positions, size - width)
        covered += np.clip(last - first + 1, 0, None) / (size - width + 1) / (max_width + 1)
    return float(np.mean(1 - (1 - covered) ** count))


def numpy_spans_mask(starts, widths, size):
    positions = np.arange(size)
    inside = (positions >= starts[..., None]) & (positions < (starts + widths)[..., None])
    return inside.any(axis=1)


@pytest.mark.parametrize("max_width, count", [(10, 1), (7, 3), (50, 2)])
def test_time_mask_is_the_union_of_count_spans_of_width_at_most_max_width(max_width, count):
    batch, size = 16384, 50  # the masked fraction's standard error is <= 0.5% of its expectation
    x = positive((batch, size, 2))
    out = numpy(time_mask(tensor(x), max_width, count, mask_value=-7.5, seed=4))
    masked = out == -7.5
    np.testing.assert_array_equal(out[~masked], x[~masked])
    steps = masked[:, :, 0]
    np.testing.assert_array_equal(masked, np.repeat(steps[:, :, None], 2, axis=2))  # all features of a step
    starts, widths = (numpy(t) for t in mask_spans(batch, size, max_width, count, seed=4))
    assert starts.shape == widths.shape == (batch, count)
    assert widths.min() == 0 and widths.max() == max_width
    assert starts.min() == 0 and np.all(starts + widths <= size)
    np.testing.assert_array_equal(steps, numpy_spans_mask(starts, widths, size))
    np.testing.assert_array_equal(numpy(spans_to_mask(tensor(starts), tensor(widths), size)), steps)
    # Contiguity: at most `count` runs per sample, and with one span exactly one run of the drawn width.
    runs = (np.diff(steps.astype(int), axis=1, prepend=0) == 1).sum(axis=1)
    assert runs.max() <= count
    if count == 1:
        np.testing.assert_array_equal(steps.sum(axis=1), widths[:, 0])
    # The rate: the masked fraction against its exact expectation, within 2%.
    expected = expected_masked_fraction(size, max_width, count)
    assert abs(steps.mean() - expected) <= 0.02 * expected


def test_span_widths_and_starts_are_uniform():
    batch, size, max_width = 20000, 30, 9
    starts, widths = (numpy(t) for t in mask_spans(batch, size, max_width, 1, seed=0))
    assert stats.chisquare(np.bincount(widths[:, 0], minlength=max_width + 1)).pvalue > 1e-3
    # Given its width, the start is uniform on {0, ..., size - width}: the scaled start s / (size - w) has mean 1/2.
    for width in (0, 5, 9):
        picked = starts[widths[:, 0] == width, 0]
        assert picked.min() == 0 and picked.max() == size - width
        assert stats.chisquare(np.bincount(picked, minlength=size - width + 1)).pvalue > 1e-3


@pytest.mark.parametrize(
    "shape, axis, other_axes",
    [
        ((4096, 20, 16), 2, (1,)),  # (batch, time, freq)
        ((4096, 5, 16, 2), 2, (1, 3)),  # (batch, time, freq, channels)
        ((4096, 2, 5, 16), 3, (1, 2)),  # (batch, channels, time, freq)
        ((4096, 16, 20), 1, (2,)),  # (batch, freq, time)
    ],
)
def test_frequency_mask_masks_whole_frequency_bands(shape, axis, other_axes):
    x = positive(shape)
    out = numpy(frequency_mask(tensor(x), 6, 2, axis=axis, mask_value=-7.5, seed=1))
    masked = out == -7.5
    np.testing.assert_array_equal(out[~masked], x[~masked])
    bands = masked.all(axis=other_axes)  # (batch, freq): a band is masked over every time step and channel
    np.testing.assert_array_equal(masked.any(axis=other_axes), bands)
    starts, widths = (numpy(t) for t in mask_spans(4096, 16, 6, 2, seed=1))
    np.testing.assert_array_equal(bands, numpy_spans_mask(starts, widths, 16))
    expected = expected_masked_fraction(16, 6, 2)
    assert abs(bands.mean() - expected) <= 0.05 * expected  # 4096 samples: standard error 0.8% of the expectation


def test_time_and_frequency_masks_differ_only_by_their_default_axis():
    x = tensor(positive((8, 12, 10)))
    np.testing.assert_array_equal(numpy(time_mask(x, 5, 2, seed=3)), numpy(frequency_mask(x, 5, 2, axis=1, seed=3)))
    np.testing.assert_array_equal(numpy(frequency_mask(x, 5, seed=3)), numpy(time_mask(x, 5, axis=-1, seed=3)))


# Shared: seeds, dtypes, batch of one, rate 0 -----------------------------------------------------------------------


FUNCTIONS = {
    "feature_mask": lambda x, seed: feature_mask(x, 0.3, seed=seed),
    "swap_noise": lambda x, seed: swap_noise(x, 0.3, seed=seed),
    "time_mask": lambda x, seed: time_mask(x, 4, 2, seed=seed),
    "frequency_mask": lambda x, seed: frequency_mask(x, 4, 2, seed=seed),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_same_seed_gives_the_same_output(name):
    fn = FUNCTIONS[name]
    x = tensor(positive((16, 10, 8)))
    first = numpy(fn(x, 11))
    np.testing.assert_array_equal(numpy(fn(x, 11)), first)
    assert not np.array_equal(numpy(fn(x, 12)), first)
    a, b = keras.random.SeedGenerator(4), keras.random.SeedGenerator(4)
    a1, a2 = numpy(fn(x, a)), numpy(fn(x, a))
    np.testing.assert_array_equal(numpy(fn(x, b)), a1)
    assert not np.array_equal(a1, a2)  # one generator draws anew at each call


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_dtype_of_the_input_is_kept(name, dtype):
    x = keras.ops.cast(tensor(positive((64, 10, 8))), dtype)
    out = FUNCTIONS[name](x, 0)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    out, x = numpy(keras.ops.cast(out, "float32")), numpy(keras.ops.cast(x, "float32"))
    if name == "swap_noise":
        assert np.all((out[:, None] == x[None, :]).any(axis=1))
    else:
        assert np.all((out == x) | (out == 0)) and (out == 0).any()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_batch_of_one(name):
    x = positive((1, 10, 8))
    out = numpy(FUNCTIONS[name](tensor(x), 0))
    assert out.shape == x.shape
    if name == "swap_noise":
        np.testing.assert_array_equal(out, x)


def test_a_rate_of_zero_returns_the_input_itself():
    x = tensor(positive((4, 3)))
    assert feature_mask(x, 0, seed=0) is x
    assert feature_mask(x, 0.0, mask_value=3.0, seed=0) is x
    assert swap_noise(x, 0.0, seed=0) is x


# Bad arguments -----------------------------------------------------------------------------------------------------

X3 = positive((2, 10, 6))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: feature_mask(X3, 1.0), "Expected a finite float in [0.0, 1.0). Received: rate=1.0"),
        (lambda: feature_mask(X3, -0.1), "Expected a finite float in [0.0, 1.0). Received: rate=-0.1"),
        (lambda: feature_mask(X3, "0.1"), "Expected a finite float in [0.0, 1.0). Received: rate='0.1'"),
        (
            lambda: feature_mask(X3, 0.1, mask_value=float("nan")),
            "Expected a finite float. Received: mask_value=nan",
        ),
        (
            lambda: feature_mask(np.ones((2, 3), "int32"), 0.1, mask_value=0.5),
            "Expected a whole number for an input of dtype int32. Received: mask_value=0.5",
        ),
        (lambda: swap_noise(X3, 1.5), "Expected a finite float in [0.0, 1.0). Received: rate=1.5"),
        (lambda: time_mask(X3, 0), "Expected an integer >= 1. Received: max_width=0"),
        (lambda: time_mask(X3, -3), "Expected an integer >= 1. Received: max_width=-3"),
        (lambda: time_mask(X3, 2.5), "Expected an integer >= 1. Received: max_width=2.5"),
        (
            lambda: time_mask(X3, 11),
            "Expected an integer in [1, 10] (a span must fit in the input's time axis (axis 1) of size 10). "
            "Received: max_width=11",
        ),
        (
            lambda: frequency_mask(X3, 7),
            "Expected an integer in [1, 6] (a span must fit in the input's frequency axis (axis 2) of size 6). "
            "Received: max_width=7",
        ),
        (lambda: time_mask(X3, 3, count=0), "Expected an integer >= 1. Received: count=0"),
        (
            lambda: time_mask(X3, 3, axis=0),
            "Expected an integer in [1, 2] or [-2, -1] (not the batch axis) for a rank-3 input. Received: axis=0",
        ),
        (
            lambda: frequency_mask(X3, 3, axis=3),
            "Expected an integer in [1, 2] or [-2, -1] (not the batch axis) for a rank-3 input. Received: axis=3",
        ),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value).startswith("Invalid value received for argument `")
    assert str(error.value).endswith(message)


def test_a_rank_1_input_has_no_axis_to_mask():
    with pytest.raises(
        ValueError, match=r"Expected a tensor of rank >= 2 \(batch first\). Received: inputs with shape \(5,\)"
    ):
        time_mask(np.ones(5, "float32"), 2)
