"""`kreg.layers.SpectralNormalization`: `W / sigma` against NumPy, the gradient through sigma, state under jit."""

import keras
import numpy as np
import pytest

from kreg.layers import SpectralNormalization
from kreg.testing import run_layer_test


@keras.saving.register_keras_serializable(package="kreg_tests")
class SpectralDense(SpectralNormalization):
    """`SpectralNormalization(Dense(units))` as one class, so `run_layer_test` can build it from arguments."""

    def __init__(self, units=3, power_iterations=1, **kwargs):
        kwargs.pop("layer", None)
        super().__init__(keras.layers.Dense(units, name="inner"), power_iterations=power_iterations, **kwargs)
        self.units = units

    def get_config(self):
        config = super().get_config()
        config.pop("layer")
        config["units"] = self.units
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kreg_tests")
class SpectralConv2D(SpectralNormalization):
    """`SpectralNormalization(Conv2D(filters, 3))` as one class, for `run_layer_test`."""

    def __init__(self, filters=2, **kwargs):
        kwargs.pop("layer", None)
        super().__init__(keras.layers.Conv2D(filters, 3, padding="same", name="inner"), **kwargs)
        self.filters = filters

    def get_config(self):
        config = super().get_config()
        config.pop("layer")
        config["filters"] = self.filters
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def top_sigma(w):
    return np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]


def numpy_power_iteration(matrix, u, steps):
    v = None
    for _ in range(steps):
        v = matrix.T @ u
        v /= np.linalg.norm(v)
        u = matrix @ v
        u /= np.linalg.norm(u)
    return u, v


def test_run_layer_test_dense():
    run_layer_test(SpectralDense, {"units": 3, "power_iterations": 2}, input_shape=(4, 5), expected_output_shape=(4, 3))


def test_run_layer_test_conv2d():
    run_layer_test(SpectralConv2D, {"filters": 2}, input_shape=(2, 5, 5, 3), expected_output_shape=(2, 5, 5, 2))


def test_the_output_uses_the_spectrally_normalized_kernel():
    x = np.random.default_rng(0).standard_normal((6, 5)).astype("float32")
    layer = SpectralNormalization(keras.layers.Dense(4, bias_initializer="random_normal"))
    layer.build((None, 5))
    kernel, bias = layer.layer.kernel.numpy(), layer.layer.bias.numpy()
    expected = x @ (kernel / top_sigma(kernel)) + bias
    # Warm-started at build: already at the exact sigma, at inference and in training.
    for training in (False, True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(layer(x, training=training)), expected, rtol=1e-4, atol=1e-5
        )
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), kernel)  # the kernel itself is never overwritten


def test_conv_output_matches_a_convolution_by_w_over_sigma():
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype("float32")
    layer = SpectralNormalization(keras.layers.Conv2D(4, 3))
    output = keras.ops.convert_to_numpy(layer(x, training=False))
    kernel = layer.layer.kernel.numpy()
    expected = keras.ops.convert_to_numpy(keras.ops.conv(x, kernel / top_sigma(kernel))) + layer.layer.bias.numpy()
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-5)


def test_u_and_v_update_in_training_only():
    layer = SpectralNormalization(keras.layers.Dense(4), power_iterations=1)
    layer.build((None, 6))
    start = np.random.default_rng(2).standard_normal(6).astype("float32")
    layer.u.assign(start / np.linalg.norm(start))
    x = np.ones((2, 6), "float32")
    before = layer.u.numpy(), layer.v.numpy()
    layer(x, training=False)
    np.testing.assert_array_equal(layer.u.numpy(), before[0])
    np.testing.assert_array_equal(layer.v.numpy(), before[1])
    layer(x, training=True)
    u, v = numpy_power_iteration(layer.layer.kernel.numpy().astype("float64"), before[0].astype("float64"), 1)
    np.testing.assert_allclose(layer.u.numpy(), u, atol=1e-6)
    np.testing.assert_allclose(layer.v.numpy(), v, atol=1e-6)


def test_the_gradient_flows_through_sigma(jit_compile):
    """One SGD step equals `-lr * (G / sigma - <G, W> / sigma^2 * u v^T)`, Miyato et al. 2018, eq. 12.

    `G` is the gradient with respect to the normalized kernel. Keras's wrapper drops the second term.
    """
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 5)).astype("float32")
    y = rng.standard_normal((16, 3)).astype("float32")
    layer = SpectralNormalization(keras.layers.Dense(3, use_bias=False))
    model = keras.Sequential([keras.Input((5,)), layer])
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
    w = layer.layer.kernel.numpy().astype("float64")
    u0 = layer.u.numpy().astype("float64")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    u, v = numpy_power_iteration(w, u0, 1)
    sigma = u @ w @ v
    residual = x @ (w / sigma) - y
    g = x.T @ (2 * residual / residual.size)
    grad = g / sigma - (np.sum(g * w) / sigma**2) * np.outer(u, v)
    np.testing.assert_allclose(layer.layer.kernel.numpy(), w - 0.1 * grad, rtol=1e-4, atol=1e-6)
    # The output is invariant to the scale of W, so its gradient is orthogonal to W.
    assert abs(np.sum(grad * w)) < 1e-6 * np.linalg.norm(grad) * np.linalg.norm(w) * 10


def test_the_vectors_persist_across_jitted_steps(jit_compile):
    layer = SpectralNormalization(keras.layers.Dense(4))
    model = keras.Sequential([keras.Input((7,)), layer])
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    start = np.random.default_rng(4).standard_normal(7)
    start /= np.linalg.norm(start)
    layer.u.assign(start.astype("float32"))
    model.fit(np.ones((24, 7), "float32"), np.ones((24, 4), "float32"), batch_size=8, verbose=0)
    u, v = numpy_power_iteration(layer.layer.kernel.numpy().astype("float64"), start, 3)
    np.testing.assert_allclose(layer.u.numpy(), u, atol=1e-5)
    np.testing.assert_allclose(layer.v.numpy(), v, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Expected a `keras.layers.Layer` instance. Received: layer=3"):
        SpectralNormalization(3)
    with pytest.raises(ValueError, match="Expected an integer >= 1. Received: power_iterations=0"):
        SpectralNormalization(keras.layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="Received: epsilon=-1.0"):
        SpectralNormalization(keras.layers.Dense(2), epsilon=-1.0)
    with pytest.raises(ValueError, match="needs a layer with a `kernel` weight"):
        SpectralNormalization(keras.layers.Dropout(0.5))(np.ones((2, 3), "float32"))


def test_config_round_trip():
    layer = SpectralNormalization(keras.layers.Dense(3), power_iterations=2, name="sn")
    config = layer.get_config()
    assert config["power_iterations"] == 2 and config["epsilon"] == 1e-12
    rebuilt = SpectralNormalization.from_config(config)
    assert isinstance(rebuilt.layer, keras.layers.Dense) and rebuilt.power_iterations == 2
    assert rebuilt.get_config() == config


def test_a_zero_kernel_stays_finite_and_recovers():
    layer = SpectralNormalization(keras.layers.Dense(3, kernel_initializer="zeros"))
    x = np.ones((2, 4), "float32")
    for training in (True, True, False):
        out = keras.ops.convert_to_numpy(layer(x, training=training))
        assert np.all(np.isfinite(out)) and not out.any()
    kernel = np.random.default_rng(5).standard_normal((4, 3)).astype("float32")
    layer.layer.kernel.assign(kernel)
    for _ in range(30):
        out = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_allclose(out, x @ (kernel / top_sigma(kernel)), rtol=1e-4, atol=1e-5)


def test_losses_of_the_wrapped_layer_are_kept():
    inner = keras.layers.Dense(2, activity_regularizer=keras.regularizers.L2(0.5))
    layer = SpectralNormalization(inner)
    x = np.ones((3, 4), "float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert len(layer.losses) == 1
    expected = 0.5 * np.sum(np.square(out)) / 3  # Keras divides activity penalties by the batch size
    assert float(keras.ops.convert_to_numpy(layer.losses[0])) == pytest.approx(expected, rel=1e-5)
