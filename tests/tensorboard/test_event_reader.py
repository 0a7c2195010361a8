"""read_tensors / read_scalars: what TensorBoard's EventAccumulator sees."""

from kreg.tensorboard.event_reader import read_scalars, read_tensors
from kreg.tensorboard.event_writer import EventWriter


def test_read_scalars_keeps_only_scalars(tmp_path):
    writer = EventWriter(tmp_path)
    writer.scalars({"s": 0.25}, step=0)
    writer.scalars({"s": 0.5}, step=1)
    writer.text("t", "hello", step=0)
    writer.histogram("h", [1.0, 2.0], step=0)
    writer.close()
    assert read_scalars(tmp_path) == {"s": [(0, 0.25), (1, 0.5)]}
    assert set(read_tensors(tmp_path)) == {"s", "t", "h"}


def test_reading_an_empty_directory(tmp_path):
    assert read_tensors(tmp_path) == {}
