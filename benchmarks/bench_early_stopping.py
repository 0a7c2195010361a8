"""Early-stopping policies scored on replayed real learning curves: `python -m benchmarks early_stopping`.

The curves are 64 real trainings of 200 epochs on scikit-learn's bundled data (`benchmarks/record_curves.py`
regenerates `benchmarks/data/early_stopping_curves.json`). Each curve is replayed, epoch by epoch, until the policy
stops or the curve ends: kreg's policies are the pure rules the callbacks delegate to
(`kreg.callbacks.stopping_policy`, driven with `update(epoch, value, train_loss)`, no model needed), Keras's policy is
its real callback's `on_epoch_end`, attached to a tiny real Keras model, until it sets `model.stop_training`.

Scores, per policy, averaged over curves:

- quality: how good the best monitored value seen up to the stop is, relative to the curve's global best. For a
  loss (`val_loss`, minimized) it is `global best / best seen up to the stop`; for a metric to maximize it is
  `best seen / global best`. Either way 1.0 is perfect (the stop never missed the best epoch) and lower is worse.
- cost: epochs run (at most 200).

Two sections: `val_loss` on all 64 curves (the issue's targets) and `val_accuracy` (`mode="max"`) on the 48
classification curves. The rows compare `kreg.callbacks.AdaptiveEarlyStopping()` with its defaults (its
`AdaptiveStoppingPolicy`) against Keras's own `keras.callbacks.EarlyStopping(patience=p)` for p in 2, 5, 10, 20 and
Prechelt's GL, PQ and UP criteria (kreg's `EarlyStopping(criterion=...)`, i.e. `StoppingPolicy(criterion=...)`).
The adaptive rule was designed on the even-numbered curves ("dev") only; the odd-numbered curves ("held-out") were
kept for checking it, and both halves are reported. "fixed front at same epochs" is the quality the fixed-patience
policies reach at the same mean cost (linear between their points): a policy above it is beyond the front, not just
on it.

Targets (issue 5): the adaptive default is on or beyond the Pareto front of the fixed-patience policies (no fixed
patience is both at most as costly and at least as good on average, one of them strictly), and its mean quality
beats patience=5 at fewer mean epochs than patience=20.
"""

import json
import pathlib

import keras
import numpy as np

from kreg.callbacks.stopping_policy import AdaptiveStoppingPolicy, StoppingPolicy

DATA_PATH = pathlib.Path(__file__).parent / "data" / "early_stopping_curves.json"
FIXED_PATIENCES = (2, 5, 10, 20)
SIGNS = {"min": 1.0, "max": -1.0}


def load_curves(path=DATA_PATH):
    """The recorded curves: a list of dicts with `config` and `history` (metric name -> list of floats)."""
    return json.loads(pathlib.Path(path).read_text())["curves"]


def policies(monitor="val_loss", mode="min"):
    """Policy name -> zero-argument factory returning a fresh Keras callback or kreg `StoppingPolicy`."""
    sign = SIGNS[mode]
    table = {}
    for p in FIXED_PATIENCES:
        table[f"keras patience={p}"] = lambda p=p: keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=p)
    for name, kwargs in {
        "prechelt GL2": {"criterion": "gl", "alpha": 2.0},
        "prechelt GL5": {"criterion": "gl", "alpha": 5.0},
        "prechelt PQ0.5": {"criterion": "pq", "alpha": 0.5},
        "prechelt PQ2": {"criterion": "pq", "alpha": 2.0},
        "prechelt UP2": {"criterion": "up", "strips": 2},
        "prechelt UP3": {"criterion": "up", "strips": 3},
    }.items():
        table[name] = lambda kwargs=kwargs: StoppingPolicy(monitor=monitor, sign=sign, **kwargs)
    table["kreg adaptive (default)"] = lambda: AdaptiveStoppingPolicy(monitor=monitor, sign=sign)
    return table


def stand_in_model():
    """A tiny real Keras model: Keras's callback calls its real `get_weights`, `set_weights` and `stop_training`."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def replay(policy, history, model, monitor="val_loss"):
    """Feeds one recorded history epoch by epoch to a kreg `StoppingPolicy` (pure) or a Keras callback (attached to
    `model`); returns the number of epochs run."""
    keys = list(history)
    epochs = len(history[keys[0]])
    if isinstance(policy, StoppingPolicy):
        for epoch in range(epochs):
            if policy.update(epoch, history[monitor][epoch], train_loss=history["loss"][epoch]).stop:
                return epoch + 1
        return epochs
    callback = policy
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    run = epochs
    for epoch in range(epochs):
        callback.on_epoch_end(epoch, {k: history[k][epoch] for k in keys})
        if model.stop_training:
            run = epoch + 1
            break
    callback.on_train_end()
    return run


def quality(values, run, mode="min"):
    """Best value seen in the first `run` epochs relative to the global best (1.0 is perfect, for both modes)."""
    values = np.asarray(values, dtype="float64")
    seen = values[:run]
    if mode == "min":
        return float(np.nanmin(values) / np.nanmin(seen))
    return float(np.nanmax(seen) / np.nanmax(values))


def score(factories, curves, monitor="val_loss", mode="min"):
    """Per policy: arrays of quality and epochs over `curves`."""
    model = stand_in_model()
    results = {}
    for name, factory in factories.items():
        q, e = [], []
        for curve in curves:
            run = replay(factory(), curve["history"], model, monitor)
            q.append(quality(curve["history"][monitor], run, mode))
            e.append(run)
        results[name] = (np.array(q), np.array(e))
    return results


def dominates(a, b):
    """Whether (quality, epochs) point `a` is at least as good and as cheap as `b`, strictly in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def check_targets(means, adaptive="kreg adaptive (default)"):
    """The issue's two targets on mean (quality, epochs) points; returns (on_front, beats_p5_cheaper_than_p20)."""
    point = means[adaptive]
    fixed = [means[f"keras patience={p}"] for p in FIXED_PATIENCES]
    on_front = not any(dominates(f, point) for f in fixed)
    p5, p20 = means["keras patience=5"], means["keras patience=20"]
    return on_front, point[0] > p5[0] and point[1] < p20[1]


def front_quality(epochs, points):
    """Quality of the fixed-patience front at `epochs`, linear between its (epochs, quality) points; None outside."""
    xs, ys = zip(*sorted((e, q) for q, e in points))
    if not xs[0] <= epochs <= xs[-1]:
        return None
    return float(np.interp(epochs, xs, ys))


def section(curves, monitor, mode):
    """The rows of one monitored quantity: every policy on all curves and on each half, then the targets."""
    results = score(policies(monitor, mode), curves, monitor, mode)
    means = {"all": {}, "dev": {}, "held-out": {}}
    for name, (q, e) in results.items():
        means["all"][name] = (float(q.mean()), float(e.mean()))
        means["dev"][name] = (float(q[0::2].mean()), float(e[0::2].mean()))
        means["held-out"][name] = (float(q[1::2].mean()), float(e[1::2].mean()))
    fixed = [means["all"][f"keras patience={p}"] for p in FIXED_PATIENCES]
    rows = []
    for name, (q, _) in results.items():
        front = front_quality(means["all"][name][1], fixed)
        rows.append(
            {
                "monitor": monitor,
                "policy": name,
                "quality": means["all"][name][0],
                "epochs": means["all"][name][1],
                "quality dev": means["dev"][name][0],
                "epochs dev": means["dev"][name][1],
                "quality held-out": means["held-out"][name][0],
                "epochs held-out": means["held-out"][name][1],
                "fixed front at same epochs": "" if front is None else front,
                "worst quality": float(q.min()),
                "runs missing best by >1%": int((q < 0.99).sum()),
            }
        )
    for split, split_means in means.items():
        on_front, beats = check_targets(split_means)
        count = len(curves) if split == "all" else len(curves[0::2] if split == "dev" else curves[1::2])
        rows.append(
            {
                "monitor": monitor,
                "policy": f"targets, {split} ({count} curves)",
                "quality": "on Pareto front: " + ("yes" if on_front else "NO"),
                "epochs": "beats p=5 cheaper than p=20: " + ("yes" if beats else "NO"),
            }
        )
    return rows


def run(path=DATA_PATH):
    curves = load_curves(path)
    classification = [c for c in curves if "val_accuracy" in c["history"]]
    return section(curves, "val_loss", "min") + section(classification, "val_accuracy", "max")


if __name__ == "__main__":
    from benchmarks.__main__ import _print_table

    _print_table("early_stopping", run())
