"""L2SP: penalty towards a reference, reference capture, and the reference surviving `.keras` save/load."""

import os
import warnings

import keras
import numpy as np
import pytest

import kreg
from kreg.regularizers import L2SP
from kreg.regularizers.l2sp import decode_reference, encode_reference


def test_penalty_matches_numpy_with_an_explicit_reference():
    rng = np.random.default_rng(0)
    w, w0 = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(float(L2SP(0.3, reference=w0)(w)), 0.3 * np.sum((w - w0) ** 2), rtol=1e-5)
    assert float(L2SP(0.3, reference=w)(w)) == 0.0


def test_reference_encoding_is_exact_and_config_round_trips():
    w0 = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
    encoded = encode_reference(w0)
    assert encoded["shape"] == [2, 3, 4] and encoded["dtype"] == "float32"
    np.testing.assert_array_equal(decode_reference(encoded), w0)
    clone = L2SP.from_config(L2SP(0.1, w0).get_config())
    np.testing.assert_array_equal(clone.reference, w0)
    assert clone.get_config()["factor"] == 0.1


def test_capture_takes_a_copy_of_the_variable():
    variable = keras.Variable(np.ones((2, 2), "float32"))
    regularizer = L2SP(1.0).capture(variable)
    variable.assign(np.full((2, 2), 3.0, "float32"))
    assert float(keras.ops.convert_to_numpy(regularizer(variable.value))) == pytest.approx(4 * 4.0)
    assert not regularizer.needs_reference


def test_without_reference_warns_and_acts_as_l2():
    with pytest.warns(UserWarning, match="L2SP has no reference weights"):
        value = float(L2SP(0.5)(np.full((2, 2), 2.0, "float32")))
    assert value == pytest.approx(0.5 * 16.0)


def test_shape_mismatch_is_explained():
    with pytest.raises(ValueError, match=r"reference has shape \(2, 2\) but the weight has shape \(3,\)"):
        L2SP(0.1, np.ones((2, 2)))(np.ones((3,), "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"factor": -0.5}, "Received: factor=-0.5"),
        ({"reference": [[1.0, float("nan")]]}, "Expected None or an array of finite numbers."),
        ({"reference": "weights"}, "Expected None or an array of finite numbers."),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match="Invalid value received for argument") as info:
        L2SP(**kwargs)
    assert message in str(info.value)


def test_pretrained_weights_survive_keras_round_trip_and_pull_back(tmp_path, jit_compile):
    keras.config.set_dtype_policy("mixed_float16")
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    y = np.random.default_rng(3).normal(size=(16, 1)).astype("float32")
    # "Pretrained" weights: a layer given L2SP in its constructor, reference captured at the start of `fit`.
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, kernel_regularizer=L2SP(0.5)), keras.layers.Dense(1, dtype="float32")]
    )
    pretrained = keras.ops.convert_to_numpy(model.layers[0].kernel).copy()
    model.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=jit_compile)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the callback captures before the first step: no warning
        model.fit(x, y, epochs=3, verbose=0, callbacks=[kreg.callbacks.TrainingBinding()])
    regularizer = model.layers[0].kernel.regularizer
    np.testing.assert_array_equal(regularizer.reference, pretrained)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    assert keras.backend.standardize_dtype(model.losses[0].dtype) == "float32"
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(model.losses[0])), 0.5 * np.sum((kernel - pretrained) ** 2), rtol=1e-4
    )
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.layers[0].kernel.regularizer.reference, pretrained)
    loaded.fit(x, y, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(loaded.layers[0].kernel)
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(loaded.losses[0])), 0.5 * np.sum((after - pretrained) ** 2), rtol=1e-4
    )
