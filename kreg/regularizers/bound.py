"""`BoundRegularizer`: what the training binding puts on a variable (or a layer's activity) for the length of `fit`.

Keras calls `variable.regularizer(value)` with the weight only; a kreg regularizer's penalty is a pure function of
the weight and the training step (`penalty(x, step)`). The wrapper supplies the step from the model's
`kreg.step_source.StepSource`. It is never saved: its config is the wrapped regularizer's, so a model saved during
`fit` (`keras.callbacks.ModelCheckpoint`) loads with the user's regularizer.
"""

import keras


@keras.saving.register_keras_serializable(package="kreg")
class BoundRegularizer(keras.regularizers.Regularizer):
    """A kreg regularizer evaluated at the model's current training step.

    Made by `kreg.callbacks.TrainingBinding`; not meant to be built by hand.

    Args:
        wrapped: a kreg regularizer.
        step_source: the model's `kreg.step_source.StepSource`.
    """

    is_binding_wrapper = True

    def __init__(self, wrapped, step_source):
        self.wrapped = wrapped
        self.step_source = step_source

    def __call__(self, x):
        return self.wrapped.penalty(x, self.step_source.value() if self.wrapped.scheduled else None)

    def get_config(self):
        return {"regularizer": keras.saving.serialize_keras_object(self.wrapped)}

    @classmethod
    def from_config(cls, config):
        return keras.saving.deserialize_keras_object(config["regularizer"])

    def __repr__(self):
        return repr(self.wrapped)


__all__ = ["BoundRegularizer"]
