"""ProximalStep: exact zeros matching scikit-learn's Lasso/ElasticNet, schedules, constraints, warnings, rebinding."""

import warnings

import keras
import numpy as np
import pytest
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso

import kreg
from kreg.callbacks.proximal_step import ProximalConstraint
from kreg.regularizers import L1, ElasticNet
from tests.fitting import fit_full_batch, full_batch_lr, linear_model, regression_problem, relative_error

UNBOUND = "is computing its penalty but is not bound to an optimizer"


def _kernel(model):
    return keras.ops.convert_to_numpy(model.layers[0].kernel)[:, 0]


def test_proximal_l1_matches_sklearn_lasso(jit_compile):
    x, y = regression_problem()
    alpha = 1.0
    reference = Lasso(alpha=alpha, tol=1e-10, max_iter=100_000).fit(x, y).coef_
    model = linear_model(x.shape[1], L1(2 * alpha, proximal=True), full_batch_lr(x), jit_compile)
    kernel = _kernel(fit_full_batch(model, x, y, steps=300, callbacks=[kreg.callbacks.ProximalStep()]))
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
    kernel = _kernel(fit_full_batch(model, x, y, steps=400, callbacks=[kreg.callbacks.ProximalStep()]))
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
    with pytest.warns(UserWarning, match=r"L1\(proximal=True\) " + UNBOUND):
        fit_full_batch(model, x, y, steps=50)
    # Without the proximal step it acts as the subgradient penalty: no exact zeros, but the penalty still acts.
    assert (_kernel(model) == 0).sum() == 0


def test_bound_proximal_regularizer_does_not_warn(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], ElasticNet(2.0, 0.1, proximal=True), full_batch_lr(x), jit_compile)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit_full_batch(model, x, y, steps=5, callbacks=[kreg.callbacks.ProximalStep()])


def test_reported_loss_includes_the_l1_value(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.ProximalStep()])
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
        model.fit(x, y, batch_size=3, epochs=1, shuffle=False, verbose=0, callbacks=[kreg.callbacks.ProximalStep()])
        w = w - lr * (2.0 / 3.0) * w  # gradient of mean((x @ w - 0)^2) with x = I
        w = np.sign(w) * np.maximum(np.abs(w) - lr * l1, 0.0)
        np.testing.assert_allclose(_kernel(model), w, rtol=1e-5, atol=1e-7)
    assert _kernel(model)[1] == 0.0


def test_existing_constraint_is_kept_and_applied_after_the_step(jit_compile):
    x, y = regression_problem()
    model = linear_model(
        x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile, kernel_constraint=keras.constraints.NonNeg()
    )
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.ProximalStep()])
    kernel = _kernel(model)
    assert kernel.min() >= 0.0
    assert (kernel == 0).sum() > 20
    constraint = model.layers[0].kernel.constraint
    assert isinstance(constraint, ProximalConstraint)
    assert isinstance(constraint.constraint, keras.constraints.NonNeg)


def test_rebinds_after_recompiling_with_a_new_optimizer(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    fit_full_batch(model, x, y, steps=2, callbacks=[kreg.callbacks.ProximalStep()])
    first = model.layers[0].kernel.constraint
    fit_full_batch(model, x, y, steps=2, callbacks=[kreg.callbacks.ProximalStep()])
    assert model.layers[0].kernel.constraint is first, "binding the same optimizer again must not rewrap"
    new_optimizer = keras.optimizers.SGD(full_batch_lr(x))
    model.compile(new_optimizer, "mse", jit_compile=jit_compile)
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.ProximalStep()])
    constraint = model.layers[0].kernel.constraint
    assert constraint.optimizer is new_optimizer and constraint.constraint is None
    assert (_kernel(model) == 0).sum() > 20


def test_a_new_binding_retraces_an_already_traced_train_function(jit_compile):
    x, y = regression_problem()
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile)
    with pytest.warns(UserWarning, match=UNBOUND):
        fit_full_batch(model, x, y, steps=5)
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.ProximalStep()])
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
    callback = kreg.callbacks.ProximalStep()
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
    fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.ProximalStep()])
    kernel = _kernel(model)
    assert np.isfinite(kernel).all()
    assert (kernel == 0).sum() > 20


def test_warns_when_the_model_has_no_proximal_regularizer():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_regularizer=kreg.regularizers.L1())])
    model.compile("sgd", "mse")
    with pytest.warns(UserWarning, match="ProximalStep found no variable with a proximal regularizer"):
        model.fit(np.ones((2, 2)), np.ones(2), verbose=0, callbacks=[kreg.callbacks.ProximalStep()])


def test_saved_model_keeps_the_original_constraint(tmp_path):
    x, y = regression_problem()
    model = linear_model(
        x.shape[1], L1(2.0, proximal=True), 0.1, "auto", kernel_constraint=keras.constraints.MaxNorm(5.0)
    )
    fit_full_batch(model, x, y, steps=3, callbacks=[kreg.callbacks.ProximalStep()])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[0].kernel_constraint, keras.constraints.MaxNorm)
    assert isinstance(loaded.layers[0].kernel_regularizer, L1)


@pytest.mark.parametrize("verbose", [2, "1", -1])
def test_invalid_verbose(verbose):
    with pytest.raises(ValueError, match=f"argument `verbose`. Expected 0 or 1. Received: verbose={verbose!r}"):
        kreg.callbacks.ProximalStep(verbose=verbose)


def test_composes_with_a_stateful_spectral_norm_constraint(jit_compile):
    x, y = regression_problem()
    layer_kwargs = {"kernel_constraint": kreg.constraints.SpectralNorm(max_value=5.0)}
    model = linear_model(x.shape[1], L1(2.0, proximal=True), full_batch_lr(x), jit_compile, **layer_kwargs)
    kreg.constraints.attach_state(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "exact SVD at every step" fallback warning
        fit_full_batch(model, x, y, steps=100, callbacks=[kreg.callbacks.ProximalStep()])
    kernel = _kernel(model)
    assert np.linalg.norm(kernel) <= 5.0 * (1 + 1e-3)
    assert (kernel == 0).sum() > 0
