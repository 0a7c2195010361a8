"""Data-side mixing layers: `MixUp`, `CutMix`, `MixUpCutMix` (timm's switch between the two), `LabelSmoothing`.

Each layer is thin over `kreg.ops.mixing` and is called on a batch *and its labels*, in any of these forms, and
returns the same form:

- `layer(x, y)` -> `(x, y)`, so `tf.data.Dataset.map(layer)` works on a dataset of `(x, y)` pairs;
- `layer((x, y))` -> `(x, y)`;
- `layer({"inputs": x, "labels": y})` or `layer({"images": x, "labels": y})` (Keras's preprocessing layers' form)
  -> the same dict (other entries returned unchanged).

Where they run (see `docs/mixing.md`):

- in a `tf.data` pipeline, on every backend: inside `ds.map(...)` the tensors are TensorFlow graph tensors even on
  JAX or PyTorch; the layers then compute with Keras's TensorFlow ops (`kreg.keras_compat.tf_graph_backend`, the
  switch Keras's own preprocessing layers make) and keep a TensorFlow-side seed generator;
- on NumPy batches (`layer(x, y)` returns backend tensors) and in a `keras.utils.PyDataset` (`MixingPyDataset`
  wraps one and returns NumPy batches);
- on backend tensors, eagerly or in a compiled custom `train_step`.

Steps and schedules. Every number (`alpha`, `prob`, `switch_prob`, `label_smoothing`) may be a schedule of the
layer's step (`kreg.schedules`, or any Keras `LearningRateSchedule`): the step is the layer's own non-trainable
weight `step`, counting its training calls, i.e. the batches it mixed (as every kreg `ScheduledLayer`). Mapped over
a dataset that feeds `fit`, that is the training step, ahead by at most the batches tf.data has prefetched. Use
`steps_per_epoch * epoch` boundaries to switch mixing off for the last epochs, e.g.
`MixUp(kreg.schedules.Step([steps_per_epoch * 90], [0.2, 0.0]))`. In a tf.data graph on JAX or PyTorch the schedules
(written with the backend's `keras.ops`) are evaluated on the host once per batch (`tf.numpy_function`); on
TensorFlow they are part of the graph.

References: Zhang et al. 2018, "mixup: Beyond empirical risk minimization" (ICLR); Yun et al. 2019, "CutMix:
Regularization strategy to train strong classifiers with localizable features" (ICCV); Szegedy et al. 2016,
"Rethinking the Inception architecture for computer vision" (label smoothing); timm's `Mixup` (`mode`, `prob`,
`switch_prob`).
"""

import keras
import numpy as np

from kreg import keras_compat, validation
from kreg.layers.scheduled_layer import ScheduledLayer
from kreg.ops import mixing

INPUT_KEYS = ("inputs", "images")
LABEL_KEY = "labels"


def _non_negative(name, value):
    return validation.check_float(name, value, low=0.0)


def _unit(name, value):
    return validation.check_float(name, value, low=0.0, high=1.0)


def _check_axis(axis):
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) and not isinstance(axis, bool) else axis
    if (
        not isinstance(axes, (tuple, list))
        or not axes
        or any(isinstance(a, bool) or not isinstance(a, int) or a == 0 for a in axes)
    ):
        raise validation.invalid("axis", "None, a non-zero integer or a tuple of them (never the batch axis 0)", axis)
    return axis if isinstance(axis, int) else tuple(axis)


def _is_symbolic(value):
    return isinstance(value, keras.KerasTensor)


class _GraphState:
    """What a layer keeps for a `tf.data` graph on another backend: its TensorFlow-side seed generator (a plain
    holder, so that Keras does not track a TensorFlow variable on a JAX or PyTorch layer)."""

    def __init__(self):
        self.seed_generator = None


class _DataLayer(ScheduledLayer):
    """Base of the mixing layers: the `(x, y)` / `((x, y))` / dict call forms, `tf.data` graphs on every backend, and
    scheduled numbers read once per call. Subclasses implement `transform(x, y, values, seed, backend)`."""

    CASTS_INPUTS = False  # whether non-float inputs come out as floatx (MixUp's blend)

    def __init__(self, num_classes=None, seed=None, **kwargs):
        kwargs.setdefault("autocast", False)  # a data layer keeps its inputs' and labels' dtypes
        super().__init__(seed=seed, **kwargs)
        self.num_classes = validation.check_int("num_classes", num_classes, low=1, allow_none=True)
        self._graph_state = _GraphState()
        self.built = True

    # Call forms -----------------------------------------------------------------------------------------------

    def __call__(self, inputs, labels=None, **kwargs):
        sample = inputs[0] if isinstance(inputs, (tuple, list)) and inputs else inputs
        if isinstance(inputs, dict):
            sample = next(iter(inputs.values()), None)
        backend = None if _is_symbolic(sample) else keras_compat.tf_graph_backend()
        if backend is not None:  # a tf.data graph on JAX or PyTorch: bypass Keras's conversion of the inputs
            return self._apply(inputs, labels, kwargs.get("training", True), backend)
        if labels is None:
            return super().__call__(inputs, **kwargs)
        return super().__call__(inputs, labels, **kwargs)

    def call(self, inputs, labels=None, training=True):
        return self._apply(inputs, labels, training, None)

    def compute_output_spec(self, inputs, labels=None, training=True):
        return self._structure(inputs, labels, self._output_spec)

    def _apply(self, inputs, labels, training, backend):
        if not training:
            return self._structure(inputs, labels, lambda x, y: (x, y))

        def transform(x, y):
            return self.transform(x, y, self._values(backend), self._seed(backend), backend)

        return self._structure(inputs, labels, transform)

    def _structure(self, inputs, labels, function):
        """`function(x, y)` on the `(x, y)` of any call form, returned in that form."""
        if isinstance(inputs, dict):
            keys = [k for k in INPUT_KEYS if k in inputs]
            if len(keys) != 1 or LABEL_KEY not in inputs or labels is not None:
                raise ValueError(
                    "Invalid value received for argument `inputs`. Expected a dict with one of the keys 'inputs' or "
                    f"'images', and 'labels'. Received: inputs with keys {sorted(inputs)}"
                )
            x, y = function(inputs[keys[0]], inputs[LABEL_KEY])
            return {**inputs, keys[0]: x, LABEL_KEY: y}
        if labels is None:
            if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
                raise ValueError(
                    "Invalid value received for argument `labels`. Expected labels: call the layer as "
                    "`layer(x, y)`, `layer((x, y))` or `layer({'inputs': x, 'labels': y})`. Received: labels=None"
                )
            return tuple(function(inputs[0], inputs[1]))
        return tuple(function(inputs, labels))

    def _output_spec(self, x, y):
        x_dtype = keras.backend.standardize_dtype(x.dtype)
        if self.CASTS_INPUTS and "float" not in x_dtype:
            x_dtype = keras.config.floatx()
        y_shape, y_dtype = tuple(y.shape), keras.backend.standardize_dtype(y.dtype)
        if "float" not in y_dtype:
            if len(y_shape) >= 2 and y_shape[-1] == 1:
                y_shape = y_shape[:-1]
            y_shape, y_dtype = y_shape + (self.num_classes,), "float32"
        return keras.KerasTensor(x.shape, dtype=x_dtype), keras.KerasTensor(y_shape, dtype=y_dtype)

    # Seeds and schedules --------------------------------------------------------------------------------------

    def _seed(self, backend):
        if backend is None:
            return self.seed_generator
        state = self._graph_state
        if state.seed_generator is None:
            state.seed_generator = backend.seed_generator(self.seed)
        return state.seed_generator

    def _values(self, backend):
        """Every parameter's value for this call (floats, or float32 scalars of the schedules), then one step on."""
        names = list(self._rate_parameters)
        if not self.scheduled:
            return dict(self._rate_parameters)
        if backend is None:
            values = {name: self.current(name) for name in names}
            self.advance(True)
            return values

        def on_host():  # the schedules are the backend's keras.ops: evaluated on the host, once per batch
            current = [np.float32(keras.ops.convert_to_numpy(self.current(name))) for name in names]
            self.advance(True)
            return current

        return dict(zip(names, backend.host_call(on_host, ["float32"] * len(names))))

    def transform(self, x, y, values, seed, backend):
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config


class _MixingLayer(_DataLayer):
    """Shared arguments of `MixUp`, `CutMix` and `MixUpCutMix`."""

    CASTS_INPUTS = True

    def __init__(
        self,
        prob=1.0,
        mode="batch",
        label_smoothing=0.0,
        num_classes=None,
        axis=None,
        data_format=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(num_classes=num_classes, seed=seed, **kwargs)
        self.prob = self.scheduled_parameter("prob", prob, _unit)
        self.label_smoothing = self.scheduled_parameter("label_smoothing", label_smoothing, _unit)
        self.mode = validation.check_choice("mode", mode, mixing.MODES)
        self.axis = _check_axis(axis)
        self.data_format = validation.check_choice(
            "data_format", data_format, (None, "channels_last", "channels_first")
        )

    def mix_arguments(self, values):
        """`mixing.mix`'s alphas and `switch_prob` from this call's values."""
        raise NotImplementedError

    def transform(self, x, y, values, seed, backend):
        return mixing.mix(
            x,
            y,
            **self.mix_arguments(values),
            prob=values["prob"],
            mode=self.mode,
            label_smoothing=values["label_smoothing"],
            num_classes=self.num_classes,
            axis=self.axis,
            data_format=self.data_format,
            seed=seed,
            backend=backend,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "axis": self.axis, "data_format": self.data_format})
        return config


_SHARED_ARGS = """        prob: the probability of mixing at all (per batch, or per example with `mode="elem"`), in [0, 1], or a
            schedule.
        mode: `"batch"` (one draw for the whole batch, as timm's default) or `"elem"` (one draw per example).
        label_smoothing: label smoothing in [0, 1] (or a schedule), applied to the labels before mixing, mixed or
            not (timm's `label_smoothing`).
        num_classes: the number of classes; required for integer (sparse) labels, which come out one-hot.
        seed: an integer seed for the layer's random draws, or `None`.
        **kwargs: base layer arguments (`name`, ...)."""

_CUT_ARGS = """        axis: the axes the CutMix box spans: `None` for the feature span of `(B, F)` inputs and every axis but the
            batch and channel axes of rank >= 3 (a time span of `(B, T, F)`, a rectangle of `(B, H, W, C)`), or an
            integer or a tuple of them.
        data_format: `"channels_last"`, `"channels_first"`, or `None` (`keras.config.image_data_format()`)."""


@keras.saving.register_keras_serializable(package="kreg")
class MixUp(_MixingLayer):
    (
        """MixUp of a batch and its labels, for inputs of any rank: `x = lam x_i + (1 - lam) x_j`, `lam ~ Beta(alpha, alpha)`.

    Called on `(x, y)`, `((x, y))` or `{"inputs"/"images": x, "labels": y}`, returns the same form; `ds.map(MixUp(...))`
    works in a `tf.data` pipeline on every backend. The partner `j` of each row is drawn by a random permutation of
    the batch. Labels: one-hot (or any float targets), or integer class ids with `num_classes` (they come out one-hot).

    Args:
        alpha: `Beta(alpha, alpha)`'s parameter, >= 0 (0: no mixing), or a schedule of the layer's step.
"""
        + _SHARED_ARGS
        + """

    Example:

    >>> ds = ds.batch(64).map(kreg.layers.MixUp(0.2, num_classes=10, seed=0))
    >>> x, y = kreg.layers.MixUp(0.4)(features, one_hot_labels)  # a NumPy batch

    Reference: Zhang, Cisse, Dauphin & Lopez-Paz 2018, "mixup: Beyond empirical risk minimization" (ICLR).
    """
    )

    def __init__(self, alpha=0.2, prob=1.0, mode="batch", label_smoothing=0.0, num_classes=None, seed=None, **kwargs):
        super().__init__(prob, mode, label_smoothing, num_classes, seed=seed, **kwargs)
        self.alpha = self.scheduled_parameter("alpha", alpha, _non_negative)

    def mix_arguments(self, values):
        return {"mixup_alpha": values["alpha"], "cutmix_alpha": 0.0}

    def get_config(self):
        config = super().get_config()
        for name in ("axis", "data_format"):
            config.pop(name)
        return config


@keras.saving.register_keras_serializable(package="kreg")
class CutMix(_MixingLayer):
    (
        """CutMix for inputs of any rank: a box of another row pasted in, labels mixed by the fraction actually pasted.

    The box is a contiguous feature span for tabular `(B, F)` inputs, a time span for sequences `(B, T, F)`, a
    rectangle for images `(B, H, W, C)` (or `channels_first`); its size follows `lam ~ Beta(alpha, alpha)` (a
    fraction `1 - lam` of the cut axes before clipping at the borders), and the labels get the partner's class with
    exactly the pasted fraction. Call forms and labels as `MixUp`.

    Args:
        alpha: `Beta(alpha, alpha)`'s parameter, >= 0 (0: no mixing), or a schedule of the layer's step.
"""
        + _SHARED_ARGS
        + "\n"
        + _CUT_ARGS
        + """

    Example:

    >>> ds = ds.batch(128).map(kreg.layers.CutMix(1.0, num_classes=10, seed=0))
    >>> x, y = kreg.layers.CutMix(1.0, axis=1)(sequences, one_hot_labels)  # a span of time steps

    Reference: Yun et al. 2019, "CutMix: Regularization strategy to train strong classifiers with localizable
    features" (ICCV).
    """
    )

    def __init__(
        self,
        alpha=1.0,
        prob=1.0,
        mode="batch",
        label_smoothing=0.0,
        num_classes=None,
        axis=None,
        data_format=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(prob, mode, label_smoothing, num_classes, axis, data_format, seed=seed, **kwargs)
        self.alpha = self.scheduled_parameter("alpha", alpha, _non_negative)

    CASTS_INPUTS = False

    def mix_arguments(self, values):
        return {"mixup_alpha": 0.0, "cutmix_alpha": values["alpha"]}


@keras.saving.register_keras_serializable(package="kreg")
class MixUpCutMix(_MixingLayer):
    (
        """MixUp or CutMix, chosen per batch (or per example) with `switch_prob`: timm's `Mixup` with both alphas on.

    With `mixup_alpha > 0` and `cutmix_alpha > 0`, each batch (each example with `mode="elem"`) is cut with
    probability `switch_prob` and blended otherwise; with one alpha at 0, the other method alone (so a schedule can
    switch either off). DeiT's recipe is `MixUpCutMix(0.8, 1.0, switch_prob=0.5, label_smoothing=0.1)`.

    Args:
        mixup_alpha: MixUp's `alpha`, >= 0, or a schedule.
        cutmix_alpha: CutMix's `alpha`, >= 0, or a schedule.
        switch_prob: the probability of CutMix when both are on, in [0, 1], or a schedule.
"""
        + _SHARED_ARGS
        + "\n"
        + _CUT_ARGS
        + """

    Example:

    >>> mixing = kreg.layers.MixUpCutMix(0.8, 1.0, label_smoothing=0.1, num_classes=1000, seed=0)
    >>> ds = ds.batch(128).map(mixing)

    Reference: Zhang et al. 2018, "mixup"; Yun et al. 2019, "CutMix"; Touvron et al. 2021, "Training data-efficient
    image transformers & distillation through attention" (DeiT, the combined recipe).
    """
    )

    def __init__(
        self,
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        switch_prob=0.5,
        prob=1.0,
        mode="batch",
        label_smoothing=0.0,
        num_classes=None,
        axis=None,
        data_format=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(prob, mode, label_smoothing, num_classes, axis, data_format, seed=seed, **kwargs)
        self.mixup_alpha = self.scheduled_parameter("mixup_alpha", mixup_alpha, _non_negative)
        self.cutmix_alpha = self.scheduled_parameter("cutmix_alpha", cutmix_alpha, _non_negative)
        self.switch_prob = self.scheduled_parameter("switch_prob", switch_prob, _unit)

    def mix_arguments(self, values):
        return {
            "mixup_alpha": values["mixup_alpha"],
            "cutmix_alpha": values["cutmix_alpha"],
            "switch_prob": values["switch_prob"],
        }


@keras.saving.register_keras_serializable(package="kreg")
class LabelSmoothing(_DataLayer):
    """Label smoothing of a batch's labels, `y * (1 - smoothing) + smoothing / K`; the inputs pass unchanged.

    Called as the mixing layers (`(x, y)`, `((x, y))` or a dict). Integer labels need `num_classes` and come out
    one-hot; binary targets (`(B,)` or `(B, 1)` floats) use K = 2, as `keras.losses.BinaryCrossentropy` does.

    Args:
        smoothing: in [0, 1], or a schedule of the layer's step.
        num_classes: the number of classes, required for integer labels.
        **kwargs: base layer arguments (`name`, ...).

    Example:

    >>> ds = ds.map(kreg.layers.LabelSmoothing(0.1, num_classes=10))

    Reference: Szegedy et al. 2016, "Rethinking the Inception architecture for computer vision", section 7.
    """

    def __init__(self, smoothing=0.1, num_classes=None, **kwargs):
        super().__init__(num_classes=num_classes, seed=None, **kwargs)
        self.smoothing = self.scheduled_parameter("smoothing", smoothing, _unit)

    def transform(self, x, y, values, seed, backend):
        return x, mixing.label_smoothing(y, values["smoothing"], self.num_classes, backend=backend)

    def get_config(self):
        config = super().get_config()
        config.pop("seed")
        return config


class MixingPyDataset(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` whose `(x, y)` batches go through `layer` (a mixing layer), as NumPy arrays.

    Works on every backend; each batch is one training call of the layer (its step advances with it). With
    `workers > 1` or `use_multiprocessing=True`, each worker draws from its own copy of the layer's state.

    Args:
        dataset: a `keras.utils.PyDataset` (or any sequence) of `(x, y)` batches.
        layer: the layer to apply (`MixUp`, `CutMix`, `MixUpCutMix`, `LabelSmoothing`) or any function of `(x, y)`.
        **kwargs: `PyDataset` arguments (`workers`, `use_multiprocessing`, `max_queue_size`).

    Example:

    >>> model.fit(MixingPyDataset(batches, kreg.layers.MixUp(0.2, num_classes=10)), epochs=5)
    """

    def __init__(self, dataset, layer, **kwargs):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.layer = layer

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        x, y = self.dataset[index][:2]
        x, y = self.layer(x, y)
        return keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)

    def on_epoch_end(self):
        if hasattr(self.dataset, "on_epoch_end"):
            self.dataset.on_epoch_end()


__all__ = ["CutMix", "LabelSmoothing", "MixUp", "MixUpCutMix", "MixingPyDataset"]
