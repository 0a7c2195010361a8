"""`TrainingBinding`: the one place where kreg's objects are connected to a training run, for the length of `fit`.

Regularizers, constraints and schedules are pure config objects. What needs the training run (the optimizer's
learning rate for proximal steps, the training step for schedules, a persistent vector for SpectralNorm, the
penalty-free loss in the logs) is installed here at the start of `fit` and taken away when it ends:

==============================  ==================================================  ===============================
what                            installed                                           on
==============================  ==================================================  ===============================
proximal step (exact zeros)     `kreg.constraints.ProximalConstraint`               `variable.constraint`
scheduled strength              `kreg.regularizers.BoundRegularizer`                `variable.regularizer`,
                                                                                    `layer.activity_regularizer`
SpectralNorm's vector           an optimizer variable + `BoundSpectralNorm`         `variable.constraint`
L2-SP reference                 `L2SP.capture(variable)` (kept: it is config)       the regularizer
training step (JAX only)        `kreg.keras_compat.JaxStepThreading`                `model.train_step/test_step`
data loss and penalty total     two `keras.metrics.Mean` updated in `compute_loss`  `model.metrics`
==============================  ==================================================  ===============================

The layer attributes that `get_config` saves (`kernel_regularizer`, `kernel_constraint`, ...) are never touched,
and each wrapper serializes as what it wraps, so a model saved during `fit` loads with the user's objects. Its
optimizer state, though, holds the SpectralNorm vectors of that `fit`, so `keras.saving.load_model` skips that
optimizer state with Keras's warning (the weights load as usual).

Every kreg callback (`TrainingBinding`, `EarlyStopping`, `AdaptiveEarlyStopping`, `RegularizationReport`) takes the
binding of its model in `on_train_begin` and releases it in `on_train_end`: the first one binds, the last one
unbinds, so passing any one of them is enough and their order does not matter. The binding is recorded on the model
(no module- or class-level state), so two models trained alternately in one process are independent.
"""

import warnings

import keras
from keras import ops

from kreg import introspection
from kreg.constraints.proximal import ProximalConstraint
from kreg.constraints.spectral_norm import BoundSpectralNorm, SpectralNorm, leading_left_vector
from kreg.keras_compat import (
    JaxStepThreading,
    inner_optimizer,
    remove_optimizer_variables,
    restore_optimizer_variables,
)
from kreg.regularizers.base import Regularizer
from kreg.regularizers.bound import BoundRegularizer
from kreg.step_source import StepSource

#: The attribute of a model holding its active binding.
_ATTRIBUTE = "_kreg_binding"
#: The attribute of a model holding the binding's metrics (a tracked list, so that Keras reports them).
_METRICS_ATTRIBUTE = "_kreg_binding_metrics"
#: The attribute of a model holding its last (undone) binding, which the next `fit` reuses when nothing changed.
_LAST_ATTRIBUTE = "_kreg_last_binding"


def model_signature(model):
    """What a binding depends on: the optimizer and every variable's regularizer and constraint, the activity
    regularizers, and the train function Keras holds (`compile` and `kreg.attach` replace it)."""
    variables = tuple((id(v), id(v.regularizer), id(v.constraint)) for v in model.variables)
    activity = tuple(id(r) for _, r in introspection.activity_regularizers(model))
    return (id(model.optimizer), id(getattr(model, "train_function", None)), variables, activity)


class Binding:
    """What the binding changed on one model during one `fit`, and how to undo it.

    Use `acquire(model, params)` / `release(model)` (what every kreg callback does) rather than this class.
    """

    def __init__(self, model, params):
        self.model = model
        self.params = params
        self.signature = model_signature(model)
        self.traced_functions = None
        self._compute_loss = None
        self.users = 0
        self.optimizer = inner_optimizer(model.optimizer)
        self.step_source = StepSource(model.optimizer)
        self.bound_regularizers = []  # (owner, attribute, original, wrapper)
        self.bound_constraints = []  # (variable, original, wrapper)
        self.vectors = []
        self.vector_kernels = []  # (kernel variable, its vector u)
        self.proximal_paths = []
        self.scheduled = []
        self.metrics = []
        self.jax_threading = None
        self.spectral_norm_kernels = 0

    # Binding ---------------------------------------------------------------------------------------------------

    def bind(self):
        model = self.model
        self._keep_clean_functions()
        for variable, regularizer in introspection.weight_regularizers(model):
            if isinstance(regularizer, Regularizer):
                if getattr(regularizer, "needs_reference", False):
                    regularizer.capture(variable)
                self._bind_regularizer(variable, "regularizer", regularizer)
        for layer, regularizer in introspection.activity_regularizers(model):
            if isinstance(regularizer, Regularizer):
                self._bind_regularizer(layer, "activity_regularizer", regularizer)
        for variable in model.trainable_variables:
            self._bind_constraint(variable)
        if self.scheduled and keras.backend.backend() == "jax":
            self.jax_threading = JaxStepThreading(model, self.step_source)
            self.jax_threading.install()
        if introspection.has_penalties(model):
            self._track_loss_parts()
        introspection.retrace(self.model)
        self._record_bound_functions()

    def rebind(self, params):
        """Installs again exactly what `bind` installed (the same wrappers, vectors and metrics), and the train and
        test functions traced with them, so that a `fit` following an unchanged one does not trace its step again.
        """
        self.params = params
        self.users = 0
        self._keep_clean_functions()
        for owner, attribute, _, wrapper in self.bound_regularizers:
            setattr(owner, attribute, wrapper)
        for variable, _, wrapper in self.bound_constraints:
            variable.constraint = wrapper
        if self.vectors:
            restore_optimizer_variables(self.optimizer, self.vectors)
            # Warm-started again from the current kernel, as a first binding does: a `fit` continuing in this
            # process then trains exactly as the same `fit` on the model saved and loaded elsewhere.
            for variable, u in self.vector_kernels:
                u.assign(leading_left_vector(variable))
        if self.jax_threading is not None:
            self.jax_threading.install()
        if self.metrics:
            setattr(self.model, _METRICS_ATTRIBUTE, list(self.metrics))
            self.model.compute_loss = self._compute_loss
        if self.traced_functions is not None:
            self.model.train_function, self.model.test_function = self.traced_functions
        else:
            introspection.retrace(self.model)
        self._record_bound_functions()

    def _bind_regularizer(self, owner, attribute, regularizer):
        if not regularizer.needs_binding:
            return
        if regularizer.scheduled and regularizer not in self.scheduled:
            self.scheduled.append(regularizer)
        regularizer.was_bound()
        wrapper = BoundRegularizer(regularizer, self.step_source)
        setattr(owner, attribute, wrapper)
        self.bound_regularizers.append((owner, attribute, regularizer, wrapper))

    def _bind_constraint(self, variable):
        original = variable.constraint
        constraint = original
        if isinstance(original, SpectralNorm) and original.mode == "matrix" and all(variable.shape):
            if not self.optimizer.built:
                self.optimizer.build(self.model.trainable_variables)
            u = self.optimizer.add_variable(
                shape=(leading_left_vector(variable).shape[0],),
                initializer="zeros",
                dtype="float32",
                name="spectral_norm_u_" + variable.path.replace("/", "_"),
            )
            u.assign(leading_left_vector(variable))
            self.vectors.append(u)
            self.vector_kernels.append((variable, u))
            self.spectral_norm_kernels += 1
            constraint = BoundSpectralNorm(original, u)
        regularizer = variable.regularizer
        regularizer = regularizer.wrapped if isinstance(regularizer, BoundRegularizer) else regularizer
        if isinstance(regularizer, Regularizer) and regularizer.proximal:
            constraint = ProximalConstraint(regularizer, self.optimizer, self.step_source, constraint)
            self.proximal_paths.append(variable.path)
        if constraint is not original:
            variable.constraint = constraint
            self.bound_constraints.append((variable, original, constraint))

    def _track_loss_parts(self):
        """Logs `data_loss` (the loss without penalties) and `penalty` (their total) with the other metrics.

        Both are `keras.metrics.Mean`s updated in the model's `compute_loss` (where Keras updates its own loss
        trackers, so every trainer threads them, JAX's stateless step included), so they are in the epoch logs (and
        as `val_data_loss`, `val_penalty` after validation) before any callback's `on_epoch_end` runs.
        """
        model = self.model
        data_loss = keras.metrics.Mean(name="data_loss")
        penalty = keras.metrics.Mean(name="penalty")
        self.metrics = [data_loss, penalty]
        setattr(model, _METRICS_ATTRIBUTE, list(self.metrics))
        original = model.compute_loss

        def compute_loss(*args, **kwargs):
            total = original(*args, **kwargs)
            losses = model.losses
            parts = [ops.cast(ops.sum(loss), "float32") for loss in losses]
            penalty_total = ops.sum(ops.stack(parts)) if parts else ops.zeros((), "float32")
            data_loss.update_state(ops.cast(total, "float32") - penalty_total)
            penalty.update_state(penalty_total)
            return total

        self._compute_loss = compute_loss
        model.compute_loss = compute_loss

    def _record_bound_functions(self):
        model = self.model
        self.bound_function_ids = (
            id(getattr(model, "train_function", None)),
            id(getattr(model, "test_function", None)),
        )

    def _keep_clean_functions(self):
        # The model's train and test functions without the binding (traced or not), put back by `unbind`, so that a
        # `fit` without kreg callbacks after this one does not trace its step again either.
        self.clean_functions = (getattr(self.model, "train_function", None), getattr(self.model, "test_function", None))

    def before_evaluation(self):
        if self.jax_threading is not None:
            self.jax_threading.sync_host_step()

    # Unbinding -------------------------------------------------------------------------------------------------

    def unbind(self):
        model = self.model
        # What was changed since (`kreg.attach` during `fit`) is the user's: only the binding's wrappers are undone.
        for owner, attribute, original, wrapper in reversed(self.bound_regularizers):
            if getattr(owner, attribute) is wrapper:
                setattr(owner, attribute, original)
        for variable, original, wrapper in reversed(self.bound_constraints):
            if variable.constraint is wrapper:
                variable.constraint = original
        if self.vectors:
            remove_optimizer_variables(self.optimizer, self.vectors)
        if self.jax_threading is not None:
            self.jax_threading.uninstall()
        if self.metrics:
            tracked = getattr(model, _METRICS_ATTRIBUTE)
            for metric in self.metrics:
                tracked.remove(metric)
            delattr(model, _METRICS_ATTRIBUTE)
            if "compute_loss" in vars(model):
                del model.compute_loss
        # Keep the functions traced with the wrappers for a next `fit` that changes nothing (`rebind`); the model
        # gets back the ones it had before the binding.
        current = (getattr(model, "train_function", None), getattr(model, "test_function", None))
        if tuple(map(id, current)) == self.bound_function_ids:
            self.traced_functions = current
            model.train_function, model.test_function = self.clean_functions
        else:
            # Something replaced the functions during `fit` (`kreg.attach`): neither set is current any more.
            self.traced_functions = None
            introspection.retrace(self.model)
        self.signature = model_signature(model)
        object.__setattr__(model, _LAST_ATTRIBUTE, self)

    def summary(self):
        parts = []
        if self.proximal_paths:
            parts.append(f"proximal step on {len(self.proximal_paths)} variable(s)")
        if self.scheduled:
            parts.append(f"{len(self.scheduled)} scheduled regularizer(s) bound to the training step")
        if self.spectral_norm_kernels:
            parts.append(f"persistent power-iteration vectors for {self.spectral_norm_kernels} SpectralNorm kernel(s)")
        if self.metrics:
            parts.append("`data_loss` and `penalty` logged")
        return "kreg binding: " + ("; ".join(parts) if parts else "nothing to bind") + "."


def acquire(model, params=None):
    """Takes the binding of `model` for one `fit` (the first caller binds); returns it.

    A binding left by a `fit` that raised (Keras then skips `on_train_end`) is undone first: callbacks of one `fit`
    share its `params` dict, a new `fit` brings a new one.
    """
    binding = vars(model).get(_ATTRIBUTE)
    if binding is not None and (binding.params is not params or binding.model.optimizer is not model.optimizer):
        binding.unbind()
        binding = None
    if binding is None:
        if getattr(model, "optimizer", None) is None:
            raise ValueError("kreg's training binding needs a compiled model: call `model.compile(optimizer=...)`.")
        last = vars(model).get(_LAST_ATTRIBUTE)
        if last is not None and last.signature == model_signature(model):
            binding = last
            binding.rebind(params)
        else:
            binding = Binding(model, params)
            binding.bind()
        object.__setattr__(model, _ATTRIBUTE, binding)
    binding.users += 1
    return binding


def release(model):
    """Gives back the binding taken by `acquire`; the last user unbinds."""
    binding = vars(model).get(_ATTRIBUTE)
    if binding is None:
        return
    binding.users -= 1
    if binding.users <= 0:
        binding.unbind()
        object.__delattr__(model, _ATTRIBUTE)


def active_binding(model):
    """The binding of `model` during a `fit` with a kreg callback, or `None`."""
    return vars(model).get(_ATTRIBUTE)


class BindingCallback(keras.callbacks.Callback):
    """Base of kreg's callbacks: takes the model's training binding for the length of `fit`.

    Subclasses that override `on_train_begin`, `on_train_end` or `on_test_begin` call `super()`. A model that is not a
    compiled `keras.Model` (a test double) is not bound.
    """

    binding = None

    def on_train_begin(self, logs=None):
        model = self.model
        bindable = isinstance(model, keras.Model) and getattr(model, "optimizer", None) is not None
        self.binding = acquire(model, self.params) if bindable else None

    def on_test_begin(self, logs=None):
        if self.binding is not None:
            self.binding.before_evaluation()

    def on_train_end(self, logs=None):
        if self.binding is not None:
            self.binding = None
            release(self.model)


@keras.saving.register_keras_serializable(package="kreg")
class TrainingBinding(BindingCallback):
    """Connects kreg's regularizers, constraints and schedules to the training run, for the length of `fit`.

    Pass it (or any other kreg callback: `EarlyStopping`, `AdaptiveEarlyStopping`, `RegularizationReport`, which
    all take the same binding) to `fit`. At the start of `fit` it installs, on the model's variables and layers:

    - the proximal steps of proximal regularizers (`L1(..., proximal=True)`, `ElasticNet`, `GroupLasso`): run after
      each optimizer update with the optimizer's current learning rate, followed by any constraint the variable
      already had (exact zeros, as scikit-learn's Lasso);
    - the training step for scheduled strengths (`kreg.schedules`), on every backend and under `jit_compile=True`;
    - SpectralNorm's persistent power-iteration vectors (one power iteration per step instead of an SVD);
    - the reference weights of an `L2SP` without one (the weights at the start of the first `fit`);
    - `data_loss` and `penalty` in the logs (and `val_data_loss`, `val_penalty`): the loss without the
      regularization penalties, and their total. Keras's `loss` includes every penalty, so a shrinking penalty
      can keep "improving" `val_loss` while the data loss has bottomed out; watch `val_data_loss` instead.

    When `fit` ends, all of it is taken away again: the model, its saved form and a re-`compile` are clean. A kreg
    object that needs the binding and trains without it warns at its first training step.

    Args:
        verbose: print what was bound at the start of `fit` (0 or 1).

    Example:

    >>> model = keras.Sequential([keras.layers.Dense(1, kernel_regularizer=kreg.regularizers.L1(0.1, proximal=True))])
    >>> model.compile("sgd", "mse")
    >>> model.fit(x, y, callbacks=[kreg.callbacks.TrainingBinding()])

    Reference: Beck & Teboulle 2009, "A fast iterative shrinkage-thresholding algorithm for linear inverse problems"
    (ISTA, the proximal gradient method the proximal steps implement with the model's optimizer).
    """

    def __init__(self, verbose=0):
        super().__init__()
        if verbose not in (0, 1, False, True):
            raise ValueError(
                f"Invalid value received for argument `verbose`. Expected 0 or 1. Received: verbose={verbose!r}"
            )
        self.verbose = int(verbose)

    def on_train_begin(self, logs=None):
        if isinstance(self.model, keras.Model) and getattr(self.model, "optimizer", None) is None:
            acquire(self.model, self.params)  # raises its clear error: the model is not compiled
        super().on_train_begin(logs)
        binding = self.binding
        if binding is None:
            raise ValueError(
                f"{type(self).__name__} needs a compiled `keras.Model` to bind; received model={self.model!r}."
            )
        if not (binding.bound_regularizers or binding.bound_constraints or binding.metrics):
            warnings.warn(
                "TrainingBinding found nothing to bind in the model (no kreg regularizer that is proximal, scheduled "
                "or an L2SP, no SpectralNorm constraint, no regularization penalty); it does nothing.",
                UserWarning,
                stacklevel=2,
            )
        if self.verbose:
            print(binding.summary())

    def get_config(self):
        return {"verbose": self.verbose}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


__all__ = ["BindingCallback", "TrainingBinding", "acquire", "active_binding", "release"]
