"""kreg callbacks."""

from kreg.callbacks.proximal_step import ProximalStep

__all__ = ["ProximalStep"]
