"""Public test helpers for layers built on kreg (and for kreg's own tests), on public Keras APIs only."""

from kreg.testing.layer_test import check_random_layer, run_layer_test

__all__ = ["check_random_layer", "run_layer_test"]
