"""The training step, per model, for everything in kreg that changes with it (scheduled strengths and rates).

One `StepSource` per bound model, made by the training binding (`kreg.callbacks.TrainingBinding`) and handed to the
objects that need the step (`kreg.regularizers.BoundRegularizer`, the proximal constraints, scheduled layers). Its
value is the optimizer's `iterations` (the number of weight updates done, gradient accumulation divided out):

- TensorFlow and PyTorch: the live variable, read inside the compiled step (`tf.function`, XLA, `torch.compile`).
- JAX: the compiled step is a pure function of the state passed in, so the binding threads the count taken from
  that state through `traced()` while the step is traced (`kreg.keras_compat.JaxStepThreading`).

There is no module- or class-level state: two models trained alternately in one process each have their own source.
"""

import contextlib

import keras
from keras import ops

from kreg.keras_compat import inner_optimizer


class StepSource:
    """The training step of one model's optimizer, readable inside its compiled train and test steps.

    Args:
        optimizer: the model's optimizer (a `LossScaleOptimizer` is unwrapped).
    """

    def __init__(self, optimizer):
        self.optimizer = inner_optimizer(optimizer)
        self._traced = None

    def value(self):
        """The current step as a scalar tensor (traced under JAX's compiled step, the live variable elsewhere)."""
        if self._traced is not None:
            return self._traced
        iterations = self.optimizer.iterations
        if keras.backend.backend() == "jax" and isinstance(iterations, keras.Variable):
            return ops.convert_to_tensor(iterations.value)
        return iterations

    @contextlib.contextmanager
    def traced(self, step):
        """Within the block, `value()` is `step` (a traced tensor of JAX's compiled step)."""
        previous, self._traced = self._traced, step
        try:
            yield self
        finally:
            self._traced = previous


__all__ = ["StepSource"]
