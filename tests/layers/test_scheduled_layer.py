"""`ScheduledLayer`: parameters that are numbers or schedules, and the layer-owned step every trainer threads."""

import keras
import numpy as np
import pytest
from keras import ops

import kreg
from kreg import validation
from kreg.layers.scheduled_layer import ScheduledLayer, is_zero


@keras.saving.register_keras_serializable(package="kreg_tests")
class AddNoise(ScheduledLayer):
    """Additive Gaussian noise with a possibly scheduled `stddev` (a minimal ScheduledLayer)."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = self.scheduled_parameter("stddev", stddev, lambda n, v: validation.check_float(n, v, low=0.0))

    def call(self, x, training=False):
        if not training:
            return x
        stddev = self.current("stddev")
        self.advance(training)
        return x + ops.cast(stddev, x.dtype) * keras.random.normal(
            ops.shape(x), seed=self.seed_generator, dtype=x.dtype
        )

    def get_config(self):
        return {**super().get_config(), "stddev": self.parameter_config("stddev")}


def test_a_number_needs_no_step_and_is_stored_as_given():
    layer = AddNoise(0.25)
    assert layer.step is None and not layer.scheduled and layer.stddev == 0.25
    assert layer.current_values() == {"stddev": 0.25}
    assert is_zero(AddNoise(0).stddev) and not is_zero(layer.stddev)


def test_the_step_advances_in_training_calls_only_and_drives_the_schedule():
    layer = AddNoise(kreg.schedules.Linear(1.0, 0.0, steps=4), seed=1)
    x = ops.zeros((2, 3))
    assert layer(x, training=False) is x
    for step in range(6):
        assert layer.current_values() == pytest.approx({"stddev": max(1.0 - step / 4, 0.0)})
        layer(x, training=True)
    assert int(ops.convert_to_numpy(layer.step)) == 6


def test_a_scheduled_parameter_follows_a_compiled_fit_on_every_backend(jit_compile):
    model = keras.Sequential(
        [keras.Input((4,)), AddNoise(kreg.schedules.Step([3, 5], [1.0, 0.5, 0.0])), keras.layers.Dense(1)]
    )
    model.compile("sgd", "mse", jit_compile=jit_compile)
    x, y = np.ones((16, 4), "float32"), np.ones((16, 1), "float32")
    seen = []
    for _ in range(3):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # 2 steps
        seen.append(model.layers[0].current_values()["stddev"])
    assert seen == [1.0, 0.5, 0.0]


def test_config_round_trip_and_the_step_survives_saving(tmp_path):
    layer = AddNoise(kreg.schedules.Cosine(0.2, 0.0, steps=10), seed=3, name="noise")
    config = layer.get_config()
    assert config["stddev"]["class_name"] == "Cosine" and config["seed"] == 3
    assert AddNoise.from_config(config).get_config() == config
    model = keras.Sequential([keras.Input((2,)), layer, keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert int(ops.convert_to_numpy(loaded.layers[0].step)) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"stddev": -0.1},
            "Invalid value received for argument `stddev`. Expected a non-negative finite float. Received: stddev=-0.1",
        ),
        (
            {"stddev": {"class_name": "Nope"}},
            "Invalid value received for argument `stddev`. Expected a number or a schedule",
        ),
        ({"stddev": 0.1, "seed": 1.5}, "Invalid value received for argument `seed`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        AddNoise(**kwargs)


def test_the_seed_state_is_saved_and_training_draws_on_after_loading(tmp_path):
    from kreg.layers.noise import GaussianNoise

    x = np.ones((4, 8), "float32")
    model = keras.Sequential([keras.Input((8,)), GaussianNoise(0.5, seed=3)])
    model(x, training=True)
    model(x, training=True)  # the state has moved on from the seed
    path = str(tmp_path / "noise.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    state = keras.ops.convert_to_numpy(model.layers[0].seed_generator.state)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.layers[0].seed_generator.state), state)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=True)), keras.ops.convert_to_numpy(model(x, training=True))
    )


def test_weights_saved_without_a_seed_state_still_load():
    from kreg.layers.noise import GaussianNoise
    from kreg.layers.scheduled_layer import SEED_STATE_KEY

    layer = GaussianNoise(kreg.schedules.Linear(0.5, 0.0, steps=10), seed=3)
    layer.build((None, 8))
    store = {}
    layer.save_own_variables(store)
    assert SEED_STATE_KEY in store
    del store[SEED_STATE_KEY]  # a file written before kreg saved seed states
    store["0"] = np.array(7, "int32")
    layer.load_own_variables(store)
    assert int(keras.ops.convert_to_numpy(layer.step)) == 7
