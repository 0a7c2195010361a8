"""Walking a model: its layers, and the regularizers and constraints on them; re-tracing its compiled steps.

Plain functions over Keras's public objects (`Layer`, `Variable`), with no kreg import, so that every kreg module can
use them: `kreg.attach`, the training binding and the report.
"""

import keras


def walk_layers(model):
    """Every layer inside `model` (not `model` itself), nested models and sub-layers included, each once."""
    found = []
    seen = set()

    def visit(layer):
        for child in layer._flatten_layers(include_self=False, recursive=False):
            if id(child) not in seen:
                seen.add(id(child))
                found.append(child)
                visit(child)

    visit(model)
    return found


def weight_regularizers(model):
    """Every `(variable, regularizer)` pair of `model`'s variables that have a regularizer (Keras's or kreg's)."""
    return [(v, v.regularizer) for v in model.variables if getattr(v, "regularizer", None) is not None]


def activity_regularizers(model):
    """Every `(layer, regularizer)` pair of the layers of `model` (itself included) with an activity regularizer."""
    layers = [model, *walk_layers(model)]
    return [(layer, layer.activity_regularizer) for layer in layers if _activity_regularizer(layer) is not None]


def _activity_regularizer(layer):
    return getattr(layer, "activity_regularizer", None) if isinstance(layer, keras.layers.Layer) else None


def has_penalties(model):
    """Whether training `model` adds regularization penalties to its loss (weight or activity regularizers)."""
    return bool(weight_regularizers(model) or activity_regularizers(model))


def unwrap(obj):
    """What a training-time wrapper of kreg's binding stands for (its `wrapped`, possibly `None`), or `obj` itself.

    The binding's wrappers (`BoundRegularizer`, `ProximalConstraint`, `BoundSpectralNorm`) set
    `is_binding_wrapper = True` and keep the user's object in `wrapped`.
    """
    while getattr(obj, "is_binding_wrapper", False):
        obj = obj.wrapped
    return obj


def retrace(model):
    """Makes `model` trace its train and test steps again at their next call (those traced before a change to its
    regularizers or constraints would not see it). Untraced steps (`None`) are left for Keras to make."""
    if getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
    if getattr(model, "test_function", None) is not None:
        model.make_test_function(force=True)


__all__ = ["activity_regularizers", "has_penalties", "retrace", "unwrap", "walk_layers", "weight_regularizers"]
