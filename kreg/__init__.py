"""kreg: regularization for Keras 3, on every backend."""

from kreg import callbacks, constraints, layers, ops, regularizers, schedules, tensorboard, validation
from kreg.attach import attach, detach

__version__ = "0.1.0"

__all__ = [
    "attach",
    "detach",
    "schedules",
    "callbacks",
    "constraints",
    "layers",
    "ops",
    "regularizers",
    "tensorboard",
    "validation",
    "__version__",
]
