"""`ConcreteDropout`: the output and the added loss against NumPy, the learned rate, saving, every backend."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from kreg.layers.concrete_dropout import ConcreteDropout
from kreg.testing import run_layer_test
from kreg.testing.layer_test import check_random_layer


@keras.saving.register_keras_serializable(package="kreg_tests")
class ConcreteDense(ConcreteDropout):
    """`ConcreteDropout(Dense(units))` as one class, so the test helpers can build it from arguments."""

    def __init__(self, units=3, **kwargs):
        kwargs.pop("layer", None)
        super().__init__(keras.layers.Dense(units, name="inner"), **kwargs)
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
class ConcreteConv2D(ConcreteDropout):
    """`ConcreteDropout(Conv2D(filters, 3))` as one class, for the test helpers."""

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


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def numpy_mask(u, p, temperature, eps=1e-7):
    logit = np.log(p + eps) - np.log(1 - p + eps) + np.log(u + eps) - np.log(1 - u + eps)
    return 1.0 / (1.0 + np.exp(-logit / temperature))


def numpy_penalty(w, p, k, wr, dr):
    return wr * np.sum(w**2) / (1 - p) + dr * k * (p * np.log(p) + (1 - p) * np.log(1 - p))


def test_run_layer_test_dense():
    run_layer_test(
        ConcreteDense, {"units": 3, "init_rate": 0.2, "seed": 1}, input_shape=(4, 5), expected_output_shape=(4, 3)
    )


def test_run_layer_test_conv2d():
    run_layer_test(ConcreteConv2D, {"filters": 2}, input_shape=(2, 5, 5, 3), expected_output_shape=(2, 5, 5, 2))


def test_random_layer_contract():
    check_random_layer(
        ConcreteDense, {"units": 4, "init_rate": 0.3}, input_shape=(8, 16), inference_returns_input=False
    )


def test_training_output_is_the_wrapped_layer_on_the_dropped_input():
    x = np.random.default_rng(0).standard_normal((6, 5)).astype("float32")
    layer = ConcreteDropout(
        keras.layers.Dense(4, bias_initializer="random_normal"), init_rate=0.3, temperature=0.2, seed=5
    )
    inference = to_numpy(layer(x, training=False))
    kernel, bias = to_numpy(layer.layer.kernel), to_numpy(layer.layer.bias)
    np.testing.assert_allclose(inference, x @ kernel + bias, rtol=1e-5, atol=1e-6)  # inference: no dropout
    assert layer.losses == []  # and no penalty
    out = to_numpy(layer(x, training=True))
    u = to_numpy(keras.random.uniform(x.shape, seed=keras.random.SeedGenerator(5)))  # the layer's first draw
    p = layer.rate
    assert p == pytest.approx(0.3, rel=1e-6)
    expected = (x * (1 - numpy_mask(u, p, 0.2)) / (1 - p)) @ kernel + bias
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "inner, input_shape, k",
    [
        (lambda: keras.layers.Dense(3), (4, 7), 7),
        (lambda: keras.layers.Conv2D(2, 3), (2, 6, 6, 3), 6 * 6 * 3),  # one mask entry per input entry
    ],
)
def test_the_added_loss_is_the_concrete_dropout_penalty(inner, input_shape, k):
    layer = ConcreteDropout(inner(), init_rate=0.15, weight_regularizer=1e-3, dropout_regularizer=1e-4)
    x = np.random.default_rng(1).standard_normal(input_shape).astype("float32")
    layer(x, training=True)
    (loss,) = layer.losses
    expected = numpy_penalty(to_numpy(layer.layer.kernel), layer.rate, k, 1e-3, 1e-4)
    assert float(to_numpy(loss)) == pytest.approx(expected, rel=1e-5)
    layer(x, training=False)
    assert layer.losses == []


def test_one_sgd_step_follows_the_gradient_of_the_penalty(jit_compile):
    """On a zero input the data loss depends on neither `p` nor `W`: one SGD step is the penalty's gradient.

    With `a = logit(p)`, `S = sum(W^2)`: `dL/da = wr * S * p / (1 - p) + dr * K * p (1 - p) a` and
    `dL/dW = 2 wr W / (1 - p)`.
    """
    k, wr, dr, lr = 6, 0.05, 0.01, 0.5
    layer = ConcreteDropout(
        keras.layers.Dense(2, use_bias=False), init_rate=0.2, weight_regularizer=wr, dropout_regularizer=dr
    )
    model = keras.Sequential([keras.Input((k,)), layer])
    model.compile(keras.optimizers.SGD(lr), "mse", jit_compile=jit_compile)
    w, a = to_numpy(layer.layer.kernel), to_numpy(layer.p_logit)
    p = 1 / (1 + np.exp(-a))
    history = model.fit(np.zeros((4, k), "float32"), np.ones((4, 2), "float32"), batch_size=4, verbose=0)
    assert history.history["loss"][0] == pytest.approx(1.0 + numpy_penalty(w, p, k, wr, dr), rel=1e-5)
    grad_a = wr * np.sum(w**2) * p / (1 - p) + dr * k * p * (1 - p) * a
    np.testing.assert_allclose(to_numpy(layer.p_logit), a - lr * grad_a, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(layer.layer.kernel), w - lr * 2 * wr * w / (1 - p), rtol=1e-5, atol=1e-7)


def test_the_rate_is_learned(jit_compile):
    """Two tasks in one model: dropping informative inputs hurts (the rate falls); dropping pure-noise inputs is free
    and the entropy term raises the rate."""
    rng = np.random.default_rng(0)
    x_signal = rng.standard_normal((256, 8)).astype("float32")
    y_signal = x_signal @ rng.standard_normal((8, 1)).astype("float32")
    x_noise = rng.standard_normal((256, 8)).astype("float32")
    y_noise = rng.standard_normal((256, 1)).astype("float32")
    informative = ConcreteDropout(keras.layers.Dense(1), init_rate=0.5, seed=0, name="informative")
    useless = ConcreteDropout(
        keras.layers.Dense(1, kernel_initializer="zeros"),
        init_rate=0.05,
        dropout_regularizer=0.1,
        seed=1,
        name="useless",
    )
    inputs = [keras.Input((8,)), keras.Input((8,))]
    model = keras.Model(inputs, [informative(inputs[0]), useless(inputs[1])])
    model.compile(keras.optimizers.Adam(0.05), ["mse", "mse"], jit_compile=jit_compile)
    rates = [(informative.rate, useless.rate)]

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model  # noqa: B018 (on JAX, reading `self.model` syncs the trained values into the variables)
            rates.append((informative.rate, useless.rate))

    model.fit([x_signal, x_noise], [y_signal, y_noise], batch_size=64, epochs=8, verbose=0, callbacks=[Record()])
    rates = np.array(rates)
    assert np.all((rates > 0) & (rates < 1))
    # After a first epoch of adjustment, each rate moves one way: 0.5 -> about 0.2-0.35, 0.05 -> about 0.2.
    assert rates[-1, 0] < 0.4 and np.all(np.diff(rates[1:, 0]) < 0), rates[:, 0]
    assert rates[-1, 1] > 0.1 and np.all(np.diff(rates[1:, 1]) > 0), rates[:, 1]
    assert informative.current_values() == {"rate": rates[-1, 0]}


def test_save_and_load_without_custom_objects(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            ConcreteDropout(keras.layers.Conv2D(3, 3), init_rate=0.2, seed=3, name="conv"),
            keras.layers.Flatten(),
            ConcreteDropout(
                keras.layers.Dense(1), init_rate=0.4, temperature=0.3, dropout_regularizer=1e-4, name="head"
            ),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), "mse")  # (compiled training is tested above; see also run_layer_test)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 6, 6, 2)).astype("float32")
    y = rng.standard_normal((32, 1)).astype("float32")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for name in ("conv", "head"):
        original, restored = model.get_layer(name), loaded.get_layer(name)
        assert type(restored) is ConcreteDropout and restored.layer.get_config() == original.layer.get_config()
        # (The wrapped layer's `build_config` comes back from JSON with a list for the tuple input shape.)
        settings = [{k: v for k, v in layer.get_config().items() if k != "layer"} for layer in (original, restored)]
        assert settings[0] == settings[1]
        assert restored.rate == original.rate and original.rate not in (0.2, 0.4)  # the learned rate, not init_rate
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_config_round_trip():
    layer = ConcreteDropout(
        keras.layers.Dense(3), init_rate=0.25, temperature=0.5, weight_regularizer=0, dropout_regularizer=2e-3, seed=4
    )
    config = layer.get_config()
    assert {
        k: config[k] for k in ("init_rate", "temperature", "weight_regularizer", "dropout_regularizer", "seed")
    } == {
        "init_rate": 0.25,
        "temperature": 0.5,
        "weight_regularizer": 0.0,
        "dropout_regularizer": 2e-3,
        "seed": 4,
    }
    rebuilt = ConcreteDropout.from_config(config)
    assert isinstance(rebuilt.layer, keras.layers.Dense) and rebuilt.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is ConcreteDropout and restored.get_config() == config


def test_the_rate_before_and_after_build():
    layer = ConcreteDropout(keras.layers.Dense(2), init_rate=0.35)
    assert layer.rate == 0.35 and layer.current_values() == {"rate": 0.35}
    layer.build((None, 4))
    assert layer.rate == pytest.approx(0.35, rel=1e-6)
    assert [w.name for w in layer.trainable_weights].count("p_logit") == 1


def test_mixed_precision(jit_compile):
    keras.config.set_dtype_policy("mixed_float16")
    layer = ConcreteDropout(keras.layers.Dense(2), init_rate=0.3, seed=0)
    model = keras.Sequential([keras.Input((5,)), layer])
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=jit_compile)
    x = np.random.default_rng(3).standard_normal((32, 5)).astype("float32")
    out = model(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    (loss,) = model.losses
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    assert float(to_numpy(loss)) == pytest.approx(
        numpy_penalty(to_numpy(layer.layer.kernel), layer.rate, 5, 1e-6, 1e-5), rel=1e-5
    )
    assert layer.p_logit.dtype == "float32"
    history = model.fit(x, x[:, :2] * 2.0, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert 0.0 < layer.rate < 1.0 and layer.rate != pytest.approx(0.3, abs=1e-3)  # learned under mixed precision


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"layer": 3},
            "Invalid value received for argument `layer`. Expected a `keras.layers.Layer` instance. Received: layer=3",
        ),
        (
            {"init_rate": 0.0},
            "Invalid value received for argument `init_rate`. Expected a finite float in (0.0, 1.0). Received: init_rate=0.0",
        ),
        (
            {"init_rate": 1},
            "Invalid value received for argument `init_rate`. Expected a finite float in (0.0, 1.0). Received: init_rate=1",
        ),
        (
            {"init_rate": "0.1"},
            "Invalid value received for argument `init_rate`. Expected a finite float in (0.0, 1.0). Received: init_rate='0.1'",
        ),
        (
            {"temperature": 0.0},
            "Invalid value received for argument `temperature`. Expected a positive finite float. Received: temperature=0.0",
        ),
        (
            {"weight_regularizer": -1e-6},
            "Invalid value received for argument `weight_regularizer`. Expected a non-negative finite float. Received: weight_regularizer=-1e-06",
        ),
        (
            {"dropout_regularizer": float("nan")},
            "Invalid value received for argument `dropout_regularizer`. Expected a non-negative finite float. Received: dropout_regularizer=nan",
        ),
        ({"seed": 1.5}, "Invalid value received for argument `seed`. Expected an integer or None. Received: seed=1.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs = {"layer": keras.layers.Dense(2), **kwargs}
    with pytest.raises(ValueError) as error:
        ConcreteDropout(**kwargs)
    assert str(error.value) == message


def test_a_layer_without_kernel_is_refused_at_build():
    with pytest.raises(
        ValueError, match=r"^ConcreteDropout needs a layer with a `kernel` weight; Dropout \(name='drop'\) has none\.$"
    ):
        ConcreteDropout(keras.layers.Dropout(0.5, name="drop"))(np.ones((2, 3), "float32"))
