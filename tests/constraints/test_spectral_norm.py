"""`kreg.constraints.SpectralNorm`: exact projections, the binding's persistent vector under every trainer, real fits."""

import os
import tempfile
import warnings

import keras
import numpy as np
import pytest

from kreg.callbacks import TrainingBinding
from kreg.constraints import BoundSpectralNorm, SpectralNorm
from kreg.constraints.spectral_norm import leading_left_vector
from kreg.ops import start_vector


def top_sigma(w):
    return np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]


def top_left_vector(w):
    return np.linalg.svd(w.reshape(-1, w.shape[-1]).astype("float64"))[0][:, 0]


def conv_norm(kernel, input_size):
    """Sedghi et al. 2019 in NumPy: the largest singular value over the padded DFT's per-frequency matrices."""
    transforms = np.fft.fftn(kernel, s=input_size, axes=tuple(range(len(input_size))))
    return np.linalg.svd(transforms.reshape(-1, *kernel.shape[-2:]), compute_uv=False).max()


def numpy_power_iteration(matrix, u, steps, with_sigma=False):
    """`steps` power iterations from `u`; with `with_sigma`, also the estimate `u^T M v` of the last iteration."""
    for _ in range(steps):
        v = matrix.T @ u
        v /= np.linalg.norm(v)
        u = matrix @ v
        u /= np.linalg.norm(u)
    return (u, float(u @ matrix @ v)) if with_sigma else u


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


# sigma, estimate, project: the pieces the binding uses ----------------------------------------------------------


@pytest.mark.parametrize("mode, kwargs", [("matrix", {}), ("conv", {"input_size": [5, 5]})])
def test_sigma_is_exact(mode, kwargs):
    w = np.random.default_rng(9).standard_normal((3, 3, 2, 4)).astype("float32")
    expected = top_sigma(w) if mode == "matrix" else conv_norm(w, (5, 5))
    sigma = float(keras.ops.convert_to_numpy(SpectralNorm(1.0, mode=mode, **kwargs).sigma(w)))
    assert sigma == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("iterations", [1, 3])
def test_estimate_and_project_run_power_iterations_from_u(iterations):
    w = np.random.default_rng(10).standard_normal((7, 5)).astype("float32") * 3
    start = start_vector(7)
    constraint = SpectralNorm(0.5, power_iterations=iterations)
    sigma, u = constraint.estimate(w, start)
    expected_u, expected_sigma = numpy_power_iteration(w.astype("float64"), start.astype("float64"), iterations, True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(u), expected_u, atol=1e-5)
    assert float(keras.ops.convert_to_numpy(sigma)) == pytest.approx(expected_sigma, rel=1e-5)
    assert float(keras.ops.convert_to_numpy(sigma)) <= top_sigma(w) * (1 + 1e-6)  # never above the true sigma
    projected, u2 = constraint.project(w, start)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(u2), keras.ops.convert_to_numpy(u), atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(projected), w * (0.5 / expected_sigma), rtol=1e-5)
    # From the exact leading vector the estimate is exact, so the projection is too.
    exact_start = keras.ops.convert_to_numpy(leading_left_vector(w))
    assert abs(float(exact_start @ top_left_vector(w))) == pytest.approx(1.0, abs=1e-5)
    projected, _ = constraint.project(w, exact_start)
    assert top_sigma(keras.ops.convert_to_numpy(projected)) == pytest.approx(0.5, rel=1e-5)


def test_estimate_restarts_a_collapsed_vector():
    w = np.random.default_rng(11).standard_normal((6, 4)).astype("float32")
    sigma, u = SpectralNorm(1.0).estimate(w, np.zeros(6, "float32"))
    expected = numpy_power_iteration(w.astype("float64"), start_vector(6).astype("float64"), 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(u), expected, atol=1e-5)
    assert np.isfinite(float(keras.ops.convert_to_numpy(sigma)))


def test_bound_spectral_norm_updates_its_vector_and_serializes_as_the_wrapped_constraint():
    w = np.random.default_rng(12).standard_normal((6, 4)).astype("float32") * 2
    constraint = SpectralNorm(0.5, power_iterations=2)
    u = keras.Variable(start_vector(6), dtype="float32")
    bound = BoundSpectralNorm(constraint, u)
    assert bound.wrapped is constraint and bound.u is u
    projected = keras.ops.convert_to_numpy(bound(w))
    expected_u, expected_sigma = numpy_power_iteration(w.astype("float64"), start_vector(6).astype("float64"), 2, True)
    np.testing.assert_allclose(u.numpy(), expected_u, atol=1e-5)
    np.testing.assert_allclose(projected, w * (0.5 / expected_sigma), rtol=1e-5)
    assert bound.get_config() == {"constraint": keras.saving.serialize_keras_object(constraint)}
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(bound))
    assert type(rebuilt) is SpectralNorm and rebuilt.get_config() == constraint.get_config()


# The binding's persistent vector ------------------------------------------------------------------------------


def dense_model(constraint, jit_compile, optimizer=None, units=6):
    model = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(units, kernel_constraint=constraint), keras.layers.Dense(1)]
    )
    model.compile(optimizer or keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    return model


class Probe(keras.callbacks.Callback):
    """Placed after the binding: sees the first layer's `BoundSpectralNorm` (`self.model` syncs JAX's state)."""

    def __init__(self, on_begin=None):
        super().__init__()
        self.on_begin = on_begin
        self.vectors, self.kernels, self.optimizer_sizes = [], [], []

    def bound(self):
        return self.model.layers[0].kernel.constraint

    def on_train_begin(self, logs=None):
        if self.on_begin is not None:
            self.on_begin(self.model, self.bound())

    def on_train_batch_end(self, batch, logs=None):
        self.vectors.append(self.bound().u.numpy().copy())
        self.kernels.append(self.model.layers[0].kernel.numpy().copy())
        self.optimizer_sizes.append(len(self.model.optimizer.variables))


def test_the_vector_persists_across_steps_under_every_trainer(jit_compile):
    """With a frozen kernel (learning rate 0), the k-th step of a fit must leave `u` at exactly k power iterations.

    A vector kept outside the trainer's state would be frozen into the jitted step (JAX) and stay at its start.
    """
    constraint = SpectralNorm(1e3)  # never active: only the vector moves
    model = dense_model(constraint, jit_compile)
    kernel = model.layers[0].kernel.numpy()
    exact = top_left_vector(kernel)
    start = start_vector(10)

    def restart(model, bound):
        assert isinstance(bound, BoundSpectralNorm) and bound.wrapped is constraint
        assert bound.u.shape == (10,) and keras.backend.standardize_dtype(bound.u.dtype) == "float32"
        assert abs(float(bound.u.numpy() @ exact)) == pytest.approx(1.0, abs=1e-5)  # warm-started exactly
        bound.u.assign(start)  # restart from a known vector to count the iterations

    probe = Probe(restart)
    model.fit(
        np.ones((48, 10), "float32"),
        np.ones((48, 1), "float32"),
        batch_size=8,
        verbose=0,
        callbacks=[TrainingBinding(), probe],
    )
    assert len(probe.vectors) == 6
    for steps, u in enumerate(probe.vectors, start=1):
        expected = numpy_power_iteration(kernel.astype("float64"), start.astype("float64"), steps)
        np.testing.assert_allclose(u, expected, atol=1e-5)
    errors = [1.0 - abs(float(probe.vectors[k - 1] @ exact)) for k in (1, 3, 6)]
    assert errors[0] > errors[1] > errors[2]
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), kernel)


def test_the_vector_tracks_the_kernel_during_training(jit_compile):
    """A real fit: `u` changes at every step, stays a unit vector and ends at numpy's leading singular vector."""
    model = dense_model(SpectralNorm(0.5), jit_compile, keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(13).standard_normal((64, 10)).astype("float32")
    probe = Probe()
    model.fit(x, x[:, :1] * 5, batch_size=8, epochs=2, verbose=0, callbacks=[TrainingBinding(), probe])
    vectors = np.array(probe.vectors)
    assert vectors.shape == (16, 10)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.all(np.abs(np.diff(vectors, axis=0)).max(axis=1) > 1e-7)  # it moved at every step
    alignment = [abs(float(u @ top_left_vector(k))) for u, k in zip(probe.vectors, probe.kernels)]
    # One iteration per step lags a moving kernel a little (here the top two singular values are within 10 %).
    assert alignment[-1] == pytest.approx(1.0, abs=1e-3)
    assert min(alignment) > 1 - 1e-3
    assert top_sigma(probe.kernels[-1]) <= 0.5 * (1 + 1e-3)


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
    ratios = []
    bound_kinds = []

    class Check(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            layers = self.model.layers
            bound_kinds.extend(type(layers[i].kernel.constraint).__name__ for i in (0, 1, 3))

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
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[TrainingBinding(), Check()])
    # The "conv" mode needs no vector: it keeps the user's constraint.
    assert bound_kinds == ["SpectralNorm", "BoundSpectralNorm", "BoundSpectralNorm"]
    ratios = np.array(ratios)
    assert ratios.shape == (24, 3)
    assert ratios.max() <= 1 + 1e-3
    assert np.all(ratios.max(axis=0) > 0.99)  # every bound is active


def test_without_a_kreg_callback_it_warns_once_and_projects_exactly(jit_compile):
    model = dense_model(SpectralNorm(0.5), jit_compile, keras.optimizers.SGD(0.5))
    x = np.random.default_rng(5).standard_normal((32, 10)).astype("float32")
    ratios = []

    class Check(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert type(self.model.layers[0].kernel.constraint) is SpectralNorm
            ratios.append(top_sigma(self.model.layers[0].kernel.numpy()) / 0.5)

    with pytest.warns(UserWarning, match="TrainingBinding") as record:
        model.fit(x, x[:, :1] * 10, batch_size=8, epochs=1, verbose=0, callbacks=[Check()])
    assert len([w for w in record if "TrainingBinding" in str(w.message)]) == 1
    assert len(ratios) == 4
    np.testing.assert_allclose(ratios, 1.0, rtol=1e-5)  # active at every step, and exact
    assert top_sigma(model.layers[0].kernel.numpy()) <= 0.5 * (1 + 1e-5)


def test_the_binding_adds_the_vector_to_the_optimizer_only_during_fit(jit_compile):
    constraint = SpectralNorm(1.0)
    model = dense_model(constraint, jit_compile, keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    before = list(model.optimizer.variables)
    kernel = model.layers[0].kernel
    seen = {}

    def inspect(model, bound):
        assert isinstance(bound, BoundSpectralNorm) and bound.wrapped is constraint
        assert model.layers[0].kernel_constraint is constraint  # the layer attribute (saved config) is untouched
        added = [v for v in model.optimizer.variables if not any(v is b for b in before)]
        assert len(added) == 1 and added[0] is bound.u
        assert bound.u.name.startswith("spectral_norm_u_")
        seen["u"] = bound.u

    probe = Probe(inspect)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model.fit(
            np.ones((16, 10), "float32"),
            np.ones((16, 1), "float32"),
            batch_size=8,
            verbose=0,
            callbacks=[TrainingBinding(), probe],
        )
    assert probe.optimizer_sizes == [len(before) + 1] * 2
    assert len(model.optimizer.variables) == len(before)
    assert all(a is b for a, b in zip(model.optimizer.variables, before))
    assert not any(v is seen["u"] for v in model.optimizer.variables)
    assert kernel.constraint is constraint


def test_fit_twice_then_recompile_with_a_new_optimizer_and_fit_again(jit_compile):
    constraint = SpectralNorm(0.5)
    model = dense_model(constraint, jit_compile, keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(14).standard_normal((32, 10)).astype("float32")
    y = x[:, :1] * 5
    vectors = []

    def record(model, bound):
        assert any(v is bound.u for v in model.optimizer.variables)
        vectors.append(bound.u)

    for optimizer in (None, None, keras.optimizers.Adam(1e-3)):
        if optimizer is not None:
            model.compile(optimizer, "mse", jit_compile=jit_compile)
        model.optimizer.build(model.trainable_variables)
        size = len(model.optimizer.variables)
        probe = Probe(record)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[TrainingBinding(), probe])
        assert np.isfinite(history.history["loss"][-1])
        assert len(probe.vectors) == 8
        assert max(top_sigma(k) for k in probe.kernels) <= 0.5 * (1 + 1e-3)
        assert len(model.optimizer.variables) == size
        assert model.layers[0].kernel.constraint is constraint
    # The second fit changes nothing and reuses the binding and its vector (warm-started again from the kernel); the
    # new optimizer gets its own.
    assert len({id(u) for u in vectors}) == 2


def test_mixed_precision_fit(jit_compile):
    keras.config.set_dtype_policy("mixed_float16")
    model = dense_model(SpectralNorm(0.5), jit_compile, keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    size = len(model.optimizer.variables)

    def inspect(model, bound):
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert any(v is bound.u for v in model.optimizer.variables)
        assert keras.backend.standardize_dtype(bound.u.dtype) == "float32"

    x = np.random.default_rng(6).standard_normal((32, 10)).astype("float32")
    probe = Probe(inspect)
    history = model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0, callbacks=[TrainingBinding(), probe])
    assert np.isfinite(history.history["loss"][-1])
    # The loss-scale optimizer skips the first updates (non-finite scaled gradients), constraint included.
    np.testing.assert_allclose(np.linalg.norm(probe.vectors, axis=1), 1.0, atol=1e-5)
    assert top_sigma(model.layers[0].kernel.numpy()) <= 0.5 * (1 + 1e-3)
    assert len(model.optimizer.variables) == size


def test_keras_file_saved_after_fit_has_no_binding_artefacts(jit_compile):
    model = dense_model(SpectralNorm(0.5, power_iterations=2), jit_compile, keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(7).standard_normal((16, 10)).astype("float32")
    model.fit(x, x[:, :1], batch_size=8, verbose=0, callbacks=[TrainingBinding()])
    fresh = dense_model(SpectralNorm(0.5, power_iterations=2), jit_compile, keras.optimizers.Adam(1e-3))
    fresh.optimizer.build(fresh.trainable_variables)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", "Skipping variable loading for optimizer")
            loaded = keras.saving.load_model(path)
    assert len(loaded.optimizer.variables) == len(fresh.optimizer.variables) == len(model.optimizer.variables)
    for ours, theirs in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(theirs.numpy(), ours.numpy(), rtol=1e-6)
    for constraint in (loaded.layers[0].kernel.constraint, loaded.layers[0].kernel_constraint):
        assert type(constraint) is SpectralNorm
        assert constraint.get_config() == SpectralNorm(0.5, power_iterations=2).get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # The loaded model trains again with the binding.
    loaded.fit(x, x[:, :1], batch_size=8, verbose=0, callbacks=[TrainingBinding()])
    assert top_sigma(loaded.layers[0].kernel.numpy()) <= 0.5 * (1 + 1e-3)


def test_a_model_saved_during_fit_loads_with_the_plain_constraint(jit_compile):
    model = dense_model(SpectralNorm(0.5, power_iterations=2), jit_compile, keras.optimizers.Adam(1e-2))
    x = np.random.default_rng(15).standard_normal((16, 10)).astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "during.keras")
        saved_with = []

        class Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                saved_with.append(type(self.model.layers[0].kernel.constraint))

        checkpoint = keras.callbacks.ModelCheckpoint(path)
        model.fit(x, x[:, :1], batch_size=8, verbose=0, callbacks=[TrainingBinding(), Record(), checkpoint])
        assert saved_with == [BoundSpectralNorm]
        with warnings.catch_warnings():
            # The file was written while the binding's vector was in the optimizer's state, so Keras may decline
            # to load that state into the fresh optimizer (it warns); the model's weights and config are intact.
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            loaded = keras.saving.load_model(path)
    for constraint in (loaded.layers[0].kernel.constraint, loaded.layers[0].kernel_constraint):
        assert type(constraint) is SpectralNorm
        assert constraint.get_config() == SpectralNorm(0.5, power_iterations=2).get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


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
