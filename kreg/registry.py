"""Name resolution shared by `kreg.regularizers` and `kreg.constraints`: kreg's names first, then Keras's."""

import re


def _snake(name):
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Registry:
    """`get`, `serialize` and `deserialize` for one kind of kreg object, falling back to a Keras module.

    kreg names are class names (`"ElasticNet"`), their snake_case and lower-case forms (`"elastic_net"`,
    `"elasticnet"`) and registered names (`"kreg>ElasticNet"`); a name builds the class with its default arguments.
    Anything kreg does not know goes to the Keras module's `get`/`deserialize`.

    Args:
        kind: what the objects are, for error messages (`"regularizer"`).
        classes: the kreg classes.
        keras_module: `keras.regularizers` or `keras.constraints`.
        base_class: the Keras base class whose instances `get` passes through.
        aliases: extra `{name: class}` names kreg claims before Keras (e.g. Keras's `"l1l2"` for `ElasticNet`, so
            that a Keras name for a kreg class never silently resolves to Keras's class).
    """

    def __init__(self, kind, classes, keras_module, base_class, aliases=None):
        self.kind = kind
        self.all_objects = {cls.__name__: cls for cls in classes}
        self.keras_module = keras_module
        self.base_class = base_class
        self.aliases = {}
        for name, cls in self.all_objects.items():
            for alias in (name, _snake(name), name.lower(), f"kreg>{name}"):
                self.aliases[alias] = cls
        for alias, cls in (aliases or {}).items():
            self.aliases[alias] = cls

    def serialize(self, obj):
        return self.keras_module.serialize(obj)

    def deserialize(self, config, custom_objects=None):
        if isinstance(config, dict) and "module" not in config and config.get("class_name") in self.aliases:
            return self.aliases[config["class_name"]].from_config(config.get("config", {}))
        return self.keras_module.deserialize(config, custom_objects=custom_objects)

    def get(self, identifier):
        if identifier is None or isinstance(identifier, self.base_class):
            return identifier
        if isinstance(identifier, str):
            cls = self.aliases.get(identifier)
            return cls() if cls is not None else self.keras_module.get(identifier)
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if callable(identifier):
            return identifier
        raise ValueError(
            f"Invalid value received for argument `identifier`. Expected a {self.kind} instance, name or config "
            f"dict. Received: identifier={identifier!r}"
        )
