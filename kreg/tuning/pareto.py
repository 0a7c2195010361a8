"""The Pareto front of two objectives across trials (validation accuracy up, weight sparsity up), and its plot.

A trial is on the front when no other trial is at least as good on both objectives and strictly better on one.

Reference: Deb et al. 2002, "A fast and elitist multiobjective genetic algorithm: NSGA-II" (non-domination).
"""

import math

from kreg import validation


def _key(value, maximize):
    return value if maximize else -value


def pareto_front(points, maximize=(True, True)):
    """Indices of the non-dominated points, in input order.

    Args:
        points: a sequence of `(a, b)` pairs; a pair with a `None` or NaN coordinate is never on the front.
        maximize: for each coordinate, whether higher is better.

    Returns:
        The list of indices `i` such that no `j` has `points[j]` at least as good in both coordinates and strictly
        better in one.

    Example:

    >>> pareto_front([(0.9, 0.0), (0.8, 0.5), (0.7, 0.4), (0.9, 0.0)])
    [0, 1, 3]

    Reference: Deb et al. 2002, "A fast and elitist multiobjective genetic algorithm: NSGA-II".
    """
    if len(maximize) != 2:
        raise validation.invalid("maximize", "a pair of bools", maximize)
    valid = []
    for index, point in enumerate(points):
        a, b = point
        if a is None or b is None or math.isnan(a) or math.isnan(b):
            continue
        valid.append((index, _key(float(a), maximize[0]), _key(float(b), maximize[1])))
    # Sort by the first objective (best first), then the second: a point is on the front iff its second
    # objective beats every point seen before with a strictly better first objective, or ties it on both.
    valid.sort(key=lambda item: (-item[1], -item[2]))
    front = []
    best_second = -math.inf
    group_first, group_best = None, -math.inf
    for index, first, second in valid:
        if first != group_first:
            best_second = max(best_second, group_best)
            group_first, group_best = first, second  # sorted: the first of a group has its best second
        if second > best_second and second == group_best:
            front.append(index)
    return sorted(front)


def save_pareto_png(rows, path, x="sparsity", y="val_accuracy", title=None):
    """Plots every trial (`x` against `y`) with the Pareto front highlighted and saves a PNG (matplotlib, imported
    here: it is needed only for the plot). Returns `path`."""
    import matplotlib  # noqa: PLC0415 - optional dependency, imported only to plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    points = [(row.get(y), row.get(x)) for row in rows]
    front = set(pareto_front(points))
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for status, marker in (("completed", "o"), ("pruned", "x")):
        chosen = [i for i, row in enumerate(rows) if row.get("status") == status and points[i][0] is not None]
        axes.scatter(
            [rows[i].get(x) for i in chosen],
            [rows[i].get(y) for i in chosen],
            marker=marker,
            color="tab:gray",
            label=f"{status} trials",
        )
    ordered = sorted(front, key=lambda i: rows[i].get(x))
    axes.plot(
        [rows[i].get(x) for i in ordered],
        [rows[i].get(y) for i in ordered],
        "o-",
        color="tab:red",
        label="Pareto front",
    )
    for i in ordered:
        axes.annotate(str(rows[i].get("trial_id")), (rows[i].get(x), rows[i].get(y)), fontsize=7)
    axes.set_xlabel(x.replace("_", " "))
    axes.set_ylabel(y.replace("_", " "))
    axes.set_title(title or f"Pareto front: {y} vs {x}")
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


__all__ = ["pareto_front", "save_pareto_png"]
