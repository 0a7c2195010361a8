"""L2-SP: an L2 penalty towards the starting point (the pretrained weights) instead of towards zero.

Reference: Li, Grandvalet & Davoine 2018, "Explicit inductive bias for transfer learning with convolutional
networks" (L2-SP).
"""

import base64
import warnings

import keras
import numpy as np
from keras import ops

from kreg import schedules
from kreg.keras_compat import in_symbolic_scope
from kreg.regularizers.base import Regularizer, as_penalty_input


def encode_reference(array):
    """Encodes an array as plain JSON values: `{"dtype", "shape", "base64"}` (exact, 4 bytes per float32)."""
    array = np.ascontiguousarray(array)
    return {
        "dtype": str(array.dtype),
        "shape": [int(d) for d in array.shape],
        "base64": base64.b64encode(array.tobytes()).decode("ascii"),
    }


def decode_reference(config):
    """The inverse of `encode_reference`."""
    data = base64.b64decode(config["base64"])
    return np.frombuffer(data, dtype=np.dtype(config["dtype"])).reshape(config["shape"]).copy()


def _as_reference(value):
    if value is None:
        return None
    if isinstance(value, dict) and {"dtype", "shape", "base64"} <= set(value):
        return decode_reference(value)
    try:
        array = np.asarray(keras.ops.convert_to_numpy(value) if not isinstance(value, (list, tuple)) else value)
    except (TypeError, ValueError) as error:
        raise ValueError(
            "Invalid value received for argument `reference`. Expected None, an array or a dict from "
            f"`L2SP.get_config()`. Received: reference={value!r}"
        ) from error
    if array.dtype.kind not in "fiu" or not np.all(np.isfinite(array)):
        raise ValueError(
            "Invalid value received for argument `reference`. Expected None or an array of finite numbers. "
            f"Received: reference={value!r}"
        )
    return array.astype(np.float64 if array.dtype == np.float64 else np.float32)


@keras.saving.register_keras_serializable(package="kreg")
class L2SP(Regularizer):
    """L2-SP penalty `factor * sum((w - w0) ** 2)`: keeps fine-tuned weights close to their starting point `w0`.

    `w0` is `reference`, or, with `reference=None`, the weight's value when the regularizer is attached: by
    `kreg.attach` (the usual way to put L2-SP on a pretrained model), by `capture(variable)`, or, for a regularizer
    passed to a layer's constructor, at the start of the first `fit` with kreg's training binding
    (`kreg.callbacks.TrainingBinding()` or any kreg callback; so load the pretrained weights before training). The
    reference is part of `get_config` (base64-encoded, exact), so it survives `.keras` save and load. An L2SP without a reference warns once and penalizes towards zero (plain L2).

    Args:
        factor: non-negative strength, or a schedule of the training step (`kreg.schedules`).
        reference: the starting point `w0` (an array of the weight's shape), or `None` to capture it on attach.

    Example:

    >>> backbone = keras.applications.MobileNetV2(weights=None)  # load pretrained weights here
    >>> kreg.attach(backbone, kreg.regularizers.L2SP(1e-3))

    Reference: Li, Grandvalet & Davoine 2018, "Explicit inductive bias for transfer learning with convolutional
    networks".
    """

    def __init__(self, factor=0.01, reference=None):
        super().__init__()
        self.factor = schedules.check_strength("factor", factor)
        self._set_reference(_as_reference(reference))
        self._warned_no_reference = False

    def _set_reference(self, array):
        self.reference = array
        # Converted once, eagerly, so that a compiled step captures it as a constant.
        self._reference_tensor = None if array is None else ops.convert_to_tensor(array)

    @property
    def needs_reference(self):
        """Whether no reference is set yet (`capture` will set it)."""
        return self.reference is None

    def capture(self, variable):
        """Sets the reference to the current value of `variable` (a copy). Returns `self`."""
        self._set_reference(_as_reference(ops.convert_to_numpy(variable)))
        return self

    def penalty(self, x, step):
        x = as_penalty_input(x)
        factor = schedules.strength_value(self.factor, step, x.dtype)
        if self._reference_tensor is None:
            self._warn_no_reference()
            return factor * ops.sum(ops.square(x))
        if tuple(self.reference.shape) != tuple(ops.shape(x)):
            raise ValueError(
                f"L2SP reference has shape {tuple(self.reference.shape)} but the weight has shape "
                f"{tuple(ops.shape(x))}; each weight needs its own L2SP (kreg.attach makes one per weight)."
            )
        return factor * ops.sum(ops.square(x - ops.cast(self._reference_tensor, x.dtype)))

    def _warn_no_reference(self):
        if self._warned_no_reference or in_symbolic_scope():
            return
        self._warned_no_reference = True
        warnings.warn(
            "L2SP has no reference weights, so it penalizes the distance to zero (plain L2). Attach it with "
            "`kreg.attach(model, ...)`, call `regularizer.capture(variable)`, or pass "
            "`callbacks=[kreg.callbacks.TrainingBinding()]` (or any kreg callback) to `fit` to capture the weights "
            "at the start of training.",
            UserWarning,
            stacklevel=4,
        )

    def get_config(self):
        reference = None if self.reference is None else encode_reference(self.reference)
        return {"factor": schedules.strength_config(self.factor), "reference": reference}

    def __repr__(self):
        shape = None if self.reference is None else tuple(self.reference.shape)
        return f"L2SP(factor={schedules.strength_config(self.factor)!r}, reference_shape={shape})"
