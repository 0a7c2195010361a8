"""The custom-scalars dashboard layout of the regularization report.

TensorBoard's "Custom Scalars" tab draws one chart per `Chart` of the `Layout` proto found in any run, each chart
plotting every tag (of every run) matching one of its regular expressions (Python `re`, matched with `re.match`
from the start of the tag). The report writes its layout into its own run, so the tab shows it with no setup.

With several runs, TensorBoard merges their layouts: categories with the same title become one, and within a
category a chart equal (title and patterns) to one already there is dropped. So every chart here is defined by the
kind of tag it plots (`^norms/(.+/)?kernel/l2$`, `^sparsity/01_dense/[^/]+$`), never by a list of one run's tags:
runs of the same architecture write equal charts, which merge into one chart holding every run's curves. A chart is
put in a run's layout only when that run writes a tag it plots, so the merged dashboard has no empty chart.

Reference: TensorBoard's `tensorboard/plugins/custom_scalar/layout.proto` and `custom_scalars_plugin.layout_impl`.
"""

import bisect
import re

from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata

#: The tag TensorBoard's custom-scalars plugin reads its layout from.
LAYOUT_TAG = custom_scalar_metadata.CONFIG_SUMMARY_TAG
#: The plugin owning the layout tag.
LAYOUT_PLUGIN = custom_scalar_metadata.PLUGIN_NAME
#: The metrics charted first, with the titles saying what they hold (`data_loss` is the loss without penalties).
LOSS_TITLES = {
    "data_loss": "data loss (the loss without penalties)",
    "loss": "loss with penalties (Keras's loss)",
}
#: The norm charts, in dashboard order: tag suffix -> title.
NORM_TITLES = {"l2": "l2 norm", "spectral": "spectral norm", "stable_rank": "stable rank", "max_abs": "max |w|"}
#: The near-zero threshold as the charts and the table state it, per `near_zero_scale`.
_SCALE_LABELS = {"max_abs": "|w| ≤ {0:g}·max|w|", "rms": "|w| ≤ {0:g}·rms(w)", "absolute": "|w| ≤ {0:g}"}


def chart(title, *tag_patterns):
    """A multiline chart plotting every tag matching one of `tag_patterns` (regular expressions)."""
    return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=list(tag_patterns)))


def exact(tag):
    """A regular expression matching exactly `tag`."""
    return "^" + re.escape(tag) + "$"


def near_zero_label(near_zero=1e-3, near_zero_scale="max_abs"):
    """The near-zero threshold as text, e.g. `"|w| ≤ 0.001·max|w|"` (what the charts and the table state)."""
    return _SCALE_LABELS[near_zero_scale].format(near_zero)


def metric_title(name):
    """How the charts name metric `name`: `data_loss` and `loss` say whether the penalties are in."""
    return LOSS_TITLES.get(name, name)


def _unique(items):
    return list(dict.fromkeys(items))


def _weight_tag(prefix, layer, tail):
    """The pattern of the tags `<prefix>/<layer>/<variable>[/<stat>]` of the variables of `layer` only."""
    if layer:
        return "^" + re.escape(f"{prefix}/{layer}/") + tail
    return "^" + re.escape(f"{prefix}/") + "(?!global$|total$|share$)" + tail  # the model's own variables


def report_layout(tags, near_zero_threshold=None):
    """The report's dashboard for a run writing the scalar `tags`: one chart per kind of curve, none empty.

    Categories, in order: **Validation** (one chart per metric, so that runs compare at a glance: the data loss,
    i.e. the loss without penalties, first, then Keras's loss and the other metrics), **Generalization gap** (the
    data-loss gap, each metric's gap, the loss ratio, Prechelt's GL), **Training** (the same metrics on the
    training data), **Sparsity** (exact zeros of all weights, then per variable name: `kernel`, `bias`, ...;
    all-zero units; the same for near zeros), **Penalties**, **Norms** (one chart per norm and variable name, so
    kernels and biases are never on one chart), **Schedules** (learning rate, regularizer strengths, layer rates),
    then one collapsed category per layer owning weights, in model order (the order of the `sparsity/` tags).

    Args:
        tags: every scalar tag the run writes, weights in model order (the report's tags: `metrics/<name>/<run>`,
            `sparsity/<layer>/<variable>`, `norms/<layer>/<variable>/<stat>`, `penalty/...`, `schedules/...`).
        near_zero_threshold: the near-zero threshold as text (see `near_zero_label`), stated in the near-zero
            chart titles; default `near_zero_label()`.

    Returns:
        A `layout_pb2.Layout` holding only charts that plot at least one of `tags`.

    Example:

    >>> layout = report_layout(["metrics/data_loss/train", "sparsity/global", "sparsity/00_dense/kernel"])
    >>> [c.title for c in layout.category]
    ['Training', 'Sparsity', 'Layer 00_dense']
    """
    tags = _unique(tags)
    near = near_zero_threshold or near_zero_label()
    weights = [t[len("sparsity/") :] for t in tags if t.startswith("sparsity/") and t != "sparsity/global"]
    layers = _unique(w.rpartition("/")[0] for w in weights)
    kinds = _unique(w.rpartition("/")[2] for w in weights)
    metrics = _unique(t[len("metrics/") :].rpartition("/")[0] for t in tags if t.startswith("metrics/"))
    metrics = [m for m in LOSS_TITLES if m in metrics] + [m for m in metrics if m not in LOSS_TITLES]
    gaps = [t for t in tags if t.startswith("generalization/") and t.endswith("_gap")]

    def kind_tag(prefix, kind, suffix=""):
        return "^" + re.escape(f"{prefix}/") + "(.+/)?" + re.escape(kind + suffix) + "$"

    def pair(name):
        return "^" + re.escape(f"metrics/{name}/") + "(train|validation)$"

    categories = [
        (
            "Validation",
            [
                chart(f"validation {metric_title(m)}", exact(f"metrics/{m}/validation"))
                for m in metrics
                if m != "penalty"
            ],
        ),
        (
            "Generalization gap",
            [
                chart("data loss gap: validation - training (> 0: overfitting)", exact("generalization/loss_gap")),
                *[
                    chart(f"{tag[len('generalization/') : -len('_gap')]} gap (> 0: overfitting)", exact(tag))
                    for tag in gaps
                    if tag != "generalization/loss_gap"
                ],
                chart("data loss ratio: validation / training", exact("generalization/loss_ratio")),
                chart("generalization loss GL, % (Prechelt)", exact("generalization/gl")),
            ],
        ),
        (
            "Training",
            [chart(f"training {metric_title(m)}", exact(f"metrics/{m}/train")) for m in metrics if m != "penalty"],
        ),
        (
            "Sparsity",
            [
                chart("exact zeros, all weights (fraction)", exact("sparsity/global")),
                *[chart(f"exact zeros: {kind} (fraction)", kind_tag("sparsity", kind)) for kind in kinds],
                chart("all-zero output units of kernels (fraction)", r"^group_sparsity/"),
                chart(f"near zero ({near}), all weights (fraction)", exact("near_zero/global")),
                *[chart(f"near zero ({near}): {kind} (fraction)", kind_tag("near_zero", kind)) for kind in kinds],
            ],
        ),
        (
            "Penalties",
            [
                chart("penalty on the weights, total", exact("penalty/total")),
                chart("penalty in the loss, train vs validation", pair("penalty")),
                chart("penalty share of the training loss", exact("penalty/share")),
                chart("penalty per weight", r"^penalty/(?!total$|share$)"),
            ],
        ),
        (
            "Norms",
            [
                chart(f"{title}: {kind}", kind_tag("norms", kind, f"/{stat}"))
                for stat, title in NORM_TITLES.items()
                for kind in kinds
            ],
        ),
        (
            "Schedules",
            [
                chart("learning rate", exact("schedules/learning_rate")),
                chart("regularizer strengths", r"^schedules/regularizers/"),
                chart("layer rates", r"^schedules/layers/"),
            ],
        ),
    ]
    for layer in layers:
        name = layer or "model"
        layer_kinds = _unique(w.rpartition("/")[2] for w in weights if w.rpartition("/")[0] == layer)
        charts = [
            chart(f"{name}: exact zeros", _weight_tag("sparsity", layer, "[^/]+$")),
            chart(f"{name}: near zero ({near})", _weight_tag("near_zero", layer, "[^/]+$")),
            chart(f"{name}: all-zero output units", _weight_tag("group_sparsity", layer, "[^/]+$")),
            *[
                chart(f"{name}/{kind}: norms", _weight_tag("norms", layer, re.escape(kind) + "/(l2|spectral)$"))
                for kind in layer_kinds
            ],
            chart(f"{name}: penalty", _weight_tag("penalty", layer, "[^/]+$")),
        ]
        categories.append((f"Layer {name}", charts))
    ordered = sorted(tags)  # each pattern is tried only on the tags starting with its literal prefix
    layout = layout_pb2.Layout()
    for index, (title, charts) in enumerate(categories):
        kept = [c for c in charts if any(_plots_a_tag(p, ordered) for p in c.multiline.tag)]
        if kept:
            layout.category.append(layout_pb2.Category(title=title, chart=kept, closed=index >= 7))
    return layout


def _literal_prefix(pattern):
    """The text every match of `pattern` (a `^...` regular expression) starts with."""
    prefix, i = [], 1 if pattern.startswith("^") else len(pattern)
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            prefix.append(pattern[i + 1])
            i += 2
        elif char in ".^$*+?{}[]|()\\":
            break
        else:
            prefix.append(char)
            i += 1
    # A quantifier applies to the character before it, which is then not certain.
    if i < len(pattern) and pattern[i] in "*?{" and prefix:
        prefix.pop()
    return "".join(prefix)


def _plots_a_tag(pattern, ordered_tags):
    """Whether `pattern` matches one of `ordered_tags` (sorted)."""
    prefix = _literal_prefix(pattern)
    compiled = re.compile(pattern)
    for index in range(bisect.bisect_left(ordered_tags, prefix), len(ordered_tags)):
        tag = ordered_tags[index]
        if not tag.startswith(prefix):
            return False
        if compiled.match(tag):
            return True
    return False
