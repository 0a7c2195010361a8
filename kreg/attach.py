"""Put regularizers and constraints on a model that is already built (a pretrained backbone, `keras.applications`).

In Keras 3, what training uses is on the *variable*: `Layer` sums `variable.regularizer(variable)` over its
trainable weights, and optimizers apply `variable.constraint` after each update. What `get_config` (and so a
`.keras` file) records is on the *layer*: `layer.kernel_regularizer`, `layer.bias_constraint`, ... Setting only the
layer attribute on a built layer does nothing until the model is saved and loaded; setting only the variable
attribute is lost on save. `attach` sets both.

Example:

>>> backbone = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(96, 96, 3))
>>> summary = kreg.attach(backbone, [
...     {"layers": keras.layers.Conv2D, "regularizer": kreg.regularizers.L2SP(1e-3)},
...     {"layers": "block_1.*", "weights": "depthwise", "constraint": keras.constraints.MaxNorm(3.0)},
... ])
>>> print(summary)

Reference: Li, Grandvalet & Davoine 2018, "Explicit inductive bias for transfer learning with convolutional
networks" (regularizing a pretrained network towards its weights, the main use of attaching to a built model).
"""

import dataclasses
import re
import warnings

import keras

from kreg import regularizers as kreg_regularizers
from kreg.introspection import retrace, unwrap, walk_layers

#: The weight kinds a rule may name, and the attribute names of the variable for each kind, tried in order.
#: A kind `k` is set on the layer as `k_regularizer` / `k_constraint` (Keras's constructor argument names).
WEIGHT_KINDS = {
    "kernel": ("kernel", "_kernel"),
    "bias": ("bias",),
    "embeddings": ("embeddings", "_embeddings"),
    "depthwise": ("depthwise_kernel", "kernel"),
    "pointwise": ("pointwise_kernel",),
    "recurrent": ("recurrent_kernel",),
    "gamma": ("gamma",),
    "beta": ("beta",),
}

#: The kinds a rule without `weights` regularizes: the kernels, not biases nor normalization scales and offsets.
DEFAULT_KINDS = ("kernel", "embeddings", "depthwise", "pointwise", "recurrent")

_NORMALIZATION = tuple(
    getattr(keras.layers, name)
    for name in (
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "RMSNormalization",
    )
    if hasattr(keras.layers, name)
)


@dataclasses.dataclass
class Rule:
    """What to attach, and where.

    Args:
        layers: which layers: `None` (every layer), a layer class or tuple of classes, a regular expression matched
            in full against the layer name, a predicate `fn(layer) -> bool`, or a list of these (any may match).
        weights: which weight kinds (`"kernel"`, `"bias"`, `"embeddings"`, `"depthwise"`, `"pointwise"`,
            `"recurrent"`, `"gamma"`, `"beta"`, or any `k` for which the layer has a `k_regularizer` attribute),
            a string or a list; `None` means the kernels (`DEFAULT_KINDS`) the layer has, never biases.
        regularizer: a regularizer, a name or config dict (`kreg.regularizers.get`), or `None`. Each weight gets its
            own copy (so `L2SP` captures each weight's own reference).
        constraint: a constraint (any `keras.constraints.Constraint`, kreg's included), or `None`. Each weight gets
            its own copy.
        include_normalization: also match normalization layers (`BatchNormalization`, `LayerNormalization`, ...).
            By default they are skipped unless `layers` names their class.
    """

    layers: object = None
    weights: object = None
    regularizer: object = None
    constraint: object = None
    include_normalization: bool = False

    def __post_init__(self):
        if isinstance(self.weights, str):
            self.weights = (self.weights,)
        elif self.weights is not None:
            if not isinstance(self.weights, (list, tuple)) or not all(isinstance(w, str) for w in self.weights):
                raise ValueError(
                    "Invalid value received for argument `weights`. Expected None, a weight kind (str) or a list "
                    f"of them. Received: weights={self.weights!r}"
                )
            self.weights = tuple(self.weights)
        self.regularizer = kreg_regularizers.get(self.regularizer)
        if self.constraint is not None:
            self.constraint = keras.constraints.get(self.constraint)
        if not isinstance(self.include_normalization, bool):
            raise ValueError(
                "Invalid value received for argument `include_normalization`. Expected a bool (True or False). "
                f"Received: include_normalization={self.include_normalization!r}"
            )
        _check_selector(self.layers)

    def selects(self, layer):
        """Whether this rule's `layers` selector matches `layer` (normalization layers aside)."""
        matched, by_class = _selects(self.layers, layer)
        if matched and isinstance(layer, _NORMALIZATION) and not (self.include_normalization or by_class):
            return False
        return matched


@dataclasses.dataclass
class Attachment:
    """One weight that `attach` or `detach` changed."""

    layer: str
    kind: str
    path: str
    regularizer: object
    constraint: object


class Summary(list):
    """The list of `Attachment`s that `attach` / `detach` made; `str()` gives a table."""

    def __str__(self):
        if not self:
            return "(nothing attached)"
        rows = [("layer", "weight", "path", "regularizer", "constraint")]
        rows += [(a.layer, a.kind, a.path, _short(a.regularizer), _short(a.constraint)) for a in self]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _short(obj):
    if obj is None:
        return "-"
    return repr(obj) if isinstance(obj, kreg_regularizers.Regularizer) else type(obj).__name__


def _check_selector(selector):
    if selector is None or isinstance(selector, str) or callable(selector):
        if isinstance(selector, str):
            try:
                re.compile(selector)
            except re.error as error:
                raise ValueError(
                    f"Invalid value received for argument `layers`. Expected a valid regular expression. "
                    f"Received: layers={selector!r} ({error})"
                ) from error
        return
    if isinstance(selector, (list, tuple)) and selector:
        for item in selector:
            if item is None or isinstance(item, (list, tuple)):
                raise ValueError(
                    "Invalid value received for argument `layers`. Expected a layer class, a name pattern or a "
                    f"predicate in the list. Received: layers={selector!r}"
                )
            _check_selector(item)
        return
    raise ValueError(
        "Invalid value received for argument `layers`. Expected None, a layer class, a name pattern, a predicate "
        f"or a list of them. Received: layers={selector!r}"
    )


def _selects(selector, layer):
    """`(matched, matched_by_class)`."""
    if selector is None:
        return True, False
    if isinstance(selector, type):
        return isinstance(layer, selector), True
    if isinstance(selector, str):
        return re.fullmatch(selector, layer.name) is not None, False
    if isinstance(selector, (list, tuple)):
        results = [_selects(item, layer) for item in selector]
        return any(m for m, _ in results), any(m and c for m, c in results)
    return bool(selector(layer)), False


def layer_kinds(layer):
    """The weight kinds of `layer`: `{kind: variable}` for each `k_regularizer` attribute whose weight exists."""
    kinds = {}
    for attribute in list(vars(layer)):
        if not attribute.endswith("_regularizer") or attribute == "activity_regularizer":
            continue
        kind = attribute[: -len("_regularizer")]
        for name in WEIGHT_KINDS.get(kind, (kind, kind + "_kernel")):
            variable = getattr(layer, name, None)
            if isinstance(variable, keras.Variable):
                kinds[kind] = variable
                break
    return kinds


def declared_kinds(layer):
    """The weight kinds `layer`'s class declares (`k_regularizer` attributes), whether or not the weight exists."""
    return [
        a[: -len("_regularizer")] for a in vars(layer) if a.endswith("_regularizer") and a != "activity_regularizer"
    ]


def _as_rules(rules):
    if isinstance(rules, (Rule, dict, keras.regularizers.Regularizer)):
        rules = [rules]
    if not isinstance(rules, (list, tuple)) or not rules:
        raise ValueError(
            "Invalid value received for argument `rules`. Expected a Rule, a dict of Rule arguments, a regularizer, "
            f"or a non-empty list of them. Received: rules={rules!r}"
        )
    result = []
    for rule in rules:
        if isinstance(rule, Rule):
            result.append(rule)
        elif isinstance(rule, dict):
            unknown = set(rule) - {f.name for f in dataclasses.fields(Rule)}
            if unknown:
                raise ValueError(
                    f"Invalid value received for argument `rules`. Unknown rule key(s) {sorted(unknown)}; expected "
                    f"some of {[f.name for f in dataclasses.fields(Rule)]}. Received: rules={rules!r}"
                )
            result.append(Rule(**rule))
        elif isinstance(rule, keras.regularizers.Regularizer):
            result.append(Rule(regularizer=rule))
        else:
            raise ValueError(
                "Invalid value received for argument `rules`. Expected a Rule, a dict of Rule arguments or a "
                f"regularizer in the list. Received: rules={rules!r}"
            )
    return result


def _copy(obj):
    """A fresh copy of a regularizer or constraint, from its config (so each weight owns its own)."""
    if obj is None:
        return None
    if hasattr(obj, "get_config") and hasattr(type(obj), "from_config"):
        try:
            return type(obj).from_config(obj.get_config())
        except (NotImplementedError, TypeError):
            return obj
    return obj


def attach(model, rules, overwrite=True):
    """Attaches regularizers and constraints to the weights of an already-built model.

    For each weight selected by a rule, sets the variable's `regularizer` / `constraint` (used by the next `fit`) and
    the layer's `<kind>_regularizer` / `<kind>_constraint` attribute (saved by `get_config`, so a `.keras` file
    keeps them). Later rules override earlier ones for the same weight. Works on Sequential, functional and
    subclassed models and on nested models (a backbone inside a model). For a subclassed model, saving keeps the
    attachment only if the model's `get_config` serializes its layers (Keras rebuilds subclassed models from their
    constructor arguments).

    Args:
        model: a built `keras.Model` (or layer).
        rules: a `Rule`, a dict of `Rule` arguments, a regularizer (shorthand for `Rule(regularizer=...)`: every
            kernel of every non-normalization layer), or a list of these.
        overwrite: replace a regularizer or constraint the weight already has; with `False` such weights are left
            as they are.

    Returns:
        A `Summary` (a list of `Attachment`s) of what was attached where; `print` it for a table.

    Raises:
        ValueError: if the model is not built, or a rule names a weight kind that a layer it selects (by class,
            name or predicate) does not have; the message names the layer.

    Warns:
        UserWarning: for each rule that matches no weight.
    """
    if not getattr(model, "built", False):
        raise ValueError(f"`attach` needs a built model; build `{model.name}` first (call it on data or `build`).")
    if not isinstance(overwrite, bool):
        raise ValueError(
            f"Invalid value received for argument `overwrite`. Expected a bool (True or False). Received: "
            f"overwrite={overwrite!r}"
        )
    rules = _as_rules(rules)
    layers = walk_layers(model)
    if not isinstance(model, keras.Model) or not layers:
        layers = [model, *layers]
    # Plan every rule first, so that a bad rule raises before anything is changed.
    plans = [(rule, _plan(rule, layers)) for rule in rules]
    summary = Summary()
    for rule, plan in plans:
        for layer, kind, variable in plan:
            record = _attach_one(layer, kind, variable, rule, overwrite)
            if record is not None:
                summary.append(record)
        if not plan:
            warnings.warn(f"kreg.attach: rule {rule!r} matched no weight of model '{model.name}'.", UserWarning, 2)
    if summary:
        retrace(model)
    return summary


def _plan(rule, layers):
    """The `(layer, kind, variable)` triples `rule` selects; raises for a weight kind a selected layer lacks."""
    plan = []
    done = set()
    for layer in layers:
        if not rule.selects(layer):
            continue
        layer = _weights_owner(layer)
        declared = declared_kinds(layer)
        if not declared:
            continue  # weightless layers (pooling, dropout, ...) and containers
        kinds = layer_kinds(layer)
        if rule.weights is None:
            wanted = [k for k in DEFAULT_KINDS if k in kinds]
        else:
            missing = [k for k in rule.weights if k not in declared]
            if missing and rule.layers is not None:
                raise ValueError(
                    f"Layer '{layer.name}' ({type(layer).__name__}) has no {', '.join(map(repr, missing))} "
                    f"weight for rule {rule!r}; its weight kinds are {declared}."
                )
            wanted = [k for k in rule.weights if k in kinds]
        for kind in wanted:
            if id(kinds[kind]) not in done:
                done.add(id(kinds[kind]))
                plan.append((layer, kind, kinds[kind]))
    return plan


def _weights_owner(layer):
    """The layer whose attributes hold `layer`'s weight settings: an RNN layer's cell (`LSTM` -> `LSTMCell`)."""
    cell = getattr(layer, "cell", None)
    if not declared_kinds(layer) and isinstance(cell, keras.layers.Layer):
        return cell
    return layer


def _attach_one(layer, kind, variable, rule, overwrite):
    regularizer = constraint = None
    changed = False
    if rule.regularizer is not None and (overwrite or variable.regularizer is None):
        regularizer = _copy(rule.regularizer)
        if getattr(regularizer, "needs_reference", False):
            regularizer.capture(variable)
        variable.regularizer = regularizer
        setattr(layer, f"{kind}_regularizer", regularizer)
        changed = True
    if rule.constraint is not None and (overwrite or unwrap(variable.constraint) is None):
        constraint = _copy(rule.constraint)
        variable.constraint = constraint
        setattr(layer, f"{kind}_constraint", constraint)
        changed = True
    elif changed:
        # A proximal wrapper bound to the previous regularizer must not keep running its step.
        variable.constraint = unwrap(variable.constraint)
    if not changed:
        return None
    return Attachment(layer.name, kind, variable.path, regularizer, constraint)


def detach(model, layers=None, weights=None, regularizers=True, constraints=True):
    """Removes regularizers and/or constraints from the weights of a model (the inverse of `attach`).

    Args:
        model: a built `keras.Model` (or layer).
        layers: which layers, as for `Rule.layers` (`None`: every layer, normalization layers included).
        weights: which weight kinds, as for `Rule.weights` (`None`: every kind, biases included).
        regularizers: remove the regularizers.
        constraints: remove the constraints.

    Returns:
        A `Summary` of the weights changed; each `Attachment` holds what was removed.
    """
    rule = Rule(layers=layers, weights=weights, include_normalization=True)
    if not isinstance(regularizers, bool) or not isinstance(constraints, bool):
        raise ValueError(
            "Invalid value received for arguments `regularizers`/`constraints`. Expected bools. Received: "
            f"regularizers={regularizers!r}, constraints={constraints!r}"
        )
    targets = walk_layers(model)
    if not isinstance(model, keras.Model) or not targets:
        targets = [model, *targets]
    summary = Summary()
    done = set()
    for layer in targets:
        if not rule.selects(layer):
            continue
        layer = _weights_owner(layer)
        for kind, variable in layer_kinds(layer).items():
            if (rule.weights is not None and kind not in rule.weights) or id(variable) in done:
                continue
            done.add(id(variable))
            removed_regularizer = variable.regularizer if regularizers else None
            removed_constraint = unwrap(variable.constraint) if constraints else None
            if removed_regularizer is None and removed_constraint is None:
                continue
            if regularizers:
                variable.regularizer = None
                setattr(layer, f"{kind}_regularizer", None)
                variable.constraint = unwrap(variable.constraint)
            if constraints:
                variable.constraint = None
                setattr(layer, f"{kind}_constraint", None)
            summary.append(Attachment(layer.name, kind, variable.path, removed_regularizer, removed_constraint))
    if summary:
        retrace(model)
    return summary


__all__ = ["Attachment", "DEFAULT_KINDS", "Rule", "Summary", "WEIGHT_KINDS", "attach", "detach", "walk_layers"]
