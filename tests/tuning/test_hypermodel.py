"""Tests of `kreg.tuning.hypermodel`: `build(hp)` hands ready-made kreg objects to `build_fn`, `fit` adds the
training binding for proximal regularizers (exact zeros), a `build_fn` that ignores `reg` is caught."""

import keras
import keras_tuner
import numpy as np
import pytest

from kreg.callbacks import ProximalStep
from kreg.regularizers import L1
from kreg.tuning.hypermodel import RegularizationHyperModel
from kreg.tuning.space import SearchSpace


def build(reg):
    model = keras.Sequential(
        [keras.Input((6,)), reg.dense(16, activation="relu"), reg.dropout(), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model


def test_build_puts_the_sampled_objects_in_the_model():
    hypermodel = RegularizationHyperModel(build, SearchSpace(penalty=("l1",), l1=(1e-3, 1e-1)))
    hp = keras_tuner.HyperParameters()
    hp.values.update({"penalty": "l1", "l1": 0.02, "dropout": 0.3})
    model = hypermodel.build(hp)
    dense, dropout = model.layers[0], model.layers[1]
    assert isinstance(dense.kernel_regularizer, L1) and dense.kernel_regularizer.l1 == 0.02
    assert dense.kernel_regularizer.proximal and dropout.rate == 0.3
    assert hypermodel.last_regularization.values == {"penalty": "l1", "l1": 0.02, "constraint": "none", "dropout": 0.3}


def test_fit_adds_the_proximal_step_and_reaches_exact_zeros(monkeypatch):
    hypermodel = RegularizationHyperModel(build, SearchSpace(penalty=("l1", "l2"), l1=(1e-3, 1.0)))
    hp = keras_tuner.HyperParameters()
    hp.values.update({"penalty": "l1", "l1": 0.3})
    model = hypermodel.build(hp)
    seen = []
    original = model.fit
    monkeypatch.setattr(model, "fit", lambda *a, **k: seen.append(k["callbacks"]) or original(*a, **k))
    x = np.random.default_rng(0).normal(size=(128, 6)).astype("float32")
    hypermodel.fit(hp, model, x, x[:, :1], epochs=5, verbose=0)
    assert any(isinstance(c, ProximalStep) for c in seen[0])
    kernel = model.layers[0].kernel.numpy()
    assert np.mean(kernel == 0.0) > 0.3  # the proximal step ran: exact zeros
    # No proximal regularizer sampled: nothing added.
    hp = keras_tuner.HyperParameters()
    hp.values.update({"penalty": "l2", "l2": 0.01})
    model = hypermodel.build(hp)
    monkeypatch.setattr(model, "fit", lambda *a, **k: seen.append(k["callbacks"]))
    hypermodel.fit(hp, model, x, x[:, :1], epochs=1, verbose=0)
    assert seen[1] == []


def test_a_build_fn_that_ignores_reg_stops_the_search():
    def ignores(reg):
        return build(SearchSpace().regularization())

    def drops_regularizer(reg):
        reg.dropout()
        regularizer = reg.kernel_regularizer  # read, never put in the model
        del regularizer
        return build(SearchSpace().regularization(dropout=0.1))

    def skips_noise(reg):
        return build(reg)

    with pytest.raises(keras_tuner.errors.FatalValueError, match="ignores its `reg` argument: it read none of"):
        RegularizationHyperModel(ignores).preflight()
    with pytest.raises(ValueError, match=r"read reg.kernel_regularizer \(L2"):
        RegularizationHyperModel(drops_regularizer, SearchSpace(penalty=("l2",))).preflight()
    with pytest.raises(ValueError, match="never reads reg.noise_stddev, which the SearchSpace searches"):
        RegularizationHyperModel(skips_noise, SearchSpace(noise=(0.0, 0.3))).preflight()
    RegularizationHyperModel(build).preflight()  # uses everything: no error


def test_bad_arguments():
    with pytest.raises(ValueError, match="Invalid value received for argument `build_fn`"):
        RegularizationHyperModel(None)
    with pytest.raises(ValueError, match="Invalid value received for argument `space`"):
        RegularizationHyperModel(build, {"penalty": "l2"})
    with pytest.raises(TypeError, match="must return a keras.Model"):
        RegularizationHyperModel(lambda reg: reg.kernel_regularizer).build(keras_tuner.HyperParameters())
