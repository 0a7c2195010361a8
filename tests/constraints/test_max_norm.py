"""`kreg.constraints.MaxNorm`: per-unit norms against NumPy and `keras.constraints.MaxNorm`, in a real `fit`."""

import keras
import numpy as np
import pytest

from kreg.constraints import MaxNorm
from kreg.constraints.max_norm import default_axes


def unit_norms(w, axes):
    return np.sqrt(np.sum(np.square(w), axis=axes))


@pytest.mark.parametrize(
    "shape, axes",
    [((6, 4), (0,)), ((3, 5, 4), (0, 1)), ((3, 3, 5, 4), (0, 1, 2)), ((2, 2, 2, 3, 4), (0, 1, 2, 3)), ((7,), (0,))],
)
def test_default_axes_are_one_units_incoming_weights(shape, axes):
    assert default_axes(len(shape)) == axes
    w = np.random.default_rng(0).standard_normal(shape).astype("float32") * 3.0
    projected = keras.ops.convert_to_numpy(MaxNorm(2.0)(w))
    norms = unit_norms(w, axes)
    expected = w * np.expand_dims(np.minimum(1.0, 2.0 / norms), axes)
    np.testing.assert_allclose(projected, expected, rtol=1e-6, atol=1e-7)
    assert unit_norms(projected, axes).max() <= 2.0 * (1 + 1e-6)


@pytest.mark.parametrize("axis", [0, 1, [0, 1], [1, 2]])
def test_matches_keras_max_norm_on_the_same_axis(axis):
    w = np.random.default_rng(1).standard_normal((3, 4, 5)).astype("float32") * 2.0
    ours = keras.ops.convert_to_numpy(MaxNorm(1.5, axis=axis)(w))
    theirs = keras.ops.convert_to_numpy(keras.constraints.MaxNorm(1.5, axis=axis)(keras.ops.convert_to_tensor(w)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_depthwise_channels_with_an_explicit_axis():
    w = np.random.default_rng(2).standard_normal((3, 3, 4, 2)).astype("float32")
    projected = keras.ops.convert_to_numpy(MaxNorm(0.5, axis=[0, 1])(w))
    assert unit_norms(projected, (0, 1)).shape == (4, 2)
    np.testing.assert_allclose(unit_norms(projected, (0, 1)), 0.5, rtol=1e-5)


def test_inside_the_ball_is_unchanged_and_the_projection_is_idempotent():
    w = np.random.default_rng(3).standard_normal((8, 5)).astype("float32")
    inside = w / unit_norms(w, (0,)) * 0.9
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(MaxNorm(1.0)(inside)), inside)
    once = keras.ops.convert_to_numpy(MaxNorm(1.0)(w * 4.0))
    twice = keras.ops.convert_to_numpy(MaxNorm(1.0)(once))
    np.testing.assert_allclose(twice, once, rtol=1e-6, atol=1e-7)


def test_a_zero_kernel_stays_zero():
    out = keras.ops.convert_to_numpy(MaxNorm(1.0)(np.zeros((4, 3), "float32")))
    assert np.all(np.isfinite(out)) and not out.any()


def test_every_step_of_a_fit_respects_the_bound(jit_compile):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 6)).astype("float32")
    y = (x @ rng.standard_normal((6, 1)) * 10).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Reshape((6, 1)),
            keras.layers.Conv1D(4, 3, kernel_constraint=MaxNorm(0.5)),
            keras.layers.Flatten(),
            keras.layers.Dense(1, kernel_constraint=MaxNorm(0.7)),
        ]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
    worst = []

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            conv, dense = self.model.layers[1].kernel.numpy(), self.model.layers[3].kernel.numpy()
            worst.append(max(unit_norms(conv, (0, 1)).max() / 0.5, unit_norms(dense, (0,)).max() / 0.7))

    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[Check()])
    assert len(worst) == 8
    assert max(worst) <= 1 + 1e-5
    assert max(worst) > 1 - 1e-3  # the bound is active: the unconstrained fit would leave the ball


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_value": 0.0}, "Expected a positive finite float. Received: max_value=0.0"),
        ({"max_value": -1}, "Expected a positive finite float. Received: max_value=-1"),
        ({"max_value": float("inf")}, "Received: max_value=inf"),
        ({"max_value": "3"}, "Received: max_value='3'"),
        ({"axis": 1.5}, "Expected None, an integer or a non-empty list of distinct integers. Received: axis=1.5"),
        ({"axis": []}, "Received: axis=[]"),
        ({"axis": [0, 0]}, "Received: axis=[0, 0]"),
        ({"axis": True}, "Received: axis=True"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="Invalid value received for argument") as error:
        MaxNorm(**kwargs)
    assert message in str(error.value)


def test_config_round_trip():
    constraint = MaxNorm(2.5, axis=(0, 1))
    assert constraint.get_config() == {"max_value": 2.5, "axis": [0, 1]}
    assert MaxNorm.from_config(constraint.get_config()).get_config() == constraint.get_config()
    assert keras.constraints.deserialize(keras.constraints.serialize(constraint)).get_config() == {
        "max_value": 2.5,
        "axis": [0, 1],
    }


@pytest.mark.parametrize("axis", [5, -3, [0, 2], [0, -2]])
def test_an_axis_out_of_range_for_the_kernel_names_max_norm_and_axis(axis, jit_compile):
    # Issue 14: `MaxNorm(3, axis=5)` on a Dense kernel used to fail at fit time with a raw backend message.
    expected = f"MaxNorm\\(axis={axis!r}\\) cannot be applied to a weight of rank 2 \\(shape \\(6, 4\\)\\)".replace(
        "[", "\\["
    ).replace("]", "\\]")
    constraint = MaxNorm(3, axis=axis)
    with pytest.raises(ValueError, match=expected + r".*Received: axis="):
        constraint(np.ones((6, 4), "float32"))
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, kernel_constraint=MaxNorm(3, axis=axis))])
    model.compile("sgd", "mse", jit_compile=jit_compile)
    with pytest.raises(ValueError, match=expected):
        model.fit(np.ones((8, 6), "float32"), np.ones((8, 4), "float32"), verbose=0)
