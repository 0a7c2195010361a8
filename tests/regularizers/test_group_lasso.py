"""GroupLasso: NumPy reference, block soft thresholding, exact group zeros, serialization, mixed precision."""

import os

import keras
import numpy as np
import pytest

import kreg
from kreg.ops.group_threshold import group_norms
from kreg.regularizers import GroupLasso


def numpy_group_lasso(w, factor, axis):
    moved = np.moveaxis(w, axis, -1).reshape(-1, w.shape[axis])
    return factor * np.sqrt(moved.shape[0]) * np.sum(np.linalg.norm(moved, axis=0))


@pytest.mark.parametrize("shape, axis", [((5, 4), -1), ((5, 4), 0), ((3, 3, 2, 6), -1), ((3, 3, 2, 6), 2), ((7,), 0)])
def test_penalty_matches_numpy(shape, axis):
    w = np.random.default_rng(0).normal(size=shape).astype("float32")
    w[..., 0] = 0.0  # a zero group
    value = float(GroupLasso(0.3, axis=axis)(w))
    np.testing.assert_allclose(value, numpy_group_lasso(w, 0.3, axis), rtol=1e-5)


def test_gradient_is_finite_at_a_zero_group():
    w = keras.Variable(np.array([[0.0, 3.0], [0.0, 4.0]], "float32"))
    norms = keras.ops.convert_to_numpy(group_norms(w.value))
    np.testing.assert_allclose(norms, [0.0, 5.0])
    if keras.backend.backend() == "jax":
        import jax

        grad = jax.grad(lambda v: GroupLasso(1.0)(v))(w.value)
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = GroupLasso(1.0)(w.value)
        grad = tape.gradient(loss, w.value)
    else:
        import torch

        value = torch.tensor(keras.ops.convert_to_numpy(w.value), requires_grad=True)
        GroupLasso(1.0)(value).backward()
        grad = value.grad
    grad = keras.ops.convert_to_numpy(grad)
    # d/dw of sqrt(2) * ||w_g||: zero for the zero group, sqrt(2) * w_g / ||w_g|| otherwise.
    np.testing.assert_allclose(grad, np.sqrt(2) * np.array([[0.0, 0.6], [0.0, 0.8]]), rtol=1e-5, atol=1e-7)


def test_proximal_step_is_block_soft_thresholding_with_the_scaled_threshold():
    w = np.array([[3.0, 0.1, 1.0], [4.0, 0.1, 0.0]], "float32")
    norms = np.linalg.norm(w, axis=0)
    regularizer = GroupLasso(0.5, proximal=True)
    stepped = keras.ops.convert_to_numpy(regularizer.proximal_step(keras.ops.convert_to_tensor(w), 0.3))
    np.testing.assert_allclose(stepped, w * np.maximum(1 - 0.3 * 0.5 * np.sqrt(2) / norms, 0), rtol=1e-6)
    assert np.all(stepped[:, 1] == 0.0) and np.all(stepped[:, 0] != 0.0)  # threshold 0.212: norm 0.141 -> 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"factor": -0.1}, "Received: factor=-0.1"),
        ({"factor": "x"}, "Expected a non-negative finite float. Received: factor='x'"),
        ({"axis": 1.5}, "Expected an integer. Received: axis=1.5"),
        ({"proximal": 1}, "Expected a bool (True or False). Received: proximal=1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="Invalid value received for argument") as info:
        GroupLasso(**kwargs)
    assert message in str(info.value)


def test_axis_out_of_range_names_the_shape():
    with pytest.raises(ValueError, match=r"GroupLasso\(axis=3\) cannot group a weight of rank 2"):
        GroupLasso(axis=3)(np.ones((2, 2), "float32"))


def test_proximal_group_lasso_zeroes_exactly_the_irrelevant_feature_blocks(jit_compile):
    """Regression on 6 blocks of 4 features, of which blocks 1, 3 and 4 are irrelevant."""
    rng = np.random.default_rng(0)
    blocks, size, n = 6, 4, 400
    x = rng.normal(size=(n, blocks, size)).astype("float32")
    true_w = rng.normal(size=(blocks, size)).astype("float32")
    relevant = np.array([1, 0, 1, 0, 0, 1], bool)
    true_w[~relevant] = 0.0
    y = (np.einsum("nbs,bs->n", x, true_w) + 0.1 * rng.normal(size=n)).astype("float32")[:, None]
    regularizer = GroupLasso(0.05, axis=0, proximal=True)
    model = keras.Sequential(
        [
            keras.Input((blocks, size)),
            keras.layers.EinsumDense("nbs,bso->no", output_shape=(1,), kernel_regularizer=regularizer),
        ]
    )
    per_execution = 1 if keras.backend.backend() == "torch" else 50
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile, steps_per_execution=per_execution)
    steps = 150
    model.fit(
        np.tile(x, (steps, 1, 1)),
        np.tile(y, (steps, 1)),
        batch_size=n,
        shuffle=False,
        verbose=0,
        callbacks=[kreg.callbacks.TrainingBinding()],
    )
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)[..., 0]
    assert np.all(kernel[~relevant] == 0.0)
    assert np.all(np.linalg.norm(kernel[relevant], axis=1) > 0.5)
    assert not np.any(kernel[relevant] == 0.0)


def test_conv_filters_trained_with_mixed_precision_and_keras_round_trip(tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, kernel_regularizer=GroupLasso(0.01, proximal=True)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile("sgd", "mse")
    x = np.random.default_rng(1).normal(size=(8, 6, 6, 2)).astype("float32")
    y = np.ones((8, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    penalty = float(keras.ops.convert_to_numpy(model.losses[0]))
    assert keras.backend.standardize_dtype(model.losses[0].dtype) == "float32"
    np.testing.assert_allclose(penalty, numpy_group_lasso(kernel, 0.01, -1), rtol=1e-4)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    regularizer = loaded.layers[0].kernel.regularizer
    assert isinstance(regularizer, GroupLasso) and regularizer.get_config() == {
        "factor": 0.01,
        "axis": -1,
        "proximal": True,
    }
    bound = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            bound.append(type(self.model.layers[0].kernel.constraint).__name__)

    loaded.fit(x, y, epochs=1, verbose=0, callbacks=[kreg.callbacks.TrainingBinding(), Spy()])
    assert bound == ["ProximalConstraint"]  # the proximal step is bound after loading, during fit only
    assert loaded.layers[0].kernel.constraint is None
