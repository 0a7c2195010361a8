"""`DropBlock1D` and `DropBlock2D`: dropout of contiguous blocks of a feature map.

Ghiasi, Lin & Le 2018, "DropBlock: A regularization method for convolutional networks" (NeurIPS): units of a
convolutional feature map are correlated, so dropping single units barely removes information; DropBlock drops
`block_size`-wide contiguous blocks instead. Block seeds are drawn with probability `gamma` (the paper's equation 1,
per axis for non-square maps) where a whole block fits, grown into blocks by max pooling, and the kept activations
are scaled by `count(M) / count_ones(M)`. The paper ramps the drop rate up linearly during training, which is one
argument here: `DropBlock2D(kreg.schedules.Linear(0.0, 0.1, steps=5000), block_size=7)`.
"""

import keras

from kreg import validation
from kreg.layers.drop_path import check_rate, check_rate_schedule
from kreg.layers.scheduled_layer import ScheduledLayer, is_zero
from kreg.ops.drop import check_block_size, drop_block, input_rank_error


class _DropBlock(ScheduledLayer):
    """The DropBlock layer for `spatial_rank` spatial axes (set by each subclass)."""

    spatial_rank = None
    axes = None  # the names of the spatial axes, for error messages

    def __init__(self, rate, block_size, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_rate_schedule("rate", self.scheduled_parameter("rate", rate, check_rate))
        self.block_size = validation.check_int("block_size", block_size, low=1)
        if data_format is None:
            data_format = keras.config.image_data_format()
        self.data_format = validation.check_choice("data_format", data_format, ("channels_last", "channels_first"))
        self.supports_masking = True

    def _check_input(self, shape):
        """Raises `ValueError` for an input of the wrong rank, or a feature map smaller than a block."""
        shape = tuple(shape)
        if len(shape) != self.spatial_rank + 2:
            layout = ("channels",) + self.axes if self.data_format == "channels_first" else self.axes + ("channels",)
            raise input_rank_error(
                shape,
                f"a rank-{self.spatial_rank + 2} tensor (batch, {', '.join(layout)}) for "
                f"data_format={self.data_format!r}",
            )
        check_block_size(self.block_size, shape[1:-1] if self.data_format == "channels_last" else shape[2:])

    def build(self, input_shape):
        self._check_input(input_shape)
        self.built = True

    def call(self, inputs, training=False):
        if not training or is_zero(self.rate):
            return inputs
        self._check_input(inputs.shape)
        outputs = drop_block(
            inputs,
            self.current("rate"),
            self.block_size,
            training=True,
            seed=self.seed_generator,
            data_format=self.data_format,
        )
        self.advance(training)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"block_size": self.block_size, "data_format": self.data_format})
        return config


@keras.saving.register_keras_serializable(package="kreg")
class DropBlock1D(_DropBlock):
    """DropBlock for sequences: drops runs of `block_size` consecutive steps, per sample and channel, while training.

    In a training call, run starts are drawn with probability
    `gamma = rate / block_size * steps / (steps - block_size + 1)` (the paper's equation 1 in one dimension) among
    the positions where a whole run fits, each dropping `block_size` consecutive steps of its channel, and the
    kept activations are scaled by `count(M) / count_ones(M)` (over the whole batch), so every output entry is `0`
    or `x * scale`. With `training=False` (or `rate=0`) the layer returns its input tensor itself and emits no op.
    The math is `kreg.ops.drop.drop_block`.

    Args:
        rate: drop probability in [0, 1), or a schedule of the training step (`kreg.schedules`, or a Keras
            `LearningRateSchedule` whose values stay in [0, 1)).
        block_size: length of a dropped run, an integer >= 1 and at most the number of steps.
        data_format: `"channels_last"` (`(batch, steps, channels)`) or `"channels_first"`
            (`(batch, channels, steps)`); default `keras.config.image_data_format()`.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> x = keras.layers.Conv1D(32, 5, padding="same", activation="relu")(inputs)
    >>> x = kreg.layers.DropBlock1D(0.1, block_size=5)(x)

    Reference: Ghiasi et al. 2018, "DropBlock: A regularization method for convolutional networks".
    """

    spatial_rank = 1
    axes = ("steps",)


@keras.saving.register_keras_serializable(package="kreg")
class DropBlock2D(_DropBlock):
    """DropBlock for images: drops `block_size x block_size` squares, per sample and channel, while training.

    In a training call, block corners are drawn with probability
    `gamma = rate / block_size^2 * (H * W) / ((H - block_size + 1) * (W - block_size + 1))` (the paper's
    equation 1, per axis for non-square maps) among the positions where a whole block fits, each dropping the
    `block_size x block_size` square it starts (max pooling of the seeds), and the kept activations are scaled by
    `count(M) / count_ones(M)` (over the whole batch), so every output entry is `0` or `x * scale`. With
    `training=False` (or `rate=0`) the layer returns its input tensor itself and emits no op. The math is
    `kreg.ops.drop.drop_block`.

    Args:
        rate: drop probability in [0, 1), or a schedule of the training step (`kreg.schedules`, or a Keras
            `LearningRateSchedule` whose values stay in [0, 1)); the paper's linear ramp is
            `kreg.schedules.Linear(0.0, rate, steps=...)`.
        block_size: width of a dropped square, an integer >= 1 and at most the feature map's height and width.
        data_format: `"channels_last"` (`(batch, height, width, channels)`) or `"channels_first"`
            (`(batch, channels, height, width)`); default `keras.config.image_data_format()`.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> x = kreg.layers.DropBlock2D(0.1, block_size=7)(x)
    >>> # the paper's schedule: the drop rate ramped linearly from 0 to 0.1 over 5000 training steps
    >>> x = kreg.layers.DropBlock2D(kreg.schedules.Linear(0.0, 0.1, steps=5000), block_size=7)(x)

    Reference: Ghiasi et al. 2018, "DropBlock: A regularization method for convolutional networks".
    """

    spatial_rank = 2
    axes = ("height", "width")


__all__ = ["DropBlock1D", "DropBlock2D"]
