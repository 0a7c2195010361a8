"""`DropPath` and `drop_path_rates`: the whole layer, identity at inference, scheduled rates in a compiled fit."""

import keras
import numpy as np
import pytest
from keras import ops

from kreg import schedules
from kreg.layers.drop_path import DropPath, drop_path_rates
from kreg.testing import run_layer_test


def test_run_layer_test_rank_2():
    run_layer_test(
        DropPath, {"rate": 0.3, "seed": 1}, input_shape=(4, 5), expected_output_shape=(4, 5),
        training_identity_at_inference=True,
    )  # fmt: skip


def test_run_layer_test_rank_4_with_a_scheduled_rate():
    run_layer_test(
        DropPath,
        {"rate": schedules.Linear(0.0, 0.5, steps=10), "seed": 1},
        input_shape=(4, 3, 3, 2),
        expected_output_shape=(4, 3, 3, 2),
        training_identity_at_inference=True,
    )


def test_inference_returns_the_input_itself():
    x = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((8, 4, 4, 3)).astype("float32"))
    for layer in (DropPath(0.5), DropPath(schedules.Linear(0.1, 0.5, steps=10)), DropPath(0.0)):
        assert layer(x, training=False) is x
        assert layer(x) is x  # training defaults to False outside fit
    assert DropPath(0.0)(x, training=True) is x
    numpy_x = np.ones((3, 2), "float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(DropPath(0.5)(numpy_x, training=False)), numpy_x)


def test_drop_fraction_and_exact_kept_values():
    x = np.random.default_rng(0).uniform(0.5, 2.0, (8000, 3, 2)).astype("float32")
    y = ops.convert_to_numpy(DropPath(0.2, seed=3)(x, training=True))
    kept = np.all(y.reshape(len(y), -1) != 0, axis=1)
    assert np.all(y[~kept] == 0)
    assert abs((1 - kept.mean()) - 0.2) < 0.02
    expected = ops.convert_to_numpy(ops.divide(ops.convert_to_tensor(x), ops.convert_to_tensor(np.float32(0.8))))
    np.testing.assert_array_equal(y[kept], expected[kept])


def test_same_seed_same_output_and_successive_calls_differ():
    x = np.random.default_rng(0).standard_normal((64, 6)).astype("float32")
    first, second = DropPath(0.5, seed=42), DropPath(0.5, seed=42)
    a = ops.convert_to_numpy(first(x, training=True))
    np.testing.assert_array_equal(a, ops.convert_to_numpy(second(x, training=True)))
    assert not np.array_equal(a, ops.convert_to_numpy(first(x, training=True)))


def test_mixed_precision_keeps_exactly_x_over_keep_in_float16():
    keras.config.set_dtype_policy("mixed_float16")  # conftest restores float32
    x = np.random.default_rng(0).uniform(0.5, 2.0, (512, 4)).astype("float32")
    y = DropPath(0.25, seed=0)(x, training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    y = ops.convert_to_numpy(y)
    kept = y[:, 0] != 0
    x16 = ops.convert_to_tensor(x.astype("float16"))
    expected = ops.convert_to_numpy(ops.divide(x16, ops.convert_to_tensor(np.float16(0.75))))
    np.testing.assert_array_equal(y[kept], expected[kept])
    assert abs((1 - kept.mean()) - 0.25) < 0.06


def test_drop_path_rates_follow_l_over_L_for_l_from_1():
    assert drop_path_rates(0.5, 4) == [0.125, 0.25, 0.375, 0.5]
    assert drop_path_rates(0.2, 1) == [0.2]
    assert drop_path_rates(0.0, 3) == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(drop_path_rates(0.3, 12), np.arange(1, 13) / 12 * 0.3)


def scheduled_model(layer, jit_compile):
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(1)(layer(keras.layers.Dense(6)(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
    return model


def test_a_scheduled_rate_follows_the_steps_of_a_compiled_fit(jit_compile):
    schedule = schedules.Linear(0.0, 0.4, steps=12)
    layer = DropPath(schedule, seed=0)
    model = scheduled_model(layer, jit_compile)
    x, y = np.ones((12, 6), "float32"), np.ones((12, 1), "float32")
    big = np.ones((8000, 2), "float32")
    assert layer.current_values() == {"rate": 0.0}
    step = 0
    for _ in range(3):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 3 training steps
        step += 3
        assert int(ops.convert_to_numpy(layer.step.value)) == step
        assert layer.current_values()["rate"] == pytest.approx(0.4 * step / 12)
        # The rate in use at this step: the drop fraction of a large batch (one more training call).
        fraction = float(np.mean(ops.convert_to_numpy(layer(big, training=True))[:, 0] == 0))
        assert abs(fraction - 0.4 * step / 12) < 0.02
        step += 1
    # predict and evaluate do not advance the step.
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert int(ops.convert_to_numpy(layer.step.value)) == step


def test_config_round_trip_keeps_the_schedule():
    layer = DropPath(schedules.Cosine(0.0, 0.3, steps=100), seed=3, name="dp")
    config = layer.get_config()
    assert config["rate"]["class_name"] == "Cosine" and config["seed"] == 3
    rebuilt = DropPath.from_config(config)
    assert isinstance(rebuilt.rate, schedules.Cosine) and rebuilt.get_config() == config
    assert DropPath.from_config(DropPath(0.25).get_config()).rate == 0.25


RATE = "Expected a finite float in [0.0, 1.0)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 1.0}, f"Invalid value received for argument `rate`. {RATE}. Received: rate=1.0"),
        ({"rate": -0.1}, f"Invalid value received for argument `rate`. {RATE}. Received: rate=-0.1"),
        ({"rate": 1.5}, f"Invalid value received for argument `rate`. {RATE}. Received: rate=1.5"),
        ({"rate": "0.1"}, f"Invalid value received for argument `rate`. {RATE}. Received: rate='0.1'"),
        ({"rate": None}, f"Invalid value received for argument `rate`. {RATE}. Received: rate=None"),
        (
            {"rate": schedules.Linear(0.0, 1.5, steps=10)},
            "Invalid value received for argument `rate`. Expected a float in [0, 1) or a schedule whose values "
            "stay in [0, 1). Received: rate=Linear(start=0.0, end=1.5, steps=10, delay=0)",
        ),
        (
            {"rate": 0.1, "seed": "1"},
            "Invalid value received for argument `seed`. Expected an integer or None. Received: seed='1'",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        DropPath(**kwargs)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "args, message",
    [
        ((1.0, 4), f"Invalid value received for argument `max_rate`. {RATE}. Received: max_rate=1.0"),
        (
            (0.1, 0),
            "Invalid value received for argument `num_blocks`. Expected an integer >= 1. Received: num_blocks=0",
        ),
        (
            (0.1, 2.0),
            "Invalid value received for argument `num_blocks`. Expected an integer >= 1. Received: num_blocks=2.0",
        ),
    ],
)
def test_drop_path_rates_bad_arguments(args, message):
    with pytest.raises(ValueError) as error:
        drop_path_rates(*args)
    assert str(error.value) == message


def test_a_scalar_input_is_rejected_at_call_time():
    with pytest.raises(ValueError) as error:
        DropPath(0.1)(ops.ones(()), training=True)
    assert str(error.value) == (
        "Invalid value received for argument `inputs`. Expected a tensor of rank >= 1 (batch first). "
        "Received: inputs with shape ()"
    )
