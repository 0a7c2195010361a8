"""kreg layers: one layer family per module, thin over `kreg.ops`.

Random layers (noise, dropout variants) return their input itself at inference; their rates may be numbers or
schedules of the training step, which each layer counts itself (`kreg.layers.scheduled_layer.ScheduledLayer`).
"""

from kreg.layers.concrete_dropout import ConcreteDropout
from kreg.layers.drop_block import DropBlock1D, DropBlock2D
from kreg.layers.drop_path import DropPath, drop_path_rates
from kreg.layers.masking import FeatureMask, FrequencyMask, SwapNoise, TimeMask
from kreg.layers.mixing import CutMix, LabelSmoothing, MixingPyDataset, MixUp, MixUpCutMix
from kreg.layers.noise import GaussianNoise, MultiplicativeNoise, UniformNoise
from kreg.layers.scheduled_layer import ScheduledLayer
from kreg.layers.spectral_normalization import SpectralNormalization
from kreg.layers.weight_noise import DropConnect, WeightNoise

__all__ = [
    "FeatureMask",
    "FrequencyMask",
    "SwapNoise",
    "TimeMask",
    "ConcreteDropout",
    "CutMix",
    "DropBlock1D",
    "DropBlock2D",
    "DropConnect",
    "DropPath",
    "GaussianNoise",
    "LabelSmoothing",
    "MixingPyDataset",
    "MixUp",
    "MixUpCutMix",
    "MultiplicativeNoise",
    "ScheduledLayer",
    "SpectralNormalization",
    "UniformNoise",
    "WeightNoise",
    "drop_path_rates",
]
