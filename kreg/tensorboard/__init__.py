"""TensorBoard output written with the `tensorboard` package's own writer and protos: no TensorFlow needed."""

from kreg.tensorboard.event_reader import read_scalars, read_tensors
from kreg.tensorboard.event_writer import EventWriter, check_writable
from kreg.tensorboard.layouts import report_layout

__all__ = ["EventWriter", "check_writable", "read_scalars", "read_tensors", "report_layout"]
