"""kreg.attach / kreg.detach on Sequential, functional, subclassed and nested models."""

import os
import warnings

import keras
import numpy as np
import pytest

import kreg
from kreg.attach import Rule, layer_kinds
from kreg.regularizers import L2, L2SP, GroupLasso


def small_cnn(name="backbone"):
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(2, name="dense")(x)
    return keras.Model(inputs, outputs, name=name)


def data(n=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6, 6, 2)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def numpy_l2(model, paths, factor):
    values = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    return factor * sum(np.sum(values[p] ** 2) for p in paths)


def test_defaults_regularize_kernels_not_biases_nor_normalization():
    model = small_cnn()
    summary = kreg.attach(model, L2(0.1))
    assert [(a.layer, a.kind) for a in summary] == [("conv", "kernel"), ("depthwise", "depthwise"), ("dense", "kernel")]
    assert model.get_layer("conv").kernel.regularizer is model.get_layer("conv").kernel_regularizer
    assert model.get_layer("depthwise").depthwise_regularizer is model.get_layer("depthwise").kernel.regularizer
    assert model.get_layer("conv").bias.regularizer is None
    assert model.get_layer("bn").gamma.regularizer is None
    # Each weight has its own copy of the regularizer.
    assert summary[0].regularizer is not summary[2].regularizer
    assert "conv" in str(summary) and "L2(l2=0.1)" in str(summary)


def test_penalty_takes_effect_in_the_next_fit_after_a_first_fit(jit_compile):
    model = small_cnn()
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    x, y = data()
    before = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]  # traces the train step
    summary = kreg.attach(model, {"layers": [keras.layers.Conv2D, "dense"], "regularizer": L2(0.5)})
    after = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    expected = numpy_l2(model, [a.path for a in summary], 0.5)
    assert [a.layer for a in summary] == ["conv", "dense"]
    np.testing.assert_allclose(after - before, expected, rtol=1e-4)


def test_save_load_keeps_regularizers_constraints_and_l2sp_reference(tmp_path):
    model = small_cnn()
    kreg.attach(
        model,
        [
            Rule(layers="conv", regularizer=L2SP(0.01)),
            Rule(layers=keras.layers.Dense, weights=["kernel", "bias"], constraint=keras.constraints.MaxNorm(0.5)),
            Rule(layers="depthwise", constraint=keras.constraints.NonNeg()),
        ],
    )
    pretrained = keras.ops.convert_to_numpy(model.get_layer("conv").kernel).copy()
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    conv = loaded.get_layer("conv")
    assert isinstance(conv.kernel.regularizer, L2SP)
    np.testing.assert_array_equal(conv.kernel.regularizer.reference, pretrained)
    assert isinstance(loaded.get_layer("dense").kernel.constraint, keras.constraints.MaxNorm)
    assert isinstance(loaded.get_layer("dense").bias.constraint, keras.constraints.MaxNorm)
    loaded.compile(keras.optimizers.SGD(0.5), "mse")
    x, y = data()
    loaded.fit(x, y, epochs=2, verbose=0)
    # Constraints ran after the updates: non-negative depthwise kernel, dense columns of norm <= 0.5.
    assert np.all(keras.ops.convert_to_numpy(loaded.get_layer("depthwise").kernel) >= 0.0)
    norms = np.linalg.norm(keras.ops.convert_to_numpy(loaded.get_layer("dense").kernel), axis=0)
    assert np.all(norms <= 0.5 + 1e-5)
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    conv_penalty = conv.kernel.regularizer(conv.kernel.value)
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(conv_penalty)), 0.01 * np.sum((kernel - pretrained) ** 2), rtol=1e-4
    )


def test_nested_backbone_inside_a_model(tmp_path):
    backbone = small_cnn()
    inputs = keras.Input((6, 6, 2))
    outputs = keras.layers.Dense(1, name="head")(backbone(inputs))
    model = keras.Model(inputs, outputs)
    summary = kreg.attach(model, {"layers": "conv|head", "regularizer": L2(0.2)})
    assert sorted(a.layer for a in summary) == ["conv", "head"]
    assert len(model.losses) == 2
    path = os.path.join(tmp_path, "nested.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert len(loaded.losses) == 2
    np.testing.assert_allclose(
        sum(float(keras.ops.convert_to_numpy(v)) for v in loaded.losses),
        numpy_l2(loaded, [a.path for a in summary], 0.2),
        rtol=1e-5,
    )


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(4, name="hidden")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x):
        return self.out(self.hidden(x))


def test_subclassed_model_and_predicate_rule():
    model = Subclassed()
    model(np.zeros((1, 3), "float32"))
    summary = kreg.attach(model, Rule(layers=lambda layer: layer.name == "hidden", regularizer=GroupLasso(0.1)))
    assert [a.layer for a in summary] == ["hidden"]
    kernel = keras.ops.convert_to_numpy(model.hidden.kernel)
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(model.losses[0])),
        0.1 * np.sqrt(3) * np.sum(np.linalg.norm(kernel, axis=0)),
        rtol=1e-5,
    )
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_detach_removes_what_attach_put():
    model = small_cnn()
    kreg.attach(model, [L2(0.1), Rule(layers="dense", weights="bias", constraint=keras.constraints.NonNeg())])
    removed = kreg.detach(model, layers="dense")
    assert [(a.layer, a.kind) for a in removed] == [("dense", "kernel"), ("dense", "bias")]
    assert model.get_layer("dense").kernel.regularizer is None and model.get_layer("dense").kernel_regularizer is None
    assert model.get_layer("dense").bias.constraint is None and model.get_layer("dense").bias_constraint is None
    assert len(model.losses) == 2  # conv and depthwise kept
    kreg.detach(model)
    assert model.losses == []


def test_attach_during_fit_replaces_a_bound_proximal_step():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    kreg.attach(model, kreg.regularizers.L1(0.1, proximal=True))
    model.compile("sgd", "mse")
    seen = []

    class Reattach(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(type(self.model.layers[0].kernel.constraint).__name__)
            kreg.attach(self.model, kreg.regularizers.L2(0.1))  # the proximal wrapper must not keep running

    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0, callbacks=[kreg.callbacks.TrainingBinding(), Reattach()])
    assert seen == ["ProximalConstraint"]
    assert model.layers[0].kernel.constraint is None
    assert isinstance(model.layers[0].kernel.regularizer, kreg.regularizers.L2)


def test_rule_matching_nothing_warns_with_the_rule():
    model = small_cnn()
    with pytest.warns(UserWarning, match=r"rule Rule\(layers='nothing_.\*'.*matched no weight"):
        kreg.attach(model, {"layers": "nothing_.*", "regularizer": "l2"})


def test_missing_weight_kind_raises_naming_the_layer():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"Layer 'conv' \(Conv2D\) has no 'embeddings' weight"):
        kreg.attach(model, [L2(0.1), {"layers": keras.layers.Conv2D, "weights": "embeddings", "regularizer": L2(0.1)}])
    assert model.losses == []  # nothing was attached, not even by the valid first rule


def test_normalization_layers_only_when_asked():
    model = small_cnn()
    with pytest.warns(UserWarning, match="matched no weight"):
        kreg.attach(model, {"layers": "bn", "weights": "gamma", "regularizer": L2(0.1)})
    summary = kreg.attach(
        model, {"layers": keras.layers.BatchNormalization, "weights": "gamma", "regularizer": L2(0.1)}
    )
    assert [(a.layer, a.kind) for a in summary] == [("bn", "gamma")]
    assert "gamma" in layer_kinds(model.get_layer("bn"))


def test_overwrite_false_keeps_existing_regularizers():
    model = small_cnn()
    kreg.attach(model, L2(0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = kreg.attach(model, L2(0.9), overwrite=False)
    assert len(summary) == 0
    assert model.get_layer("conv").kernel.regularizer.l2 == 0.1


@pytest.mark.parametrize(
    "rules, message",
    [
        ([], "Expected a Rule, a dict of Rule arguments, a regularizer, or a non-empty list of them."),
        ({"layer": "conv"}, "Unknown rule key(s) ['layer']"),
        ({"layers": 3}, "Expected None, a layer class, a name pattern, a predicate or a list of them."),
        ({"layers": "("}, "Expected a valid regular expression."),
        ({"weights": 3}, "Expected None, a weight kind (str) or a list of them."),
        ({"include_normalization": 1}, "Expected a bool (True or False)."),
    ],
)
def test_bad_rules(rules, message):
    with pytest.raises(ValueError, match="Invalid value received for argument") as info:
        kreg.attach(small_cnn(), rules)
    assert message in str(info.value)


def test_unbuilt_model_is_rejected():
    with pytest.raises(ValueError, match="needs a built model"):
        kreg.attach(keras.Sequential([keras.layers.Dense(2)]), L2(0.1))


def test_recurrent_layer_settings_go_to_its_cell_and_are_saved(tmp_path):
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(1, name="d")])
    summary = kreg.attach(model, {"layers": "lstm", "weights": ["kernel", "recurrent"], "regularizer": L2(0.1)})
    assert [(a.layer, a.kind) for a in summary] == [("lstm_cell", "kernel"), ("lstm_cell", "recurrent")]
    config = model.get_layer("lstm").get_config()
    assert config["kernel_regularizer"]["config"] == {"l2": 0.1} and config["bias_regularizer"] is None
    path = os.path.join(tmp_path, "lstm.keras")
    model.save(path)
    assert len(keras.models.load_model(path).losses) == 2


def test_keras_applications_backbone_with_l2sp(tmp_path):
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None, pooling="avg"
    )
    summary = kreg.attach(backbone, L2SP(1e-3))
    assert {a.kind for a in summary} == {"kernel", "depthwise"}
    attached = {a.layer for a in summary}
    assert not any(isinstance(backbone.get_layer(name), keras.layers.BatchNormalization) for name in attached)
    assert len(backbone.losses) == len(summary)
    assert float(sum(keras.ops.convert_to_numpy(v) for v in backbone.losses)) == 0.0  # at the reference
    path = os.path.join(tmp_path, "backbone.keras")
    backbone.save(path)
    loaded = keras.models.load_model(path)
    assert len(loaded.losses) == len(summary)
    assert float(sum(keras.ops.convert_to_numpy(v) for v in loaded.losses)) == 0.0
