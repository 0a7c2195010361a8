"""kreg constraints: projections Keras applies after each optimizer update, plus `get`, `serialize`, `deserialize`.

`get` knows kreg's names first (`"max_norm"`, `"spectral_norm"`, `"kreg>SpectralNorm"`, config dicts, instances)
and falls back to `keras.constraints.get` for everything else. `ProximalConstraint` and `BoundSpectralNorm` are what
kreg's training binding puts on variables for the length of `fit`.
"""

import keras

from kreg.constraints.max_norm import MaxNorm
from kreg.constraints.proximal import ProximalConstraint
from kreg.constraints.spectral_norm import BoundSpectralNorm, SpectralNorm
from kreg.registry import Registry

_REGISTRY = Registry("constraint", (MaxNorm, SpectralNorm), keras.constraints, keras.constraints.Constraint)

#: Every kreg constraint class, by class name.
ALL_OBJECTS = _REGISTRY.all_objects


def serialize(constraint):
    """Serializes a constraint (kreg's or Keras's) to a config dict, as `keras.constraints.serialize` does."""
    return _REGISTRY.serialize(constraint)


def deserialize(config, custom_objects=None):
    """Builds a constraint from `serialize`'s output, or from a short `{"class_name": "<kreg name>", "config": {...}}`.

    kreg classes are registered under package `kreg`, so they need no `custom_objects`.
    """
    return _REGISTRY.deserialize(config, custom_objects=custom_objects)


def get(identifier):
    """Resolves a constraint identifier: `None`, an instance, a kreg name, a config dict, or anything Keras resolves.

    kreg names: class names, their snake_case and lower-case forms, and registered names (`"kreg>ClassName"`);
    they build the class with its default arguments. A string kreg does not know goes to `keras.constraints.get`.

    Raises:
        ValueError: if neither kreg nor Keras can resolve `identifier`.
    """
    return _REGISTRY.get(identifier)


__all__ = [
    "ALL_OBJECTS",
    "BoundSpectralNorm",
    "MaxNorm",
    "ProximalConstraint",
    "SpectralNorm",
    "deserialize",
    "get",
    "serialize",
]
