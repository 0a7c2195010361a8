"""Reads a TensorBoard run back with TensorBoard's own `EventAccumulator` (tests, notebooks, comparisons)."""

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util


def read_tensors(run_dir):
    """Every tensor summary of the run directory `run_dir`, as a dict `tag -> [(step, numpy value), ...]`.

    TF2-style scalars (what `EventWriter` and `tf.summary.scalar` write) arrive here as rank-0 arrays, text and plugin data
    as `bytes`, histograms as `(buckets, 3)` arrays, in the order they were written.

    Example:

    >>> read_tensors("runs/l2")["sparsity/global"][-1]  # (step, value)
    """
    accumulator = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, _value(event.tensor_proto)) for event in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def _value(tensor_proto):
    value = tensor_util.make_ndarray(tensor_proto)
    return value.item() if value.shape == () and value.dtype == object else value


def read_scalars(run_dir):
    """The scalar summaries of `run_dir` as a dict `tag -> [(step, float), ...]` (other summaries are left out)."""
    return {
        tag: [(step, float(value)) for step, value in events]
        for tag, events in read_tensors(run_dir).items()
        if all(isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind == "f" for _, value in events)
    }
