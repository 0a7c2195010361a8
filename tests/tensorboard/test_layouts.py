"""The custom-scalars layout: which tags each chart plots (TensorBoard matches with `re.match`), and no empty chart."""

import re

import pytest
from tensorboard.plugins.custom_scalar import layout_pb2

from kreg.tensorboard.layouts import (
    LAYOUT_PLUGIN,
    LAYOUT_TAG,
    _literal_prefix,
    _plots_a_tag,
    exact,
    near_zero_label,
    report_layout,
)

WEIGHTS = ["01_dense/kernel", "01_dense/bias", "zeta/kernel", "zeta/bias", "01_dense_1/kernel"]
TAGS = [
    *[f"{stat}/{w}" for w in WEIGHTS for stat in ("sparsity", "near_zero")],
    *[f"norms/{w}/{stat}" for w in WEIGHTS for stat in ("l1", "l2", "max_abs")],
    *[f"norms/{w}/{stat}" for w in WEIGHTS if w.endswith("kernel") for stat in ("spectral", "stable_rank")],
    *[f"group_sparsity/{w}" for w in WEIGHTS if w.endswith("kernel")],
    "sparsity/global",
    "near_zero/global",
    "penalty/01_dense/kernel",
    "penalty/zeta/kernel",
    "penalty/total",
    "penalty/share",
    "metrics/loss/train",
    "metrics/loss/validation",
    "metrics/accuracy/train",
    "metrics/accuracy/validation",
    "metrics/data_loss/train",
    "metrics/data_loss/validation",
    "metrics/penalty/train",
    "metrics/penalty/validation",
    "generalization/loss_gap",
    "generalization/accuracy_gap",
    "generalization/loss_ratio",
    "generalization/gl",
    "schedules/learning_rate",
    "schedules/regularizers/zeta/kernel/l2",
    "schedules/layers/02_dropout/rate",
]


def charts(layout, tags=TAGS):
    return {
        (category.title, chart.title): [t for t in tags if any(re.match(p, t) for p in chart.multiline.tag)]
        for category in layout.category
        for chart in category.chart
    }


def test_report_layout_groups_the_tags():
    layout = report_layout(TAGS)
    assert isinstance(layout, layout_pb2.Layout)
    got = charts(layout)
    assert [c.title for c in layout.category] == [
        "Validation",
        "Generalization gap",
        "Training",
        "Sparsity",
        "Penalties",
        "Norms",
        "Schedules",
        "Layer 01_dense",  # model order (the order of the tags), not sorted
        "Layer zeta",
        "Layer 01_dense_1",
    ]
    # One chart per metric and data split, so that runs compare at a glance; the penalty-free loss first.
    assert [c.title for c in layout.category[0].chart] == [
        "validation data loss (the loss without penalties)",
        "validation loss with penalties (Keras's loss)",
        "validation accuracy",
    ]
    assert [c.title for c in layout.category[2].chart] == [
        "training data loss (the loss without penalties)",
        "training loss with penalties (Keras's loss)",
        "training accuracy",
    ]
    assert got[("Validation", "validation data loss (the loss without penalties)")] == ["metrics/data_loss/validation"]
    assert got[("Training", "training accuracy")] == ["metrics/accuracy/train"]
    gaps = "Generalization gap"
    assert got[(gaps, "data loss gap: validation - training (> 0: overfitting)")] == ["generalization/loss_gap"]
    assert got[(gaps, "accuracy gap (> 0: overfitting)")] == ["generalization/accuracy_gap"]
    assert got[(gaps, "data loss ratio: validation / training")] == ["generalization/loss_ratio"]
    assert got[(gaps, "generalization loss GL, % (Prechelt)")] == ["generalization/gl"]
    # "exact zeros" charts hold exact zeros only; kernels and biases apart.
    assert got[("Sparsity", "exact zeros, all weights (fraction)")] == ["sparsity/global"]
    assert got[("Sparsity", "exact zeros: kernel (fraction)")] == [
        "sparsity/01_dense/kernel",
        "sparsity/zeta/kernel",
        "sparsity/01_dense_1/kernel",
    ]
    assert got[("Sparsity", "exact zeros: bias (fraction)")] == ["sparsity/01_dense/bias", "sparsity/zeta/bias"]
    assert got[("Sparsity", "near zero (|w| ≤ 0.001·max|w|), all weights (fraction)")] == ["near_zero/global"]
    assert got[("Penalties", "penalty per weight")] == ["penalty/01_dense/kernel", "penalty/zeta/kernel"]
    assert got[("Penalties", "penalty in the loss, train vs validation")] == [
        "metrics/penalty/train",
        "metrics/penalty/validation",
    ]
    assert got[("Norms", "l2 norm: kernel")] == [
        "norms/01_dense/kernel/l2",
        "norms/zeta/kernel/l2",
        "norms/01_dense_1/kernel/l2",
    ]
    assert got[("Norms", "l2 norm: bias")] == ["norms/01_dense/bias/l2", "norms/zeta/bias/l2"]
    assert ("Norms", "spectral norm: bias") not in got  # biases have no spectrum: no empty chart
    assert got[("Schedules", "learning rate")] == ["schedules/learning_rate"]
    assert got[("Schedules", "regularizer strengths")] == ["schedules/regularizers/zeta/kernel/l2"]
    assert got[("Schedules", "layer rates")] == ["schedules/layers/02_dropout/rate"]
    # One collapsed category per layer; `01_dense` does not swallow `01_dense_1`.
    assert got[("Layer 01_dense", "01_dense: penalty")] == ["penalty/01_dense/kernel"]
    assert got[("Layer 01_dense", "01_dense: exact zeros")] == ["sparsity/01_dense/kernel", "sparsity/01_dense/bias"]
    assert got[("Layer 01_dense", "01_dense/kernel: norms")] == [
        "norms/01_dense/kernel/l2",
        "norms/01_dense/kernel/spectral",
    ]
    assert got[("Layer 01_dense_1", "01_dense_1: exact zeros")] == ["sparsity/01_dense_1/kernel"]
    assert ("Layer 01_dense_1", "01_dense_1: penalty") not in got  # no penalty on that layer
    closed = {c.title: c.closed for c in layout.category}
    assert closed["Layer zeta"] and not closed["Sparsity"] and not closed["Schedules"]


def test_no_chart_is_empty():
    for tags in (TAGS, [t for t in TAGS if not t.startswith(("penalty/0", "penalty/z", "schedules/r"))], []):
        for key, plotted in charts(report_layout(tags), tags).items():
            assert plotted, key
    without = charts(report_layout([t for t in TAGS if not t.startswith(("penalty/0", "penalty/z"))]))
    assert ("Penalties", "penalty per weight") not in without
    assert not any(title.endswith(": penalty") for _, title in without)
    assert report_layout([]).category == []


def test_runs_of_one_architecture_get_equal_charts_that_tensorboard_merges():
    # A run with penalties and one without: every chart they share is equal (TensorBoard merges equal charts).
    other = report_layout([t for t in TAGS if not t.startswith(("penalty/0", "penalty/z"))])
    mine = {(c.title, ch.SerializeToString()) for c in report_layout(TAGS).category for ch in c.chart}
    theirs = {(c.title, ch.SerializeToString()) for c in other.category for ch in c.chart}
    assert theirs <= mine


def test_weights_of_the_model_itself_and_regex_characters():
    tags = ["sparsity/global", "sparsity/scale", "sparsity/a.b/kernel", "sparsity/axb/kernel"]
    got = charts(report_layout(tags), tags)
    assert got[("Layer model", "model: exact zeros")] == ["sparsity/scale"]
    assert got[("Layer a.b", "a.b: exact zeros")] == ["sparsity/a.b/kernel"]


@pytest.mark.parametrize(
    "near_zero, scale, label",
    [(1e-3, "max_abs", "|w| ≤ 0.001·max|w|"), (0.01, "rms", "|w| ≤ 0.01·rms(w)"), (1e-6, "absolute", "|w| ≤ 1e-06")],
)
def test_the_near_zero_threshold_is_stated(near_zero, scale, label):
    assert near_zero_label(near_zero, scale) == label
    layout = report_layout(["near_zero/global", "near_zero/00_dense/kernel", "sparsity/00_dense/kernel"], label)
    titles = [chart.title for category in layout.category for chart in category.chart]
    assert f"near zero ({label}), all weights (fraction)" in titles
    assert f"00_dense: near zero ({label})" in titles


def test_layout_round_trips_through_bytes_and_uses_the_plugin_tag():
    layout = report_layout(TAGS)
    assert layout_pb2.Layout.FromString(layout.SerializeToString()) == layout
    assert (LAYOUT_TAG, LAYOUT_PLUGIN) == ("custom_scalars__config__", "custom_scalars")


def test_exact_escapes_regex_characters():
    assert re.match(exact("a.b/c"), "a.b/c")
    assert not re.match(exact("a.b/c"), "axb/c")
    assert not re.match(exact("a"), "ab")


@pytest.mark.parametrize(
    "pattern, prefix",
    [
        ("^norms/(.+/)?kernel/l2$", "norms/"),
        ("^sparsity/01_dense/[^/]+$", "sparsity/01_dense/"),
        (exact("a.b/c"), "a.b/c"),
        ("^ab?c", "a"),  # the quantified `b` may be absent
        ("^ab*c", "a"),
        ("^ab{0,2}c", "a"),
        ("^ab+c", "ab"),
        ("no anchor", ""),
    ],
)
def test_each_pattern_is_tried_on_the_tags_starting_with_its_literal_prefix(pattern, prefix):
    assert _literal_prefix(pattern) == prefix
    assert _plots_a_tag("^ab?c", sorted(["ac", "zz"])) and not _plots_a_tag("^ab?c", ["abd", "b"])
