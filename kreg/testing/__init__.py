"""Public test helpers for layers built on kreg (and for kreg's own tests), on public Keras APIs only."""

from kreg.testing.layer_test import run_layer_test

__all__ = ["run_layer_test"]
