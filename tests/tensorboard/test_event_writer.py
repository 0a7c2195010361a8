"""EventWriter: summaries TensorBoard reads back, and the writable-directory check."""

import os

import numpy as np
import pytest
from tensorboard.util import tensor_util

from kreg.tensorboard.event_reader import read_tensors
from kreg.tensorboard.event_writer import EventWriter, check_writable, histogram_buckets, scalar_summary_value


def test_scalars_histogram_text_and_plugin_data_round_trip(tmp_path):
    writer = EventWriter(tmp_path / "run")
    writer.scalars({"a/x": 1.5, "a/y": -2.0}, step=3)
    writer.scalars({"a/x": 2.5}, step=4)
    writer.histogram("h", [0.0, 1.0, 1.0, 3.0], step=1, buckets=3)
    writer.text("t", "| a |\n|---|\n| 1 |", step=2)
    writer.plugin_data("cfg", "custom_scalars", b"payload")
    writer.flush()  # readable before close
    tensors = read_tensors(tmp_path / "run")
    assert [(s, float(v)) for s, v in tensors["a/x"]] == [(3, 1.5), (4, 2.5)]
    assert [(s, float(v)) for s, v in tensors["a/y"]] == [(3, -2.0)]
    step, hist = tensors["h"][0]
    np.testing.assert_allclose(hist, [[0, 1, 1], [1, 2, 2], [2, 3, 1]])
    assert tensors["t"][0][1] == b"| a |\n|---|\n| 1 |"
    assert tensors["cfg"][0][1] == b"payload"
    writer.close()
    writer.close()  # idempotent
    writer.flush()  # no-op once closed


def test_empty_scalars_write_nothing(tmp_path):
    writer = EventWriter(tmp_path)
    writer.scalars({}, step=0)
    writer.close()
    assert read_tensors(tmp_path) == {}


def test_histogram_buckets_match_numpy():
    data = np.random.default_rng(0).normal(size=1000)
    buckets = histogram_buckets(data, 30)
    counts, edges = np.histogram(data, bins=30)
    np.testing.assert_allclose(buckets[:, 0], edges[:-1])
    np.testing.assert_allclose(buckets[:, 1], edges[1:])
    np.testing.assert_array_equal(buckets[:, 2], counts)
    constant = histogram_buckets(np.full(7, 2.0), 4)
    np.testing.assert_array_equal(constant, [[2, 2, 0], [2, 2, 0], [2, 2, 0], [2, 2, 7]])
    assert histogram_buckets([], 5).shape == (5, 3)


def test_check_writable_creates_the_directory(tmp_path):
    target = tmp_path / "a" / "b"
    assert check_writable(target) == str(target)
    assert os.path.isdir(target) and os.listdir(target) == []
    assert check_writable("gs://bucket/logs") == "gs://bucket/logs"


def test_check_writable_rejects_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(
        ValueError,
        match=r"Invalid value received for argument `log_dir`\. Expected a writable directory\. Received: log_dir='.*file\.txt/logs' \(",
    ):
        check_writable(blocker / "logs")


def test_scalar_value_is_the_tf2_scalar_proto():
    value = scalar_summary_value("a", 0.1)
    assert value.tensor == tensor_util.make_tensor_proto(np.float32(0.1))
    assert value.metadata.plugin_data.plugin_name == "scalars"
    assert not scalar_summary_value("a", 0.1, metadata=False).HasField("metadata")


def test_scalar_metadata_is_written_once_per_tag_and_tensorboard_still_sees_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = EventWriter(tmp_path)
    writer.scalars({"a": 1.0}, step=0)
    writer.scalars({"a": 2.0, "b": 3.0}, step=1)
    writer.close()
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert accumulator.PluginTagToContent("scalars").keys() == {"a", "b"}
    assert [e.step for e in accumulator.Tensors("a")] == [0, 1]
