"""kreg constraints: projections Keras applies after each optimizer update, plus `get`, `serialize`, `deserialize`.

`get` knows kreg's names first (`"max_norm"`, `"spectral_norm"`, `"kreg>SpectralNorm"`, config dicts, instances)
and falls back to `keras.constraints.get` for everything else. `attach_state(model)` creates the persistent
power-iteration vectors of `SpectralNorm` kernels (see `kreg/constraints/spectral_norm.py` for why they live in the
optimizer's state).
"""

import re

import keras

from kreg.constraints.max_norm import MaxNorm
from kreg.constraints.spectral_norm import SpectralNorm, attach_state

#: Every kreg constraint class, by class name.
ALL_OBJECTS = {cls.__name__: cls for cls in (MaxNorm, SpectralNorm)}


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _aliases():
    table = {}
    for name, cls in ALL_OBJECTS.items():
        for alias in (name, _snake(name), name.lower(), f"kreg>{name}"):
            table[alias] = cls
    return table


def serialize(constraint):
    """Serializes a constraint (kreg's or Keras's) to a config dict, as `keras.constraints.serialize` does."""
    return keras.constraints.serialize(constraint)


def deserialize(config, custom_objects=None):
    """Builds a constraint from `serialize`'s output, or from a short `{"class_name": "max_norm", "config": {...}}`.

    kreg classes are registered under package `kreg`, so they need no `custom_objects`.
    """
    if isinstance(config, dict) and "module" not in config and config.get("class_name") in _aliases():
        return _aliases()[config["class_name"]].from_config(config.get("config", {}))
    return keras.constraints.deserialize(config, custom_objects=custom_objects)


def get(identifier):
    """Resolves a constraint identifier: `None`, an instance, a kreg name, a config dict, or anything Keras resolves.

    kreg names: class names (`"MaxNorm"`, `"SpectralNorm"`), their snake_case and lower-case forms (`"max_norm"`,
    `"spectral_norm"`, `"maxnorm"`), and registered names (`"kreg>SpectralNorm"`); they build the class with its
    default arguments. A string kreg does not know goes to `keras.constraints.get`, so `"non_neg"` still gives
    Keras's `NonNeg`.

    Raises:
        ValueError: if neither kreg nor Keras can resolve `identifier`.
    """
    if identifier is None or isinstance(identifier, keras.constraints.Constraint):
        return identifier
    if isinstance(identifier, str):
        cls = _aliases().get(identifier)
        if cls is not None:
            return cls()
        return keras.constraints.get(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(
        "Invalid value received for argument `identifier`. Expected a constraint instance, name or config dict. "
        f"Received: identifier={identifier!r}"
    )


__all__ = ["ALL_OBJECTS", "MaxNorm", "SpectralNorm", "attach_state", "deserialize", "get", "serialize"]
