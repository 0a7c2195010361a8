"""`FeatureMask`, `SwapNoise`, `TimeMask`, `FrequencyMask`: the whole-layer checks, rates and invariants through the
layers, identity at inference, schedules in a compiled `fit`, real training with `jit_compile`, `.keras` round trips,
mixed precision, a batch of one and every bad argument's message."""

import os

import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from kreg import schedules
from kreg.layers.masking import FeatureMask, FrequencyMask, SwapNoise, TimeMask
from kreg.ops.masking import mask_spans
from kreg.testing import check_random_layer, run_layer_test

NO_WEIGHTS = "ignore:The model does not have any trainable weights"

# (class, constructor arguments, input shape) for the shared checks.
CASES = {
    "feature_mask": (FeatureMask, {"rate": 0.3}, (8, 16)),
    "feature_mask_scheduled": (
        FeatureMask,
        {"rate": schedules.Linear(0.1, 0.4, steps=10), "mask_value": -1.0},
        (8, 16),
    ),
    "swap_noise": (SwapNoise, {"rate": 0.3}, (8, 16)),
    "swap_noise_scheduled": (SwapNoise, {"rate": schedules.Cosine(0.5, 0.0, steps=10)}, (8, 16)),
    "time_mask": (TimeMask, {"max_width": 3, "count": 2, "data_format": "channels_last"}, (8, 10, 4)),
    "time_mask_channels_first": (TimeMask, {"max_width": 3, "data_format": "channels_first"}, (8, 2, 10, 4)),
    "frequency_mask": (FrequencyMask, {"max_width": 2, "count": 2, "data_format": "channels_last"}, (8, 10, 4, 2)),
    "frequency_mask_channels_first": (FrequencyMask, {"max_width": 2, "data_format": "channels_first"}, (8, 4, 10)),
}


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def positive(shape, seed=0):
    return np.random.default_rng(seed).uniform(1.0, 2.0, shape).astype("float32")


@pytest.mark.parametrize("case", CASES)
def test_run_layer_test(case):
    cls, kwargs, shape = CASES[case]
    run_layer_test(
        cls,
        {**kwargs, "seed": 3},
        input_shape=(2,) + shape[1:],
        expected_output_shape=(2,) + shape[1:],
        training_identity_at_inference=True,
    )


@pytest.mark.parametrize("case", CASES)
def test_check_random_layer(case):
    cls, kwargs, shape = CASES[case]
    check_random_layer(cls, kwargs, input_shape=shape)


@pytest.mark.parametrize("rate", [0.1, schedules.Constant(0.1)], ids=["number", "schedule"])
def test_feature_mask_rate_within_two_percent(rate):
    x = positive((1024, 1024))
    out = numpy(FeatureMask(rate, mask_value=-7.5, seed=1)(x, training=True))
    masked = out == -7.5
    assert abs(masked.mean() - 0.1) <= 0.02 * 0.1
    np.testing.assert_array_equal(out[~masked], x[~masked])


def test_swap_noise_rate_within_two_percent_and_same_column():
    batch, features = 512, 1024
    x = (np.arange(features)[None, :] * batch + np.arange(batch)[:, None]).astype("float32")
    out = numpy(SwapNoise(0.15, seed=2)(x, training=True)).astype("int64")
    np.testing.assert_array_equal(out // batch, np.broadcast_to(np.arange(features), out.shape))
    assert abs((out != x).mean() - 0.15) <= 0.02 * 0.15


def test_time_mask_layer_draws_the_spans_of_the_op():
    """The layer's first call with `seed=s` draws the spans `mask_spans(..., seed=SeedGenerator(s))` draws."""
    x = positive((64, 30, 5))
    out = numpy(TimeMask(6, count=2, mask_value=-7.5, data_format="channels_last", seed=4)(x, training=True))
    starts, widths = (numpy(t) for t in mask_spans(64, 30, 6, 2, seed=keras.random.SeedGenerator(4)))
    expected = ((np.arange(30) >= starts[..., None]) & (np.arange(30) < (starts + widths)[..., None])).any(axis=1)
    np.testing.assert_array_equal(out == -7.5, np.repeat(expected[:, :, None], 5, axis=2))
    assert np.all(widths <= 6)


@pytest.mark.parametrize("case", CASES)
def test_inference_returns_the_input_itself(case):
    cls, kwargs, shape = CASES[case]
    x = keras.ops.convert_to_tensor(positive(shape))
    layer = cls(**kwargs)
    assert layer(x, training=False) is x
    assert layer(x) is x
    assert not np.array_equal(numpy(layer(x, training=True)), numpy(x))


def test_a_rate_of_zero_returns_the_input_itself_in_training():
    x = keras.ops.convert_to_tensor(positive((4, 6)))
    assert FeatureMask(0.0)(x, training=True) is x
    assert SwapNoise(0)(x, training=True) is x


@pytest.mark.parametrize("case", CASES)
def test_a_batch_of_one(case):
    cls, kwargs, shape = CASES[case]
    x = positive((1,) + shape[1:])
    out = numpy(cls(**kwargs, seed=0)(x, training=True))
    assert out.shape == x.shape
    if cls is SwapNoise:
        np.testing.assert_array_equal(out, x)  # no other row to swap with


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("case", CASES)
def test_mixed_precision(case, policy):
    cls, kwargs, shape = CASES[case]
    keras.config.set_dtype_policy(policy)
    x = positive(shape)
    out = cls(**kwargs, seed=0)(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
    out = numpy(keras.ops.cast(out, "float32"))
    reference = numpy(keras.ops.cast(keras.ops.cast(x, policy.split("_")[1]), "float32"))
    if cls is SwapNoise:
        assert np.all((out[:, None] == reference[None, :]).any(axis=1))
    else:
        assert np.all((out == reference) | (out == kwargs.get("mask_value", 0.0)))


@pytest.mark.filterwarnings(NO_WEIGHTS)
def test_scheduled_rates_take_effect_in_a_compiled_fit(jit_compile):
    """One step per epoch; the loss of epoch k is a known function of the rate at step k.

    FeatureMask on ones with mask_value 0: loss = rate. SwapNoise on rows of +1 and -1 (alternating): a swapped entry
    comes from a row of the other sign with probability (B / 2) / (B - 1), an error of 4: loss = rate * 4 * 128 / 255.
    """
    schedule = schedules.Linear(0.0, 0.5, steps=4)
    mask = FeatureMask(schedule, seed=0, name="mask")
    swap = SwapNoise(schedule, seed=1, name="swap")
    ones, signs = keras.Input((1024,), name="ones"), keras.Input((1024,), name="signs")
    model = keras.Model([ones, signs], {"mask": mask(ones), "swap": swap(signs)})
    model.compile(optimizer="sgd", loss={"mask": "mse", "swap": "mse"}, jit_compile=jit_compile)
    x1 = np.ones((256, 1024), "float32")  # 2^18 entries: the losses' standard errors are <= 1% of their expectations
    xs = np.where(np.arange(256)[:, None] % 2 == 0, 1.0, -1.0) * np.ones((256, 1024), "float32")
    history = model.fit([x1, xs], {"mask": x1, "swap": xs}, batch_size=256, epochs=6, shuffle=False, verbose=0)
    rates = np.array([float(schedule(step)) for step in range(6)])
    np.testing.assert_allclose(history.history["mask_loss"], rates, rtol=0.05, atol=1e-7)
    np.testing.assert_allclose(history.history["swap_loss"], rates * 4 * 128 / 255, rtol=0.05, atol=1e-7)
    assert int(numpy(mask.step)) == int(numpy(swap.step)) == 6
    assert mask.current_values() == {"rate": 0.5}


def test_tabular_training_with_jit_compile_and_a_keras_round_trip(jit_compile, tmp_path):
    """FeatureMask and SwapNoise in front of an MLP on scikit-learn's breast cancer data, compiled: it learns, and the
    saved model loads without custom objects, predicts the same and keeps training."""
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(axis=0)) / x.std(axis=0)).astype("float32")
    y = y.astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((30,)),
            SwapNoise(schedules.Linear(0.0, 0.15, steps=20), seed=0),
            FeatureMask(0.1, seed=1),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=64, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.93
    path = os.path.join(tmp_path, "tabular.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert isinstance(loaded.layers[0], SwapNoise) and loaded.layers[0].get_config() == model.layers[0].get_config()
    assert int(numpy(loaded.layers[0].step)) == int(numpy(model.layers[0].step)) > 0  # the schedule's step is saved
    loaded.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", jit_compile=jit_compile)
    assert np.isfinite(loaded.fit(x, y, batch_size=64, epochs=1, verbose=0).history["loss"][-1])


def test_sequence_training_with_jit_compile(jit_compile, tmp_path):
    """SpecAugment masks on a variable-length input (time axis `None`) of a small classifier, compiled."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 512)
    x = rng.standard_normal((512, 24, 12)).astype("float32") * 0.5
    x[labels == 1, :, 3:6] += 1.5  # class 1: a band of frequencies is louder at every step
    inputs = keras.Input((None, 12))
    h = FrequencyMask(2, count=1, data_format="channels_last", seed=0)(inputs)
    h = TimeMask(5, count=2, data_format="channels_last", seed=1)(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    model.fit(x, labels, batch_size=64, epochs=5, verbose=0)
    assert model.evaluate(x, labels, verbose=0)[1] > 0.95
    path = os.path.join(tmp_path, "sequence.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert [layer.get_config() for layer in loaded.layers[1:3]] == [layer.get_config() for layer in model.layers[1:3]]


def test_data_format_defaults_to_the_image_data_format():
    assert TimeMask(3).data_format == keras.config.image_data_format()
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        layer = FrequencyMask(3)
        assert layer.data_format == "channels_first"
        out = numpy(FrequencyMask(3, mask_value=-7.5, seed=0)(positive((64, 8, 5)), training=True))
        masked = out == -7.5
        np.testing.assert_array_equal(masked, np.repeat(masked[:, :, :1], 5, axis=2))  # (batch, freq, time)
    finally:
        keras.config.set_image_data_format(previous)


def test_config_keeps_what_the_user_passed():
    config = TimeMask(7, count=3, mask_value=-1.0, data_format="channels_first", seed=2).get_config()
    assert {k: config[k] for k in ("max_width", "count", "mask_value", "data_format", "seed")} == {
        "max_width": 7,
        "count": 3,
        "mask_value": -1.0,
        "data_format": "channels_first",
        "seed": 2,
    }
    config = FeatureMask(schedules.Step([10], [0.1, 0.2]), mask_value=2).get_config()
    assert config["mask_value"] == 2.0 and isinstance(config["rate"], dict)
    assert FeatureMask.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: FeatureMask(1.0), "Expected a finite float in [0.0, 1.0). Received: rate=1.0"),
        (lambda: FeatureMask(-0.1), "Expected a finite float in [0.0, 1.0). Received: rate=-0.1"),
        (lambda: SwapNoise(1.5), "Expected a finite float in [0.0, 1.0). Received: rate=1.5"),
        (lambda: SwapNoise(None), "Expected a finite float in [0.0, 1.0). Received: rate=None"),
        (
            lambda: SwapNoise(schedules.Linear(0.0, 1.0, steps=5)),
            "Expected a float in [0, 1) or a schedule whose values stay in [0, 1). "
            "Received: rate=Linear(start=0.0, end=1.0, steps=5, delay=0)",
        ),
        (lambda: FeatureMask(0.1, mask_value=float("inf")), "Expected a finite float. Received: mask_value=inf"),
        (lambda: TimeMask(0), "Expected an integer >= 1. Received: max_width=0"),
        (lambda: TimeMask(-2), "Expected an integer >= 1. Received: max_width=-2"),
        (lambda: FrequencyMask(2.5), "Expected an integer >= 1. Received: max_width=2.5"),
        (lambda: FrequencyMask(3, count=0), "Expected an integer >= 1. Received: count=0"),
        (
            lambda: TimeMask(3, data_format="nhwc"),
            "Expected one of 'channels_last', 'channels_first'. Received: data_format='nhwc'",
        ),
        (lambda: TimeMask(3, seed=0.5), "Expected an integer or None. Received: seed=0.5"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value).startswith("Invalid value received for argument `")
    assert str(error.value).endswith(message)


def test_a_max_width_wider_than_the_axis_at_call_time():
    message = (
        "Invalid value received for argument `max_width`. Expected an integer in [1, 8] (a span must fit in the "
        "input's time axis (axis 1) of size 8). Received: max_width=9"
    )
    with pytest.raises(ValueError) as error:
        TimeMask(9, data_format="channels_last")(keras.Input((8, 4)))  # when building on a symbolic input
    assert str(error.value) == message
    layer = TimeMask(9, data_format="channels_last")
    layer(keras.Input((None, 4)))  # an unknown length builds ...
    with pytest.raises(ValueError) as error:
        layer(positive((2, 8, 4)), training=True)  # ... and a call on 8 steps raises
    assert message in str(error.value)  # (Keras prefixes an error raised in `call` with the layer's name)
    with pytest.raises(ValueError, match=r"frequency axis \(axis 3\) of size 4\)\. Received: max_width=5"):
        FrequencyMask(5, data_format="channels_first")(positive((2, 1, 8, 4)), training=True)


def test_a_wrong_rank():
    with pytest.raises(ValueError) as error:
        TimeMask(2, data_format="channels_last")(keras.Input((8,)))
    assert str(error.value) == (
        "Invalid value received for argument `inputs`. Expected a rank-3 or rank-4 tensor (batch, time, freq) or "
        "(batch, time, freq, channels) for data_format='channels_last'. Received: inputs with shape (None, 8)"
    )
