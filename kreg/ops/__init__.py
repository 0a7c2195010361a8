"""Pure `keras.ops` functions used by kreg's regularizers, constraints, layers and callbacks."""

from kreg.ops.conv_spectrum import conv_singular_values, conv_spectral_norm, conv_transfer_matrices
from kreg.ops.group_threshold import group_norms, group_soft_threshold
from kreg.ops.power_iteration import as_matrix, l2_normalize, power_iteration, start_vector
from kreg.ops.proximal import soft_threshold
from kreg.ops.weight_stats import WeightStatistics, weight_statistics

__all__ = [
    "as_matrix",
    "conv_singular_values",
    "conv_spectral_norm",
    "conv_transfer_matrices",
    "group_norms",
    "group_soft_threshold",
    "l2_normalize",
    "power_iteration",
    "soft_threshold",
    "start_vector",
    "WeightStatistics",
    "weight_statistics",
]
