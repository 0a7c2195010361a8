"""Strength schedules: formulas, validation, serialization, and their effect inside a real compiled `fit`."""

import math
import warnings

import keras
import numpy as np
import pytest

import kreg
from kreg import schedules


def _at(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


@pytest.mark.parametrize("step", [0, 3, 5, 10, 14, 15, 100])
def test_schedules_match_their_formulas(step):
    t = min(max((step - 5) / 10, 0.0), 1.0)
    assert _at(schedules.Constant(0.3), step) == pytest.approx(0.3)
    assert _at(schedules.Linear(0.1, 0.5, steps=10, delay=5), step) == pytest.approx(0.1 + 0.4 * t, rel=1e-6)
    expected_cosine = 0.5 + (0.1 - 0.5) * 0.5 * (1 - math.cos(math.pi * t))
    assert _at(schedules.Cosine(0.5, 0.1, steps=10, delay=5), step) == pytest.approx(expected_cosine, rel=1e-6)
    expected_step = [0.0, 1.0, 2.0][int(step >= 5) + int(step >= 14)]
    assert _at(schedules.Step([5, 14], [0.0, 1.0, 2.0]), step) == expected_step


@pytest.mark.parametrize(
    "factory, message",
    [
        (lambda: schedules.Constant(-1.0), "Received: value=-1.0"),
        (lambda: schedules.Linear(-0.1, 1.0, 10), "Received: start=-0.1"),
        (lambda: schedules.Linear(0.0, float("nan"), 10), "Received: end=nan"),
        (lambda: schedules.Linear(0.0, 1.0, 0), "Expected an integer >= 1. Received: steps=0"),
        (lambda: schedules.Cosine(0.0, 1.0, 10, delay=-1), "Expected an integer >= 0. Received: delay=-1"),
        (lambda: schedules.Step([5, 5], [0, 1, 2]), "strictly increasing non-negative integers"),
        (lambda: schedules.Step([], [0]), "Received: boundaries=[]"),
        (lambda: schedules.Step([5], [0.0]), "Expected a list of 2 non-negative floats. Received: values=[0.0]"),
        (lambda: schedules.get("linear"), "Received: identifier='linear'"),
        (lambda: kreg.regularizers.L2(l2="0.1"), "Expected a non-negative finite float. Received: l2='0.1'"),
        (lambda: kreg.regularizers.L2(l2={"a": 1}), "Expected a non-negative finite float or a schedule config."),
        (lambda: kreg.regularizers.L1(l1=-1.0), "Expected a non-negative finite float. Received: l1=-1.0"),
    ],
)
def test_bad_arguments_raise_named_errors(factory, message):
    with pytest.raises(ValueError, match="Invalid value received for argument") as info:
        factory()
    assert message in str(info.value)


def test_schedules_serialize_and_resolve():
    for schedule in (
        schedules.Constant(0.25),
        schedules.Linear(0.0, 1e-3, 100, delay=7),
        schedules.Cosine(1e-2, 0.0, 50),
        schedules.Step([10, 20], [0.0, 0.1, 0.2]),
    ):
        clone = schedules.deserialize(schedules.serialize(schedule))
        assert type(clone) is type(schedule) and clone.get_config() == schedule.get_config()
        assert schedules.get(schedule) is schedule
    assert schedules.get(0.5) == 0.5
    short = schedules.get({"class_name": "Linear", "config": {"start": 0.0, "end": 1.0, "steps": 4}})
    assert _at(short, 2) == pytest.approx(0.5)


def test_regularizer_config_keeps_numbers_exact_and_schedules_serializable():
    regularizer = kreg.regularizers.ElasticNet(l1=0.1, l2=schedules.Linear(0.0, 0.3, 10))
    config = regularizer.get_config()
    assert config["l1"] == 0.1 and isinstance(config["l1"], float)
    clone = kreg.regularizers.ElasticNet.from_config(config)
    assert isinstance(clone.l2, schedules.Linear) and clone.l2.get_config() == regularizer.l2.get_config()
    keras_schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    clone = kreg.regularizers.L2.from_config(kreg.regularizers.L2(keras_schedule).get_config())
    assert isinstance(clone.l2, keras.optimizers.schedules.ExponentialDecay)


def test_unbound_scheduled_regularizer_warns_and_uses_step_zero():
    regularizer = kreg.regularizers.L2(schedules.Linear(0.2, 1.0, 10))
    w = np.ones((3, 2), "float32")
    with pytest.warns(UserWarning, match="used without kreg's training binding.*step-0 value"):
        value = float(regularizer(w))
    assert value == pytest.approx(0.2 * 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        regularizer(w)  # warns once only


RAMP_STEPS = 4


@pytest.mark.parametrize(
    "make_regularizer, penalty",
    [
        (
            lambda s: kreg.regularizers.L2(s),
            lambda w, strength: strength * np.sum(w**2),
        ),
        (
            lambda s: kreg.regularizers.GroupLasso(s),
            lambda w, strength: strength * np.sqrt(w.shape[0]) * np.sum(np.linalg.norm(w, axis=0)),
        ),
    ],
)
def test_ramp_matches_formula_at_each_step_of_a_compiled_fit(make_regularizer, penalty, jit_compile):
    """A strength ramping 0 -> 0.5 over RAMP_STEPS steps: the loss of step k is the penalty at strength(k)."""
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    schedule = schedules.Linear(0.0, 0.5, steps=RAMP_STEPS)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=make_regularizer(schedule))])
    # Learning rate 0: the weights (so the data loss, zero by construction) stay fixed; only the strength moves.
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    y = model.predict(x, verbose=0)
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=RAMP_STEPS + 2,
        verbose=0,
        shuffle=False,
        callbacks=[kreg.callbacks.TrainingBinding()],
    )
    w = keras.ops.convert_to_numpy(model.layers[0].kernel)
    expected = [penalty(w, 0.5 * min(k / RAMP_STEPS, 1.0)) for k in range(RAMP_STEPS + 2)]
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-4, atol=1e-6)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == RAMP_STEPS + 2


def test_scheduled_proximal_threshold_follows_the_step(jit_compile):
    """Proximal L1 with a Step schedule: no shrinkage while the strength is 0, soft thresholding after."""
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                1,
                use_bias=False,
                kernel_initializer="ones",
                kernel_regularizer=kreg.regularizers.L1(schedules.Step([2], [0.0, 0.1]), proximal=True),
            ),
        ]
    )
    model.compile(keras.optimizers.SGD(1.0), "mse", jit_compile=jit_compile)
    x = np.zeros((4, 2), "float32")  # zero data gradient: only the proximal step moves the weights
    y = np.zeros((4, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    # Steps 0, 1: threshold 0; steps 2, 3, 4: threshold 1.0 * 0.1 each.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), np.full((2, 1), 0.7), rtol=1e-5)


def test_activity_regularizer_validation_loss_and_loss_scaling_follow_the_schedule(jit_compile):
    """Mixed float16 (a LossScaleOptimizer) and a scheduled activity regularizer; validation uses the current step."""
    keras.config.set_dtype_policy("mixed_float16")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    schedule = schedules.Linear(0.0, 0.5, steps=RAMP_STEPS)
    dense = keras.layers.Dense(
        2,
        kernel_regularizer=kreg.regularizers.L2(schedule),
        activity_regularizer=kreg.regularizers.L1(schedule),
        dtype="float32",
    )
    model = keras.Sequential([keras.Input((3,)), dense])
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    y = keras.ops.convert_to_numpy(model(x))
    epochs = RAMP_STEPS + 2
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        verbose=0,
        validation_data=(x, y),
        callbacks=[kreg.callbacks.TrainingBinding()],
    )
    w = keras.ops.convert_to_numpy(dense.kernel)
    base = np.sum(w**2) + np.sum(np.abs(y)) / len(x)  # Keras averages activity penalties over the batch
    strength = [0.5 * min(k / RAMP_STEPS, 1.0) for k in range(epochs + 1)]
    np.testing.assert_allclose(history.history["loss"], [s * base for s in strength[:-1]], rtol=1e-4, atol=1e-6)
    # Validation after epoch k runs after k + 1 steps: the strength at step k + 1, on every backend.
    np.testing.assert_allclose(history.history["val_loss"], [s * base for s in strength[1:]], rtol=1e-4, atol=1e-6)


def test_scheduled_regularizer_survives_keras_round_trip_and_resumes_at_the_saved_step(tmp_path, jit_compile):
    schedule = schedules.Cosine(0.0, 0.4, steps=RAMP_STEPS)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=kreg.regularizers.L2(schedule))]
    )
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x))
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    path = str(tmp_path / "scheduled.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    regularizer = loaded.layers[0].kernel.regularizer
    assert isinstance(regularizer.l2, schedules.Cosine) and regularizer.l2.get_config() == schedule.get_config()
    history = loaded.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    w = keras.ops.convert_to_numpy(loaded.layers[0].kernel)
    strength = 0.4 * 0.5 * (1 - np.cos(np.pi * 2 / RAMP_STEPS))  # the optimizer's step count (2) was saved too
    np.testing.assert_allclose(history.history["loss"][0], strength * np.sum(w**2), rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_a_python_strength_is_converted_straight_to_the_weight_dtype(dtype):
    """Not rounded through float32 first (TensorFlow's `cast` of a Python float does): 0.1 in float64 is 0.1."""
    if dtype == "float64" and keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("JAX runs without float64 here")
    value = schedules.strength_value(0.1, None, dtype)
    assert keras.backend.standardize_dtype(value.dtype) == dtype
    assert keras.ops.convert_to_numpy(value) == np.array(0.1, dtype)
    scheduled = schedules.strength_value(schedules.Constant(0.1), 3, dtype)
    assert keras.ops.convert_to_numpy(scheduled) == np.array(np.float32(0.1), dtype)
