"""kreg regularizers: `keras.regularizers.Regularizer` subclasses, plus `get`, `serialize` and `deserialize`.

`get` knows kreg's names first (`"l1"`, `"elastic_net"`, `"kreg>L1"`, config dicts, instances) and falls back to
`keras.regularizers.get` for everything else.
"""

import re

import keras

from kreg.regularizers.base import Regularizer
from kreg.regularizers.group_lasso import GroupLasso
from kreg.regularizers.l2sp import L2SP
from kreg.regularizers.orthogonal import Orthogonal
from kreg.regularizers.penalties import L1, L2, ElasticNet

#: Every kreg regularizer class, by class name.
ALL_OBJECTS = {cls.__name__: cls for cls in (L1, L2, ElasticNet, GroupLasso, Orthogonal, L2SP)}


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _aliases():
    table = {}
    for name, cls in ALL_OBJECTS.items():
        for alias in (name, _snake(name), name.lower(), f"kreg>{name}"):
            table[alias] = cls
    return table


def serialize(regularizer):
    """Serializes a regularizer (kreg's or Keras's) to a config dict, as `keras.regularizers.serialize` does."""
    return keras.regularizers.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """Builds a regularizer from `serialize`'s output, or from a short `{"class_name": "l1", "config": {...}}` dict.

    kreg classes are registered under package `kreg`, so they need no `custom_objects`.
    """
    if isinstance(config, dict) and "module" not in config and config.get("class_name") in _aliases():
        return _aliases()[config["class_name"]].from_config(config.get("config", {}))
    return keras.regularizers.deserialize(config, custom_objects=custom_objects)


def get(identifier):
    """Resolves a regularizer identifier: `None`, an instance, a kreg name, a config dict, or anything Keras resolves.

    kreg names: class names (`"L1"`, `"ElasticNet"`), their snake_case and lower-case forms (`"l1"`,
    `"elastic_net"`), and registered names (`"kreg>L1"`). A string that kreg does not know goes to
    `keras.regularizers.get`, so `"l1l2"` still gives Keras's `L1L2`.

    Raises:
        ValueError: if neither kreg nor Keras can resolve `identifier`.
    """
    if identifier is None or isinstance(identifier, keras.regularizers.Regularizer):
        return identifier
    if isinstance(identifier, str):
        cls = _aliases().get(identifier)
        if cls is not None:
            return cls()
        return keras.regularizers.get(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(
        "Invalid value received for argument `identifier`. Expected a regularizer instance, name or config dict. "
        f"Received: identifier={identifier!r}"
    )


__all__ = [
    "ALL_OBJECTS",
    "ElasticNet",
    "GroupLasso",
    "L2SP",
    "Orthogonal",
    "L1",
    "L2",
    "Regularizer",
    "deserialize",
    "get",
    "serialize",
]
