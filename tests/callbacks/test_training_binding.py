"""TrainingBinding: exact zeros matching scikit-learn's Lasso/ElasticNet, constraints, warnings, rebinding, the step
source under every trainer, the data loss in the logs, and a clean model after `fit`."""

import warnings

import keras
import numpy as np
import pytest
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso

import kreg
from kreg.constraints import ProximalConstraint
from kreg.regularizers import L1, ElasticNet
from tests.fitting import fit_full_batch, full_batch_lr, linear_model, regression_problem, relative_error

UNBOUND = "is used without kreg's training binding"


def _kernel(model):
    return keras.ops.convert_to_numpy(model.layers[0].kernel)[:, 0]


def test_proximal_l1_matches_sklearn_lasso(jit_compile):
    x, y = regression_problem()
    alpha = 1.0
    reference = Lasso(alpha=alpha, tol=1e-10, max_iter=100_000).fit(x, y).coef_
    model = linear_model(x.shape[1], L1(2 * alpha, proximal=True), full_batch_lr(x), jit_compile)
    kernel = _kernel(fit_full_batch(model, x, y, steps=300, callbacks=[kreg.callbacks.TrainingBinding()]))
    assert (reference == 0).sum() >= 20, "the problem must have many zero coefficients to be a real check"
    np.testing.assert_array_equal(kernel == 0, reference == 0)
    assert relative_error(kernel, reference) < 0.01


def test_proximal_elastic_net_matches_sklearn_elastic_net(jit_compile):
    x, y = regression_problem()
    alpha, l1_ratio = 1.0, 0.9
    reference = SkElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-10, max_iter=100_000).fit(x, y).coef_
    # sklearn: 1/(2n)||r||^2 + alpha*r*|w|_1 + alpha*(1-r)/2*||w||^2; Keras MSE is 1/n||r||^2, so double everything.
    regularizer = ElasticNet(l1=2 * alpha * l1_ratio, l2=alpha * (1 - l1_ratio), proximal=True)
    model = linear_model(x.shape[1], regularizer, full_batch_lr(x) / (1 + alpha), jit_compile)
    kernel = _kernel(fit_full_batch(model, x, y, steps=400, callbacks=[kreg.callbacks.TrainingBinding()]))
    assert (reference == 0).sum() >= 15
    np.testing.assert_array_equal(kernel == 0, reference == 0)
    assert relative_error(kernel, reference) < 0.01


def test_keras_l1_gives_no_exact_zeros_on_the_same_problem(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], keras.regularizers.L1(2.0), full_batch_lr(x), jit_compile)
    kernel = _kernel(fit_full_batch(model, x, y, steps=300))
    reference = Lasso(alpha=1.0, tol=1e-10, max_iter=100_000).fit(x, y).coef_
    assert (reference == 0).sum() >= 20
    assert (kernel == 0).sum() == 0


def test_unbound_proximal_regularizer_warns_at_the_first_training_step(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    with pytest.warns(UserWarning, match=r"L1\(l1=2.0, proximal=True\) " + UNBOUND) as record:
        fit_full_batch(model, x, y, steps=50)
    assert len([w for w in record if UNBOUND in str(w.message)]) == 1
    # Without the proximal step the L1 part does nothing (`proximal=True` means one thing): no exact zeros, and the
    # fit is plain least squares.
    assert (_kernel(model) == 0).sum() == 0
    least_squares = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[0][:-1]
    assert relative_error(_kernel(model), least_squares) < 0.05


def test_bound_proximal_regularizer_does_not_warn(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], ElasticNet(2.0, 0.1, proximal=True), full_batch_lr(x), jit_compile)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit_full_batch(model, x, y, steps=5, callbacks=[kreg.callbacks.TrainingBinding()])


def test_reported_loss_includes_the_l1_value(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.TrainingBinding()])
    prediction = model.predict(x, verbose=0)[:, 0]
    expected = np.mean((prediction - y) ** 2) + 2.0 * np.abs(_kernel(model)).sum()
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=len(x), verbose=0), expected, rtol=1e-4)


def test_step_size_follows_a_learning_rate_schedule(jit_compile):
    x = np.eye(3, dtype="float32")
    y = np.zeros(3, dtype="float32")
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([0], [0.5, 0.25])  # iteration 0: 0.5, then 0.25
    l1 = 0.4
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(
                1,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant([[3.0], [0.2], [-1.0]]),
                kernel_regularizer=L1(l1, proximal=True),
            ),
        ]
    )
    model.compile(keras.optimizers.SGD(schedule), "mse", jit_compile=jit_compile)
    w = np.array([3.0, 0.2, -1.0])
    for lr in (0.5, 0.25):
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
        w = w - lr * (2.0 / 3.0) * w  # gradient of mean((x @ w - 0)^2) with x = I
        w = np.sign(w) * np.maximum(np.abs(w) - lr * l1, 0.0)
        np.testing.assert_allclose(_kernel(model), w, rtol=1e-5, atol=1e-7)
    assert _kernel(model)[1] == 0.0


def test_existing_constraint_is_kept_and_applied_after_the_step(jit_compile):
    x, y = regression_problem()
    model = linear_model(
        x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile, kernel_constraint=keras.constraints.NonNeg()
    )
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.TrainingBinding()])
    kernel = _kernel(model)
    assert kernel.min() >= 0.0
    assert (kernel == 0).sum() > 20
    assert isinstance(model.layers[0].kernel.constraint, keras.constraints.NonNeg), "the binding is undone after fit"


def test_fit_twice_recompile_and_fit_again(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    fit_full_batch(model, x, y, steps=2, callbacks=[kreg.callbacks.TrainingBinding()])
    fit_full_batch(model, x, y, steps=2, callbacks=[kreg.callbacks.TrainingBinding()])
    assert model.layers[0].kernel.constraint is None
    new_optimizer = keras.optimizers.SGD(full_batch_lr(x))
    model.compile(new_optimizer, "mse", jit_compile=jit_compile)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(self.model.layers[0].kernel.constraint)

    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.TrainingBinding(), Spy()])
    assert isinstance(seen[0], ProximalConstraint) and seen[0].optimizer is new_optimizer
    assert model.layers[0].kernel.constraint is None
    assert (_kernel(model) == 0).sum() > 20


def test_a_new_binding_retraces_an_already_traced_train_function(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    with pytest.warns(UserWarning, match=UNBOUND):
        fit_full_batch(model, x, y, steps=5)
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.TrainingBinding()])
    assert (_kernel(model) == 0).sum() > 20


def test_runs_only_on_real_updates_with_gradient_accumulation():
    x = np.eye(2, dtype="float32")
    y = np.zeros(2, dtype="float32")
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", kernel_regularizer=L1(0.5, proximal=True)),
        ]
    )
    model.compile(keras.optimizers.SGD(0.1, gradient_accumulation_steps=2), "mse")
    callback = kreg.callbacks.TrainingBinding()
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[callback])
    np.testing.assert_allclose(_kernel(model), [1.0, 1.0])  # accumulating: neither update nor proximal step
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, callbacks=[callback])
    expected = 1.0 - 0.1 * 1.0  # mean of the two accumulated gradients 2 * w / 2 = 1
    np.testing.assert_allclose(_kernel(model), [expected - 0.1 * 0.5] * 2, rtol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_exact_zeros_under_mixed_precision(policy, jit_compile):
    keras.config.set_dtype_policy(policy)
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.TrainingBinding()])
    kernel = _kernel(model)
    assert np.isfinite(kernel).all()
    assert (kernel == 0).sum() > 20


def test_warns_when_the_model_has_nothing_to_bind():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer=kreg.regularizers.L1())])
    model.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a penalty to log: the binding has work to do
        model.fit(np.ones((2, 2)), np.ones(2), verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    plain.compile("sgd", "mse")
    with pytest.warns(UserWarning, match="TrainingBinding found nothing to bind"):
        plain.fit(np.ones((2, 2)), np.ones(2), verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])


def test_saved_model_keeps_the_original_constraint(tmp_path):
    x, y = regression_problem()
    model = linear_model(
        x.shape[1], L1(2.0, proximal=True), 0.1, "auto", kernel_constraint=keras.constraints.MaxNorm(5.0)
    )
    fit_full_batch(model, x, y, steps=3, callbacks=[kreg.callbacks.TrainingBinding()])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[0].kernel_constraint, keras.constraints.MaxNorm)
    assert isinstance(loaded.layers[0].kernel_regularizer, L1)


@pytest.mark.parametrize("verbose", [2, "1", -1])
def test_invalid_verbose(verbose):
    with pytest.raises(ValueError, match=f"argument `verbose`. Expected 0 or 1. Received: verbose={verbose!r}"):
        kreg.callbacks.TrainingBinding(verbose=verbose)


def test_composes_with_a_stateful_spectral_norm_constraint(jit_compile):
    x, y = regression_problem()
    layer_kwargs = {"kernel_constraint": kreg.constraints.SpectralNorm(max_value=5.0)}
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile, **layer_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "exact SVD at every step" fallback warning
        fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.TrainingBinding()])
    kernel = _kernel(model)
    assert np.linalg.norm(kernel) <= 5.0 * (1 + 1e-3)
    assert (kernel == 0).sum() > 0


def test_proximal_step_is_the_former_name():
    assert issubclass(kreg.callbacks.ProximalStep, kreg.callbacks.TrainingBinding)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(kreg.callbacks.ProximalStep(1))
    )
    assert isinstance(restored, kreg.callbacks.ProximalStep) and restored.verbose == 1


# The step source ---------------------------------------------------------------------------------------------


def frozen_model(regularizer, jit_compile, steps_per_execution=1, **optimizer_kwargs):
    """`Dense(1)` on 4 inputs whose kernel never moves (learning rate 0): its penalty shows the strength used."""
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", kernel_regularizer=regularizer),
        ]
    )
    model.compile(
        keras.optimizers.SGD(0.0, **optimizer_kwargs),
        "mse",
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def fit_logged(model, epochs, batches, callbacks=()):
    history = model.fit(
        np.ones((8 * batches, 4), "float32"),
        np.ones((8 * batches, 1), "float32"),
        batch_size=8,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        validation_data=(np.ones((8, 4), "float32"), np.ones((8, 1), "float32")),
        callbacks=[kreg.callbacks.TrainingBinding(), *callbacks],
    )
    return history.history


@pytest.mark.parametrize(
    "steps_per_execution, accumulation", [(1, None), (3, None), (1, 2)], ids=["plain", "per_execution_3", "accum_2"]
)
def test_scheduled_strength_follows_the_optimizer_step(steps_per_execution, accumulation, jit_compile):
    if steps_per_execution > 1 and keras.backend.backend() == "torch":
        pytest.skip("Keras's PyTorch trainer runs one step per execution")
    epochs, batches, ramp = 3, 6, 10
    schedule = kreg.schedules.Linear(0.0, 1.0, steps=ramp)
    kwargs = {} if accumulation is None else {"gradient_accumulation_steps": accumulation}
    model = frozen_model(kreg.regularizers.L2(schedule), jit_compile, steps_per_execution, **kwargs)
    logs = fit_logged(model, epochs, batches)
    updates = np.arange(epochs * batches) // (accumulation or 1)  # `optimizer.iterations` during each batch
    strength = np.clip(updates / ramp, 0.0, 1.0)
    # The kernel is all ones (4 entries): the penalty is 4 * strength; `penalty` is its mean over the epoch.
    np.testing.assert_allclose(logs["penalty"], 4 * strength.reshape(epochs, batches).mean(axis=1), rtol=1e-5)
    # Validation runs after each epoch's updates, at the step reached then.
    after = np.clip((np.arange(1, epochs + 1) * batches // (accumulation or 1)) / ramp, 0.0, 1.0)
    np.testing.assert_allclose(logs["val_penalty"], 4 * after, rtol=1e-5)


def test_two_models_with_different_schedules_trained_alternately(jit_compile):
    first = frozen_model(kreg.regularizers.L2(kreg.schedules.Linear(0.0, 1.0, steps=4)), jit_compile)
    second = frozen_model(kreg.regularizers.L2(kreg.schedules.Step([2], [5.0, 0.5])), jit_compile)
    for epoch in range(3):
        for model, strength in (
            (first, lambda s: np.clip(s / 4, 0, 1)),
            (second, lambda s: np.where(s >= 2, 0.5, 5.0)),
        ):
            logs = fit_logged(model, 1, 2)
            steps = np.arange(2 * epoch, 2 * epoch + 2)
            np.testing.assert_allclose(logs["penalty"], [4 * strength(steps).mean()], rtol=1e-5)


# The data loss --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("position", ["before", "after"])
def test_data_loss_and_penalty_are_in_the_logs_of_every_callback(position, jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], kreg.regularizers.L2(0.5), full_batch_lr(x), jit_compile)
    model.compile(keras.optimizers.SGD(full_batch_lr(x)), "mse", jit_compile=jit_compile)
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    spy, binding = Spy(), kreg.callbacks.TrainingBinding()
    callbacks = [spy, binding] if position == "before" else [binding, spy]
    model.fit(x, y, batch_size=100, epochs=2, validation_split=0.2, verbose=0, callbacks=callbacks)
    for logs in seen:
        assert {"data_loss", "penalty", "val_data_loss", "val_penalty"} <= set(logs)
        np.testing.assert_allclose(logs["data_loss"] + logs["penalty"], logs["loss"], rtol=1e-5)
        np.testing.assert_allclose(logs["val_data_loss"] + logs["val_penalty"], logs["val_loss"], rtol=1e-5)
    # Validation uses the weights at the end of the epoch: its penalty is the L2 of those weights, its data loss the MSE.
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    np.testing.assert_allclose(seen[-1]["val_penalty"], 0.5 * np.sum(kernel**2), rtol=1e-4)
    x_val, y_val = x[400:], y[400:]
    mse = np.mean((model.predict(x_val, verbose=0)[:, 0] - y_val) ** 2)
    np.testing.assert_allclose(seen[-1]["val_data_loss"], mse, rtol=1e-4)


# A clean model after fit -----------------------------------------------------------------------------------------


def binding_artefacts(model):
    """Everything the binding may have left on `model` after `fit`."""
    # `_kreg_last_binding` (not saved) is the undone binding a next `fit` reuses with its traced step.
    found = [name for name in vars(model) if name.startswith("_kreg") and name != "_kreg_last_binding"]
    found += [m.name for m in model.metrics if m.name in ("data_loss", "penalty")]
    found += [name for name in ("train_step", "test_step", "compute_loss") if name in vars(model)]
    for variable in model.variables:
        for obj in (variable.regularizer, variable.constraint):
            if getattr(obj, "is_binding_wrapper", False):
                found.append(f"{variable.path}: {type(obj).__name__}")
    found += [v.path for v in model.optimizer.variables if "spectral_norm_u" in v.path]
    return found


def scheduled_model(jit_compile):
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(
                8,
                kernel_regularizer=L1(kreg.schedules.Linear(0.0, 0.01, 20), proximal=True),
                kernel_constraint=kreg.constraints.SpectralNorm(2.0),
                activity_regularizer=kreg.regularizers.L2(kreg.schedules.Cosine(0.0, 1e-3, 20)),
            ),
            keras.layers.Dense(1, kernel_regularizer=kreg.regularizers.L2SP(1e-3)),
        ]
    )
    model.compile("adam", "mse", jit_compile=jit_compile)
    return model


def test_save_and_load_after_fit_show_no_binding_artefacts(tmp_path, jit_compile):
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = scheduled_model(jit_compile)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # builds the optimizer: its variable count without binding
    before = len(model.optimizer.variables)
    model.fit(
        x, y, batch_size=16, epochs=2, verbose=0, validation_split=0.25, callbacks=[kreg.callbacks.TrainingBinding()]
    )
    assert binding_artefacts(model) == []
    assert len(model.optimizer.variables) == before
    assert isinstance(model.layers[0].kernel.constraint, kreg.constraints.SpectralNorm)
    path = str(tmp_path / "m.keras")
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. "Skipping variable loading for optimizer"
        loaded = keras.saving.load_model(path)
    assert binding_artefacts(loaded) == []
    assert type(loaded.layers[0].activity_regularizer) is kreg.regularizers.L2
    assert isinstance(loaded.layers[1].kernel_regularizer.reference, np.ndarray)  # captured: it is config
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_a_model_saved_during_fit_loads_with_the_users_objects(tmp_path, jit_compile):
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    model = scheduled_model(jit_compile)
    path = str(tmp_path / "during.keras")
    model.fit(
        x,
        x.sum(axis=1, keepdims=True),
        epochs=1,
        verbose=0,
        callbacks=[kreg.callbacks.TrainingBinding(), keras.callbacks.ModelCheckpoint(path)],
    )
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[0].activity_regularizer) is kreg.regularizers.L2
    assert type(loaded.layers[0].kernel_constraint) is kreg.constraints.SpectralNorm
    assert binding_artefacts(loaded) == []


def test_an_interrupted_fit_is_unbound_by_the_next_one(jit_compile):
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = scheduled_model(jit_compile)

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(x, y, verbose=0, callbacks=[kreg.callbacks.TrainingBinding(), Crash()])
    assert binding_artefacts(model) != []  # Keras skips on_train_end after an exception
    model.fit(x, y, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    assert binding_artefacts(model) == []


def test_a_second_fit_reuses_the_binding_and_its_traced_step_until_something_changes(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    fit_full_batch(model, x, y, steps=2, callbacks=[kreg.callbacks.TrainingBinding()])
    first = model._kreg_last_binding
    traced = model._kreg_last_binding.traced_functions
    fit_full_batch(model, x, y, steps=2, callbacks=[kreg.callbacks.TrainingBinding()])
    assert model._kreg_last_binding is first and first.traced_functions[0] is traced[0]
    assert model.layers[0].kernel.constraint is None
    clean = model.train_function  # the model's own function is back after each bound fit, traced once
    fit_full_batch(model, x, y, steps=2)  # without the binding: no proximal step
    fit_full_batch(model, x, y, steps=2, callbacks=[kreg.callbacks.TrainingBinding()])
    assert model.train_function is clean and model._kreg_last_binding is first
    kreg.attach(model, kreg.regularizers.L1(0.5, proximal=True))  # a change: the next fit binds anew
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.TrainingBinding()])
    assert model._kreg_last_binding is not first
    assert (_kernel(model) == 0).sum() > 20
