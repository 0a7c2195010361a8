"""L1, L2 and ElasticNet: values against NumPy and Keras's built-ins, configs, validation, saving, ridge reference."""

import os

import keras
import numpy as np
import pytest

import kreg
from kreg.regularizers import L1, L2, ElasticNet
from tests.fitting import fit_full_batch, full_batch_lr, linear_model, regression_problem, relative_error

W = np.random.default_rng(0).standard_normal((7, 5)).astype("float32")


@pytest.mark.parametrize(
    "regularizer, builtin, reference",
    [
        (L1(0.1), keras.regularizers.L1(0.1), 0.1 * np.sum(np.abs(W))),
        (L2(0.2), keras.regularizers.L2(0.2), 0.2 * np.sum(W**2)),
        (ElasticNet(0.1, 0.2), keras.regularizers.L1L2(0.1, 0.2), 0.1 * np.sum(np.abs(W)) + 0.2 * np.sum(W**2)),
        (L1(0.1, proximal=True), keras.regularizers.L1(0.1), 0.1 * np.sum(np.abs(W))),
    ],
)
@pytest.mark.filterwarnings("ignore:L1\\(proximal=True\\) is computing its penalty")
def test_value_matches_numpy_and_keras_builtin(regularizer, builtin, reference):
    value = float(keras.ops.convert_to_numpy(regularizer(keras.ops.convert_to_tensor(W))))
    np.testing.assert_allclose(value, reference, rtol=1e-5)
    np.testing.assert_allclose(value, float(keras.ops.convert_to_numpy(builtin(W))), rtol=1e-5)


def test_get_config_returns_the_exact_python_floats():
    assert L1(0.1).get_config() == {"l1": 0.1, "proximal": False}
    assert L2(0.3).get_config() == {"l2": 0.3}
    assert ElasticNet(0.1, 0.7, proximal=True).get_config() == {"l1": 0.1, "l2": 0.7, "proximal": True}
    assert type(L1(1).get_config()["l1"]) is float
    # Keras's own L1 stores a float32 and returns 0.009999999776482582.
    assert keras.regularizers.L1(0.01).get_config()["l1"] != 0.01


@pytest.mark.parametrize("cls", [L1, L2, ElasticNet])
def test_from_config_round_trip(cls):
    regularizer = cls()
    assert cls.from_config(regularizer.get_config()).get_config() == regularizer.get_config()


@pytest.mark.parametrize(
    "factory, argument, value, expected",
    [
        (lambda v: L1(v), "l1", -0.1, "a non-negative finite float"),
        (lambda v: L1(v), "l1", float("nan"), "a non-negative finite float"),
        (lambda v: L1(v), "l1", float("inf"), "a non-negative finite float"),
        (lambda v: L1(v), "l1", "0.1", "a non-negative finite float"),
        (lambda v: L1(v), "l1", None, "a non-negative finite float"),
        (lambda v: L1(v), "l1", True, "a non-negative finite float"),
        (lambda v: L2(v), "l2", -1, "a non-negative finite float"),
        (lambda v: ElasticNet(l1=v), "l1", -1e-3, "a non-negative finite float"),
        (lambda v: ElasticNet(l2=v), "l2", float("-inf"), "a non-negative finite float"),
        (lambda v: L1(0.1, proximal=v), "proximal", "yes", "a bool (True or False)"),
        (lambda v: ElasticNet(proximal=v), "proximal", 1, "a bool (True or False)"),
    ],
)
def test_invalid_arguments_raise_with_a_clear_message(factory, argument, value, expected):
    message = f"Invalid value received for argument `{argument}`. Expected {expected}. Received: {argument}={value!r}"
    with pytest.raises(ValueError) as info:
        factory(value)
    assert str(info.value) == message


def test_usable_as_kernel_bias_and_activity_regularizer():
    layer = keras.layers.Dense(
        3,
        kernel_regularizer=L1(0.1),
        bias_regularizer=L2(0.2),
        activity_regularizer=ElasticNet(0.01, 0.02),
        bias_initializer="ones",
    )
    x = np.ones((2, 4), "float32")
    y = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    expected = sorted(
        [
            0.1 * np.abs(kernel).sum(),
            0.2 * 3.0,
            # Keras divides an activity penalty by the batch size.
            (0.01 * np.abs(y).sum() + 0.02 * (y**2).sum()) / len(x),
        ]
    )
    actual = sorted(float(keras.ops.convert_to_numpy(v)) for v in layer.losses)
    np.testing.assert_allclose(actual, expected, rtol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_penalty_is_float32_under_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    layer = keras.layers.Dense(3, kernel_regularizer=L2(0.1), activity_regularizer=ElasticNet(0.1, 0.1))
    layer(np.ones((2, 4), "float32"))
    dtypes = {keras.backend.standardize_dtype(v.dtype) for v in layer.losses}
    assert dtypes == {"float32"}
    big = keras.ops.cast(keras.ops.full((300, 300), 100.0), "float16")
    # 0.1 * 9e4 * 1e4 = 9e7 overflows float16 (max 65504) but not float32.
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(L2(0.1)(big))), 9e7, rtol=1e-4)


def test_model_saves_and_loads_without_custom_objects(tmp_path, jit_compile):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_regularizer=L1(0.01, proximal=True), bias_regularizer=L2(0.02)),
            keras.layers.Dense(1, kernel_regularizer=ElasticNet(0.03, 0.04), activity_regularizer=L2(0.05)),
        ]
    )
    model.compile("sgd", "mse", jit_compile=jit_compile)
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[0].kernel_regularizer.get_config() == {"l1": 0.01, "proximal": True}
    assert isinstance(loaded.layers[1].kernel_regularizer, ElasticNet)
    assert loaded.layers[1].activity_regularizer.get_config() == {"l2": 0.05}
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    loaded.compile("sgd", "mse", jit_compile=jit_compile)
    history = loaded.fit(x, y, epochs=1, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    assert np.isfinite(history.history["loss"][0])


def test_l2_converges_to_the_closed_form_ridge_solution(jit_compile):
    x, y = regression_problem()
    l2 = 0.5
    n = len(x)
    xc, yc = x - x.mean(0), y - y.mean()
    ridge = np.linalg.solve(xc.T @ xc / n + l2 * np.eye(x.shape[1]), xc.T @ yc / n)
    lr = full_batch_lr(x) / (1 + l2)
    model = fit_full_batch(linear_model(x.shape[1], L2(l2), lr, jit_compile), x, y, steps=300)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)[:, 0]
    assert relative_error(kernel, ridge) < 0.01


@pytest.mark.parametrize("cls", [L1, ElasticNet])
def test_proximal_step_reads_a_scheduled_strength_at_the_given_step(cls):
    # l1 ramps 0 -> 1 over 10 steps: at step 5 the threshold is lr * 0.5 = 0.25 (not the step-0 value, 0).
    regularizer = cls(kreg.schedules.Linear(0.0, 1.0, steps=10), proximal=True)
    x = keras.ops.convert_to_tensor(np.array([1.0, -0.2, 0.3], "float32"))
    out = keras.ops.convert_to_numpy(regularizer.proximal_step(x, 0.5, step=5))
    np.testing.assert_allclose(out, [0.75, 0.0, 0.05], rtol=1e-6)
    unchanged = keras.ops.convert_to_numpy(regularizer.proximal_step(x, 0.5, step=None))  # step 0: l1 = 0
    np.testing.assert_array_equal(unchanged, np.array([1.0, -0.2, 0.3], "float32"))
