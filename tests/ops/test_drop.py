"""`kreg.ops.drop`: drop fractions on large seeded batches, exact kept values, DropBlock's gamma and block shapes."""

import functools

import keras
import numpy as np
import pytest
from keras import ops
from scipy import ndimage

from kreg.ops.drop import drop_block, drop_block_gamma, drop_block_mask, drop_path


def numpy_of(x):
    return ops.convert_to_numpy(x)


def expected_drop_fraction(rate, block_size, feature_shape):
    """The exact expected dropped fraction of DropBlock with the paper's gamma: `mean_p 1 - (1 - gamma)^n(p)`.

    `n(p)` is the number of valid block corners whose block covers position `p` (fewer near the borders).
    """
    gamma = drop_block_gamma(rate, block_size, feature_shape)
    covers = []
    for size in feature_shape:
        last = size - block_size  # the last valid corner
        covers.append(np.array([min(p, last) - max(0, p - block_size + 1) + 1 for p in range(size)]))
    count = functools.reduce(np.multiply.outer, covers)
    return float(np.mean(1.0 - (1.0 - gamma) ** count))


def scale_candidates(mask):
    """`count(M) / count_ones(M)` in float32, and its float32 neighbours (backends may round the division apart)."""
    scale = np.float32(mask.size) / np.float32(mask.sum())
    return [scale, np.nextafter(scale, np.float32(0)), np.nextafter(scale, np.float32(np.inf))]


# drop_path -----------------------------------------------------------------------------------------------------


def test_drop_path_returns_its_input_itself_at_inference_and_at_rate_zero():
    x = ops.convert_to_tensor(np.ones((4, 3), "float32"))
    assert drop_path(x, 0.5, training=False, seed=0) is x
    assert drop_path(x, 0.0, training=True, seed=0) is x
    assert drop_path(x, 0, training=True, seed=0) is x


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_drop_path_drop_fraction_on_a_large_seeded_batch(rate):
    x = np.ones((20000, 2), "float32")
    y = numpy_of(drop_path(x, rate, training=True, seed=keras.random.SeedGenerator(7)))
    assert abs(np.mean(y[:, 0] == 0) - rate) < 0.02


@pytest.mark.parametrize("shape", [(256,), (256, 3), (256, 2, 3), (256, 4, 4, 2), (256, 2, 3, 3, 2)])
def test_drop_path_drops_whole_samples_of_any_rank_and_keeps_exactly_x_over_keep(shape):
    x = np.random.default_rng(0).uniform(0.5, 2.0, shape).astype("float32")
    rate = 0.3
    y = numpy_of(drop_path(x, rate, training=True, seed=keras.random.SeedGenerator(1)))
    samples, flat = x.reshape(shape[0], -1), y.reshape(shape[0], -1)
    kept = np.all(flat != 0, axis=1)
    assert np.all(kept | np.all(flat == 0, axis=1)), "a sample was partly dropped"
    assert 0 < kept.sum() < shape[0]
    # Exactly x / keep as the backend divides (XLA on JAX rounds a division apart from IEEE; NumPy where IEEE).
    keep = np.float32(1.0) - np.float32(rate)
    divided = numpy_of(ops.divide(ops.convert_to_tensor(samples), ops.convert_to_tensor(keep)))
    np.testing.assert_array_equal(flat[kept], divided[kept])
    if keras.backend.backend() != "jax":
        np.testing.assert_array_equal(flat[kept], samples[kept] / keep)


def test_drop_path_takes_a_tensor_rate():
    x = np.ones((20000, 1), "float32")
    y = numpy_of(drop_path(x, ops.convert_to_tensor(0.25), training=True, seed=keras.random.SeedGenerator(3)))
    assert abs(np.mean(y == 0) - 0.25) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.75, rtol=1e-6)


def test_drop_path_same_seed_same_output_and_successive_draws_differ():
    x = np.random.default_rng(0).standard_normal((64, 5)).astype("float32")
    first, second = keras.random.SeedGenerator(11), keras.random.SeedGenerator(11)
    a = numpy_of(drop_path(x, 0.5, training=True, seed=first))
    b = numpy_of(drop_path(x, 0.5, training=True, seed=second))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(numpy_of(drop_path(x, 0.5, True, seed=5)), numpy_of(drop_path(x, 0.5, True, seed=5)))
    assert not np.array_equal(numpy_of(drop_path(x, 0.5, training=True, seed=first)), a)


def test_drop_path_rejects_a_scalar_input():
    with pytest.raises(ValueError) as error:
        drop_path(ops.ones(()), 0.5, training=True, seed=0)
    assert str(error.value) == (
        "Invalid value received for argument `inputs`. Expected a tensor of rank >= 1 (batch first). "
        "Received: inputs with shape ()"
    )


# drop_block ----------------------------------------------------------------------------------------------------


def test_gamma_is_the_papers_formula():
    # Ghiasi et al. 2018, equation 1: rate / block_size^2 * feat^2 / (feat - block_size + 1)^2.
    assert drop_block_gamma(0.1, 7, (14, 14)) == pytest.approx(0.1 / 49 * 196 / 64)
    # Per axis for non-square maps, and the 1D analogue.
    assert drop_block_gamma(0.2, 3, (16, 12)) == pytest.approx(0.2 / 9 * (16 * 12) / (14 * 10))
    assert drop_block_gamma(0.1, 4, (32,)) == pytest.approx(0.1 / 4 * 32 / 29)
    # A tensor rate gives a tensor.
    assert float(numpy_of(drop_block_gamma(ops.convert_to_tensor(0.1), 7, (14, 14)))) == pytest.approx(0.1 / 64 * 4)


@pytest.mark.parametrize(
    "rate, block_size, shape, data_format",
    [
        (0.1, 3, (1024, 16, 16, 4), "channels_last"),
        (0.2, 3, (1024, 16, 16, 4), "channels_last"),
        (0.1, 5, (4096, 4, 8, 8), "channels_first"),
        (0.1, 3, (1024, 16, 12, 4), "channels_last"),
        (0.1, 4, (8192, 32, 4), "channels_last"),
        (0.2, 4, (8192, 4, 32), "channels_first"),
    ],
)
def test_drop_block_drop_fraction_on_a_large_seeded_batch(rate, block_size, shape, data_format):
    x = np.ones(shape, "float32")
    y = numpy_of(drop_block(x, rate, block_size, True, seed=keras.random.SeedGenerator(5), data_format=data_format))
    fraction = float(np.mean(y == 0))
    feature_shape = shape[1:-1] if data_format == "channels_last" else shape[2:]
    assert abs(fraction - rate) < 0.02, fraction
    # Tighter: the exact expectation of the paper's gamma, overlaps and borders included (about 4 standard
    # deviations of the fraction at these sizes).
    assert abs(fraction - expected_drop_fraction(rate, block_size, feature_shape)) < 0.006, fraction


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_drop_block_keeps_exactly_x_times_one_scale(data_format):
    shape = (32, 10, 10, 3) if data_format == "channels_last" else (32, 3, 10, 10)
    x = np.random.default_rng(0).uniform(0.5, 2.0, shape).astype("float32")
    y = numpy_of(drop_block(x, 0.2, 3, True, seed=keras.random.SeedGenerator(2), data_format=data_format))
    kept = y != 0
    assert 0.1 < 1 - kept.mean() < 0.3
    matches = [np.array_equal(y[kept], x[kept] * scale) for scale in scale_candidates(kept)]
    assert any(matches), "kept entries are not x * count(M) / count_ones(M)"


def isolated_components(dropped, block_size):
    """Connected zero regions (`scipy.ndimage.label`) of each map: their bounding-box shapes and sizes."""
    found = []
    for plane in dropped:
        labels, count = ndimage.label(plane)
        for region in ndimage.find_objects(labels):
            box = tuple(s.stop - s.start for s in region)
            found.append((box, int(np.sum(labels[region] > 0))))
    return found


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_dropped_regions_are_whole_square_blocks_inside_the_map(data_format):
    block_size, rate = 3, 0.01  # small gamma: about 6% of the blocks touch another one
    shape = (128, 20, 20, 4) if data_format == "channels_last" else (128, 4, 20, 20)
    kept = numpy_of(
        drop_block_mask(shape, rate, block_size, seed=keras.random.SeedGenerator(9), data_format=data_format)
    )
    assert kept.shape == shape and set(np.unique(kept)) <= {0.0, 1.0}
    dropped = kept == 0
    planes = np.moveaxis(dropped, -1, 1) if data_format == "channels_last" else dropped
    planes = planes.reshape(-1, 20, 20)
    components = isolated_components(planes, block_size)
    squares = [c for c in components if c == ((block_size, block_size), block_size**2)]
    # Every region is at least one whole block (never cut by a border); almost all are exactly one block.
    assert all(box[0] >= block_size and box[1] >= block_size and size >= block_size**2 for box, size in components)
    assert len(squares) >= 0.85 * len(components) and len(squares) > 150
    # Blocks reach every border (the valid region is aligned, not shifted): the first and last rows and columns
    # are dropped somewhere.
    for edge in (planes[:, 0, :], planes[:, -1, :], planes[:, :, 0], planes[:, :, -1]):
        assert edge.any()


def test_dropped_runs_are_whole_blocks_in_1d():
    block_size = 5
    kept = numpy_of(drop_block_mask((128, 40, 4), 0.05, block_size, seed=keras.random.SeedGenerator(4)))
    runs = isolated_components(np.moveaxis(kept == 0, -1, 1).reshape(-1, 40), block_size)
    assert all(length >= block_size for (length,), _ in runs)
    assert sum(length == block_size for (length,), _ in runs) >= 0.9 * len(runs)


def test_drop_block_works_on_three_spatial_axes():
    x = np.random.default_rng(0).uniform(0.5, 2.0, (512, 8, 8, 8, 2)).astype("float32")
    y = numpy_of(drop_block(x, 0.1, 2, True, seed=keras.random.SeedGenerator(3)))
    kept = y != 0
    assert abs((1 - kept.mean()) - expected_drop_fraction(0.1, 2, (8, 8, 8))) < 0.006
    assert any(np.array_equal(y[kept], x[kept] * scale) for scale in scale_candidates(kept))


def test_drop_block_returns_its_input_itself_at_inference_and_at_rate_zero():
    x = ops.convert_to_tensor(np.ones((2, 6, 6, 3), "float32"))
    assert drop_block(x, 0.3, 3, training=False, seed=0) is x
    assert drop_block(x, 0.0, 3, training=True, seed=0) is x


def test_drop_block_same_seed_same_output():
    x = np.random.default_rng(0).standard_normal((8, 9, 9, 2)).astype("float32")
    a = numpy_of(drop_block(x, 0.3, 3, True, seed=keras.random.SeedGenerator(21)))
    b = numpy_of(drop_block(x, 0.3, 3, True, seed=keras.random.SeedGenerator(21)))
    np.testing.assert_array_equal(a, b)


def test_drop_block_rejects_a_block_larger_than_the_map_and_a_wrong_rank():
    with pytest.raises(ValueError) as error:
        drop_block(np.ones((2, 5, 6, 1), "float32"), 0.1, 6, training=True, seed=0)
    assert str(error.value) == (
        "Invalid value received for argument `block_size`. Expected an integer in [1, 5] (a block must fit in the "
        "input's 5 x 6 feature map). Received: block_size=6"
    )
    with pytest.raises(ValueError) as error:
        drop_block(np.ones((2, 5), "float32"), 0.1, 2, training=True, seed=0)
    assert str(error.value) == (
        "Invalid value received for argument `inputs`. Expected a tensor of rank 3 to 5 (batch, spatial axes and "
        "channels). Received: inputs with shape (2, 5)"
    )
