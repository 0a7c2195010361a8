"""Pure `keras.ops` functions used by kreg's regularizers, constraints, layers and callbacks."""

from kreg.ops.power_iteration import as_matrix, l2_normalize, power_iteration
from kreg.ops.proximal import soft_threshold

__all__ = ["as_matrix", "l2_normalize", "power_iteration", "soft_threshold"]
