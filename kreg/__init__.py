"""kreg: regularization for Keras 3, on every backend."""

from kreg import callbacks, ops, regularizers, validation

__version__ = "0.1.0"

__all__ = ["callbacks", "ops", "regularizers", "validation", "__version__"]
