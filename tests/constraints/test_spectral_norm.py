"""`kreg.constraints.SpectralNorm`: exact projections, the persistent vector under every trainer, real fits."""

import os
import tempfile
import warnings

import keras
import numpy as np
import pytest

from kreg.constraints import SpectralNorm, attach_state
from kreg.constraints.spectral_norm import start_vector


def top_sigma(w):
    return np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]


def conv_norm(kernel, input_size):
    """Sedghi et al. 2019 in NumPy: the largest singular value over the padded DFT's per-frequency matrices."""
    transforms = np.fft.fftn(kernel, s=input_size, axes=tuple(range(len(input_size))))
    return np.linalg.svd(transforms.reshape(-1, *kernel.shape[-2:]), compute_uv=False).max()


def numpy_power_iteration(matrix, u, steps):
    for _ in range(steps):
        v = matrix.T @ u
        v /= np.linalg.norm(v)
        u = matrix @ v
        u /= np.linalg.norm(u)
    return u


# Projections on tensors (exact sigma) -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 5), (3, 3, 4, 6), (5,)])
def test_projection_scales_the_top_singular_value_to_max_value(shape):
    w = np.random.default_rng(0).standard_normal(shape).astype("float32") * 2.0
    projected = keras.ops.convert_to_numpy(SpectralNorm(0.8)(w))
    np.testing.assert_allclose(projected, w * (0.8 / top_sigma(w)), rtol=1e-5, atol=1e-6)
    assert top_sigma(projected) == pytest.approx(0.8, rel=1e-5)


def test_inside_the_ball_is_unchanged_and_the_projection_is_idempotent():
    w = np.random.default_rng(1).standard_normal((6, 4)).astype("float32")
    inside = w * (0.5 / top_sigma(w))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(SpectralNorm(1.0)(inside)), inside)
    once = keras.ops.convert_to_numpy(SpectralNorm(1.0)(w * 5))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(SpectralNorm(1.0)(once)), once, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode, kwargs", [("matrix", {}), ("conv", {"input_size": [4, 4]})])
def test_a_zero_kernel_stays_finite(mode, kwargs):
    out = keras.ops.convert_to_numpy(SpectralNorm(1.0, mode=mode, **kwargs)(np.zeros((3, 3, 2, 2), "float32")))
    assert np.all(np.isfinite(out)) and not out.any()


@pytest.mark.parametrize("mode, kwargs", [("matrix", {}), ("conv", {"input_size": [4, 4]})])
def test_a_huge_kernel_is_projected_without_overflow(mode, kwargs):
    w = np.random.default_rng(8).standard_normal((3, 3, 2, 2)).astype("float32") * 1e25
    out = keras.ops.convert_to_numpy(SpectralNorm(1.0, mode=mode, **kwargs)(w))
    assert np.all(np.isfinite(out))
    measured = top_sigma(out) if mode == "matrix" else conv_norm(out, (4, 4))
    assert measured == pytest.approx(1.0, rel=1e-4)


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")
def test_the_kernel_dtype_is_kept():
    # float64 where the backend has it (JAX without x64 gives float32).
    w = keras.ops.convert_to_tensor(np.random.default_rng(2).standard_normal((5, 3)) * 3, "float64")
    dtype = keras.backend.standardize_dtype(w.dtype)
    out = SpectralNorm(1.0)(w)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    tolerance = 1e-10 if dtype == "float64" else 1e-5
    assert top_sigma(keras.ops.convert_to_numpy(out)) == pytest.approx(1.0, rel=tolerance)


@pytest.mark.parametrize("shape, input_size", [((3, 3, 2, 4), [6, 6]), ((3, 2, 3), [8]), ((2, 2, 2, 2, 3), [3, 4, 3])])
def test_conv_mode_bounds_the_operator_norm_exactly(shape, input_size):
    kernel = np.random.default_rng(3).standard_normal(shape).astype("float32")
    assert conv_norm(kernel, input_size) > 1.0
    projected = keras.ops.convert_to_numpy(SpectralNorm(1.0, mode="conv", input_size=input_size)(kernel))
    assert conv_norm(projected, input_size) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(projected, kernel / conv_norm(kernel, input_size), rtol=1e-5, atol=1e-6)
    inside = kernel * (0.9 / conv_norm(kernel, input_size))
    unchanged = SpectralNorm(1.0, mode="conv", input_size=input_size)(inside)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(unchanged), inside)


# The persistent vector ----------------------------------------------------------------------------------------


def dense_model(constraint, jit_compile, optimizer=None, units=6):
    model = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(units, kernel_constraint=constraint), keras.layers.Dense(1)]
    )
    model.compile(optimizer or keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    return model


def test_the_vector_persists_across_steps_under_every_trainer(jit_compile):
    """With a frozen kernel (learning rate 0), k training steps must run exactly k power iterations on `u`.

    A vector kept outside the trainer's state would be frozen into the jitted step (JAX) and stay at its start.
    """
    constraint = SpectralNorm(1e3)  # never active: only the vector moves
    model = dense_model(constraint, jit_compile)
    (u,) = attach_state(model)
    kernel = model.layers[0].kernel.numpy()
    start = start_vector(10)
    u.assign(start)
    exact = np.linalg.svd(kernel)[0][:, 0]
    errors = []
    for batches, steps in ((1, 1), (2, 3), (3, 6)):
        model.fit(np.ones((8 * batches, 10), "float32"), np.ones((8 * batches, 1), "float32"), batch_size=8, verbose=0)
        expected = numpy_power_iteration(kernel.astype("float64"), start.astype("float64"), steps)
        np.testing.assert_allclose(u.numpy(), expected, atol=1e-5)
        errors.append(1.0 - abs(float(u.numpy() @ exact)))
    assert errors[0] > errors[1] > errors[2]
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), kernel)


def test_every_step_of_a_fit_stays_inside_the_ball(jit_compile):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((128, 6, 6, 2)).astype("float32")
    y = np.sin(x.sum(axis=(1, 2, 3)))[:, None].astype("float32")
    constraints = [SpectralNorm(1.0), SpectralNorm(0.5), SpectralNorm(1.0, mode="conv", input_size=[6, 6])]
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, padding="same", kernel_constraint=constraints[2]),
            keras.layers.Conv2D(4, 3, kernel_constraint=constraints[1]),
            keras.layers.Flatten(),
            keras.layers.Dense(8, activation="tanh", kernel_constraint=constraints[0]),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=jit_compile)
    assert len(attach_state(model)) == 2  # the "conv" mode needs no vector
    ratios = []

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            layers = self.model.layers
            ratios.append(
                [
                    top_sigma(layers[3].kernel.numpy()) / 1.0,
                    top_sigma(layers[1].kernel.numpy()) / 0.5,
                    conv_norm(layers[0].kernel.numpy(), (6, 6)) / 1.0,
                ]
            )

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[Check()])
    ratios = np.array(ratios)
    assert ratios.shape == (24, 3)
    assert ratios.max() <= 1 + 1e-3
    assert np.all(ratios.max(axis=0) > 0.99)  # every bound is active


def test_without_attach_state_it_warns_once_and_projects_exactly(jit_compile):
    model = dense_model(SpectralNorm(0.5), jit_compile, keras.optimizers.SGD(0.5))
    x = np.random.default_rng(5).standard_normal((32, 10)).astype("float32")
    with pytest.warns(UserWarning, match="attach_state") as record:
        model.fit(x, x[:, :1] * 10, batch_size=8, epochs=1, verbose=0)
    assert len([w for w in record if "attach_state" in str(w.message)]) == 1
    assert top_sigma(model.layers[0].kernel.numpy()) <= 0.5 * (1 + 1e-5)


def test_attach_state_is_idempotent_and_follows_a_new_optimizer(jit_compile):
    constraint = SpectralNorm(1.0)
    model = dense_model(constraint, jit_compile)
    (u,) = attach_state(model)
    assert u.shape == (10,)
    assert attach_state(model) == []
    kernel = model.layers[0].kernel.numpy()
    assert abs(float(u.numpy() @ np.linalg.svd(kernel)[0][:, 0])) == pytest.approx(1.0, abs=1e-5)  # exact start
    assert any(v is u for v in model.optimizer.variables)
    model.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=jit_compile)
    (u2,) = attach_state(model)
    assert u2 is not u and constraint.state_for(model.layers[0].kernel) is u2
    model.fit(np.ones((8, 10), "float32"), np.ones((8, 1), "float32"), verbose=0)


def test_attach_state_needs_a_compiled_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_constraint=SpectralNorm())])
    with pytest.raises(ValueError, match="needs a compiled model"):
        attach_state(model)


def test_mixed_precision_fit(jit_compile):
    keras.config.set_dtype_policy("mixed_float16")
    model = dense_model(SpectralNorm(0.5), jit_compile, keras.optimizers.Adam(1e-3))
    assert len(attach_state(model)) == 1
    x = np.random.default_rng(6).standard_normal((32, 10)).astype("float32")
    history = model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert top_sigma(model.layers[0].kernel.numpy()) <= 0.5 * (1 + 1e-3)


def test_keras_file_round_trip_and_optimizer_state_restore(jit_compile):
    model = dense_model(SpectralNorm(0.5, power_iterations=2), jit_compile, keras.optimizers.Adam(1e-2))
    attach_state(model)
    x = np.random.default_rng(7).standard_normal((16, 10)).astype("float32")
    model.fit(x, x[:, :1], batch_size=8, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
            loaded = keras.saving.load_model(path)
        restored = dense_model(SpectralNorm(0.5, power_iterations=2), jit_compile, keras.optimizers.Adam(1e-2))
        attach_state(restored)
        restored.load_weights(path)
    constraint = loaded.layers[0].kernel.constraint
    assert isinstance(constraint, SpectralNorm) and constraint.get_config()["power_iterations"] == 2
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_allclose(theirs.numpy(), ours.numpy(), rtol=1e-6)


# Arguments ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_value": 0}, "Expected a positive finite float. Received: max_value=0"),
        ({"max_value": float("nan")}, "Received: max_value=nan"),
        ({"power_iterations": 0}, "Expected an integer >= 1. Received: power_iterations=0"),
        ({"power_iterations": 1.0}, "Received: power_iterations=1.0"),
        ({"mode": "frobenius"}, "Expected one of 'matrix', 'conv'. Received: mode='frobenius'"),
        ({"input_size": [8, 8]}, "Expected None when mode='matrix'"),
        ({"mode": "conv"}, "when mode='conv'. Received: input_size=None"),
        ({"mode": "conv", "input_size": [0, 4]}, "Received: input_size=[0, 4]"),
        ({"mode": "conv", "input_size": [2, 2, 2, 2]}, "Received: input_size=[2, 2, 2, 2]"),
        ({"mode": "conv", "input_size": 8}, "Received: input_size=8"),
        ({"epsilon": 0.0}, "Received: epsilon=0.0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="Invalid value received for argument") as error:
        SpectralNorm(**kwargs)
    assert message in str(error.value)


def test_config_round_trip():
    constraint = SpectralNorm(2.0, power_iterations=3, mode="conv", input_size=(16, 16), epsilon=1e-10)
    config = constraint.get_config()
    assert config == {"max_value": 2.0, "power_iterations": 3, "mode": "conv", "input_size": [16, 16], "epsilon": 1e-10}
    assert SpectralNorm.from_config(config).get_config() == config
    assert keras.constraints.deserialize(keras.constraints.serialize(constraint)).get_config() == config
