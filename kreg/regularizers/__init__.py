"""kreg regularizers: `keras.regularizers.Regularizer` subclasses, plus `get`, `serialize` and `deserialize`.

`get` knows kreg's names first (`"l1"`, `"elastic_net"`, `"kreg>L1"`, config dicts, instances; Keras's `"l1l2"` and
`"L1L2"` give kreg's `ElasticNet`) and falls back to `keras.regularizers.get` for everything else.
"""

import keras

from kreg.registry import Registry
from kreg.regularizers.base import Regularizer
from kreg.regularizers.bound import BoundRegularizer
from kreg.regularizers.group_lasso import GroupLasso
from kreg.regularizers.l2sp import L2SP
from kreg.regularizers.orthogonal import Orthogonal
from kreg.regularizers.penalties import L1, L2, ElasticNet

_REGISTRY = Registry(
    "regularizer",
    (L1, L2, ElasticNet, GroupLasso, Orthogonal, L2SP),
    keras.regularizers,
    keras.regularizers.Regularizer,
    # Keras's names of its `L1L2`: kreg's `ElasticNet` is the same penalty (with an optional proximal part).
    aliases={"L1L2": ElasticNet, "l1l2": ElasticNet, "l1_l2": ElasticNet},
)

#: Every kreg regularizer class, by class name.
ALL_OBJECTS = _REGISTRY.all_objects


def serialize(regularizer):
    """Serializes a regularizer (kreg's or Keras's) to a config dict, as `keras.regularizers.serialize` does."""
    return _REGISTRY.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """Builds a regularizer from `serialize`'s output, or from a short `{"class_name": "<kreg name>", "config": {...}}`.

    kreg classes are registered under package `kreg`, so they need no `custom_objects`.
    """
    return _REGISTRY.deserialize(config, custom_objects=custom_objects)


def get(identifier):
    """Resolves a regularizer identifier: `None`, an instance, a kreg name, a config dict, or anything Keras resolves.

    kreg names: class names, their snake_case and lower-case forms, and registered names (`"kreg>ClassName"`);
    they build the class with its default arguments. A string kreg does not know goes to `keras.regularizers.get`.

    Raises:
        ValueError: if neither kreg nor Keras can resolve `identifier`.
    """
    return _REGISTRY.get(identifier)


__all__ = [
    "ALL_OBJECTS",
    "BoundRegularizer",
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
