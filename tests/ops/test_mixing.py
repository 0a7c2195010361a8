"""`kreg.ops.mixing`: label smoothing against its formula, MixUp's lam against Beta(alpha, alpha) (KS test), CutMix's
label weight against the pasted fraction (exactly) for every input rank, the identity cases, seeds, dtypes, a batch
of one, every bad argument's message, and a model trained on batches mixed by the plain functions."""

import keras
import numpy as np
import pytest
from scipy import stats

from kreg.ops.mixing import cut_axes, cutmix, dense_labels, label_smoothing, mix, mixup

#: How far (in float32 ulps) a CutMix label weight may be from the pasted fraction: 0 but on JAX (see the test).
ULPS = 1 if keras.backend.backend() == "jax" else 0


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def constant_rows(shape):
    """A batch whose row i is the constant i + 1 (so every output value tells which row it came from)."""
    rows = np.arange(1, shape[0] + 1, dtype="float32")
    return rows.reshape((-1,) + (1,) * (len(shape) - 1)) * np.ones(shape, "float32")


def partners(y):
    """The partner of each row of mixed one-hot-identity labels (`i` itself when the row was not mixed)."""
    y = y.copy()
    own = np.arange(len(y))
    y[own, own] = -1.0
    return np.where(y.max(axis=1) > 0, y.argmax(axis=1), own)


# Label smoothing -------------------------------------------------------------------------------------------------


def test_label_smoothing_matches_the_formula():
    ids = np.array([0, 2, 1, 2])
    one_hot = np.eye(3, dtype="float32")[ids]
    expected = one_hot * 0.9 + 0.1 / 3
    np.testing.assert_allclose(numpy(label_smoothing(one_hot, 0.1)), expected, rtol=1e-6)
    np.testing.assert_allclose(numpy(label_smoothing(ids, 0.1, num_classes=3)), expected, rtol=1e-6)
    np.testing.assert_allclose(numpy(label_smoothing(ids[:, None], 0.1, num_classes=3)), expected, rtol=1e-6)
    binary = np.array([[0.0], [1.0]], "float32")  # K = 2, as keras.losses.BinaryCrossentropy
    np.testing.assert_allclose(numpy(label_smoothing(binary, 0.2)), [[0.1], [0.9]], rtol=1e-6)
    assert label_smoothing(one_hot, 0.0) is not None
    np.testing.assert_array_equal(numpy(label_smoothing(one_hot, 0.0)), one_hot)


def test_dense_labels_needs_num_classes_for_integer_labels():
    with pytest.raises(ValueError, match=r"argument `num_classes`.*integer \(sparse\) labels.*num_classes=None"):
        dense_labels(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"argument `num_classes`. Expected the size of the last axis.*\(3\)"):
        dense_labels(np.eye(3, dtype="float32"), num_classes=4)
    out = dense_labels(np.array([[1], [0]]), num_classes=2)
    assert tuple(out.shape) == (2, 2) and keras.backend.standardize_dtype(out.dtype) == "float32"


# MixUp -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_mixup_lam_follows_beta_alpha_alpha(alpha):
    """One lam per example (`mode="elem"`) on a batch of 2000: the partner weights pass a KS test against
    Beta(alpha, alpha) (symmetric, so `1 - lam` has the same law), and fail it against Beta(2 alpha, 2 alpha)."""
    batch = 2000
    y = np.eye(batch, dtype="float32")
    _, out = mixup(np.zeros((batch, 1), "float32"), y, alpha=alpha, mode="elem", seed=7)
    out = numpy(out)
    own = np.arange(batch)
    off = out.astype("float64").sum(axis=1) - out[own, own]  # the partner's weight, exact even when tiny
    mixed = off > 0  # rows paired with themselves (about one) carry no lam
    assert mixed.sum() > batch - 10
    weights = off[mixed]
    assert stats.kstest(weights, "beta", args=(alpha, alpha)).pvalue > 0.01
    assert stats.kstest(weights, "beta", args=(2 * alpha, 2 * alpha)).pvalue < 1e-3


@pytest.mark.parametrize("alpha", [0.2, 1.0], ids=["gamma-keys", "uniform-keys"])
def test_partners_are_a_uniformly_random_permutation_independent_of_lam(alpha):
    """MixUp alone sorts a third row of its gamma draw (alpha != 1) or a row of its uniform draw (alpha == 1) for the
    partners: either way the partner `j` of row `i` is uniform over the batch (chi-square on `(j - i) mod B`), and
    neither `j` nor the row that takes `i` as its partner is correlated with `i`'s weight (Spearman)."""
    batch = 1000
    own = np.arange(batch)
    displacements, weights, partner_ids, taker_ids = [], [], [], []
    for seed in (1, 2, 3):
        _, out = mixup(np.zeros((batch, 1), "float32"), np.eye(batch, dtype="float32"), alpha, mode="elem", seed=seed)
        out = numpy(out)
        j = partners(out)
        assert len(set(j.tolist())) > batch - 10, "a permutation (but for rows whose weight underflowed to 0)"
        taker = np.empty(batch, int)
        taker[j] = own
        displacements.append((j - own) % batch)
        weights.append(out.astype("float64").sum(axis=1) - out[own, own])
        partner_ids.append(j)
        taker_ids.append(taker)
    counts = np.bincount(np.concatenate(displacements) * 10 // batch, minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3
    weights = np.concatenate(weights)
    for ids in (partner_ids, taker_ids):
        assert abs(stats.spearmanr(weights, np.concatenate(ids))[0]) < 0.08


def test_mixup_is_the_convex_combination_with_the_partner():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 5, 3)).astype("float32")
    y = np.eye(16, dtype="float32")
    out, labels = mixup(x, y, lam=0.7, seed=1)
    out, labels = numpy(out), numpy(labels)
    j = partners(labels)
    np.testing.assert_allclose(out, x + np.float32(0.3) * (x[j] - x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    moved = j != np.arange(16)
    np.testing.assert_allclose(labels[moved, j[moved]], 0.3, rtol=1e-6)
    assert sorted(j) == list(range(16)), "the partners are a permutation of the batch"


@pytest.mark.parametrize(
    "function, kwargs",
    [
        (mixup, {"alpha": 0.4}),
        (cutmix, {"alpha": 1.0}),
        (mix, {"mixup_alpha": 0.8, "cutmix_alpha": 1.0, "mode": "elem", "prob": 0.7, "label_smoothing": 0.1}),
    ],
    ids=["mixup", "cutmix", "mix-elem-smoothed"],
)
def test_mixed_labels_sum_to_one(function, kwargs):
    x = np.random.default_rng(1).uniform(size=(64, 8, 8, 3)).astype("float32")
    _, labels = function(x, np.arange(64) % 10, num_classes=10, seed=3, **kwargs)
    labels = numpy(labels)
    assert labels.shape == (64, 10) and labels.min() >= 0.0
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)


# CutMix ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, data_format, axes",
    [
        ((32, 40), None, (1,)),  # tabular: a contiguous feature span
        ((32, 50, 3), None, (1,)),  # sequences: a time span
        ((32, 12, 10, 3), "channels_last", (1, 2)),  # images: a box
        ((32, 3, 12, 10), "channels_first", (2, 3)),
    ],
    ids=["tabular", "sequence", "image", "image-channels-first"],
)
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_cutmix_pastes_one_box_and_weights_the_label_by_its_area_exactly(shape, data_format, axes, mode):
    x = constant_rows(shape)
    batch = shape[0]
    out, labels = cutmix(x, np.eye(batch, dtype="float32"), alpha=1.0, mode=mode, data_format=data_format, seed=11)
    out, labels = numpy(out), numpy(labels)
    j = partners(labels)
    total = np.prod([shape[a] for a in axes])
    masks = []
    for i in range(batch):
        pasted = out[i] != x[i]
        np.testing.assert_array_equal(out[i][pasted], x[j[i]][pasted])  # the partner's values, nothing else
        mask = pasted.any(axis=tuple(a - 1 for a in range(1, len(shape)) if a not in axes))
        # a box: the product of its projections on each cut axis, and each projection contiguous
        box = np.ones((), bool)
        for k in range(mask.ndim):
            other = tuple(m for m in range(mask.ndim) if m != k)
            projection = mask.any(axis=other) if other else mask
            hit = np.flatnonzero(projection)
            assert hit.size == 0 or hit[-1] - hit[0] + 1 == hit.size
            box = np.multiply.outer(box, projection)
        np.testing.assert_array_equal(mask, box)
        if j[i] != i:
            # the partner's label weight is the pasted fraction: exactly the float32 division of the two integers
            # (XLA's vectorized division on CPU, under JAX, is not correctly rounded: within one ulp there)
            fraction = np.float32(mask.sum()) / np.float32(total)
            assert abs(labels[i, j[i]] - fraction) <= ULPS * np.spacing(fraction)
            masks.append(mask)
        else:
            assert labels[i, i] == 1.0
    if mode == "batch":
        assert all(np.array_equal(m, masks[0]) for m in masks), "one box for the whole batch"
    else:
        assert len({m.tobytes() for m in masks}) > 1, "one box per example"


def test_cutmix_box_covers_one_minus_lam_before_clipping():
    """With a fixed lam, the span of a (B, T) batch is floor(T * (1 - lam)), less where the border clips it."""
    x = constant_rows((256, 100))
    out, labels = cutmix(x, np.eye(256, dtype="float32"), lam=0.7, mode="elem", seed=2)
    weights = 1.0 - numpy(labels)[np.arange(256), np.arange(256)]
    j = partners(numpy(labels))
    weights = weights[j != np.arange(256)]
    assert weights.max() == pytest.approx(0.3) and weights.min() >= 0.15 - 1e-6


def test_cut_axes():
    assert cut_axes(2) == (1,) and cut_axes(3) == (1,) and cut_axes(4) == (1, 2) and cut_axes(5) == (1, 2, 3)
    assert cut_axes(4, data_format="channels_first") == (2, 3) and cut_axes(3, data_format="channels_first") == (2,)
    assert cut_axes(4, axis=-2) == (2,) and cut_axes(4, axis=(2, 1)) == (1, 2)


def test_switch_prob_chooses_cutmix_per_example():
    """`mode="elem"` on constant rows: a cut row holds only its own and its partner's values, a blended one neither."""
    x = constant_rows((2000, 16))
    out, labels = mix(x, np.eye(2000, dtype="float32"), 1.0, 1.0, switch_prob=0.3, mode="elem", seed=4)
    out, j = numpy(out), partners(numpy(labels))
    moved = j != np.arange(2000)
    cut = np.all((out == x) | (out == x[j]), axis=1)[moved]
    assert abs(cut.mean() - 0.3) < 0.04


@pytest.mark.parametrize("mode, tolerance", [("elem", 0.04), ("batch", 0.0)])
def test_prob_is_the_probability_of_mixing(mode, tolerance):
    x = constant_rows((2000, 4))
    out, _ = mixup(x, np.eye(2000, dtype="float32"), alpha=1.0, prob=0.25, mode=mode, seed=5)
    changed = np.any(numpy(out) != x, axis=1)
    if mode == "elem":
        assert abs(changed.mean() - 0.25) < tolerance
    else:
        assert changed.mean() in (0.0,) or changed.mean() > 0.99


# Identity cases, seeds, dtypes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"alpha": 0.0}, {"alpha": 1.0, "prob": 0.0}], ids=["alpha=0", "prob=0"])
@pytest.mark.parametrize("function", [mixup, cutmix])
def test_alpha_or_prob_zero_returns_the_batch_unchanged(function, kwargs):
    x = keras.ops.convert_to_tensor(np.random.default_rng(2).standard_normal((8, 6, 4)).astype("float32"))
    y = keras.ops.convert_to_tensor(np.eye(8, dtype="float32"))
    out, labels = function(x, y, seed=0, **kwargs)
    assert out is x and labels is y
    out, labels = function(x, np.arange(8), num_classes=8, seed=0, **kwargs)  # integer labels come out one-hot
    assert out is x
    np.testing.assert_array_equal(numpy(labels), np.eye(8))
    tensor_kwargs = {k: keras.ops.convert_to_tensor(v) for k, v in kwargs.items()}  # a schedule's value
    out, labels = function(x, y, seed=0, **tensor_kwargs)
    np.testing.assert_array_equal(numpy(out), numpy(x))
    np.testing.assert_array_equal(numpy(labels), numpy(y))


def test_training_false_returns_its_arguments():
    x, y = np.ones((4, 3), "float32"), np.arange(4)
    out, labels = mixup(x, y, 1.0, training=False)
    assert out is x and labels is y


def test_the_same_seed_gives_the_same_batch():
    x = np.random.default_rng(3).standard_normal((32, 8, 8, 3)).astype("float32")
    y = np.arange(32) % 5

    def run(seed):
        out = mix(x, y, 0.8, 1.0, mode="elem", num_classes=5, seed=seed)
        return [numpy(t) for t in out]

    for a, b in zip(run(3), run(3)):
        np.testing.assert_array_equal(a, b)
    first = run(keras.random.SeedGenerator(9))
    for a, b in zip(first, run(keras.random.SeedGenerator(9))):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run(4)[0], run(3)[0])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("function", [mixup, cutmix])
def test_half_precision_inputs_with_integer_labels(function, dtype):
    x = keras.ops.cast(np.random.default_rng(4).uniform(size=(16, 8, 8, 3)), dtype)
    out, labels = function(x, np.arange(16) % 4, alpha=1.0, num_classes=4, seed=1)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert keras.backend.standardize_dtype(labels.dtype) == "float32"
    assert np.all(np.isfinite(numpy(keras.ops.cast(out, "float32"))))
    np.testing.assert_allclose(numpy(labels).sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("mode, dtype", [("batch", "float16"), ("elem", "bfloat16")])
def test_half_precision_inputs_with_a_beta_drawn_from_gammas(mode, dtype):
    """alpha != 1: the weights come from a float32 gamma draw and are cast once to the inputs' dtype."""
    x = keras.ops.cast(np.random.default_rng(4).uniform(size=(16, 8, 8, 3)), dtype)
    y = keras.ops.cast(np.eye(16), dtype)
    out, labels = mixup(x, y, alpha=0.2, mode=mode, seed=1)
    assert (
        keras.backend.standardize_dtype(out.dtype) == dtype and keras.backend.standardize_dtype(labels.dtype) == dtype
    )
    out = numpy(keras.ops.cast(out, "float32"))
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(numpy(keras.ops.cast(labels, "float32")).sum(axis=1), 1.0, atol=2e-2)


@pytest.mark.parametrize("function", [mixup, cutmix, lambda x, y, **k: mix(x, y, 1.0, 1.0, mode="elem", **k)])
def test_a_batch_of_one_is_not_mixed(function):
    x = np.random.default_rng(5).standard_normal((1, 6, 6, 2)).astype("float32")
    out, labels = function(x, np.array([3]), num_classes=5, seed=0)
    np.testing.assert_array_equal(numpy(out), x)
    np.testing.assert_array_equal(numpy(labels), np.eye(5, dtype="float32")[[3]])


def test_inside_a_compiled_function():
    x = np.random.default_rng(6).standard_normal((8, 4, 4, 3)).astype("float32")
    y = np.eye(8, dtype="float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # Not `jit_compile=True`: TensorFlow has no XLA kernel for the gamma draws of `keras.random.beta` on CPU
        # (Keras's own MixUp and CutMix share this).
        compiled = tf.function(lambda a, b: mix(a, b, 0.8, 1.0, mode="elem", seed=3))
    elif backend == "jax":
        import jax

        compiled = jax.jit(lambda a, b: mix(a, b, 0.8, 1.0, mode="elem", seed=3))
    else:
        pytest.skip("PyTorch runs eagerly")
    out, labels = compiled(x, y)
    np.testing.assert_allclose(numpy(labels).sum(axis=1), 1.0, atol=1e-6)
    eager_out, _ = mix(x, y, 0.8, 1.0, mode="elem", seed=3)
    np.testing.assert_allclose(numpy(out), numpy(eager_out), rtol=1e-5, atol=1e-6)


# Bad arguments ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda x, y: mixup(x, y, alpha=-0.1),
            "argument `alpha`. Expected a non-negative finite float. Received: alpha=-0.1",
        ),
        (
            lambda x, y: mixup(x, y, prob=1.5),
            r"argument `prob`. Expected a finite float in \[0.0, 1.0\]. Received: prob=1.5",
        ),
        (lambda x, y: mix(x, y, switch_prob=-1), r"argument `switch_prob`.*Received: switch_prob=-1"),
        (lambda x, y: mix(x, y, label_smoothing=2.0), r"argument `label_smoothing`.*Received: label_smoothing=2.0"),
        (
            lambda x, y: mix(x, y, mode="pair"),
            r"argument `mode`. Expected one of 'batch', 'elem'. Received: mode='pair'",
        ),
        (lambda x, y: mixup(x, y, lam=1.2), r"argument `lam`.*Received: lam=1.2"),
        (
            lambda x, y: mixup(x, y[:7]),
            r"argument `labels`. Expected one label per example of the inputs \(batch size 8\). Received: labels of shape \(7, 4\)",
        ),
        (lambda x, y: mixup(x, np.arange(8)), r"argument `num_classes`.*Received: num_classes=None"),
        (lambda x, y: cutmix(x, y, axis=0), r"argument `axis`.*Received: axis=0"),
        (lambda x, y: cutmix(x, y, axis=3), r"argument `axis`. Expected axes in \[1, 2\].*Received: axis=3"),
        (lambda x, y: cutmix(x[:, 0, 0], y), r"argument `inputs`. Expected a batch of rank >= 2"),
        (lambda x, y: label_smoothing(y, -0.5), r"argument `smoothing`.*Received: smoothing=-0.5"),
    ],
    ids=[
        "alpha",
        "prob",
        "switch_prob",
        "label_smoothing",
        "mode",
        "lam",
        "batch",
        "sparse",
        "axis0",
        "axis3",
        "rank",
        "smoothing",
    ],
)
def test_bad_arguments_name_the_argument_and_the_value(call, message):
    x, y = np.ones((8, 5, 3), "float32"), np.eye(8, 4, dtype="float32")
    with pytest.raises(ValueError, match=message):
        call(x, y)


# Training on batches mixed by the plain functions ----------------------------------------------------------------


def test_a_model_trains_on_batches_mixed_by_the_plain_functions():
    """The functional form on tensors: every batch mixed by `mix`, then `train_on_batch`; the loss goes down."""
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((3, 12)).astype("float32") * 2
    ids = rng.integers(0, 3, 384)
    x = centers[ids] + rng.standard_normal((384, 12)).astype("float32") * 0.5
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    model.compile(keras.optimizers.Adam(0.02), keras.losses.CategoricalCrossentropy(from_logits=True))
    generator = keras.random.SeedGenerator(0)
    losses = []
    for _ in range(4):
        for start in range(0, 384, 64):
            xb, yb = mix(
                keras.ops.convert_to_tensor(x[start : start + 64]),
                ids[start : start + 64],
                0.4,
                1.0,
                num_classes=3,
                label_smoothing=0.1,
                seed=generator,
            )
            losses.append(float(model.train_on_batch(xb, yb)))
    assert np.all(np.isfinite(losses)) and np.mean(losses[-6:]) < np.mean(losses[:6])
