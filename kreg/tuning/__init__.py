"""kreg.tuning: searching regularization strengths with keras-tuner.

`SearchSpace` declares the techniques and ranges, `RegularizationHyperModel` turns a sampled point into kreg objects
for the user's `build_fn(reg)`, `search` runs RandomSearch / BayesianOptimization / Hyperband with kreg's callbacks in
every trial (adaptive early stopping, the regularization report, pruning) and returns a `SearchResults` (best
strengths, results table, Pareto front of validation accuracy vs sparsity). Needs `keras-tuner` (`pip install
kreg[tuning]`); the Pareto plot needs matplotlib.
"""

from kreg.tuning.hypermodel import RegularizationHyperModel
from kreg.tuning.pareto import pareto_front
from kreg.tuning.pruning import (
    MedianPruner,
    PatientPruner,
    PercentilePruner,
    PruningCallback,
    SuccessiveHalvingPruner,
    replay,
)
from kreg.tuning.results import SearchResults
from kreg.tuning.search import TUNERS, collect_results, make_tuner, search
from kreg.tuning.space import Regularization, SearchSpace
from kreg.tuning.store import TrialRecorder, TrialStore

__all__ = [
    "MedianPruner",
    "PatientPruner",
    "PercentilePruner",
    "PruningCallback",
    "Regularization",
    "RegularizationHyperModel",
    "SearchResults",
    "SearchSpace",
    "SuccessiveHalvingPruner",
    "TUNERS",
    "TrialRecorder",
    "TrialStore",
    "collect_results",
    "make_tuner",
    "pareto_front",
    "replay",
    "search",
]
