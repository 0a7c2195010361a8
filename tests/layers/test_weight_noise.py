"""`WeightNoise` and `DropConnect`: the whole-layer check, the effective kernel, the gradient through it, the plain
layer at inference, serialization, scheduled strengths in a compiled `fit`, mixed precision and bad arguments."""

import os

import keras
import numpy as np
import pytest

from kreg import schedules
from kreg.layers.noise import GaussianNoise, MultiplicativeNoise, UniformNoise
from kreg.layers.weight_noise import DropConnect, WeightNoise
from kreg.ops.noise import drop_connect_keep
from kreg.testing import run_layer_test

KERNEL_LAYER = "a layer with a `kernel` weight (Dense, EinsumDense, Conv1D/2D/3D, ...)"
WRAPPERS = [(WeightNoise, 0.1), (DropConnect, 0.4)]


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def first_draw(layer, jit_compile):
    """`layer.perturbed_kernel(training=True)` drawn as a compiled training step draws it.

    TensorFlow's XLA picks another random-number algorithm than its eager kernels (JAX's and PyTorch's streams do
    not depend on compilation), so on TensorFlow with `jit_compile` the draw is compiled too.
    """
    if keras.backend.backend() == "tensorflow" and jit_compile:
        import tensorflow as tf

        return tf.function(lambda: layer.perturbed_kernel(training=True), jit_compile=True)()
    return layer.perturbed_kernel(training=True)


class Wrapped:
    """`run_layer_test` builds its layer from keyword arguments; this builds `wrapper(inner(), **kwargs)` each time,
    so the layer under test (and what it saves and loads) is the real wrapper, not a test subclass."""

    def __init__(self, wrapper, inner):
        self.wrapper, self.inner = wrapper, inner

    def __call__(self, **kwargs):
        return self.wrapper(self.inner(), **kwargs)

    def from_config(self, config):
        return self.wrapper.from_config(config)


@pytest.mark.parametrize(
    "wrapper, kwargs",
    [
        (WeightNoise, {"stddev": 0.05, "seed": 1}),
        (DropConnect, {"rate": schedules.Linear(0.0, 0.5, steps=10), "seed": 2}),
    ],
    ids=["weight-noise", "drop-connect-scheduled"],
)
def test_run_layer_test(wrapper, kwargs):
    run_layer_test(
        Wrapped(wrapper, lambda: keras.layers.Dense(3)), kwargs, input_shape=(4, 5), expected_output_shape=(4, 3)
    )


LAYER_TYPES = {
    "Dense-rank3": (lambda: keras.layers.Dense(4), (2, 3, 5)),
    "EinsumDense": (lambda: keras.layers.EinsumDense("abc,cd->abd", output_shape=(3, 4), bias_axes="d"), (2, 3, 5)),
    "Conv1D": (lambda: keras.layers.Conv1D(4, 3), (2, 8, 3)),
    "Conv2D": (lambda: keras.layers.Conv2D(4, 3, padding="same"), (2, 6, 6, 3)),
    "Conv3D": (lambda: keras.layers.Conv3D(2, 2), (2, 4, 4, 4, 2)),
    "Conv2DTranspose": (lambda: keras.layers.Conv2DTranspose(2, 3), (2, 5, 5, 3)),
}


@pytest.mark.parametrize("wrapper, value", WRAPPERS, ids=["weight-noise", "drop-connect"])
@pytest.mark.parametrize("layer_type", list(LAYER_TYPES))
def test_works_on_kernel_layers_and_is_the_plain_layer_at_inference(wrapper, value, layer_type):
    make_inner, shape = LAYER_TYPES[layer_type]
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    layer = wrapper(make_inner(), value, seed=3)
    inference = numpy(layer(x, training=False))
    kernel = numpy(layer.layer.kernel)
    np.testing.assert_array_equal(inference, numpy(layer.layer(x)))  # the wrapped layer's plain output
    training = numpy(layer(x, training=True))
    assert training.shape == inference.shape == tuple(layer.compute_output_shape(shape))
    assert not np.allclose(training, inference)
    np.testing.assert_array_equal(numpy(layer.layer.kernel), kernel)  # never overwritten


def test_drop_connect_kernel_entries_are_exactly_zero_or_w_over_keep():
    rate = 0.3
    layer = DropConnect(keras.layers.Dense(512), rate, seed=4)
    layer.build((None, 256))
    w = numpy(layer.layer.kernel)
    effective = numpy(layer.perturbed_kernel(training=True))
    dropped = effective == 0
    assert abs(dropped.mean() - rate) <= 0.02
    keep = np.float32(drop_connect_keep(rate))
    # Bit for bit the backend's own `w / keep` (to 1 ulp of NumPy's: XLA's float32 division on CPU).
    np.testing.assert_array_equal(effective[~dropped], numpy(keras.ops.divide(w, keep))[~dropped])
    np.testing.assert_array_max_ulp(effective[~dropped], w[~dropped] / keep, maxulp=1)
    np.testing.assert_array_equal(numpy(layer.perturbed_kernel(training=False)), w)


def test_weight_noise_std_on_a_large_kernel():
    layer = WeightNoise(keras.layers.Dense(512), 0.05, seed=5)
    layer.build((None, 256))
    w = numpy(layer.layer.kernel).astype("float64")
    drawn = numpy(layer.perturbed_kernel(training=True)).astype("float64") - w
    assert abs(drawn.std() - 0.05) <= 0.02 * 0.05 and abs(drawn.mean()) <= 0.001


@pytest.mark.parametrize("wrapper, value", WRAPPERS, ids=["weight-noise", "drop-connect"])
def test_the_training_call_uses_the_perturbed_kernel_and_the_same_seed_repeats(wrapper, value):
    """Two wrappers with the same seed and kernel: one's training output is `x @ K + b` with the other's first kernel."""
    x = np.random.default_rng(6).standard_normal((8, 6)).astype("float32")

    def make(seed):
        init = keras.initializers.GlorotUniform(seed=0)
        layer = wrapper(keras.layers.Dense(5, kernel_initializer=init, bias_initializer="ones"), value, seed=seed)
        layer.build((None, 6))
        return layer

    a, b, c = make(7), make(7), make(8)
    out = numpy(a(x, training=True))
    np.testing.assert_array_equal(numpy(b(x, training=True)), out)
    assert not np.allclose(numpy(c(x, training=True)), out)
    kernel = numpy(make(7).perturbed_kernel(training=True))
    np.testing.assert_allclose(out, x @ kernel + 1.0, rtol=1e-5, atol=1e-5)


def test_the_gradient_reaches_the_kernel_through_the_perturbed_kernel(jit_compile):
    """One SGD step of `fit` equals NumPy's step through the perturbed kernel `K` (replayed from the same seed):
    `dL/dW = dL/dK` for weight noise, `dL/dK * mask / keep` for DropConnect (dropped entries do not move).

    One model, one branch per wrapper (one compilation); each kernel only reaches its own output's loss.
    """
    rng = np.random.default_rng(7)
    x = rng.standard_normal((16, 5)).astype("float32")
    y = {
        "noisy": rng.standard_normal((16, 3)).astype("float32"),
        "dropped": rng.standard_normal((16, 3)).astype("float32"),
    }

    def make(wrapper, value, seed):
        init = keras.initializers.GlorotUniform(seed=seed)
        layer = wrapper(keras.layers.Dense(3, use_bias=False, kernel_initializer=init), value, seed=seed)
        layer.build((None, 5))
        return layer

    rate = 0.4
    wrappers = {"noisy": (WeightNoise, 0.3, 8), "dropped": (DropConnect, rate, 9)}
    layers = {name: make(*args) for name, args in wrappers.items()}
    inputs = keras.Input((5,))
    model = keras.Model(inputs, {name: layer(inputs) for name, layer in layers.items()})
    model.compile(keras.optimizers.SGD(0.1), {name: "mse" for name in layers}, jit_compile=jit_compile)
    before = {name: numpy(layer.layer.kernel).astype("float64") for name, layer in layers.items()}
    # The first draw of each seed, as the compiled step draws it.
    kernels = {name: numpy(first_draw(make(*args), jit_compile)).astype("float64") for name, args in wrappers.items()}
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for name, layer in layers.items():
        w, kernel = before[name], kernels[name]
        residual = x @ kernel - y[name]
        g = x.T @ (2 * residual / residual.size)
        grad = g if name == "noisy" else g * (kernel != 0) / drop_connect_keep(rate)
        after = numpy(layer.layer.kernel)
        np.testing.assert_allclose(after, w - 0.1 * grad, rtol=1e-4, atol=1e-6)
        plain = x.T @ (2 * (x @ w - y[name]) / residual.size)
        assert not np.allclose(after, w - 0.1 * plain, rtol=1e-4, atol=1e-6)
    dropped = kernels["dropped"] == 0
    assert dropped.any()
    np.testing.assert_array_equal(
        numpy(layers["dropped"].layer.kernel)[dropped], before["dropped"][dropped].astype("float32")
    )


@pytest.mark.parametrize(
    "wrapper, value",
    [(WeightNoise, 0.1), (DropConnect, schedules.Step([5], [0.1, 0.2]))],
    ids=["weight-noise", "drop-connect-scheduled"],
)
def test_config_round_trip(wrapper, value):
    layer = wrapper(keras.layers.Conv2D(4, 3, name="inner"), value, seed=2, name="outer")
    config = layer.get_config()
    assert config["seed"] == 2 and config["layer"]["class_name"] == "Conv2D"
    rebuilt = wrapper.from_config(config)
    assert "layer" in config  # from_config works on a copy (keras.layers.Wrapper.from_config pops "layer")
    assert isinstance(rebuilt.layer, keras.layers.Conv2D) and rebuilt.get_config() == config
    parameter = "stddev" if wrapper is WeightNoise else "rate"
    assert type(getattr(rebuilt, parameter)) is type(value)


def test_keras_save_and_load_without_custom_objects(tmp_path):
    x = np.random.default_rng(8).standard_normal((16, 6)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((6,)),
            WeightNoise(keras.layers.Dense(8, activation="relu"), schedules.Linear(0.1, 0.0, steps=10), seed=1),
            DropConnect(keras.layers.Dense(2), schedules.Cosine(0.0, 0.5, steps=10), seed=2),
        ]
    )
    for layer in model.layers:
        layer.step.assign(4)  # as after four training steps (`fit` is covered by run_layer_test's saving check)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [WeightNoise, DropConnect]
    for original, restored in zip(model.layers, loaded.layers):
        drop_layer = lambda config: {k: v for k, v in config.items() if k != "layer"}  # noqa: E731 (tuples -> lists)
        assert drop_layer(restored.get_config()) == drop_layer(original.get_config())
        assert restored.current_values() == pytest.approx(original.current_values())
        assert int(numpy(restored.step)) == 4
        np.testing.assert_array_equal(numpy(restored.layer.kernel), numpy(original.layer.kernel))
    np.testing.assert_array_equal(numpy(loaded(x)), numpy(model(x)))


def test_scheduled_strengths_take_effect_in_a_compiled_fit(jit_compile):
    """One step per epoch, learning rate 0, on inputs of ones (one model, one branch per wrapper):

    - `WeightNoise(Dense(1024), stddev)` on a zero kernel: each output is a sum of 64 noise draws, loss `64 stddev^2`.
    - `DropConnect(Dense(1024), rate)` on a kernel of ones, target 64: loss `64 rate / (1 - rate)` (binomial).
    """
    noise_schedule, rate_schedule = schedules.Linear(0.4, 0.0, steps=4), schedules.Linear(0.5, 0.0, steps=4)
    noisy = WeightNoise(keras.layers.Dense(1024, use_bias=False, kernel_initializer="zeros"), noise_schedule, seed=0)
    dropped = DropConnect(keras.layers.Dense(1024, use_bias=False, kernel_initializer="ones"), rate_schedule, seed=1)
    inputs = keras.Input((64,))
    model = keras.Model(inputs, {"noisy": noisy(inputs), "dropped": dropped(inputs)})
    model.compile(keras.optimizers.SGD(0.0), {"noisy": "mse", "dropped": "mse"}, jit_compile=jit_compile)
    read = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: read.append((noisy.current_values(), dropped.current_values()))
    )
    x = np.ones((4, 64), "float32")
    targets = {"noisy": np.zeros((4, 1024), "float32"), "dropped": np.full((4, 1024), 64.0, "float32")}
    history = model.fit(x, targets, batch_size=4, epochs=6, shuffle=False, verbose=0, callbacks=[probe])
    stddevs = [float(noise_schedule(step)) for step in range(7)]
    rates = [float(rate_schedule(step)) for step in range(7)]
    np.testing.assert_allclose([r[0]["stddev"] for r in read], stddevs[1:], atol=1e-6)
    np.testing.assert_allclose([r[1]["rate"] for r in read], rates[1:], atol=1e-6)
    expected_noisy = [64 * s**2 for s in stddevs[:6]]
    expected_dropped = [64 * r / (1 - r) for r in rates[:6]]
    np.testing.assert_allclose(history.history["noisy_loss"], expected_noisy, rtol=0.2, atol=1e-6)
    np.testing.assert_allclose(history.history["dropped_loss"], expected_dropped, rtol=0.2, atol=1e-6)
    assert int(numpy(noisy.step)) == int(numpy(dropped.step)) == 6


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_in_a_compiled_fit_with_every_noise_layer(policy, jit_compile):
    keras.config.set_dtype_policy(policy)
    compute = policy.split("_")[1]
    annealed = schedules.Linear(0.1, 0.0, steps=100)
    noisy = WeightNoise(keras.layers.Dense(16, activation="relu"), annealed, seed=3)
    dropped = DropConnect(keras.layers.Dense(8), schedules.Linear(0.0, 0.5, steps=100), seed=4)
    model = keras.Sequential(
        [
            keras.Input((4, 8)),
            GaussianNoise(annealed, seed=0),
            MultiplicativeNoise(0.1, seed=1),
            UniformNoise(0.1, seed=2),
            keras.layers.Flatten(),
            noisy,
            dropped,
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    x = np.random.default_rng(9).standard_normal((32, 4, 8)).astype("float32")
    for wrapper, inputs in ((noisy, x.reshape(32, -1)), (dropped, np.ones((32, 16), "float32"))):
        out = wrapper(inputs, training=True)
        assert keras.backend.standardize_dtype(out.dtype) == compute
        assert keras.backend.standardize_dtype(wrapper.layer.kernel.dtype) == "float32"
    kernels = [numpy(noisy.layer.kernel), numpy(dropped.layer.kernel)]
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    history = model.fit(x, np.zeros((32, 1), "float32"), batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert not np.array_equal(numpy(noisy.layer.kernel), kernels[0])
    assert not np.array_equal(numpy(dropped.layer.kernel), kernels[1])
    assert int(numpy(dropped.step)) == 3  # one eager call above, two steps of fit


def test_losses_of_the_wrapped_layer_are_kept():
    layer = WeightNoise(keras.layers.Dense(2, activity_regularizer=keras.regularizers.L2(0.5)), 0.1)
    out = numpy(layer(np.ones((3, 4), "float32"), training=True))
    assert len(layer.losses) == 1
    assert float(numpy(layer.losses[0])) == pytest.approx(0.5 * np.sum(np.square(out)) / 3, rel=1e-5)


def _invalid(name, expected, value):
    return f"Invalid value received for argument `{name}`. Expected {expected}. Received: {name}={value!r}"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: WeightNoise(keras.layers.Dense(2), -0.1), _invalid("stddev", "a non-negative finite float", -0.1)),
        (lambda: WeightNoise(keras.layers.Dense(2), "a"), _invalid("stddev", "a non-negative finite float", "a")),
        (lambda: DropConnect(keras.layers.Dense(2), 1.0), _invalid("rate", "a finite float in [0.0, 1.0)", 1.0)),
        (lambda: DropConnect(keras.layers.Dense(2), -0.2), _invalid("rate", "a finite float in [0.0, 1.0)", -0.2)),
        (
            lambda: DropConnect(keras.layers.Dense(2), schedules.Linear(0.0, 1.0, steps=10)),
            _invalid(
                "rate", "a float in [0, 1) or a schedule with values in [0, 1)", schedules.Linear(0.0, 1.0, steps=10)
            ),
        ),
        (
            lambda: DropConnect(keras.layers.Dense(2), schedules.Step([3], [0.5, 1.5])),
            "Invalid value received for argument `rate`. Expected a float in [0, 1) or a schedule with values in "
            "[0, 1). Received: rate=Step(boundaries=[3], values=[0.5, 1.5])",
        ),
        (lambda: WeightNoise("dense", 0.1), _invalid("layer", "a `keras.layers.Layer` instance", "dense")),
        (lambda: DropConnect(None, 0.1), _invalid("layer", "a `keras.layers.Layer` instance", None)),
        (
            lambda: WeightNoise(keras.layers.Dropout(0.5, name="drop"), 0.1),
            f"Invalid value received for argument `layer`. Expected {KERNEL_LAYER}. "
            "Received: layer=<Dropout name=drop, built=True>",
        ),
        (
            lambda: DropConnect(keras.layers.Embedding(10, 4, name="emb"), 0.1)(np.zeros((2, 3), "int32")),
            f"Invalid value received for argument `layer`. Expected {KERNEL_LAYER}. "
            "Received: layer=<Embedding name=emb, built=True>",
        ),
        (
            lambda: DropConnect(keras.layers.Dense(2), 0.1, seed="s"),
            _invalid("seed", "an integer or None", "s"),
        ),
    ],
    ids=[
        "negative-stddev",
        "string-stddev",
        "rate-one",
        "negative-rate",
        "schedule-reaching-one",
        "step-schedule-above-one",
        "not-a-layer",
        "none",
        "built-layer-without-kernel",
        "layer-without-kernel-at-build",
        "seed",
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message
