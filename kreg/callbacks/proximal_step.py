"""Binds kreg regularizers to the optimizer: proximal steps after each update, scheduled strengths, L2-SP references."""

import warnings

import keras
from keras import ops

from kreg import schedules
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
        value = ops.convert_to_tensor(w)
        stepped = self.regularizer.proximal_step(value, self.optimizer.learning_rate)
        accumulation = getattr(self.optimizer, "gradient_accumulation_steps", None)
        if accumulation:
            # `optimizer.iterations` counts real updates (raw count // accumulation); the raw counter, incremented
            # after the constraints ran, tells whether this apply() updated the weights.
            raw = self.optimizer._iterations
            is_update = ops.equal((raw + 1) % accumulation, 0)
            stepped = ops.where(is_update, stepped, value)
        if self.constraint is None:
            return stepped
        if isinstance(w, keras.Variable):
            # Hand the original constraint the variable itself (now holding the stepped value), as Keras would:
            # constraints with per-variable state (`kreg.constraints.SpectralNorm`) find it by the variable.
            w.assign(stepped)
            return self.constraint(w)
        return self.constraint(stepped)

    def get_config(self):
        # The binding to a live optimizer is not serializable; the variable's original constraint is.
        return {"constraint": keras.constraints.serialize(self.constraint) if self.constraint is not None else None}

    @classmethod
    def from_config(cls, config):
        return keras.constraints.get(config.get("constraint"))


@keras.saving.register_keras_serializable(package="kreg")
class ProximalStep(keras.callbacks.Callback):
    """Binds kreg's regularizers to the optimizer: proximal steps after each update, schedules, L2-SP references.

    At the start of `fit` it binds every kreg regularizer of the model (weight regularizers and activity
    regularizers, in nested models too) to the model's optimizer, and:

    - for a proximal regularizer (`L1(..., proximal=True)`, `ElasticNet`, `GroupLasso`), wraps the variable's
      constraint so that the proximal step runs after each update, followed by any constraint the variable already
      had;
    - for a regularizer with a scheduled strength (`kreg.schedules`), makes the training step visible to it: on
      TensorFlow and PyTorch the penalty reads `optimizer.iterations`; on JAX, where variables read inside the
      compiled step are frozen, the model's `train_step(state, data)` is wrapped so that the iteration count
      traced in `state` is used (`kreg.schedules.training_step`), and the evaluation step, which gets no optimizer
      state, is traced again at each epoch so that validation penalties use the current strength;
    - for an `L2SP` without reference weights, captures the variable's current value as its reference.

    Binding is idempotent: several `fit` calls, or a new optimizer after `compile`, are handled.

    A proximal regularizer trained without this callback warns at its first training step and falls back to the
    ordinary subgradient penalty (no exact zeros); a scheduled one warns and uses its value at step 0.

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
        self.scheduled_count = 0
        self._retrace_evaluation = False

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if optimizer is None:
            raise ValueError("ProximalStep needs a compiled model: call `model.compile(optimizer=...)` before `fit`.")
        changed = bind_all_regularizers(self.model, optimizer)
        changed = wrap_proximal_constraints(self.model, optimizer) or changed
        scheduled = scheduled_regularizers(self.model)
        self.scheduled_count = len(scheduled)
        self._retrace_evaluation = bool(scheduled) and keras.backend.backend() == "jax"
        if scheduled:
            changed = install_traced_step(self.model) or changed
        self.bound_paths = [v.path for v in proximal_variables(self.model)]
        if not self.bound_paths and not scheduled and not _has_l2sp(self.model):
            warnings.warn(
                "ProximalStep found no variable with a proximal regularizer (e.g. `kreg.regularizers.L1(..., "
                "proximal=True)`) and no kreg regularizer with a scheduled strength in the model; it does nothing.",
                UserWarning,
                stacklevel=2,
            )
        elif changed and getattr(self.model, "train_function", None) is not None:
            # A train function traced before the binding would not run the proximal step: trace it again.
            self.model.make_train_function(force=True)
        if self.verbose and self.bound_paths:
            print(f"ProximalStep: proximal step bound on {len(self.bound_paths)} variable(s).")
        if self.verbose and scheduled:
            print(f"ProximalStep: {len(scheduled)} regularizer(s) with a scheduled strength bound to the step.")

    def on_epoch_begin(self, epoch, logs=None):
        if self._retrace_evaluation and getattr(self.model, "test_function", None) is not None:
            # JAX's compiled evaluation step gets no optimizer state, so it reads the step count when it is traced:
            # trace it again each epoch so that validation penalties use the current strength, as on other backends.
            self.model.test_function = None

    def get_config(self):
        return {"verbose": self.verbose}


def _walk_layers(model):
    from kreg.attach import walk_layers

    return walk_layers(model)


def kreg_regularizers(model):
    """Every `(regularizer, variable_or_None)` pair of kreg regularizers in `model`.

    Weight regularizers come with their variable; activity regularizers with `None`.
    """
    pairs = [(v.regularizer, v) for v in model.variables if isinstance(getattr(v, "regularizer", None), Regularizer)]
    for layer in _walk_layers(model):
        regularizer = getattr(layer, "activity_regularizer", None)
        if isinstance(regularizer, Regularizer):
            pairs.append((regularizer, None))
    return pairs


def scheduled_regularizers(model):
    """The kreg regularizers of `model` with at least one scheduled strength."""
    found = []
    for regularizer, _ in kreg_regularizers(model):
        if any(schedules.is_schedule(v) for v in vars(regularizer).values()) and regularizer not in found:
            found.append(regularizer)
    return found


def _has_l2sp(model):
    return any(hasattr(r, "needs_reference") for r, _ in kreg_regularizers(model))


def bind_all_regularizers(model, optimizer):
    """Binds every kreg regularizer of `model` to `optimizer` (so schedules can read the training step), and gives
    an `L2SP` without reference its variable's current value.

    Returns:
        Whether any binding changed (so a traced train function must be traced again).
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    changed = False
    for regularizer, variable in kreg_regularizers(model):
        if variable is not None and getattr(regularizer, "needs_reference", False):
            regularizer.capture(variable)
            changed = True
        if regularizer.optimizer is not inner:
            regularizer.bind(inner)
            changed = True
    return changed


def install_traced_step(model):
    """On JAX, wraps `model.train_step(state, data)` so scheduled strengths read the traced iteration count.

    Under JAX the compiled step is a pure function of `state = (trainable, non_trainable, optimizer_variables,
    metrics)`; the optimizer's `iterations` is one of `optimizer_variables`. Other backends read the variable
    directly and need nothing. Idempotent.

    Returns:
        Whether the wrapper was installed now (so a traced train function must be traced again).
    """
    if keras.backend.backend() != "jax" or getattr(model.train_step, "_kreg_traced_step", False):
        return False
    original = model.train_step

    def train_step(state, data):
        optimizer = model.optimizer
        step = None
        if optimizer is not None and len(state) == 4:
            iterations = getattr(optimizer, "inner_optimizer", optimizer).iterations
            for variable, value in zip(optimizer.variables, state[2]):
                if variable is iterations:
                    step = value
                    break
        if step is None:
            return original(state, data)
        with schedules.training_step(step):
            return original(state, data)

    train_step._kreg_traced_step = True
    model.train_step = train_step
    return True


def proximal_variables(model):
    """The model's variables whose regularizer is a proximal kreg regularizer."""
    return [
        v
        for v in model.variables
        if isinstance(getattr(v, "regularizer", None), Regularizer) and v.regularizer.proximal
    ]


def wrap_proximal_constraints(model, optimizer):
    """Wraps the constraint of every variable with a proximal regularizer so its proximal step runs after each
    update of `optimizer` (the regularizers themselves are bound by `bind_all_regularizers`).

    Returns:
        Whether any variable's wrapper changed (so a traced train function must be traced again).
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    changed = False
    for variable in proximal_variables(model):
        regularizer = variable.regularizer
        current = variable.constraint
        if isinstance(current, ProximalConstraint):
            if current.regularizer is regularizer and current.optimizer is inner:
                continue
            current = current.constraint
        variable.constraint = ProximalConstraint(regularizer, inner, current)
        changed = True
    return changed
