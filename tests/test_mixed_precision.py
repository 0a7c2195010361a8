"""Every kreg component under `mixed_float16` and `mixed_bfloat16`.

Penalties are computed in float32 and stay exact and finite for large weights (1e3, whose squares overflow float16);
constraints keep the weight's dtype and do not overflow; every layer (found by the walk of
`tests/test_saving_walk.py`) computes and draws its noise in the compute dtype; and one model with every
regularizer, constraint and layer trains under each policy with finite float32 penalties.
"""

import warnings

import keras
import numpy as np
import pytest

import kreg
from kreg import constraints as C
from kreg import layers as L
from kreg import regularizers as R
from kreg import schedules as S
from tests.test_saving_walk import CONFIG_ONLY, EXAMPLES, EXCLUDED, public_classes

POLICIES = ["mixed_float16", "mixed_bfloat16"]


def compute_dtype(policy):
    return policy.removeprefix("mixed_")


def orthogonal_penalties(w):
    gram = w.T @ w - np.eye(w.shape[1])
    outer = w @ w.T - np.eye(w.shape[0])
    return np.sum(gram**2), np.sum(gram**2) + np.sum(outer**2), np.linalg.norm(gram, 2) ** 2


def large_weight():
    # 1e3-scale entries, exactly representable in float16 and bfloat16 (multiples of 8 up to 1024).
    rng = np.random.default_rng(0)
    return (rng.integers(-128, 129, size=(8, 4)) * 8).astype("float64")


REFERENCE = np.full((8, 4), 16.0)

PENALTIES = {
    "L1": (lambda: R.L1(0.1), lambda w: 0.1 * np.sum(np.abs(w))),
    "L1_proximal": (lambda: R.L1(0.1, proximal=True), lambda w: 0.1 * np.sum(np.abs(w))),
    "L2": (lambda: R.L2(0.1), lambda w: 0.1 * np.sum(w**2)),
    "L2_scheduled": (lambda: R.L2(S.Linear(0.1, 0.0, steps=10)), lambda w: 0.1 * np.sum(w**2)),
    "ElasticNet": (lambda: R.ElasticNet(0.1, 0.2), lambda w: 0.1 * np.sum(np.abs(w)) + 0.2 * np.sum(w**2)),
    "GroupLasso": (lambda: R.GroupLasso(0.1), lambda w: 0.1 * np.sqrt(8) * np.sum(np.linalg.norm(w, axis=0))),
    "Orthogonal_so": (lambda: R.Orthogonal(0.1), lambda w: 0.1 * orthogonal_penalties(w)[0]),
    "Orthogonal_dso": (lambda: R.Orthogonal(0.1, mode="dso"), lambda w: 0.1 * orthogonal_penalties(w)[1]),
    "Orthogonal_srip": (lambda: R.Orthogonal(0.1, mode="srip"), lambda w: 0.1 * orthogonal_penalties(w)[2]),
    "L2SP": (lambda: R.L2SP(0.1, reference=REFERENCE.astype("float32")), lambda w: 0.1 * np.sum((w - REFERENCE) ** 2)),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalties_are_float32_and_exact_for_large_low_precision_weights(policy, name):
    make, formula = PENALTIES[name]
    w = large_weight()
    x = keras.ops.convert_to_tensor(w.astype("float32"), dtype=compute_dtype(policy))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unbound warnings of the proximal and scheduled ones
        value = make()(x)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    value = float(keras.ops.convert_to_numpy(value))
    assert np.isfinite(value)
    np.testing.assert_allclose(value, formula(w), rtol=2e-3 if name == "Orthogonal_srip" else 1e-5)


def test_every_regularizer_class_is_in_the_penalty_table():
    names = {name.split("_")[0] for name in PENALTIES}
    assert set(kreg.regularizers.ALL_OBJECTS) <= names


CONSTRAINTS = {
    "MaxNorm": (lambda: C.MaxNorm(2.0), (8, 4)),
    "MaxNorm_axes": (lambda: C.MaxNorm(2.0, axis=[0, 1]), (2, 4, 4)),
    "SpectralNorm": (lambda: C.SpectralNorm(2.0), (8, 4)),
    "SpectralNorm_conv": (lambda: C.SpectralNorm(2.0, mode="conv", input_size=[4]), (2, 4, 4)),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_constraints_keep_the_dtype_and_do_not_overflow(policy, name):
    make, shape = CONSTRAINTS[name]
    w = large_weight().reshape(shape).astype("float32")
    low = keras.ops.convert_to_tensor(w, dtype=compute_dtype(policy))
    projected = make()(low)
    assert keras.backend.standardize_dtype(projected.dtype) == compute_dtype(policy)
    projected = keras.ops.convert_to_numpy(keras.ops.cast(projected, "float32"))
    expected = keras.ops.convert_to_numpy(make()(w))
    assert np.all(np.isfinite(projected)) and np.abs(projected).max() > 0
    np.testing.assert_allclose(projected, expected, rtol=1e-2, atol=1e-3)


def layer_input_shape(name):
    if name == "DropBlock2D":
        return (4, 6, 6, 3)
    if name in ("DropBlock1D", "TimeMask", "FrequencyMask"):
        return (4, 10, 3)
    return (4, 6)


def random_layer_names():
    return sorted(
        name
        for name, cls in public_classes().items()
        if issubclass(cls, keras.layers.Layer) and name not in EXCLUDED and name not in CONFIG_ONLY
    )


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", random_layer_names())
def test_layers_compute_and_draw_in_the_compute_dtype(policy, name):
    keras.config.set_dtype_policy(policy)
    x = np.random.default_rng(0).standard_normal(layer_input_shape(name)).astype("float32") * 100.0
    for layer in EXAMPLES[name]():
        assert layer.compute_dtype == compute_dtype(policy)
        trained = layer(x, training=True)
        inferred = layer(x, training=False)
        for out in (trained, inferred):
            assert keras.backend.standardize_dtype(out.dtype) == compute_dtype(policy)
            assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))))
        for variable in layer.trainable_variables:
            assert keras.backend.standardize_dtype(variable.dtype) == "float32"


def every_component_model():
    return keras.Sequential(
        [
            keras.Input((6,)),
            L.GaussianNoise(S.Linear(0.1, 0.0, steps=4), seed=1),
            L.MultiplicativeNoise(0.1, seed=2),
            L.UniformNoise(0.1, seed=3),
            keras.layers.Dense(8, kernel_regularizer=R.L1(2.0, proximal=True), activity_regularizer=R.L2(1e-3)),
            keras.layers.Dense(8, kernel_regularizer=R.ElasticNet(0.01, 0.01), kernel_constraint=C.MaxNorm(2.0)),
            keras.layers.Dense(8, kernel_regularizer=R.GroupLasso(0.01, proximal=True)),
            keras.layers.Dense(8, kernel_regularizer=R.Orthogonal(0.01, mode="srip")),
            keras.layers.Dense(8, kernel_regularizer=R.L2SP(0.1), kernel_constraint=C.SpectralNorm(2.0)),
            L.DropPath(0.2, seed=4),
            L.ConcreteDropout(keras.layers.Dense(8), seed=5),
            L.SpectralNormalization(keras.layers.Dense(8)),
            L.WeightNoise(keras.layers.Dense(8), 0.05, seed=6),
            L.DropConnect(keras.layers.Dense(8), 0.2, seed=7),
            keras.layers.Reshape((8, 1)),
            L.DropBlock1D(0.2, block_size=2, seed=8),
            keras.layers.Flatten(),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_a_model_with_every_component_trains_with_float32_penalties(policy, jit_compile):
    keras.config.set_dtype_policy(policy)
    model = every_component_model()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6)).astype("float32"), rng.standard_normal((32, 1)).astype("float32")
    model.compile(keras.optimizers.SGD(0.01), "mse", jit_compile=jit_compile)
    kernels = [layer.kernel for layer in model.layers[3:8]]
    for kernel in kernels:
        original = kernel.numpy() if hasattr(kernel, "numpy") else keras.ops.convert_to_numpy(kernel)
        kernel.assign(original * 1e3)  # large weights: their squares overflow float16
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            penalties = model.losses  # the weight penalties
        kernel.assign(original)
        for loss in penalties:
            assert keras.backend.standardize_dtype(loss.dtype) == "float32"
            assert np.isfinite(keras.ops.convert_to_numpy(loss))
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    assert np.isfinite(history.history["loss"]).all()
    model(x[:4], training=False)
    assert len(model.losses) == 6  # five kernel penalties and one activity penalty
    for loss in model.losses:
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        assert np.isfinite(keras.ops.convert_to_numpy(loss))
    for variable in model.trainable_variables:
        assert keras.backend.standardize_dtype(variable.dtype) == "float32"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(variable)))
    assert (keras.ops.convert_to_numpy(model.layers[3].kernel) == 0).any()  # the proximal step ran
