"""kreg callbacks."""

from kreg.callbacks.adaptive_early_stopping import AdaptiveEarlyStopping
from kreg.callbacks.early_stopping import EarlyStopping
from kreg.callbacks.proximal_step import ProximalStep
from kreg.callbacks.regularization_report import RegularizationReport
from kreg.callbacks.training_binding import TrainingBinding

__all__ = ["AdaptiveEarlyStopping", "EarlyStopping", "ProximalStep", "RegularizationReport", "TrainingBinding"]
