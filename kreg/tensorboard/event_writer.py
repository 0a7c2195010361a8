"""TensorBoard event files written with the `tensorboard` package's own writer and summary protos (no TensorFlow).

`EventWriter` is a thin layer over `tensorboard.summary.writer.event_file_writer.EventFileWriter`: it builds the
same `Summary` protos as `tf.summary` (TF2 style: scalars are rank-0 float32 tensors tagged with the `scalars`
plugin), so TensorBoard's dashboards and `EventAccumulator.Tensors` read them like Keras's own logs. It works on
every Keras backend, with or without TensorFlow installed (the `tensorboard` package falls back to its stub file
API; with TensorFlow present, remote `gs://` log directories work too).
"""

import os
import time

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata
from tensorboard.util import tensor_util


def check_writable(log_dir):
    """Creates `log_dir` if needed and checks a file can be written there, so a bad path fails before training.

    Args:
        log_dir: a local directory (remote URLs such as `gs://...` are not probed and are returned as they are).

    Returns:
        `log_dir` as a `str`.

    Raises:
        ValueError: when the directory cannot be created or written, naming the path and the reason.
    """
    log_dir = os.fspath(log_dir)
    if "://" in log_dir:
        return log_dir
    probe = os.path.join(log_dir, f".kreg_write_probe_{os.getpid()}")
    try:
        os.makedirs(log_dir, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"")
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"Invalid value received for argument `log_dir`. Expected a writable directory. Received: "
            f"log_dir={log_dir!r} ({type(error).__name__}: {error})"
        ) from None
    return log_dir


_SCALAR_METADATA = scalar_metadata.create_summary_metadata(display_name=None, description=None)
_SCALAR_SHAPE = tensor_shape_pb2.TensorShapeProto()


def scalar_summary_value(tag, value, metadata=True):
    """A TF2-style scalar `Summary.Value`: a rank-0 float32 tensor, with `scalars` plugin metadata if `metadata`.

    The tensor is the one `tensor_util.make_tensor_proto(np.float32(value))` builds, made directly (this runs for
    every scalar at every logging step). TensorBoard reads a tag's metadata from its first event, so, like
    `tf.summary`, `EventWriter` attaches it to the first value of each tag only.
    """
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=_SCALAR_SHAPE, float_val=[float(value)])
    if not metadata:
        return summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    return summary_pb2.Summary.Value(tag=tag, metadata=_SCALAR_METADATA, tensor=tensor)


def histogram_buckets(values, buckets=30):
    """The `(buckets, 3)` array `[left_edge, right_edge, count]` TensorBoard's histogram plugin reads."""
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        return np.zeros((buckets, 3))
    low, high = float(data.min()), float(data.max())
    if low == high:
        edges = np.full(buckets + 1, low)
        counts = np.zeros(buckets)
        counts[-1] = data.size
    else:
        counts, edges = np.histogram(data, bins=buckets, range=(low, high))
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


class EventWriter:
    """Writes scalars, histograms, text and plugin data to one TensorBoard run directory.

    Args:
        log_dir: the run directory (created if needed).
        flush_secs: how often the background thread flushes by itself; `flush()` flushes at once.

    Example:

    >>> writer = EventWriter("logs/regularization")
    >>> writer.scalars({"sparsity/global": 0.5}, step=3)
    >>> writer.flush()

    Reference: TensorBoard's event file format, `tensorboard/compat/proto/event.proto`.
    """

    def __init__(self, log_dir, flush_secs=120):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.log_dir = os.fspath(log_dir)
        self._writer = EventFileWriter(self.log_dir, max_queue_size=1000, flush_secs=flush_secs)
        self.closed = False
        self._described = set()

    def add_summary(self, values, step):
        """Writes one event holding the `Summary.Value` protos `values` at `step`."""
        event = event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary_pb2.Summary(value=values))
        self._writer.add_event(event)

    def scalars(self, values, step):
        """Writes a dict `tag -> number` as TF2 scalars, in one event."""
        if values:
            protos = [scalar_summary_value(tag, value, tag not in self._described) for tag, value in values.items()]
            self._described.update(values)
            self.add_summary(protos, step)

    def histogram(self, tag, values, step, buckets=30):
        """Writes a histogram of `values` (any shape) under `tag`."""
        value = summary_pb2.Summary.Value(
            tag=tag,
            metadata=histogram_metadata.create_summary_metadata(display_name=None, description=None),
            tensor=tensor_util.make_tensor_proto(histogram_buckets(values, buckets), dtype=np.float64),
        )
        self.add_summary([value], step)

    def text(self, tag, text, step):
        """Writes a Markdown `text` under `tag` (TensorBoard's Text tab)."""
        value = summary_pb2.Summary.Value(
            tag=tag,
            metadata=text_metadata.create_summary_metadata(display_name=None, description=None),
            tensor=tensor_util.make_tensor_proto(np.asarray(text, dtype=np.object_)),
        )
        self.add_summary([value], step)

    def plugin_data(self, tag, plugin_name, payload, step=0):
        """Writes `payload` (bytes) as a string tensor owned by the TensorBoard plugin `plugin_name`."""
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name)
        )
        value = summary_pb2.Summary.Value(
            tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(payload, dtype=np.object_)
        )
        self.add_summary([value], step)

    def flush(self):
        """Blocks until every event written so far is on disk."""
        if not self.closed:
            self._writer.flush()

    def close(self):
        """Flushes and closes the event file (idempotent)."""
        if not self.closed:
            self.closed = True
            self._writer.close()
