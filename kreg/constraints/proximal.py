"""`ProximalConstraint`: the proximal step of a regularizer, run where Keras runs constraints (after each update).

Reference: Parikh & Boyd 2014, "Proximal Algorithms"; Beck & Teboulle 2009, "A fast iterative shrinkage-thresholding
algorithm for linear inverse problems" (ISTA: a gradient step on the smooth loss, then the proximal map of the
non-smooth penalty with the same step size).
"""

import keras
from keras import ops

from kreg.keras_compat import inner_optimizer, raw_iterations


@keras.saving.register_keras_serializable(package="kreg")
class ProximalConstraint(keras.constraints.Constraint):
    """The regularizer's proximal step, then the variable's own constraint: what the binding puts on a variable.

    Keras applies `variable.constraint` right after each optimizer update, with the updated value, which is where a
    proximal-gradient step belongs. The step size is the optimizer's current learning rate (schedules included:
    Keras increments `optimizer.iterations` only after the constraints ran). With gradient accumulation the step
    runs only on the iterations where the optimizer really updates the weights.

    Made by `kreg.callbacks.TrainingBinding` for the length of `fit`; not meant to be built by hand. Its config is
    the wrapped constraint's, so a model saved during `fit` loads with the user's constraint.

    Args:
        regularizer: a kreg regularizer with `proximal = True`.
        optimizer: the optimizer whose learning rate is the step size.
        step_source: the model's `kreg.step_source.StepSource` (for scheduled strengths), or `None`.
        wrapped: the constraint the variable had before (applied after the proximal step), or `None`.
    """

    is_binding_wrapper = True

    def __init__(self, regularizer, optimizer, step_source=None, wrapped=None):
        self.regularizer = regularizer
        self.optimizer = inner_optimizer(optimizer)
        self.step_source = step_source
        self.wrapped = wrapped

    def __call__(self, w):
        value = ops.convert_to_tensor(w)
        scheduled = self.step_source is not None and getattr(self.regularizer, "scheduled", False)
        step = self.step_source.value() if scheduled else None
        stepped = self.regularizer.proximal_step(value, self.optimizer.learning_rate, step)
        accumulation = getattr(self.optimizer, "gradient_accumulation_steps", None)
        if accumulation:
            # `optimizer.iterations` counts real updates (raw count // accumulation); the raw counter, incremented
            # after the constraints ran, tells whether this apply() updated the weights.
            is_update = ops.equal((raw_iterations(self.optimizer) + 1) % accumulation, 0)
            stepped = ops.where(is_update, stepped, value)
        return stepped if self.wrapped is None else self.wrapped(stepped)

    def get_config(self):
        return {"constraint": None if self.wrapped is None else keras.saving.serialize_keras_object(self.wrapped)}

    @classmethod
    def from_config(cls, config):
        constraint = config.get("constraint")
        return None if constraint is None else keras.saving.deserialize_keras_object(constraint)


__all__ = ["ProximalConstraint"]
