"""Pure `keras.ops` functions used by kreg's regularizers, constraints, layers and callbacks."""

from kreg.ops.concrete import concrete_dropout, concrete_dropout_mask, concrete_dropout_regularizer, relaxed_bernoulli
from kreg.ops.conv_spectrum import conv_singular_values, conv_spectral_norm, conv_transfer_matrices
from kreg.ops.drop import drop_block, drop_block_gamma, drop_block_mask, drop_path
from kreg.ops.group_threshold import group_norms, group_soft_threshold
from kreg.ops.masking import feature_mask, frequency_mask, swap_noise, time_mask
from kreg.ops.mixing import cut_axes, cutmix, dense_labels, label_smoothing, mix, mixup
from kreg.ops.noise import drop_connect, gaussian_noise, multiplicative_noise, uniform_noise
from kreg.ops.power_iteration import as_matrix, l2_normalize, power_iteration, start_vector
from kreg.ops.proximal import soft_threshold
from kreg.ops.weight_stats import WeightStatistics, weight_statistics

__all__ = [
    "feature_mask",
    "frequency_mask",
    "swap_noise",
    "time_mask",
    "as_matrix",
    "concrete_dropout",
    "concrete_dropout_mask",
    "concrete_dropout_regularizer",
    "conv_singular_values",
    "conv_spectral_norm",
    "conv_transfer_matrices",
    "cut_axes",
    "cutmix",
    "dense_labels",
    "drop_block",
    "drop_block_gamma",
    "drop_block_mask",
    "drop_connect",
    "drop_path",
    "gaussian_noise",
    "group_norms",
    "group_soft_threshold",
    "l2_normalize",
    "label_smoothing",
    "mix",
    "mixup",
    "multiplicative_noise",
    "power_iteration",
    "relaxed_bernoulli",
    "soft_threshold",
    "start_vector",
    "uniform_noise",
    "WeightStatistics",
    "weight_statistics",
]
