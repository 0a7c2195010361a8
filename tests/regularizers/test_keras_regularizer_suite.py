"""Keras's own regularizer tests (`keras/src/regularizers/regularizers_test.py`) with kreg's classes swapped in.

kreg's `L1`, `L2` and `ElasticNet` replace Keras's `L1`, `L2` and `L1L2`, `kreg.regularizers.get` replaces
`keras.regularizers.get`, and `kreg.validation.check_float(name, value, low=0.0)` replaces Keras's private
`validate_float_arg`. Keras's `OrthogonalRegularizer` (rows/columns cosine penalty) has no kreg counterpart (kreg's
`Orthogonal` is Bansal et al.'s penalty), so its tests run against Keras's class resolved through kreg's `get`: a drop-in
`get` must still give it. `keras.src.testing` is private, so `run_class_serialization_test` is replaced by the public
round trips it performs (`get_config`/`from_config`, `keras.saving.serialize_keras_object`/`deserialize_keras_object`).
"""

import keras
import numpy as np
import pytest

import kreg
from kreg import regularizers
from kreg.validation import check_float

L1L2 = regularizers.ElasticNet


def validate_float_arg(value, name):
    return check_float(name, value, low=0.0)


def close(actual, expected, atol=1e-6, rtol=1e-6):
    np.testing.assert_allclose(keras.ops.convert_to_numpy(actual), expected, atol=atol, rtol=rtol)


def run_class_serialization_test(instance):
    config = instance.get_config()
    clone = type(instance).from_config(config)
    assert type(clone) is type(instance)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(instance)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(instance)
    assert revived.get_config() == config
    assert keras.saving.serialize_keras_object(revived) == serialized


def orthogonal_regularizer(**kwargs):
    return regularizers.get({"class_name": "OrthogonalRegularizer", "config": kwargs, "module": "keras.regularizers"})


# -------------------------------------------------------------------------------------------- RegularizersTest


def test_config():
    run_class_serialization_test(regularizers.L1(0.1))
    run_class_serialization_test(regularizers.L2(0.1))
    run_class_serialization_test(L1L2(l1=0.1, l2=0.2))
    run_class_serialization_test(orthogonal_regularizer(factor=0.1, mode="rows"))


def test_l1():
    value = np.random.random((4, 4)).astype(np.float32)
    close(regularizers.L1(0.1)(keras.Variable(value)), 0.1 * np.sum(np.abs(value)))


def test_l2():
    value = np.random.random((4, 4)).astype(np.float32)
    close(regularizers.L2(0.1)(keras.Variable(value)), 0.1 * np.sum(np.square(value)))


def test_l1_l2():
    value = np.random.random((4, 4)).astype(np.float32)
    y = L1L2(l1=0.1, l2=0.2)(keras.Variable(value))
    close(y, 0.1 * np.sum(np.abs(value)) + 0.2 * np.sum(np.square(value)))


def test_orthogonal_regularizer():
    value = np.random.random((4, 4)).astype(np.float32)
    y = orthogonal_regularizer(factor=0.1, mode="rows")(keras.Variable(value))
    inputs = value / np.linalg.norm(value, axis=1, keepdims=True)
    expected = 0.1 * 0.5 * np.sum(np.abs(inputs @ inputs.T * (1.0 - np.eye(4)))) / (4.0 * (4.0 - 1.0) / 2.0)
    close(y, expected, atol=1e-5, rtol=1e-5)


def test_get_method():
    # The one Keras test kreg failed before: "l1l2" resolved to Keras's `L1L2`, silently losing `proximal`.
    assert isinstance(regularizers.get("l1l2"), L1L2)
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert isinstance(regularizers.get("orthogonal_regularizer"), keras.regularizers.OrthogonalRegularizer)
    assert regularizers.get(None) is None
    with pytest.raises(ValueError):
        regularizers.get("typo")


@pytest.mark.parametrize("name", ["l1l2", "L1L2", "l1_l2", "ElasticNet", "elastic_net", "kreg>ElasticNet"])
def test_every_name_of_l1l2_gives_kregs_elastic_net_with_its_proximal_option(name):
    regularizer = kreg.regularizers.get(name)
    assert type(regularizer) is L1L2
    assert regularizer.proximal is False
    proximal = kreg.regularizers.get({"class_name": name, "config": {"l1": 0.1, "l2": 0.0, "proximal": True}})
    assert type(proximal) is L1L2 and proximal.proximal is True


def test_a_keras_l1l2_instance_or_config_stays_keras():
    keras_l1l2 = keras.regularizers.L1L2(0.1, 0.2)
    assert kreg.regularizers.get(keras_l1l2) is keras_l1l2
    revived = kreg.regularizers.deserialize(keras.regularizers.serialize(keras_l1l2))
    assert type(revived) is keras.regularizers.L1L2


def test_l1l2_get_config():
    reg = L1L2(l1=0.01, l2=0.02)
    config = reg.get_config()
    close(config["l1"], 0.01)
    close(config["l2"], 0.02)
    reg_from_config = L1L2.from_config(config)
    assert reg_from_config.get_config() == config
    close(reg_from_config.l1, 0.01)
    close(reg_from_config.l2, 0.02)


def test_orthogonal_regularizer_mode_validation():
    with pytest.raises(ValueError) as context:
        orthogonal_regularizer(factor=0.01, mode="invalid_mode")
    assert str(context.value) == (
        'Invalid value for argument `mode`. Expected one of {"rows", "columns"}. Received: mode=invalid_mode'
    )


def test_orthogonal_regularizer_input_rank_validation():
    with pytest.raises(ValueError) as context:
        orthogonal_regularizer(factor=0.1)(keras.Variable(np.random.random((4, 4, 4)).astype(np.float32)))
    assert str(context.value) == f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={(4, 4, 4)}"


def test_orthogonal_regularizer_get_config():
    regularizer = orthogonal_regularizer(factor=0.01, mode="columns")
    config = regularizer.get_config()
    assert config["factor"] == pytest.approx(0.01, abs=1e-7)
    assert config["mode"] == "columns"
    config_from_config = type(regularizer).from_config(config).get_config()
    assert config_from_config["factor"] == pytest.approx(0.01, abs=1e-7)
    assert config_from_config["mode"] == "columns"


def test_l1_with_zero_weights():
    close(regularizers.L1(0.1)(keras.Variable(np.zeros((4, 4), dtype=np.float32))), 0.0)


def test_l1_with_negative_weights():
    y_pos = regularizers.L1(0.1)(keras.Variable(np.ones((4, 4), dtype=np.float32)))
    y_neg = regularizers.L1(0.1)(keras.Variable(-np.ones((4, 4), dtype=np.float32)))
    close(y_pos, keras.ops.convert_to_numpy(y_neg))


def test_l1_zero_coefficient():
    close(regularizers.L1(0.0)(keras.Variable(np.random.random((4, 4)).astype(np.float32))), 0.0)


def test_l2_with_zero_weights():
    close(regularizers.L2(0.1)(keras.Variable(np.zeros((4, 4), dtype=np.float32))), 0.0)


def test_l2_zero_coefficient():
    close(regularizers.L2(0.0)(keras.Variable(np.random.random((4, 4)).astype(np.float32))), 0.0)


def test_l2_is_larger_than_l1_for_large_weights():
    x = keras.Variable(np.ones((4, 4), dtype=np.float32) * 10.0)
    l1_val = float(keras.ops.convert_to_numpy(regularizers.L1(1.0)(x)))
    l2_val = float(keras.ops.convert_to_numpy(regularizers.L2(1.0)(x)))
    assert l2_val > l1_val


def test_l2_is_smaller_than_l1_for_small_weights():
    x = keras.Variable(np.ones((4, 4), dtype=np.float32) * 0.1)
    l1_val = float(keras.ops.convert_to_numpy(regularizers.L1(1.0)(x)))
    l2_val = float(keras.ops.convert_to_numpy(regularizers.L2(1.0)(x)))
    assert l2_val < l1_val


def test_l1l2_zero_coefficients():
    close(L1L2(l1=0.0, l2=0.0)(keras.Variable(np.random.random((4, 4)).astype(np.float32))), 0.0)


def test_l1l2_only_l1():
    x = keras.Variable(np.random.random((4, 4)).astype(np.float32))
    close(L1L2(l1=0.1, l2=0.0)(x), keras.ops.convert_to_numpy(regularizers.L1(0.1)(x)))


def test_l1l2_only_l2():
    x = keras.Variable(np.random.random((4, 4)).astype(np.float32))
    close(L1L2(l1=0.0, l2=0.1)(x), keras.ops.convert_to_numpy(regularizers.L2(0.1)(x)))


def test_l1l2_with_zero_weights():
    close(L1L2(l1=0.1, l2=0.2)(keras.Variable(np.zeros((4, 4), dtype=np.float32))), 0.0)


# ---------------------------------------------------------------------------------------- ValidateFloatArgTest
# Keras's message says "expected a non-negative float"; kreg's says "Expected a non-negative finite float" and
# names the argument and the value.

NON_NEGATIVE = r"Invalid value received for argument `test`\. Expected a non-negative finite float\. Received: test="


def test_validate_float_with_valid_args():
    assert validate_float_arg(1, "test") == 1.0
    assert validate_float_arg(1.0, "test") == 1.0
    assert validate_float_arg(np.float32(0.1), "test") == pytest.approx(0.1)
    assert validate_float_arg(np.int32(1), "test") == 1.0


@pytest.mark.parametrize("value", ["not_a_number", np.bool_(True), True])
def test_validate_float_with_invalid_types(value):
    with pytest.raises(ValueError, match=NON_NEGATIVE):
        validate_float_arg(value, "test")


def test_validate_float_with_nan():
    with pytest.raises(ValueError, match=NON_NEGATIVE + "nan"):
        validate_float_arg(float("nan"), "test")


@pytest.mark.parametrize("value", [float("inf"), -float("inf")])
def test_validate_float_with_inf(value):
    with pytest.raises(ValueError, match=NON_NEGATIVE + "-?inf"):
        validate_float_arg(value, "test")


def test_validate_float_with_negative_number():
    with pytest.raises(ValueError, match=NON_NEGATIVE + "-1"):
        validate_float_arg(-1, "test")


def test_validate_float_with_zero():
    assert validate_float_arg(0, "test") == 0.0
    assert validate_float_arg(0.0, "test") == 0.0


def test_validate_float_with_very_small_positive():
    assert validate_float_arg(1e-10, "test") == pytest.approx(1e-10)


def test_validate_float_returns_float_type():
    assert isinstance(validate_float_arg(1, "test"), float)
    assert isinstance(validate_float_arg(1.0, "test"), float)


def test_validate_float_with_large_positive():
    assert validate_float_arg(1e6, "test") == pytest.approx(1e6)


def test_validate_float_with_negative_float():
    with pytest.raises(ValueError, match=NON_NEGATIVE + "-0.001"):
        validate_float_arg(-0.001, "test")


def test_validate_float_with_none():
    with pytest.raises(ValueError, match=NON_NEGATIVE + "None"):
        validate_float_arg(None, "test")


def test_validate_float_with_list():
    with pytest.raises(ValueError, match=NON_NEGATIVE + r"\[0.1\]"):
        validate_float_arg([0.1], "test")
