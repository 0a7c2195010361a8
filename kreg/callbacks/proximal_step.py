"""Binds proximal regularizers to the optimizer so their proximal step runs after each update."""

import warnings

import keras
from keras import ops

from kreg.regularizers.base import Regularizer


@keras.saving.register_keras_serializable(package="kreg")
class ProximalConstraint(keras.constraints.Constraint):
    """The constraint `ProximalStep` puts on a variable: the regularizer's proximal step, then the original constraint.

    Keras applies `variable.constraint` right after each optimizer update, with the updated value, which is where a
    proximal-gradient step belongs. The step size is the optimizer's current learning rate (schedules included:
    Keras increments `optimizer.iterations` only after the constraints ran). With gradient accumulation the step
    runs only on the iterations where the optimizer really updates the weights.

    This object is not meant to be built by hand: `kreg.callbacks.ProximalStep` installs and replaces it.

    Args:
        regularizer: a kreg regularizer with `proximal = True`.
        optimizer: the optimizer whose learning rate is the step size.
        constraint: the constraint the variable had before, applied after the proximal step, or `None`.
    """

    def __init__(self, regularizer, optimizer, constraint=None):
        self.regularizer = regularizer
        self.optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        self.constraint = constraint

    def __call__(self, w):
        stepped = self.regularizer.proximal_step(w, self.optimizer.learning_rate)
        accumulation = getattr(self.optimizer, "gradient_accumulation_steps", None)
        if accumulation:
            is_update = ops.equal((self.optimizer.iterations + 1) % accumulation, 0)
            stepped = ops.where(is_update, stepped, w)
        if self.constraint is not None:
            stepped = self.constraint(stepped)
        return stepped

    def get_config(self):
        # The binding to a live optimizer is not serializable; the variable's original constraint is.
        return {"constraint": keras.constraints.serialize(self.constraint) if self.constraint is not None else None}

    @classmethod
    def from_config(cls, config):
        return keras.constraints.get(config.get("constraint"))


@keras.saving.register_keras_serializable(package="kreg")
class ProximalStep(keras.callbacks.Callback):
    """Runs the proximal step of every proximal regularizer in the model after each optimizer update.

    At the start of `fit` it finds every variable whose regularizer is a kreg regularizer with `proximal=True`
    (`L1`, `ElasticNet`, ...), binds that regularizer to the model's optimizer and wraps the variable's constraint so
    that the proximal step runs after each update, followed by any constraint the variable already had. Binding is
    idempotent: several `fit` calls, or a new optimizer after `compile`, are handled.

    A proximal regularizer trained without this callback warns at its first training step and falls back to the
    ordinary subgradient penalty (no exact zeros).

    Args:
        verbose: print how many variables were bound.

    Example:

    >>> model = keras.Sequential([keras.layers.Dense(1, kernel_regularizer=kreg.regularizers.L1(0.1, proximal=True))])
    >>> model.compile("sgd", "mse")
    >>> model.fit(x, y, callbacks=[kreg.callbacks.ProximalStep()])

    Reference: Beck & Teboulle 2009, "A fast iterative shrinkage-thresholding algorithm for linear inverse problems"
    (ISTA, the proximal gradient method this implements with the model's optimizer).
    """

    def __init__(self, verbose=0):
        super().__init__()
        if verbose not in (0, 1, False, True):
            raise ValueError(
                f"Invalid value received for argument `verbose`. Expected 0 or 1. Received: verbose={verbose!r}"
            )
        self.verbose = int(verbose)
        self.bound_paths = []

    def on_train_begin(self, logs=None):
        changed = bind_proximal_regularizers(self.model, self.model.optimizer)
        self.bound_paths = [v.path for v in proximal_variables(self.model)]
        if not self.bound_paths:
            warnings.warn(
                "ProximalStep found no variable with a proximal regularizer (e.g. `kreg.regularizers.L1(..., "
                "proximal=True)`) in the model; it does nothing.",
                UserWarning,
                stacklevel=2,
            )
        elif changed and getattr(self.model, "train_function", None) is not None:
            # A train function traced before the binding would not run the proximal step: trace it again.
            self.model.make_train_function(force=True)
        if self.verbose and self.bound_paths:
            print(f"ProximalStep: proximal step bound on {len(self.bound_paths)} variable(s).")

    def get_config(self):
        return {"verbose": self.verbose}


def proximal_variables(model):
    """The model's variables whose regularizer is a proximal kreg regularizer."""
    return [
        v
        for v in model.variables
        if isinstance(getattr(v, "regularizer", None), Regularizer) and v.regularizer.proximal
    ]


def bind_proximal_regularizers(model, optimizer):
    """Binds every proximal regularizer of `model` to `optimizer` and wraps its variable's constraint.

    Returns:
        Whether any variable's binding changed (so a traced train function must be traced again).
    """
    if optimizer is None:
        raise ValueError("ProximalStep needs a compiled model: call `model.compile(optimizer=...)` before `fit`.")
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    changed = False
    for variable in proximal_variables(model):
        regularizer = variable.regularizer
        current = variable.constraint
        if isinstance(current, ProximalConstraint):
            if current.regularizer is regularizer and current.optimizer is inner:
                regularizer.bind(inner)
                continue
            current = current.constraint
        regularizer.bind(inner)
        variable.constraint = ProximalConstraint(regularizer, inner, current)
        changed = True
    return changed
