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
- The partner row `j` of row `i` is `perm[i]`, for a random permutation `perm` of the batch (as Keras's `MixUp` and
  `CutMix` do; timm flips the batch instead). A permutation makes the pairs independent of the order of the batch
  (a dataset batched unshuffled, or sorted by class, still mixes random pairs), at the cost of one `argsort` of `B`
  uniforms; a row paired with itself (probability about `1 / B`) is left as it is, and so is a batch of one example.

Both outputs are computed as `x + w * (x_j - x)` and `y + w * (y_j - y)` with the partner's weight `w = 1 - lam`:
an unmixed row (`w = 0`) and a row paired with itself come out exactly as they went in, and a CutMix label gives the
partner's class exactly the pasted fraction `w = pasted / total` (a float32 division of two integers).

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


def _per_row(value, rank, K):
    """A `(n,)` tensor reshaped to broadcast against a `(B, ...)` tensor of `rank`."""
    return K.numpy.reshape(value, (-1,) + (1,) * (rank - 1)) if rank > 1 else value


def _box(inputs, axes, partner_weight, n, seeds, K):
    """The CutMix box of every row (`n` = 1 or B): a boolean mask broadcasting to `inputs`, and the pasted fraction.

    Each cut axis of length L gets a span of `floor(L * (1 - lam) ** (1 / len(axes)))` centred at a uniform integer
    in [0, L), clipped to [0, L) (Yun et al. 2019, algorithm A1, in any number of axes).
    """
    rank = len(inputs.shape)
    shape = K.shape(inputs)
    ratio = K.numpy.power(partner_weight, 1.0 / len(axes)) if len(axes) > 1 else partner_weight
    mask, area, total = None, None, None
    for axis in axes:
        length = K.cast(shape[axis], "float32")
        cut = K.numpy.floor(length * ratio)
        center = K.numpy.floor(K.random.uniform((n,), dtype="float32", seed=next(seeds)) * length)
        low = center - K.numpy.floor(cut / 2.0)
        high = K.numpy.clip(low + cut, 0.0, length)
        low = K.numpy.clip(low, 0.0, length)
        index = K.numpy.arange(shape[axis], dtype="float32")
        inside = K.numpy.logical_and(index[None, :] >= low[:, None], index[None, :] < high[:, None])
        for _ in range(axis - 1):  # (n, L) -> (n, 1, ..., L, ..., 1), L on `axis`
            inside = K.numpy.expand_dims(inside, 1)
        for _ in range(rank - 1 - axis):
            inside = K.numpy.expand_dims(inside, -1)
        mask = inside if mask is None else K.numpy.logical_and(mask, inside)
        area = high - low if area is None else area * (high - low)
        total = length if total is None else total * length
    return mask, area / total


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
    n = batch if mode == "elem" else 1
    partner = K.random.shuffle(K.numpy.arange(batch, dtype="int32"), seed=next(seeds))

    def beta(alpha):
        """The partner's weight `1 - lam ~ Beta(alpha, alpha)` (drawn as such: symmetric, and exact near 0)."""
        if _is_number(alpha):  # alpha > 0 here
            draw = K.random.beta((n,), alpha, alpha, dtype="float32", seed=next(seeds))
            return K.numpy.where(K.numpy.isnan(draw), 0.0, draw)  # NaN: both gammas of the draw underflowed to 0
        alpha = K.cast(alpha, "float32")
        on = alpha > 0
        safe = K.numpy.where(on, alpha, K.numpy.ones_like(alpha))
        draw = K.random.beta((n,), safe, safe, dtype="float32", seed=next(seeds))
        return K.numpy.where(K.numpy.logical_and(on, K.numpy.logical_not(K.numpy.isnan(draw))), draw, 0.0 * draw)

    if lam is not None:
        weight = K.numpy.ones((n,), dtype="float32") * (1.0 - K.cast(lam, "float32"))
    elif use_mixup and use_cutmix:
        weight = None  # drawn below, once we know which rows cut
    else:
        weight = beta(mixup_alpha if use_mixup else cutmix_alpha)

    choose_cut = None
    if use_mixup and use_cutmix:
        # timm: CutMix with probability `switch_prob` when both are on, otherwise whichever is on.
        mix_on, cut_on = K.cast(mixup_alpha, "float32") > 0, K.cast(cutmix_alpha, "float32") > 0
        switch = K.random.uniform((n,), dtype="float32", seed=next(seeds)) < K.cast(switch_prob, "float32")
        choose_cut = K.numpy.logical_and(cut_on, K.numpy.logical_or(switch, K.numpy.logical_not(mix_on)))
        if weight is None:
            weight = K.numpy.where(choose_cut, beta(cutmix_alpha), beta(mixup_alpha))
    if not (_is_number(prob) and prob == 1):
        apply = K.random.uniform((n,), dtype="float32", seed=next(seeds)) < K.cast(prob, "float32")
        weight = K.numpy.where(apply, weight, K.numpy.zeros_like(weight))

    x_partner = K.numpy.take(inputs, partner, axis=0)
    if use_mixup:
        mixed = inputs + _as(_per_row(weight, rank, K), inputs.dtype, K) * (x_partner - inputs)
    if use_cutmix:
        mask, pasted = _box(inputs, axes, weight, n, seeds, K)
        cut = K.numpy.where(mask, x_partner, inputs)
    if use_mixup and use_cutmix:
        weight = K.numpy.where(choose_cut, pasted, weight)
        outputs = K.numpy.where(_per_row(choose_cut, rank, K), cut, mixed)
    elif use_cutmix:
        weight, outputs = pasted, cut
    else:
        outputs = mixed
    y_partner = K.numpy.take(labels, partner, axis=0)
    label_weight = _as(_per_row(weight, len(labels.shape), K), labels.dtype, K)
    return outputs, labels + label_weight * (y_partner - labels)


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
