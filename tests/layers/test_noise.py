"""`GaussianNoise`, `MultiplicativeNoise`, `UniformNoise`: the whole-layer check, statistics, identity at inference,
seeds, scheduled strengths in a compiled `fit`, mixed precision and every bad argument's message."""

import keras
import numpy as np
import pytest

from kreg import schedules
from kreg.layers.noise import GaussianNoise, MultiplicativeNoise, UniformNoise
from kreg.testing import run_layer_test

LAYERS = [GaussianNoise, MultiplicativeNoise, UniformNoise]
ARGUMENT = {GaussianNoise: "stddev", MultiplicativeNoise: "stddev", UniformNoise: "scale"}
NO_WEIGHTS = "ignore:The model does not have any trainable weights"


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def make(cls, value, **kwargs):
    return cls(**{ARGUMENT[cls]: value}, **kwargs)


@pytest.mark.parametrize(
    "cls, value",
    [
        (GaussianNoise, 0.1),
        (MultiplicativeNoise, 0.2),
        (UniformNoise, schedules.Linear(0.3, 0.0, steps=10)),
    ],
    ids=["gaussian", "multiplicative", "uniform-scheduled"],
)
def test_run_layer_test(cls, value):
    run_layer_test(
        cls,
        {ARGUMENT[cls]: value, "seed": 3},
        input_shape=(2, 3, 4),
        expected_output_shape=(2, 3, 4),
        training_identity_at_inference=True,
    )


@pytest.mark.parametrize(
    "cls, noise_of, expected_std",
    [
        (GaussianNoise, lambda x, y: y - x, 0.25),
        (MultiplicativeNoise, lambda x, y: y / x - 1, 0.25),
        (UniformNoise, lambda x, y: y - x, 0.25 / np.sqrt(3)),
    ],
)
def test_noise_std_on_a_large_seeded_batch(cls, noise_of, expected_std):
    x = np.random.default_rng(0).uniform(0.5, 2.0, (128, 32, 32)).astype("float32")  # rank 3, 131072 entries
    y = numpy(make(cls, 0.25, seed=1)(x, training=True))
    drawn = noise_of(x.astype("float64"), y.astype("float64"))
    assert abs(drawn.std() - expected_std) <= 0.02 * expected_std


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("value", [0.5, 0.0, schedules.Linear(0.5, 0.0, steps=10)], ids=["number", "zero", "schedule"])
def test_inference_returns_the_input_itself(cls, value):
    x = keras.ops.convert_to_tensor(np.random.default_rng(1).standard_normal((4, 5, 6)).astype("float32"))
    layer = make(cls, value)
    assert layer(x, training=False) is x
    assert layer(x) is x
    if not isinstance(value, schedules.Schedule) and value == 0:
        assert layer(x, training=True) is x
    else:
        assert not np.array_equal(numpy(layer(x, training=True)), numpy(x))


@pytest.mark.parametrize("cls", LAYERS)
def test_the_same_seed_gives_the_same_output(cls):
    x = np.random.default_rng(2).standard_normal((8, 16)).astype("float32")
    a, b, c = make(cls, 0.3, seed=5), make(cls, 0.3, seed=5), make(cls, 0.3, seed=6)
    first = numpy(a(x, training=True))
    np.testing.assert_array_equal(numpy(b(x, training=True)), first)
    assert not np.array_equal(numpy(c(x, training=True)), first)
    assert not np.array_equal(numpy(a(x, training=True)), first)  # new noise at each call


@pytest.mark.filterwarnings(NO_WEIGHTS)
def test_scheduled_strengths_take_effect_in_a_compiled_fit(jit_compile):
    """One step per epoch: the loss of epoch k is the noise variance at step k; `current_values` reads step k + 1.

    One model, one branch per layer (one compilation): x = 0 for the additive noises (loss = stddev^2, scale^2 / 3),
    x = 1 for the multiplicative one (loss = stddev^2).
    """
    schedule = schedules.Linear(0.4, 0.0, steps=4)
    layers = {cls: make(cls, schedule, seed=index, name=cls.__name__) for index, cls in enumerate(LAYERS)}
    variance_of = {GaussianNoise: lambda v: v**2, MultiplicativeNoise: lambda v: v**2, UniformNoise: lambda v: v**2 / 3}
    zeros, ones = keras.Input((64,), name="zeros"), keras.Input((64,), name="ones")
    outputs = {cls.__name__: layer(ones if cls is MultiplicativeNoise else zeros) for cls, layer in layers.items()}
    model = keras.Model([zeros, ones], outputs)
    model.compile(optimizer="sgd", loss={name: "mse" for name in outputs}, jit_compile=jit_compile)
    x0, x1 = np.zeros((256, 64), "float32"), np.ones((256, 64), "float32")
    targets = {cls.__name__: x1 if cls is MultiplicativeNoise else x0 for cls in LAYERS}
    read = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: read.append({cls: layer.current_values() for cls, layer in layers.items()})
    )
    history = model.fit([x0, x1], targets, batch_size=256, epochs=6, shuffle=False, verbose=0, callbacks=[probe])
    values = [float(schedule(step)) for step in range(7)]
    for cls, layer in layers.items():
        np.testing.assert_allclose([r[cls][ARGUMENT[cls]] for r in read], values[1:], atol=1e-6)
        losses = history.history[f"{cls.__name__}_loss"]
        np.testing.assert_allclose(losses, [variance_of[cls](v) for v in values[:6]], rtol=0.06, atol=1e-7)
        assert int(numpy(layer.step)) == 6


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("cls", LAYERS)
def test_mixed_precision(cls, policy):
    """The output has the policy's compute dtype. (A compiled `fit` of every kreg noise layer and wrapper under both
    policies is in `tests/layers/test_weight_noise.py`.)"""
    keras.config.set_dtype_policy(policy)
    x = np.random.default_rng(3).standard_normal((32, 4, 8)).astype("float32")
    for value in (0.1, schedules.Linear(0.2, 0.0, steps=10)):
        out = make(cls, value, seed=0)(x, training=True)
        assert keras.backend.standardize_dtype(out.dtype) == policy.split("_")[1]
        assert np.all(np.isfinite(numpy(keras.ops.cast(out, "float32"))))


def test_config_keeps_what_the_user_passed():
    assert GaussianNoise(0.1, seed=4).get_config()["stddev"] == 0.1
    config = UniformNoise(schedules.Cosine(0.2, 0.0, steps=5)).get_config()
    rebuilt = UniformNoise.from_config(config)
    assert isinstance(rebuilt.scale, schedules.Cosine) and rebuilt.get_config() == config


def test_the_one_line_annealing_of_the_docs():
    layer = GaussianNoise(schedules.Linear(0.1, 0.0, steps=1000))
    assert layer.current_values() == {"stddev": pytest.approx(0.1)}
    layer.step.assign(500)
    assert layer.current_values() == {"stddev": pytest.approx(0.05)}
    layer.step.assign(1000)
    assert layer.current_values() == {"stddev": 0.0}


@pytest.mark.parametrize(
    "cls, value, expected",
    [
        (GaussianNoise, -0.1, "a non-negative finite float"),
        (GaussianNoise, float("inf"), "a non-negative finite float"),
        (GaussianNoise, "0.1", "a non-negative finite float"),
        (MultiplicativeNoise, -1, "a non-negative finite float"),
        (UniformNoise, -0.5, "a non-negative finite float"),
        (UniformNoise, None, "a non-negative finite float"),
        (UniformNoise, {"class_name": "Nope", "config": {}}, "a number or a schedule (or its config dict)"),
    ],
)
def test_bad_arguments(cls, value, expected):
    name = ARGUMENT[cls]
    with pytest.raises(ValueError) as error:
        make(cls, value)
    assert (
        str(error.value)
        == f"Invalid value received for argument `{name}`. Expected {expected}. Received: {name}={value!r}"
    )


def test_bad_seed():
    with pytest.raises(ValueError) as error:
        GaussianNoise(0.1, seed=1.5)
    assert (
        str(error.value)
        == "Invalid value received for argument `seed`. Expected an integer or None. Received: seed=1.5"
    )
