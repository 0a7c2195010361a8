"""The direction a compiled metric declares, shared by the early-stopping callbacks and the report."""


def declared_direction(model, name):
    """`"up"` or `"down"` as declared by the model's metric called `name` (Keras metrics set `_direction`), else `None`.

    Searches the compiled-metrics containers (objects holding a `metrics` list) too.
    """
    pending = list(getattr(model, "metrics", None) or [])
    while pending:
        metric = pending.pop()
        pending.extend(getattr(metric, "metrics", None) or [])
        if getattr(metric, "name", None) == name and getattr(metric, "_direction", None) in ("up", "down"):
            return metric._direction
    return None
