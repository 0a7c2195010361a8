"""kreg layers: one layer family per module, thin over `kreg.ops`."""

from kreg.layers.spectral_normalization import SpectralNormalization

__all__ = ["SpectralNormalization"]
