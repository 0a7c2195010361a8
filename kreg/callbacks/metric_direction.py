"""The direction of a monitored metric: declared by a compiled metric, or inferred from a monitor name as Keras does.

Shared by the early-stopping callbacks (`monitor_sign`) and the report (`declared_direction`).
"""

#: Logged quantities minimized whatever the model declares: Keras's `loss`, and kreg's penalty-free `data_loss`.
LOSS_NAMES = ("loss", "data_loss")


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


def monitor_sign(model, monitor, mode="auto", caller="EarlyStopping"):
    """The direction sign of a monitored quantity: `1.0` to minimize it, `-1.0` to maximize it.

    `mode="min"` and `mode="max"` give it directly. `mode="auto"` infers it as Keras's `EarlyStopping` does: the
    name without its `val_` prefix is looked up among the model's compiled metrics (accuracies, AUC, F1 ... declare
    "up", errors "down"); `loss` (and kreg's `data_loss`) are minimized.

    Args:
        model: the Keras model whose compiled metrics declare their direction (only read for `mode="auto"`).
        monitor: the logged name, e.g. `"val_accuracy"`.
        mode: `"auto"`, `"min"` or `"max"`.
        caller: the class name used in the error message.

    Returns:
        `1.0` or `-1.0`.

    Raises:
        ValueError: `mode="auto"` and the direction of `monitor` cannot be inferred (Keras's message).

    Example:

    >>> monitor_sign(model, "val_accuracy")
    -1.0
    >>> monitor_sign(None, "custom_score", mode="min")
    1.0
    """
    if mode != "auto":
        return 1.0 if mode == "min" else -1.0
    name = monitor.removeprefix("val_")
    sign = 1.0 if name in LOSS_NAMES else None
    direction = declared_direction(model, name)
    if direction is not None:
        sign = -1.0 if direction == "up" else 1.0
    if sign is None:
        raise ValueError(
            f"{caller} callback received monitor={monitor}, but Keras isn't able to "
            "automatically determine whether that metric should be maximized or minimized. Pass `mode='max'` "
            "in order to monitor based on the highest metric value, or pass `mode='min'` in order to use the "
            "lowest value."
        )
    return sign
