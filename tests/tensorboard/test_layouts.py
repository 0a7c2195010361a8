"""The custom-scalars layout: which tags each chart plots (TensorBoard matches with `re.match`)."""

import re

from tensorboard.plugins.custom_scalar import layout_pb2

from kreg.tensorboard.layouts import LAYOUT_PLUGIN, LAYOUT_TAG, exact, report_layout

TAGS = [
    "metrics/loss/train",
    "metrics/loss/validation",
    "metrics/accuracy/train",
    "metrics/accuracy/validation",
    "generalization/loss_gap",
    "generalization/accuracy_gap",
    "generalization/loss_ratio",
    "generalization/gl",
    "sparsity/global",
    "sparsity/model/dense/kernel",
    "near_zero/global",
    "near_zero/model/dense/kernel",
    "group_sparsity/model/dense/kernel",
    "penalty/total",
    "penalty/share",
    "penalty/model/dense/kernel",
    "penalty/model/dense_1/kernel",
    "norms/model/dense/kernel/l2",
    "norms/model/dense/kernel/spectral",
    "norms/model/dense/kernel/stable_rank",
    "norms/model/dense/kernel/max_abs",
    "schedules/learning_rate",
]


def charts(layout):
    return {
        (category.title, chart.title): [t for t in TAGS if any(re.match(p, t) for p in chart.multiline.tag)]
        for category in layout.category
        for chart in category.chart
    }


def test_report_layout_groups_the_tags():
    layout = report_layout(["loss", "accuracy"], ["model/dense", "model/dense_1"])
    assert isinstance(layout, layout_pb2.Layout)
    got = charts(layout)
    assert got[("Training vs validation", "loss")] == ["metrics/loss/train", "metrics/loss/validation"]
    assert got[("Training vs validation", "accuracy")] == ["metrics/accuracy/train", "metrics/accuracy/validation"]
    assert got[("Generalization gap", "gaps (positive = overfitting)")] == [
        "generalization/loss_gap",
        "generalization/accuracy_gap",
    ]
    assert got[("Generalization gap", "generalization loss GL (Prechelt)")] == ["generalization/gl"]
    assert got[("Sparsity", "exact zeros per weight")] == ["sparsity/model/dense/kernel"]
    assert got[("Sparsity", "exact zeros, global")] == ["sparsity/global", "near_zero/global"]
    assert got[("Penalties", "penalty per weight")] == ["penalty/model/dense/kernel", "penalty/model/dense_1/kernel"]
    assert got[("Penalties", "total penalty")] == ["penalty/total"]
    assert got[("Norms", "spectral norm")] == ["norms/model/dense/kernel/spectral"]
    assert got[("Schedules", "learning rate and strengths")] == ["schedules/learning_rate"]
    # One collapsed category per layer; `model/dense` does not swallow `model/dense_1`.
    assert got[("Layer model/dense", "model/dense: penalty")] == ["penalty/model/dense/kernel"]
    assert got[("Layer model/dense_1", "model/dense_1: penalty")] == ["penalty/model/dense_1/kernel"]
    assert got[("Layer model/dense", "model/dense: sparsity")] == [
        "sparsity/model/dense/kernel",
        "near_zero/model/dense/kernel",
        "group_sparsity/model/dense/kernel",
    ]
    closed = {c.title: c.closed for c in layout.category}
    assert closed["Layer model/dense"] and not closed["Sparsity"]


def test_layout_round_trips_through_bytes_and_uses_the_plugin_tag():
    layout = report_layout(["loss"], [])
    assert layout_pb2.Layout.FromString(layout.SerializeToString()) == layout
    assert (LAYOUT_TAG, LAYOUT_PLUGIN) == ("custom_scalars__config__", "custom_scalars")


def test_exact_escapes_regex_characters():
    assert re.match(exact("a.b/c"), "a.b/c")
    assert not re.match(exact("a.b/c"), "axb/c")
    assert not re.match(exact("a"), "ab")
