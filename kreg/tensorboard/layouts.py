"""The custom-scalars dashboard layout of the regularization report.

TensorBoard's "Custom Scalars" tab draws one chart per `Chart` of the `Layout` proto found in any run, each chart
plotting every tag (of every run) matching its regular expressions (Python `re`, matched with `re.match` from the start of the tag). The
report writes its layout into its own run, so the tab shows it with no setup.
"""

import re

from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata

#: The tag TensorBoard's custom-scalars plugin reads its layout from.
LAYOUT_TAG = custom_scalar_metadata.CONFIG_SUMMARY_TAG
#: The plugin owning the layout tag.
LAYOUT_PLUGIN = custom_scalar_metadata.PLUGIN_NAME


def chart(title, *tag_patterns):
    """A multiline chart plotting every tag matching one of `tag_patterns` (regular expressions)."""
    return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=list(tag_patterns)))


def exact(tag):
    """A regular expression matching exactly `tag`."""
    return "^" + re.escape(tag) + "$"


def report_layout(metric_names, layer_names):
    """The report's dashboard: train vs validation per metric, the gap, and sparsity/penalties/norms per layer.

    Args:
        metric_names: names of the compiled metrics, loss first (e.g. `["loss", "accuracy"]`); each gets a chart
            with its `metrics/<name>/train` and `metrics/<name>/validation` curves.
        layer_names: names of the layers owning reported weights (the first part of the weight paths); each gets a
            collapsed category grouping its sparsity, penalty and norm curves.

    Returns:
        A `layout_pb2.Layout`.
    """
    categories = [
        layout_pb2.Category(
            title="Training vs validation",
            chart=[chart(name, "^" + re.escape(f"metrics/{name}/") + "(train|validation)$") for name in metric_names],
        ),
        layout_pb2.Category(
            title="Generalization gap",
            chart=[
                chart("gaps (positive = overfitting)", r"^generalization/.*gap$"),
                chart("val_loss / loss", exact("generalization/loss_ratio")),
                chart("generalization loss GL (Prechelt)", exact("generalization/gl")),
            ],
        ),
        layout_pb2.Category(
            title="Sparsity",
            chart=[
                chart("exact zeros, global", exact("sparsity/global"), exact("near_zero/global")),
                chart("exact zeros per weight", r"^sparsity/(?!global$)"),
                chart("near zero per weight", r"^near_zero/(?!global$)"),
                chart("all-zero units per kernel", r"^group_sparsity/"),
            ],
        ),
        layout_pb2.Category(
            title="Penalties",
            chart=[
                chart("total penalty", exact("penalty/total")),
                chart("penalty share of the loss", exact("penalty/share")),
                chart("penalty per weight", r"^penalty/(?!total$|share$)"),
            ],
        ),
        layout_pb2.Category(
            title="Norms",
            chart=[
                chart("spectral norm", r"^norms/.*/spectral$"),
                chart("stable rank", r"^norms/.*/stable_rank$"),
                chart("l2 norm", r"^norms/.*/l2$"),
                chart("max |w|", r"^norms/.*/max_abs$"),
            ],
        ),
        layout_pb2.Category(title="Schedules", chart=[chart("learning rate and strengths", r"^schedules/")]),
    ]
    for layer in layer_names:
        prefix = re.escape(layer) + "/"
        categories.append(
            layout_pb2.Category(
                title=f"Layer {layer}",
                closed=True,
                chart=[
                    chart(f"{layer}: sparsity", f"^(sparsity|near_zero|group_sparsity)/{prefix}"),
                    chart(f"{layer}: penalty", f"^penalty/{prefix}"),
                    chart(f"{layer}: norms", f"^norms/{prefix}.*/(l2|spectral)$"),
                ],
            )
        )
    return layout_pb2.Layout(category=categories)
