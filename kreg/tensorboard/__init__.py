"""TensorBoard output written with the `tensorboard` package's own writer and protos: no TensorFlow needed."""

from kreg.tensorboard.event_reader import read_scalars, read_tensors
from kreg.tensorboard.event_writer import EventWriter, check_writable
from kreg.tensorboard.hparams import (
    PRUNED_METRIC,
    domains_from_hyperparameters,
    read_experiment,
    read_session,
    write_experiment,
    write_session,
)
from kreg.tensorboard.layouts import report_layout

__all__ = [
    "EventWriter",
    "PRUNED_METRIC",
    "check_writable",
    "domains_from_hyperparameters",
    "read_experiment",
    "read_scalars",
    "read_session",
    "read_tensors",
    "report_layout",
    "write_experiment",
    "write_session",
]
