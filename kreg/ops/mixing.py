"""MixUp, CutMix and label smoothing for batches of any rank, as pure functions of `(inputs, labels)`.

- `mixup`: `x = lam * x_i + (1 - lam) * x_j`, `y = lam * y_i + (1 - lam) * y_j`, `lam ~ Beta(alpha, alpha)`.
  Zhang, Cisse, Dauphin & Lopez-Paz 2018, "mixup: Beyond empirical risk minimization" (ICLR).
- `cutmix`: a box of row `j` pasted into row `i` (a contiguous feature span for tabular `(B, F)` inputs, a time span
  for sequences `(B, T, F)`, a rectangle for images `(B, H, W, C)`, a cuboid for volumes); the box covers a fraction
  `1 - lam` of the cut axes before it is clipped at the borders, and the labels are mixed with the fraction actually
  pasted. Yun, Han, Oh, Chun, Choe & Yoo 2019, "CutMix: Regularization strategy to train strong classifiers with
  localizable features" (ICCV).
- `mix`: either of the two, per batch or per example, with the options of timm's `Mixup` (`prob`, `switch_prob`,
  `mode`, `label_smoothing`); `mixup` and `cutmix` are `mix` with one of them switched off.
- `label_smoothing`: `y * (1 - s) + s / K`. Szegedy et al. 2016, "Rethinking the Inception architecture for
  computer vision" (CVPR), section 7.

Semantics (those of timm's `timm/data/mixup.py`):

- `mode="batch"`: one `lam`, one box and one choice between MixUp and CutMix for the whole batch; `mode="elem"`: one
  of each per example.
- `prob`: the probability of mixing at all (per batch, or per example with `mode="elem"`); an unmixed example keeps
  its input and its (smoothed) label.
- `switch_prob`: with both `mixup_alpha > 0` and `cutmix_alpha > 0`, the probability of CutMix instead of MixUp.
- An `alpha` of 0 switches that method off, as in timm.
- The partner row `j` of row `i` is `perm[i]`, for a uniformly random permutation `perm` of the batch (as Keras's
  `MixUp` and `CutMix` do; timm flips the batch instead): the `argsort` of `B` iid keys, a row of the call's one
  uniform draw (or, for MixUp alone, a third row of the gamma draw that gives its Beta; any iid continuous keys give
  a uniformly random permutation, independent of the other rows). A permutation makes the pairs independent of the
  order of the batch (a dataset batched unshuffled, or sorted by class, still mixes random pairs); a row paired with
  itself (probability about `1 / B`) is left as it is, and so is a batch of one example.

Both outputs are computed as `x + w * (x_j - x)` and `y + w * (y_j - y)` with the partner's weight `w = 1 - lam`:
an unmixed row (`w = 0`) and a row paired with itself come out exactly as they went in, and a CutMix label gives the
partner's class exactly the pasted fraction `w = pasted / total` (a float32 division of two integers). `w` is drawn
as `g2 / (g1 + g2)` for two gammas of shape `alpha` (Beta(alpha, alpha), symmetric, so small weights stay exact),
or as a uniform when `alpha == 1` (Beta(1, 1)).

Cost (the per-batch work is what `benchmarks/bench_mixing.py` measures): one random draw per call for MixUp alone or
CutMix alone (the uniform draw, or the gamma draw of the Beta), one more per other `Beta(alpha, alpha)` with
`alpha != 1` (both methods on, or a scheduled `alpha`); MixUp blends a `(B, N)` view of the inputs and CutMix
pastes with one `where` on a view whose last axis merges the last cut axis with the channels (`(B, H, W * C)`): on
CPU, TensorFlow's broadcasting `where` and XLA's element-wise kernels are several times slower on a 4-D batch with 3
channels last than on the same data with a long last axis.

Labels: integer labels are class ids (any shape, a trailing axis of size 1 dropped) and need `num_classes`; they come
out one-hot (float32). Float labels are mixed as they are (one-hot, multi-hot, soft or binary targets, even
regression targets); label smoothing treats their last axis as the classes (a last axis of size 1, or labels of rank
1, as binary targets: `y * (1 - s) + s / 2`, as `keras.losses.BinaryCrossentropy(label_smoothing=s)`).

Every function takes `backend=None`: the ops namespace to compute with. `None` is `keras.ops` / `keras.random`, or,
inside a `tf.data` map on the JAX or PyTorch backend, Keras's TensorFlow ops (`kreg.keras_compat.tf_graph_backend`),
so the same code runs in a data pipeline on every backend. There, a `seed` that is an integer or `None` stands for a
TensorFlow-side seed generator made once per seed value (so every batch gets new draws; the layers keep their own).
"""

import numbers
import types

import keras

from kreg import keras_compat, validation

KERAS_OPS = types.SimpleNamespace(
    name="keras",
    numpy=keras.ops,
    random=keras.random,
    nn=keras.ops,
    cast=keras.ops.cast,
    shape=keras.ops.shape,
    convert_to_tensor=keras.ops.convert_to_tensor,
)
"""The default ops namespace: `keras.ops` and `keras.random` in the layout of a Keras backend module."""

MODES = ("batch", "elem")

_TINY = 1.1754944e-38  # the smallest normal float32

_TF_GENERATORS = {}  # seed -> TensorFlow-side SeedGenerator, for tf.data graphs on JAX or PyTorch


def ops_namespace(backend=None):
    """The namespace to compute with: `backend` itself, Keras's TensorFlow ops in a `tf.data` graph on another
    backend, or `KERAS_OPS`."""
    if backend is not None:
        return backend
    return keras_compat.tf_graph_backend() or KERAS_OPS


def _is_number(value):
    is_tensor = hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, numbers.Number)
    return not is_tensor


def _is_zero(value):
    return _is_number(value) and value == 0


def _checked(name, value, high=None):
    """A Python number checked in [0, high] (or >= 0); a tensor (a schedule's value) returned as it is."""
    if _is_number(value):
        return validation.check_float(name, value, low=0.0, high=high)
    return value


def _dtype(x):
    return keras.backend.standardize_dtype(x.dtype)


def _float_dtype(x):
    dtype = _dtype(x)
    return dtype if "float" in dtype else "float32"


def _seeds(seed, K):
    """One seed per draw: the generator itself, `seed + k` for an integer (distinct stateless streams), or `None`."""
    if getattr(K, "name", None) == "tensorflow" and (seed is None or isinstance(seed, int)):
        # A tf.data graph on another backend: one TensorFlow-side generator per seed, made once (a traced function
        # may create a variable only on its first trace), so that every batch gets new draws.
        if seed not in _TF_GENERATORS:
            _TF_GENERATORS[seed] = K.seed_generator(seed)
        seed = _TF_GENERATORS[seed]
    counter = 0
    while True:
        yield seed + counter if isinstance(seed, int) else seed
        counter += 1


def _check_num_classes(num_classes):
    return validation.check_int("num_classes", num_classes, low=1, allow_none=True)


def dense_labels(labels, num_classes=None, backend=None):
    """Labels as a float tensor to mix: integer class ids one-hot encoded (float32), float labels as they are.

    Args:
        labels: integer class ids of any shape (a trailing axis of size 1 is dropped), or float targets.
        num_classes: number of classes, required for integer labels; checked against the last axis of float labels
            of rank >= 2 whose last axis is not 1.
        backend: the ops namespace (see the module docstring), or `None`.

    Returns:
        A float tensor: `(..., num_classes)` for integer labels, the labels themselves for float labels.

    Raises:
        ValueError: integer labels without `num_classes`, or float labels whose class axis differs from it.
    """
    K = ops_namespace(backend)
    num_classes = _check_num_classes(num_classes)
    labels = K.convert_to_tensor(labels)
    dtype = _dtype(labels)
    if "float" in dtype:
        shape = tuple(labels.shape)
        if num_classes is not None and len(shape) >= 2 and shape[-1] not in (None, 1, num_classes):
            raise ValueError(
                f"Invalid value received for argument `num_classes`. Expected the size of the last axis of one-hot "
                f"labels ({shape[-1]}). Received: num_classes={num_classes}"
            )
        return labels
    if num_classes is None:
        raise ValueError(
            "Invalid value received for argument `num_classes`. Expected an integer >= 1 for integer (sparse) "
            "labels, to one-hot encode them. Received: num_classes=None"
        )
    if len(labels.shape) >= 2 and labels.shape[-1] == 1:
        labels = K.numpy.squeeze(labels, axis=-1)
    return K.nn.one_hot(K.cast(labels, "int32"), num_classes, dtype="float32")


def _smooth(labels, smoothing, K):
    """`labels * (1 - s) + s / K` on dense float labels (K = 2 for binary targets: rank 1, or a last axis of 1)."""
    if _is_zero(smoothing):
        return labels
    shape = tuple(labels.shape)
    if len(shape) < 2 or shape[-1] == 1:
        classes = 2.0
    elif shape[-1] is None:
        classes = K.cast(K.shape(labels)[-1], labels.dtype)
    else:
        classes = float(shape[-1])
    s = K.cast(smoothing, labels.dtype)
    return labels * (1 - s) + s / classes


def label_smoothing(labels, smoothing, num_classes=None, backend=None):
    """Smoothed labels: `y * (1 - smoothing) + smoothing / K` (class ids one-hot encoded first).

    Args:
        labels: one-hot (or any float) labels `(..., K)`, binary targets (`(B,)` or `(B, 1)`: K = 2), or integer
            class ids with `num_classes`.
        smoothing: a Python number in [0, 1] or a scalar tensor.
        num_classes: number of classes, required for integer labels.
        backend: the ops namespace (see the module docstring), or `None`.

    Returns:
        Float labels; float labels with `smoothing == 0` are returned themselves.

    Example:

    >>> kreg.ops.label_smoothing(np.array([0, 2]), 0.1, num_classes=3)  # [[0.933, 0.033, 0.033], ...]

    Reference: Szegedy et al. 2016, "Rethinking the Inception architecture for computer vision", section 7.
    """
    K = ops_namespace(backend)
    smoothing = _checked("smoothing", smoothing, high=1.0)
    return _smooth(dense_labels(labels, num_classes, K), smoothing, K)


def cut_axes(rank, axis=None, data_format=None):
    """The axes a CutMix box spans for inputs of `rank`: `axis` itself (an int or a tuple), or by default the feature
    axis of `(B, F)`, and every axis but the batch and channel axes of rank >= 3 (`data_format`, or Keras's
    `image_data_format()`, tells where the channels are).

    Raises:
        ValueError: an `axis` that is the batch axis or outside the inputs' rank, or inputs of rank < 2.
    """
    if rank < 2:
        raise ValueError(
            f"Invalid value received for argument `inputs`. Expected a batch of rank >= 2 to cut from. "
            f"Received: inputs of rank {rank}"
        )
    if axis is not None:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        normalized = []
        for a in axes:
            if isinstance(a, bool) or not isinstance(a, int) or not -rank < a < rank or a % rank == 0:
                raise ValueError(
                    f"Invalid value received for argument `axis`. Expected axes in [1, {rank - 1}] (not the batch "
                    f"axis) for inputs of rank {rank}. Received: axis={axis!r}"
                )
            normalized.append(a % rank)
        return tuple(sorted(set(normalized)))
    if rank == 2:
        return (1,)
    data_format = data_format or keras.config.image_data_format()
    if data_format == "channels_first":
        return tuple(range(2, rank))
    return tuple(range(1, rank - 1))


def _column(value, K):
    """A `(n,)` tensor as an `(n, 1)` column, to broadcast against a `(B, N)` view."""
    return K.numpy.reshape(value, (-1, 1))


def _static_or_dynamic(shape, dynamic, axis):
    return shape[axis] if shape[axis] is not None else dynamic[axis]


def _product(values):
    result = 1
    for value in values:
        result = result * value
    return result


def _cut_view(inputs, axes, K):
    """The view of `inputs` the CutMix mask is computed on, and each cut axis's `(length, trailing size)`.

    Every cut axis is merged with the non-cut axes that follow it (up to the next cut axis), and the non-cut axes
    before the first cut axis into one: `(B, H, W, C)` is viewed as `(B, H, W * C)`, `(B, T, F)` as `(B, T * F)`,
    `(B, C, H, W)` as `(B, C, H, W)`. A span `[low, high)` of a cut axis is then `[low * t, high * t)` of its merged
    axis (`t` the merged trailing size), so the mask is built and applied with no broadcast over a small trailing
    axis (the channels), which TensorFlow's `where` and XLA's element-wise kernels on CPU handle several times more
    slowly than a long trailing axis.
    """
    static, dynamic = tuple(inputs.shape), K.shape(inputs)
    rank = len(static)
    dim = [_static_or_dynamic(static, dynamic, a) for a in range(rank)]
    view = [dim[0]]
    leading = list(range(1, axes[0]))
    if leading:
        view.append(_product(dim[a] for a in leading))
    spans = []
    for k, axis in enumerate(axes):
        stop = axes[k + 1] if k + 1 < len(axes) else rank
        trailing = _product(dim[a] for a in range(axis + 1, stop))
        spans.append((dim[axis], trailing))
        view.append(dim[axis] * trailing)
    return view, len(leading) > 0, spans


def _column_of(values, K):
    """`(k, 1)` float32 tensor of `k` Python numbers or scalar tensors."""
    if all(isinstance(v, int) for v in values):
        return K.convert_to_tensor([[float(v)] for v in values], dtype="float32")
    return K.numpy.reshape(K.numpy.stack([K.cast(v, "float32") for v in values]), (-1, 1))


def _cut(inputs, partner, axes, partner_weight, centers, K):
    """CutMix of `inputs` with its rows `partner` (one box per entry of `partner_weight`: 1 or B), and the pasted
    fraction of every box.

    Each cut axis of length L gets a span of `floor(L * (1 - lam) ** (1 / len(axes)))` centred at `floor(u * L)` for
    a uniform `u` of `centers` (`(len(axes), n)`; an integer in [0, L)), clipped to [0, L) (Yun et al. 2019,
    algorithm A1, in any number of axes). The spans of every axis are computed together, as `(len(axes), n)`
    tensors; the box is pasted with one `where` on the view of `_cut_view`.
    """
    view, has_leading, spans = _cut_view(inputs, axes, K)
    ratio = K.numpy.power(partner_weight, 1.0 / len(axes)) if len(axes) > 1 else partner_weight
    lengths = _column_of([length for length, _ in spans], K)
    cut = K.numpy.floor(lengths * ratio)
    low = K.numpy.floor(centers * lengths) - K.numpy.floor(cut * 0.5)  # the centre minus half the span
    high = K.numpy.minimum(low + cut, lengths)  # low + cut >= cut / 2 >= 0
    low = K.numpy.maximum(low, 0.0)  # low <= centre <= L - 1
    extent = high - low
    area = extent[0] if len(axes) == 1 else K.numpy.prod(extent, axis=0)
    total = _product(length for length, _ in spans)
    if not all(isinstance(t, int) and t == 1 for _, t in spans):  # bounds on the merged axes of the view
        trailing = _column_of([t for _, t in spans], K)
        low, high = low * trailing, high * trailing
    low, high = K.numpy.reshape(low, (len(axes), -1, 1)), K.numpy.reshape(high, (len(axes), -1, 1))
    mask, count = None, len(view)
    for k in range(len(axes)):
        position = 1 + int(has_leading) + k  # (n, L t) -> (n, 1, ..., L t, ..., 1), on its axis of the view
        index = K.numpy.arange(view[position], dtype="float32")
        inside = K.numpy.logical_and(index >= low[k], index < high[k])
        inside = K.numpy.reshape(
            inside, (-1,) + (1,) * (position - 1) + (view[position],) + (1,) * (count - 1 - position)
        )
        mask = inside if mask is None else K.numpy.logical_and(mask, inside)
    x = K.numpy.reshape(inputs, view)
    cut = K.numpy.where(mask, K.numpy.take(x, partner, axis=0), x)
    return cut, area / K.cast(total, "float32")


def mix(
    inputs,
    labels,
    mixup_alpha=1.0,
    cutmix_alpha=0.0,
    switch_prob=0.5,
    prob=1.0,
    mode="batch",
    label_smoothing=0.0,
    num_classes=None,
    axis=None,
    data_format=None,
    lam=None,
    seed=None,
    training=True,
    backend=None,
):
    """MixUp or CutMix of a batch and its labels, with the options of timm's `Mixup`.

    Args:
        inputs: a batch `(B, ...)` of any rank >= 2 (any rank >= 1 for MixUp alone).
        labels: the batch's labels (see the module docstring: class ids with `num_classes`, or float targets).
        mixup_alpha: MixUp's `alpha` (`lam ~ Beta(alpha, alpha)`), >= 0; 0 switches MixUp off.
        cutmix_alpha: CutMix's `alpha`, >= 0; 0 switches CutMix off.
        switch_prob: with both on, the probability of CutMix instead of MixUp, in [0, 1].
        prob: the probability of mixing at all, in [0, 1].
        mode: `"batch"` (one draw for the batch) or `"elem"` (one draw per example).
        label_smoothing: smoothing of the labels, in [0, 1] (applied whether the batch is mixed or not).
        num_classes: the number of classes, required for integer labels.
        axis: the axes CutMix cuts (see `cut_axes`); by default every axis but the batch and channel axes.
        data_format: `"channels_last"` or `"channels_first"`, where the channels of rank >= 3 inputs are.
        lam: a fixed `lam` in [0, 1] (a number, or a tensor of shape `()`, `(1,)` or `(B,)`) instead of a draw; for
            CutMix, the size of the box before clipping.
        seed: an integer, a `keras.random.SeedGenerator`, or `None`.
        training: when false, `(inputs, labels)` is returned itself.
        backend: the ops namespace (see the module docstring), or `None`.

    Every number may also be a scalar tensor (a schedule's value), used as it is.

    Returns:
        `(mixed_inputs, mixed_labels)`: inputs of the same shape (a float dtype; non-float inputs are cast to
        `keras.config.floatx()` for MixUp), dense float labels. With both alphas or `prob` the Python number 0, the
        inputs themselves and the dense, smoothed labels (the labels themselves for float labels and no smoothing).

    Raises:
        ValueError: a number out of range, integer labels without `num_classes`, labels whose batch size differs
            from the inputs', or a CutMix `axis` outside the inputs.

    Example:

    >>> x, y = kreg.ops.mix(images, labels, mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=10, seed=0)

    Reference: Zhang et al. 2018, "mixup: Beyond empirical risk minimization"; Yun et al. 2019, "CutMix:
    Regularization strategy to train strong classifiers with localizable features".
    """
    K = ops_namespace(backend)
    mixup_alpha = _checked("mixup_alpha", mixup_alpha)
    cutmix_alpha = _checked("cutmix_alpha", cutmix_alpha)
    switch_prob = _checked("switch_prob", switch_prob, high=1.0)
    prob = _checked("prob", prob, high=1.0)
    label_smoothing = _checked("label_smoothing", label_smoothing, high=1.0)
    mode = validation.check_choice("mode", mode, MODES)
    if lam is not None and _is_number(lam):
        lam = validation.check_float("lam", lam, low=0.0, high=1.0)
    if not training:
        return inputs, labels
    inputs = K.convert_to_tensor(inputs)
    labels = dense_labels(labels, num_classes, K)
    _check_batch_sizes(inputs, labels)
    labels = _smooth(labels, label_smoothing, K)
    use_mixup, use_cutmix = not _is_zero(mixup_alpha), not _is_zero(cutmix_alpha)
    if _is_zero(prob) or not (use_mixup or use_cutmix):
        return inputs, labels
    rank = len(inputs.shape)
    axes = cut_axes(rank, axis, data_format) if use_cutmix else ()
    if use_mixup and "float" not in _dtype(inputs):
        inputs = K.cast(inputs, keras.config.floatx())

    seeds = _seeds(seed, K)
    batch = K.shape(inputs)[0]
    per_example = mode == "elem"
    n = batch if per_example else 1
    draw_lam = lam is None
    uniform_betas = [a for a in (mixup_alpha, cutmix_alpha) if draw_lam and _is_number(a) and a == 1]
    both = use_mixup and use_cutmix
    always = _is_number(prob) and prob == 1

    # As few random draws as possible (on TensorFlow each draw also reads and writes the seed generator's state):
    # every uniform of the call comes from one draw, a row per use (its first entry when one value serves the whole
    # batch), and the partner permutation sorts one more row of iid keys. When MixUp alone draws a Beta, the keys
    # are a third row of its gamma draw instead of uniforms: any iid continuous keys give a uniformly random
    # permutation, independent of the other rows.
    rows = 1 + len(axes) + int(both) + int(not always) + len(uniform_betas)
    sole = mixup_alpha if use_mixup else cutmix_alpha
    gammas = None
    if rows == 1 and draw_lam and not both and _is_number(sole) and sole != 1:
        gammas = K.random.gamma((3, batch), sole, dtype="float32", seed=next(seeds))
        keys = gammas[0]
    else:
        uniforms = K.random.uniform((rows, batch), dtype="float32", seed=next(seeds))
        keys = uniforms[0]
    taken = iter(range(1, rows))

    def uniform():
        row = uniforms[next(taken)]
        return row if per_example else row[:1]

    partner = K.numpy.argsort(keys)  # a uniformly random permutation of the batch

    def beta(alpha):
        """The partner's weight `1 - lam ~ Beta(alpha, alpha)` (drawn as such: symmetric, and exact near 0)."""
        if _is_number(alpha):  # alpha > 0 here
            if alpha == 1:
                return uniform()  # Beta(1, 1) is the uniform law
            if gammas is not None:  # rows 1 and 2 of the draw that gave the keys
                g1, g2 = (gammas[1], gammas[2]) if per_example else (gammas[1, :1], gammas[2, :1])
            else:
                g = K.random.gamma((2, n), alpha, dtype="float32", seed=next(seeds))
                g1, g2 = g[0], g[1]
            # g2 / (g1 + g2) ~ Beta(alpha, alpha); 0, not NaN, when both gammas underflow to 0
            return g2 / K.numpy.maximum(g1 + g2, _TINY)
        alpha = K.cast(alpha, "float32")
        on = alpha > 0
        safe = K.numpy.where(on, alpha, K.numpy.ones_like(alpha))
        draw = K.random.beta((n,), safe, safe, dtype="float32", seed=next(seeds))
        return K.numpy.where(K.numpy.logical_and(on, K.numpy.logical_not(K.numpy.isnan(draw))), draw, 0.0 * draw)

    if lam is not None:
        weight = K.numpy.ones((n,), dtype="float32") * (1.0 - K.cast(lam, "float32"))
    elif both:
        weight = None  # drawn below, once we know which rows cut
    else:
        weight = beta(mixup_alpha if use_mixup else cutmix_alpha)

    choose_cut = None
    if both:
        # timm: CutMix with probability `switch_prob` when both are on, otherwise whichever is on.
        mix_on, cut_on = K.cast(mixup_alpha, "float32") > 0, K.cast(cutmix_alpha, "float32") > 0
        switch = uniform() < K.cast(switch_prob, "float32")
        choose_cut = K.numpy.logical_and(cut_on, K.numpy.logical_or(switch, K.numpy.logical_not(mix_on)))
        if weight is None:
            weight = K.numpy.where(choose_cut, beta(cutmix_alpha), beta(mixup_alpha))
    if not always:
        apply = uniform() < K.cast(prob, "float32")
        weight = K.numpy.where(apply, weight, K.numpy.zeros_like(weight))

    # MixUp on a (B, N) view of the inputs (rank-4 element-wise ops with 3 channels are several times slower on
    # TensorFlow and XLA on CPU than the same ops on a long trailing axis).
    shape = K.shape(inputs)
    if use_mixup:
        flat = K.numpy.reshape(inputs, (batch, -1)) if rank > 2 else inputs
        w = _as(_column(weight, K) if rank > 1 else weight, inputs.dtype, K)
        mixed = flat + w * (K.numpy.take(flat, partner, axis=0) - flat)
    if use_cutmix:
        first = next(taken)  # the rows of the centres, one per cut axis
        for _ in axes[1:]:
            next(taken)
        block = uniforms[first : first + len(axes)]
        centers = block if per_example else block[:, :1]
        cut, pasted = _cut(inputs, partner, axes, weight, centers, K)
    if both:
        weight = K.numpy.where(choose_cut, pasted, weight)
        cut = K.numpy.reshape(cut, (batch, -1)) if rank > 2 else cut
        outputs = K.numpy.where(_column(choose_cut, K), cut, mixed)
    elif use_cutmix:
        weight, outputs = pasted, cut
    else:
        outputs = mixed
    if tuple(outputs.shape) != tuple(inputs.shape):
        outputs = K.numpy.reshape(outputs, shape)
    y_partner = K.numpy.take(labels, partner, axis=0)
    if use_mixup and not use_cutmix and rank > 1 and len(labels.shape) == 2 and _dtype(labels) == _dtype(inputs):
        label_weight = w  # the inputs' (B, 1) weights
    else:
        label_weight = _as(_per_row(weight, len(labels.shape), K), labels.dtype, K)
    return outputs, labels + label_weight * (y_partner - labels)


def _per_row(value, rank, K):
    """A `(n,)` tensor reshaped to broadcast against a `(B, ...)` tensor of `rank`."""
    return K.numpy.reshape(value, (-1,) + (1,) * (rank - 1)) if rank > 1 else value


def _as(value, dtype, K):
    """`value` cast to `dtype` (no op when it has it already)."""
    return value if _dtype(value) == keras.backend.standardize_dtype(dtype) else K.cast(value, dtype)


def _check_batch_sizes(inputs, labels):
    x_batch, y_batch = inputs.shape[0], labels.shape[0] if len(labels.shape) else None
    if len(labels.shape) == 0 or (x_batch is not None and y_batch is not None and x_batch != y_batch):
        raise ValueError(
            f"Invalid value received for argument `labels`. Expected one label per example of the inputs (batch "
            f"size {x_batch}). Received: labels of shape {tuple(labels.shape)}"
        )


def mixup(
    inputs,
    labels,
    alpha=1.0,
    prob=1.0,
    mode="batch",
    label_smoothing=0.0,
    num_classes=None,
    lam=None,
    seed=None,
    training=True,
    backend=None,
):
    """MixUp: `x = lam * x_i + (1 - lam) * x_j`, `y = lam * y_i + (1 - lam) * y_j`, `lam ~ Beta(alpha, alpha)`.

    `mix(inputs, labels, mixup_alpha=alpha, cutmix_alpha=0, ...)`; see `mix` for every argument.

    Example:

    >>> x, y = kreg.ops.mixup(features, class_ids, alpha=0.2, num_classes=3, seed=0)

    Reference: Zhang, Cisse, Dauphin & Lopez-Paz 2018, "mixup: Beyond empirical risk minimization" (ICLR).
    """
    alpha = _checked("alpha", alpha)
    return mix(
        inputs,
        labels,
        mixup_alpha=alpha,
        cutmix_alpha=0.0,
        prob=prob,
        mode=mode,
        label_smoothing=label_smoothing,
        num_classes=num_classes,
        lam=lam,
        seed=seed,
        training=training,
        backend=backend,
    )


def cutmix(
    inputs,
    labels,
    alpha=1.0,
    prob=1.0,
    mode="batch",
    label_smoothing=0.0,
    num_classes=None,
    axis=None,
    data_format=None,
    lam=None,
    seed=None,
    training=True,
    backend=None,
):
    """CutMix: a box of row `j` pasted into row `i`, labels mixed by the fraction actually pasted.

    `mix(inputs, labels, mixup_alpha=0, cutmix_alpha=alpha, ...)`; see `mix` for every argument. The box is a
    contiguous feature span for `(B, F)`, a time span for `(B, T, F)`, a rectangle for `(B, H, W, C)` (or
    `channels_first`), or spans the axes given by `axis`.

    Example:

    >>> x, y = kreg.ops.cutmix(sequences, one_hot, alpha=1.0, seed=0)  # (B, T, F): a span of time steps

    Reference: Yun et al. 2019, "CutMix: Regularization strategy to train strong classifiers with localizable
    features" (ICCV).
    """
    alpha = _checked("alpha", alpha)
    return mix(
        inputs,
        labels,
        mixup_alpha=0.0,
        cutmix_alpha=alpha,
        prob=prob,
        mode=mode,
        label_smoothing=label_smoothing,
        num_classes=num_classes,
        axis=axis,
        data_format=data_format,
        lam=lam,
        seed=seed,
        training=training,
        backend=backend,
    )


__all__ = ["KERAS_OPS", "MODES", "cut_axes", "cutmix", "dense_labels", "label_smoothing", "mix", "mixup"]
