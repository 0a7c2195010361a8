"""kreg: regularization for Keras 3, on every backend."""

from kreg import callbacks, constraints, layers, ops, regularizers, schedules, tensorboard, validation
from kreg.attach import attach, detach

__version__ = "0.1.0"


def __getattr__(name):
    """`kreg.tuning` is imported on first use: kreg imports without keras-tuner (the `tuning` extra)."""
    if name == "tuning":
        import importlib

        return importlib.import_module("kreg.tuning")
    raise AttributeError(f"module 'kreg' has no attribute {name!r}")


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
    "tuning",
    "validation",
    "__version__",
]
