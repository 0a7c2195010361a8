"""`kreg.keras_compat`: each reliance on Keras behaviour outside its public API, checked against the installed Keras.

These tests are meant to fail loudly when a Keras release changes what kreg relies on (see the module docstring).
"""

import keras
import numpy as np
import pytest

import kreg
from kreg import keras_compat


def test_in_symbolic_scope_tells_keras_shape_only_pass():
    assert not keras_compat.in_symbolic_scope()
    with keras.SymbolicScope():
        assert keras_compat.in_symbolic_scope()
    assert not keras_compat.in_symbolic_scope()


def test_the_symbolic_build_of_fit_runs_in_a_symbolic_scope():
    seen = []

    class Probe(keras.regularizers.Regularizer):
        def __call__(self, x):
            seen.append(keras_compat.in_symbolic_scope())
            return keras.ops.sum(x) * 0.0

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer=Probe())])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 2)), np.ones(4), verbose=0)
    assert False in seen, "the training step itself is not symbolic"
    if keras.backend.backend() in ("jax", "torch"):
        assert seen[0] is True, "Keras builds the model and its losses symbolically before the first step"


def test_raw_iterations_is_the_counter_before_accumulation():
    optimizer = keras.optimizers.SGD(0.1, gradient_accumulation_steps=3)
    optimizer.build([keras.Variable(np.zeros(2, "float32"))])
    counter = keras_compat.raw_iterations(optimizer)
    assert isinstance(counter, keras.Variable) and any(v is counter for v in optimizer.variables)
    counter.assign(7)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 7 // 3
    wrapped = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
    wrapped.build([keras.Variable(np.zeros(2, "float32"))])
    assert keras_compat.raw_iterations(wrapped) is wrapped.inner_optimizer.iterations


def test_remove_optimizer_variables_undoes_add_variable(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 2)), np.ones(4), verbose=0)
    before = list(model.optimizer.variables)
    extra = model.optimizer.add_variable(shape=(3,), initializer="zeros", dtype="float32", name="extra")
    assert len(model.optimizer.variables) == len(before) + 1
    keras_compat.remove_optimizer_variables(model.optimizer, [extra])
    assert [id(v) for v in model.optimizer.variables] == [id(v) for v in before]
    path = str(tmp_path / "m.keras")
    model.save(path)
    fresh = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    fresh.compile("adam", "mse")
    fresh.fit(np.ones((4, 2)), np.ones(4), verbose=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "Skipping variable loading for optimizer"
        keras.saving.load_model(path)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's compiled step only")
def test_jax_train_step_state_layout_is_the_documented_one():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 2)), np.ones(4), verbose=0)
    threading = keras_compat.JaxStepThreading(model, kreg.step_source.StepSource(model.optimizer))
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    assert int(threading.step_from_state(state)) == int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    with pytest.raises(RuntimeError, match="state is no longer"):
        threading.step_from_state(state[:3])
    threading.install()
    assert "train_step" in vars(model) and "test_step" in vars(model)
    threading.uninstall()
    assert "train_step" not in vars(model) and "test_step" not in vars(model)


def test_restore_optimizer_variables_puts_back_the_same_variables_in_order():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 2)), np.ones(4), verbose=0)
    before = [id(v) for v in model.optimizer.variables]
    extra = [
        model.optimizer.add_variable(shape=(2,), initializer="zeros", dtype="float32", name=f"e{i}") for i in (0, 1)
    ]
    keras_compat.remove_optimizer_variables(model.optimizer, extra)
    keras_compat.restore_optimizer_variables(model.optimizer, extra)
    assert [id(v) for v in model.optimizer.variables] == before + [id(v) for v in extra]


def test_tf_graph_backend_runs_keras_ops_on_tf_graph_tensors_on_every_backend():
    """Inside a `tf.data` map (a TensorFlow graph), the namespace computes on graph tensors with Keras's TensorFlow
    ops, draws from a TensorFlow-side seed generator and runs host functions; outside a graph it is `None`."""
    import tensorflow as tf

    assert keras_compat.tf_graph_backend() is None  # eager
    generators = []

    def fn(x):
        backend = keras_compat.tf_graph_backend()
        if keras.backend.backend() == "tensorflow":
            assert backend is None  # keras.ops handles graph tensors itself
            return x
        assert backend.name == "tensorflow"
        if not generators:  # a traced function may create its variables on its first trace only
            generators.append(backend.seed_generator(3))
        generator = generators[0]
        noise = backend.random.uniform(backend.shape(x), dtype="float32", seed=generator)
        (host,) = backend.host_call(lambda: np.float32(2.0), ["float32"])
        return backend.numpy.add(backend.cast(x, "float32") * host, noise * 0.0)

    out = [t.numpy() for t in tf.data.Dataset.from_tensor_slices(np.ones((2, 3), "float32")).batch(2).map(fn)]
    expected = 1.0 if keras.backend.backend() == "tensorflow" else 2.0
    np.testing.assert_array_equal(out[0], np.full((2, 3), expected, "float32"))
