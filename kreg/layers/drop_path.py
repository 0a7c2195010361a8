"""`DropPath` (stochastic depth) and `drop_path_rates`, the linear depth rule of its rates.

Huang, Sun, Liu, Sedra & Weinberger 2016, "Deep networks with stochastic depth" (ECCV): during training each
residual block's branch is dropped whole, per sample, with probability `p_l`, and kept branches are scaled by
`1 / (1 - p_l)` (timm's `DropPath`, applied to the branch before the residual addition); at inference the layer is
the identity. The paper's linear decay rule gives block `l` of `L` the rate `p_l = l / L * max_rate`.
"""

import keras

from kreg import schedules, validation
from kreg.layers.scheduled_layer import ScheduledLayer, is_zero
from kreg.ops.drop import drop_path, input_rank_error


def check_rate(name, value):
    """Checks a drop rate: a finite float in [0, 1), returned as a Python float."""
    return validation.check_float(name, value, low=0.0, high=1.0, high_inclusive=False)


def check_rate_schedule(name, value):
    """Checks that a kreg schedule used as a rate stays in [0, 1) (its start, end or values); returns `value`.

    Only kreg's own schedules (`kreg.schedules.Constant`, `Linear`, `Cosine`, `Step`) can be checked ahead of
    time; a Keras `LearningRateSchedule` used as a rate must keep its values in [0, 1) itself.
    """
    if isinstance(value, schedules.Schedule):
        config = value.get_config()
        reached = [config[key] for key in ("start", "end", "value") if key in config] + list(config.get("values", []))
        if any(not 0.0 <= v < 1.0 for v in reached):
            raise validation.invalid(name, "a float in [0, 1) or a schedule whose values stay in [0, 1)", value)
    return value


def drop_path_rates(max_rate, num_blocks):
    """The linear depth rule of stochastic depth: `p_l = l / L * max_rate` for blocks `l = 1, ..., L`.

    This is the paper's linear decay rule (Huang et al. 2016, section 3: survival probabilities
    `1 - l / L * (1 - p_L)` with the input as `l = 0`, i.e. drop rates `l / L * max_rate` with
    `max_rate = 1 - p_L`), with `l` running over `1, ..., L`: the first block gets `max_rate / L`, the last exactly
    `max_rate`. timm instead uses `linspace(0, max_rate, L)` (`l = 0, ..., L - 1` over `L - 1`), which never drops
    its first block.

    Args:
        max_rate: the rate of the last block, a float in [0, 1).
        num_blocks: `L`, the number of residual blocks, an integer >= 1.

    Returns:
        A list of `L` Python floats, increasing from `max_rate / L` to `max_rate`.

    Example:

    >>> kreg.layers.drop_path_rates(0.5, 4)
    [0.125, 0.25, 0.375, 0.5]

    Reference: Huang et al. 2016, "Deep networks with stochastic depth".
    """
    max_rate = check_rate("max_rate", max_rate)
    num_blocks = validation.check_int("num_blocks", num_blocks, low=1)
    return [max_rate * block / num_blocks for block in range(1, num_blocks + 1)]


@keras.saving.register_keras_serializable(package="kreg")
class DropPath(ScheduledLayer):
    """Stochastic depth: drops a residual branch whole, per sample, with probability `rate` while training.

    Put it on the branch, before the addition: `x + DropPath(rate)(branch(x))`. In a training call each sample's
    branch output is kept with probability `1 - rate` and scaled by `1 / (1 - rate)`, or zeroed (the mask has shape
    `(batch,) + (1,) * (rank - 1)`, so any input rank >= 1 works); with `training=False` (or `rate=0`) the layer
    returns its input tensor itself and emits no op. The math is `kreg.ops.drop.drop_path`.

    Args:
        rate: drop probability in [0, 1), or a schedule of the training step (`kreg.schedules`, or a Keras
            `LearningRateSchedule` whose values stay in [0, 1)); the layer then owns a `step` counter that its
            training calls advance (see `ScheduledLayer`). `drop_path_rates` gives the linear depth rule.
        seed: an integer seed for the layer's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> rates = kreg.layers.drop_path_rates(0.2, num_blocks=4)
    >>> x = x + kreg.layers.DropPath(rates[i])(block(x))  # block i of 4
    >>> kreg.layers.DropPath(kreg.schedules.Linear(0.0, 0.2, steps=10_000))  # a rate ramped up during training

    Reference: Huang et al. 2016, "Deep networks with stochastic depth".
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = check_rate_schedule("rate", self.scheduled_parameter("rate", rate, check_rate))
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 1:
            raise input_rank_error(tuple(input_shape), "a tensor of rank >= 1 (batch first)")
        self.built = True

    def call(self, inputs, training=False):
        if not training or is_zero(self.rate):
            return inputs
        outputs = drop_path(inputs, self.current("rate"), training=True, seed=self.seed_generator)
        self.advance(training)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape


__all__ = ["DropPath", "check_rate", "check_rate_schedule", "drop_path_rates"]
