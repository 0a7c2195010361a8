"""`kreg.regularizers.get`, `serialize` and `deserialize`: kreg names first, Keras's as fallback."""

import keras
import pytest

import kreg
from kreg.regularizers import L1, L2, ElasticNet


@pytest.mark.parametrize(
    "identifier, cls",
    [
        ("l1", L1),
        ("L1", L1),
        ("kreg>L1", L1),
        ("l2", L2),
        ("elastic_net", ElasticNet),
        ("ElasticNet", ElasticNet),
        ("elasticnet", ElasticNet),
        ("kreg>ElasticNet", ElasticNet),
        # Keras's names of its L1L2 give kreg's ElasticNet (issue 14: `proximal` was silently lost).
        ("l1l2", ElasticNet),
        ("L1L2", ElasticNet),
        ("l1_l2", ElasticNet),
    ],
)
def test_get_resolves_kreg_names(identifier, cls):
    assert type(kreg.regularizers.get(identifier)) is cls


def test_get_falls_back_to_keras():
    assert type(kreg.regularizers.get("orthogonal_regularizer")) is keras.regularizers.OrthogonalRegularizer


def test_get_passes_instances_and_none_through():
    regularizer = L2(0.3)
    assert kreg.regularizers.get(regularizer) is regularizer
    assert kreg.regularizers.get(None) is None


def test_serialize_deserialize_round_trip_without_custom_objects():
    for regularizer in (L1(0.25, proximal=True), L2(0.5), ElasticNet(0.1, 0.2)):
        config = kreg.regularizers.serialize(regularizer)
        assert config["registered_name"] == f"kreg>{type(regularizer).__name__}"
        restored = kreg.regularizers.deserialize(config)
        assert type(restored) is type(regularizer)
        assert restored.get_config() == regularizer.get_config()
        assert kreg.regularizers.get(config).get_config() == regularizer.get_config()


def test_keras_serialized_builtin_is_not_hijacked():
    config = keras.regularizers.serialize(keras.regularizers.L1(0.5))
    assert type(kreg.regularizers.deserialize(config)) is keras.regularizers.L1


def test_short_config_dict():
    regularizer = kreg.regularizers.get({"class_name": "elastic_net", "config": {"l1": 0.5, "l2": 0.25}})
    assert regularizer.get_config() == {"l1": 0.5, "l2": 0.25, "proximal": False}


def test_keras_layer_accepts_a_kreg_config_dict():
    layer = keras.layers.Dense(2, kernel_regularizer=kreg.regularizers.serialize(L1(0.5)))
    assert type(layer.kernel_regularizer) is L1


EXPECTED_TYPE = (
    "Invalid value received for argument `identifier`. Expected a regularizer instance, name or config dict. "
    "Received: identifier="
)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("no_such_regularizer", "Could not interpret regularizer identifier: no_such_regularizer"),
        (3.5, EXPECTED_TYPE + "3.5"),
        ([1], EXPECTED_TYPE + "[1]"),
    ],
)
def test_get_rejects_unknown_identifiers(bad, message):
    with pytest.raises(ValueError) as info:
        kreg.regularizers.get(bad)
    assert str(info.value) == message


def test_every_class_is_registered_under_kreg():
    for name, cls in kreg.regularizers.ALL_OBJECTS.items():
        assert keras.saving.get_registered_name(cls) == f"kreg>{name}"
        assert keras.saving.get_registered_object(f"kreg>{name}") is cls
