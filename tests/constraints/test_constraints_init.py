"""`kreg.constraints.get`, `serialize` and `deserialize`: kreg's names first, Keras's as the fallback."""

import sys

import keras
import pytest

import kreg
from kreg.constraints import ALL_OBJECTS, MaxNorm, SpectralNorm, deserialize, get, serialize


def test_all_objects():
    assert ALL_OBJECTS == {"MaxNorm": MaxNorm, "SpectralNorm": SpectralNorm}


@pytest.mark.parametrize(
    "name, cls",
    [
        ("MaxNorm", MaxNorm),
        ("max_norm", MaxNorm),
        ("maxnorm", MaxNorm),
        ("kreg>MaxNorm", MaxNorm),
        ("SpectralNorm", SpectralNorm),
        ("spectral_norm", SpectralNorm),
        ("kreg>SpectralNorm", SpectralNorm),
    ],
)
def test_get_knows_kreg_names_first(name, cls):
    assert type(get(name)) is cls


def test_get_falls_back_to_keras():
    assert isinstance(get("non_neg"), keras.constraints.NonNeg)
    assert isinstance(get("unit_norm"), keras.constraints.UnitNorm)
    with pytest.raises(ValueError, match="^Could not interpret constraint identifier: no_such_constraint$"):
        get("no_such_constraint")


def test_get_passes_instances_none_and_callables_through():
    constraint = SpectralNorm(2.0)
    assert get(constraint) is constraint
    assert get(None) is None
    assert get(abs) is abs


def test_get_rejects_other_values():
    with pytest.raises(ValueError, match="Invalid value received for argument `identifier`.*Received: identifier=3"):
        get(3)


def test_serialize_deserialize_round_trip():
    for constraint in (MaxNorm(2.0, axis=[0, 1]), SpectralNorm(0.5, mode="conv", input_size=[8, 8])):
        config = serialize(constraint)
        rebuilt = deserialize(config)
        assert type(rebuilt) is type(constraint)
        assert rebuilt.get_config() == constraint.get_config()
        assert get(config).get_config() == constraint.get_config()
    short = deserialize({"class_name": "spectral_norm", "config": {"max_value": 3.0}})
    assert isinstance(short, SpectralNorm) and short.max_value == 3.0
    assert isinstance(deserialize(serialize(keras.constraints.NonNeg())), keras.constraints.NonNeg)


def test_layers_accept_kreg_constraints_and_reload_them():
    layer = keras.layers.Dense(3, kernel_constraint=get("spectral_norm"))
    rebuilt = keras.layers.Dense.from_config(layer.get_config())
    assert isinstance(rebuilt.kernel_constraint, SpectralNorm)


def test_package_exports():
    assert kreg.constraints.SpectralNorm is kreg.constraints.spectral_norm.SpectralNorm
    # What the training binding installs for the length of `fit`.
    assert kreg.constraints.BoundSpectralNorm is kreg.constraints.spectral_norm.BoundSpectralNorm
    assert kreg.constraints.ProximalConstraint is kreg.constraints.proximal.ProximalConstraint
    assert {"BoundSpectralNorm", "ProximalConstraint", "SpectralNorm", "MaxNorm"} <= set(kreg.constraints.__all__)
    # `attach_state` is gone (the binding made it), and the start vector moved to `kreg.ops`.
    assert not hasattr(kreg.constraints, "attach_state")
    assert kreg.ops.start_vector is sys.modules["kreg.ops.power_iteration"].start_vector
    assert "constraints" in kreg.__all__ and "layers" in kreg.__all__
