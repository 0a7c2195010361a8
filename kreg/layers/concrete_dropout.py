"""`ConcreteDropout`: dropout on a layer's input whose rate is learned, through the concrete relaxation of the mask.

Gal, Hron & Kendall 2017, "Concrete Dropout" (NeurIPS), and the authors' Keras reference code
(github.com/yaringal/ConcreteDropout): the rate `p = sigmoid(logit)` of the dropout on a layer's input is a trainable
weight; the Bernoulli mask is replaced by its concrete relaxation (differentiable in `p`), and the variational
regularizer `weight_regularizer * sum(W^2) / (1 - p) + dropout_regularizer * K * (p log p + (1 - p) log(1 - p))`
is added to the model's losses, so that gradient descent on the loss picks the rate. The math is in
`kreg.ops.concrete`.
"""

import copy
import math

import keras
from keras import ops

from kreg import validation
from kreg.layers.kernel_swap import kernel_of
from kreg.layers.scheduled_layer import SavesSeedState
from kreg.ops.concrete import concrete_dropout, concrete_dropout_regularizer


@keras.saving.register_keras_serializable(package="kreg")
class ConcreteDropout(SavesSeedState, keras.layers.Wrapper):
    """Wraps a layer with a `kernel` and drops its input with a learned rate (concrete dropout).

    In a training call (`training=True`) the wrapper computes `x * (1 - z) / (1 - p)`, with the relaxed mask
    `z = sigmoid((log p - log(1 - p) + log u - log(1 - u)) / temperature)`, `u ~ U(0, 1)` (one entry per entry of
    the input), runs the wrapped layer on it, and adds the penalty

        weight_regularizer * sum(W^2) / (1 - p) + dropout_regularizer * K * (p log p + (1 - p) log(1 - p))

    to the model's losses (`add_loss`), `W` the wrapped layer's kernel and `K` the number of input entries per
    example (the input dimension for `Dense`; height * width * channels for `Conv2D`, one mask entry per input
    entry as in the reference code). The rate is `p = sigmoid(p_logit)`, `p_logit` a trainable float32 scalar
    weight of the wrapper, so the optimizer learns it with the other weights: the data loss and the weight term
    pull `p` down, the entropy term pulls it toward 0.5.

    In an inference call (`training=False`, e.g. `predict` and `evaluate`) the wrapped layer runs on the plain input
    and no penalty is added (for Monte Carlo dropout, call the model with `training=True`). The learned rate is
    `layer.rate` (a Python float), and `current_values()` returns `{"rate": p}`, which
    `kreg.callbacks.RegularizationReport` logs as `schedules/<layer path>/rate`.

    The paper sets `weight_regularizer = l^2 / N` (prior length-scale `l`, `N` training examples) and
    `dropout_regularizer = 2 / (tau N)` (model precision `tau`); the defaults `1e-6` and `1e-5` are those of the
    reference code. Keras averages the data loss over the batch, so the penalty is already on the per-example scale.

    Under mixed precision the mask, the rate and the penalty are computed in float32; the wrapped layer computes in
    its own dtype.

    Args:
        layer: a Keras layer with a `kernel` weight (`Dense`, `Conv1D/2D/3D`, ...), whose input is dropped.
        init_rate: the initial drop rate, a float in (0, 1) (the reference code starts at 0.1).
        temperature: the temperature of the concrete relaxation, a positive float (0.1 in the paper).
        weight_regularizer: the weight-decay strength `l^2 / N`, a float >= 0.
        dropout_regularizer: the entropy strength `2 / (tau N)`, a float >= 0.
        seed: an integer seed for the wrapper's `keras.random.SeedGenerator`, or `None`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> n = len(x_train)
    >>> model = keras.Sequential([
    ...     keras.Input((64,)),
    ...     kreg.layers.ConcreteDropout(keras.layers.Dense(128, activation="relu"),
    ...                                 weight_regularizer=1e-4 / n, dropout_regularizer=2.0 / n),
    ...     kreg.layers.ConcreteDropout(keras.layers.Dense(1), weight_regularizer=1e-4 / n, dropout_regularizer=2.0 / n),
    ... ])
    >>> model.fit(x_train, y_train, epochs=50)
    >>> [layer.rate for layer in model.layers]  # the learned rates

    Reference: Gal, Hron & Kendall 2017, "Concrete Dropout".
    """

    def __init__(
        self,
        layer,
        init_rate=0.1,
        temperature=0.1,
        weight_regularizer=1e-6,
        dropout_regularizer=1e-5,
        seed=None,
        **kwargs,
    ):
        if not isinstance(layer, keras.layers.Layer):
            raise validation.invalid("layer", "a `keras.layers.Layer` instance", layer)
        super().__init__(layer, **kwargs)
        self.init_rate = validation.check_float(
            "init_rate", init_rate, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
        )
        self.temperature = validation.check_float("temperature", temperature, low=0.0, low_inclusive=False)
        self.weight_regularizer = validation.check_float("weight_regularizer", weight_regularizer, low=0.0)
        self.dropout_regularizer = validation.check_float("dropout_regularizer", dropout_regularizer, low=0.0)
        self.seed = validation.check_int("seed", seed, allow_none=True)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # The rate, the mask and the penalty are computed in float32 (under mixed precision too); the wrapped layer
        # casts the dropped input to its own compute dtype.
        self.autocast = False
        self.p_logit = None

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel_of(self, self.layer)  # raises for a layer without a kernel
        logit = math.log(self.init_rate) - math.log1p(-self.init_rate)
        self.p_logit = self.add_weight(
            name="p_logit",
            shape=(),
            dtype="float32",
            initializer=keras.initializers.Constant(logit),
            trainable=True,
            autocast=False,  # read in float32 under mixed precision
        )
        self.built = True

    def rate_tensor(self):
        """The current drop rate `sigmoid(p_logit)`, a float32 scalar tensor (differentiable in `p_logit`)."""
        return ops.sigmoid(ops.cast(self.p_logit.value, "float32"))

    @property
    def rate(self):
        """The current (learned) drop rate, a Python float in (0, 1); `init_rate` before the layer is built."""
        if self.p_logit is None:
            return self.init_rate
        return float(ops.convert_to_numpy(self.rate_tensor()))

    def current_values(self):
        """`{"rate": p}`: the current drop rate (what `RegularizationReport` logs)."""
        return {"rate": self.rate}

    def call(self, inputs, training=False):
        if not training:
            return self.layer(inputs, training=training)
        rate = self.rate_tensor()
        dropped = concrete_dropout(inputs, rate, self.temperature, seed=self.seed_generator)
        penalty = concrete_dropout_regularizer(
            self.layer.kernel.value,
            rate,
            _entries_per_example(inputs),
            weight_regularizer=self.weight_regularizer,
            dropout_regularizer=self.dropout_regularizer,
        )
        self.add_loss(penalty)
        return self.layer(dropped, training=training)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "init_rate": self.init_rate,
                "temperature": self.temperature,
                "weight_regularizer": self.weight_regularizer,
                "dropout_regularizer": self.dropout_regularizer,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # `keras.layers.Wrapper.from_config` pops "layer" from the dict it receives: work on a copy.
        return super().from_config(copy.deepcopy(config), custom_objects=custom_objects)


def _entries_per_example(x):
    """`K`: the number of entries of one example of `x` (a Python float when the shape is static)."""
    dims = tuple(x.shape[1:])
    if all(isinstance(d, int) for d in dims):
        return float(math.prod(dims))
    return ops.cast(ops.size(x), "float32") / ops.cast(ops.shape(x)[0], "float32")


__all__ = ["ConcreteDropout"]
