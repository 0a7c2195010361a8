"""Masking augmentation layers: `FeatureMask`, `SwapNoise` (tabular data), `TimeMask`, `FrequencyMask` (sequences,
spectrograms).

Each layer is thin over its pure function in `kreg.ops.masking`: it stores its settings (a rate may be a number or a
schedule of the training step, see `ScheduledLayer`), owns one `keras.random.SeedGenerator`, augments in training
calls only, and returns its input itself at inference. The math and its references are in `kreg/ops/masking.py`.

References: Vincent et al. 2008, "Extracting and composing robust features with denoising autoencoders" (masking
noise); Jahrer 2018, "1st place with representation learning" (Porto Seguro's Safe Driver Prediction, Kaggle 2017:
swap noise); Park et al. 2019, "SpecAugment: A simple data augmentation method for automatic speech recognition".
"""

import keras

from kreg import validation
from kreg.layers.drop_path import check_rate, check_rate_schedule
from kreg.layers.scheduled_layer import ScheduledLayer, is_zero
from kreg.ops import masking


class _RateMask(ScheduledLayer):
    """An element-wise masking layer with one scheduled `rate`."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_rate_schedule("rate", self.scheduled_parameter("rate", rate, check_rate))
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or is_zero(self.rate):
            return inputs
        outputs = self._augment(inputs, self.current("rate"))
        self.advance(training)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="kreg")
class FeatureMask(_RateMask):
    """Replaces each input entry by `mask_value` with probability `rate` in training; the input itself at inference.

    For tabular inputs `(batch, features)` (any rank works: the mask is drawn entry by entry). Every output entry is
    exactly the input or exactly `mask_value` (in the layer's compute dtype; an integer input keeps its dtype and
    needs a whole-number `mask_value`). Unlike `Dropout`, kept entries are not rescaled: this is input corruption
    (masking noise), not a regularizer of activations. The math is `kreg.ops.masking.feature_mask`.

    Args:
        rate: masking probability in [0, 1), or a schedule of the training step (`kreg.schedules`, or a Keras
            `LearningRateSchedule` whose values stay in [0, 1)).
        mask_value: the value written in masked entries, a finite float (default 0.0: the mean of standardized
            features).
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> model = keras.Sequential([keras.Input((30,)), kreg.layers.FeatureMask(0.15), keras.layers.Dense(1)])
    >>> ramped = kreg.layers.FeatureMask(kreg.schedules.Linear(0.0, 0.2, steps=1000))

    Reference: Vincent et al. 2008, "Extracting and composing robust features with denoising autoencoders";
    Yoon et al. 2020, "VIME: Extending the success of self- and semi-supervised learning to tabular domain".
    """

    def __init__(self, rate, mask_value=0.0, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.mask_value = masking.check_mask_value(mask_value)

    def _augment(self, inputs, rate):
        return masking.feature_mask(inputs, rate, self.mask_value, seed=self.seed_generator)

    def get_config(self):
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config


@keras.saving.register_keras_serializable(package="kreg")
class SwapNoise(_RateMask):
    """Replaces each entry with probability `rate` by the same feature of another row of the batch, in training.

    Jahrer's swap noise for tabular inputs `(batch, features)`: a swapped entry `(i, f)` takes `x[j, f]`, with `j`
    drawn uniformly among the other rows of the batch (never `i` itself; independently per entry), so every
    corrupted value is a real value of its feature and the feature's marginal distribution is kept. A batch of one
    has no other row and passes unchanged. Inputs of rank > 2 swap each non-batch position across rows. The input
    itself at inference. The math is `kreg.ops.masking.swap_noise`.

    Shuffle the training data (`fit`'s default): the rows of a batch are the pool the swapped values come from.

    Args:
        rate: swap probability in [0, 1) (Jahrer used 0.15), or a schedule of the training step.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> inputs = keras.Input((30,))
    >>> hidden = keras.layers.Dense(256, activation="relu")(kreg.layers.SwapNoise(0.15)(inputs))
    >>> autoencoder = keras.Model(inputs, keras.layers.Dense(30)(hidden))  # trained to reconstruct `inputs`

    Reference: Jahrer 2018, "1st place with representation learning", Porto Seguro's Safe Driver Prediction
    (Kaggle).
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)

    def _augment(self, inputs, rate):
        return masking.swap_noise(inputs, rate, seed=self.seed_generator)


class _SpanMask(ScheduledLayer):
    """SpecAugment masking along one axis, chosen by `data_format` and the input's rank (`AXES`, set by each
    subclass: `{(data_format, rank): axis}`)."""

    AXES = None
    AXIS_NAME = None

    def __init__(self, max_width, count=1, mask_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.max_width = validation.check_int("max_width", max_width, low=1)
        self.count = validation.check_int("count", count, low=1)
        self.mask_value = masking.check_mask_value(mask_value)
        if data_format is None:
            data_format = keras.config.image_data_format()
        self.data_format = validation.check_choice("data_format", data_format, ("channels_last", "channels_first"))
        self.supports_masking = True

    def _axis(self, shape):
        """The masked axis for an input of `shape`; raises `ValueError` for a wrong rank or a too-wide `max_width`."""
        shape = tuple(shape)
        axis = self.AXES.get((self.data_format, len(shape)))
        if axis is None:
            layouts = {
                "channels_last": "(batch, time, freq) or (batch, time, freq, channels)",
                "channels_first": "(batch, freq, time) or (batch, channels, time, freq)",
            }
            raise ValueError(
                "Invalid value received for argument `inputs`. Expected a rank-3 or rank-4 tensor "
                f"{layouts[self.data_format]} for data_format={self.data_format!r}. Received: inputs with shape {shape}"
            )
        masking.check_max_width(self.max_width, shape[axis], f"{self.AXIS_NAME} (axis {axis})")
        return axis

    def build(self, input_shape):
        self._axis(input_shape)
        self.built = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        axis = self._axis(inputs.shape)
        outputs = type(self).FUNCTION(
            inputs, self.max_width, self.count, axis=axis, mask_value=self.mask_value, seed=self.seed_generator
        )
        self.advance(training)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_width": self.max_width,
                "count": self.count,
                "mask_value": self.mask_value,
                "data_format": self.data_format,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kreg")
class TimeMask(_SpanMask):
    """SpecAugment time masking: `count` spans of consecutive time steps per sample set to `mask_value`, in training.

    Each span has a width drawn uniformly from `{0, ..., max_width}` and a start drawn uniformly from
    `{0, ..., time - width}`, independently per sample (the spans of one sample may overlap); a span covers every
    frequency and channel of its steps. The input itself at inference. The math is `kreg.ops.masking.time_mask`.

    Inputs: `(batch, time, freq)` or `(batch, time, freq, channels)` for `data_format="channels_last"`;
    `(batch, freq, time)` (as Conv1D's channels_first, and Keras's `MelSpectrogram` output) or
    `(batch, channels, time, freq)` for `"channels_first"`.

    Args:
        max_width: the largest span width (the paper's `T`), an integer in [1, number of time steps].
        count: spans per sample (the paper's `m_T`), an integer >= 1.
        mask_value: the value written in masked entries, a finite float (default 0.0, the mean of normalized
            features, as in the paper).
        data_format: `"channels_last"` or `"channels_first"`; default `keras.config.image_data_format()`.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> inputs = keras.Input((None, 80))  # log-mel frames
    >>> x = kreg.layers.FrequencyMask(27, count=2)(inputs)
    >>> x = kreg.layers.TimeMask(100, count=2)(x)  # SpecAugment's LibriSpeech "LD" policy, without warping

    Reference: Park et al. 2019, "SpecAugment: A simple data augmentation method for automatic speech recognition".
    """

    AXES = {("channels_last", 3): 1, ("channels_last", 4): 1, ("channels_first", 3): 2, ("channels_first", 4): 2}
    AXIS_NAME = "time axis"
    FUNCTION = staticmethod(masking.time_mask)


@keras.saving.register_keras_serializable(package="kreg")
class FrequencyMask(_SpanMask):
    """SpecAugment frequency masking: `count` spans of consecutive frequency bins per sample set to `mask_value`.

    Each span has a width drawn uniformly from `{0, ..., max_width}` and a start drawn uniformly from
    `{0, ..., freq - width}`, independently per sample; a span covers every time step and channel. Training only;
    the input itself at inference. The math is `kreg.ops.masking.frequency_mask`. Inputs as for `TimeMask`.

    Args:
        max_width: the largest span width (the paper's `F`), an integer in [1, number of frequency bins].
        count: spans per sample (the paper's `m_F`), an integer >= 1.
        mask_value: the value written in masked entries, a finite float (default 0.0).
        data_format: `"channels_last"` or `"channels_first"`; default `keras.config.image_data_format()`.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> x = kreg.layers.FrequencyMask(27, count=2)(log_mel)  # (batch, time, 80)

    Reference: Park et al. 2019, "SpecAugment: A simple data augmentation method for automatic speech recognition".
    """

    AXES = {("channels_last", 3): 2, ("channels_last", 4): 2, ("channels_first", 3): 1, ("channels_first", 4): 3}
    AXIS_NAME = "frequency axis"
    FUNCTION = staticmethod(masking.frequency_mask)


__all__ = ["FeatureMask", "FrequencyMask", "SwapNoise", "TimeMask"]
