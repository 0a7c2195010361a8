"""`kreg.registry.Registry`: the name resolution behind `kreg.regularizers.get` and `kreg.constraints.get`."""

import keras
import pytest

import kreg
from kreg.registry import Registry


def test_aliases_cover_class_snake_lower_and_registered_names():
    registry = Registry("regularizer", (kreg.regularizers.ElasticNet,), keras.regularizers, keras.Regularizer)
    for alias in ("ElasticNet", "elastic_net", "elasticnet", "kreg>ElasticNet"):
        assert type(registry.get(alias)) is kreg.regularizers.ElasticNet
    assert registry.all_objects == {"ElasticNet": kreg.regularizers.ElasticNet}


def test_unknown_names_go_to_the_keras_module():
    registry = Registry("constraint", (kreg.constraints.MaxNorm,), keras.constraints, keras.constraints.Constraint)
    assert type(registry.get("non_neg")) is keras.constraints.NonNeg
    assert type(registry.get("max_norm")) is kreg.constraints.MaxNorm


def test_error_names_the_kind():
    registry = Registry("constraint", (), keras.constraints, keras.constraints.Constraint)
    with pytest.raises(
        ValueError, match=r"Expected a constraint instance, name or config dict. Received: identifier=3"
    ):
        registry.get(3)
