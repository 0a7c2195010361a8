"""`call_with_kernel`: the wrapped layer computes with the given kernel, the gradient reaches the real kernel through
it, and the wrapped layer's losses reach the owner."""

import keras
import numpy as np
from keras import ops

from kreg.layers.kernel_swap import call_with_kernel


class Doubled(keras.layers.Wrapper):
    """Runs the wrapped layer with `2 * kernel`."""

    def build(self, input_shape=None):
        self.layer.build(input_shape)
        self.built = True

    def call(self, inputs, training=False):
        return call_with_kernel(self, self.layer, 2.0 * self.layer.kernel.value, inputs, training)


def test_the_layer_computes_with_the_given_kernel_and_the_variable_is_untouched():
    dense = keras.layers.Dense(2, use_bias=False, kernel_initializer="ones", activity_regularizer="l2")
    wrapper = Doubled(dense)
    x = np.ones((3, 4), "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(wrapper(x)), np.full((3, 2), 8.0))
    np.testing.assert_array_equal(ops.convert_to_numpy(dense.kernel), np.ones((4, 2)))
    assert len(wrapper.losses) == 1  # the wrapped layer's activity penalty reaches the owner
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(wrapper.losses[0])), 0.01 * np.sum(np.full((3, 2), 8.0) ** 2) / 3, rtol=1e-5
    )


def test_the_gradient_reaches_the_kernel_through_the_given_value():
    model = keras.Sequential(
        [keras.Input((1,)), Doubled(keras.layers.Dense(1, use_bias=False, kernel_initializer="ones"))]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(np.ones((1, 1)), np.zeros((1, 1)), epochs=1, verbose=0)
    # loss = (2 w)^2, d/dw = 8 w = 8: w = 1 - 0.1 * 8.
    np.testing.assert_allclose(ops.convert_to_numpy(model.layers[0].layer.kernel), [[0.2]], rtol=1e-6)
