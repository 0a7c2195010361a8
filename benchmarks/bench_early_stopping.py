"""Early-stopping policies scored on replayed real learning curves: `python -m benchmarks early_stopping`.

Two recorded curve sets (`benchmarks/record_curves.py`):

- v1: `benchmarks/data/early_stopping_curves.json`, 64 MLP runs of 200 epochs on scikit-learn's bundled data, the
  set the adaptive rule of issue 5 was designed on (reported for reference only).
- v2 (issue 13): `benchmarks/data/curves_v2.jsonl.gz`, runs of 150-300 epochs over families
  (data set, model kind, optimizer family): digits, breast_cancer, wine, diabetes, generated classification and
  regression tables and two generated sequence tasks; MLPs, 1D/2D CNNs, GRU and SimpleRNN; Adam, plain SGD, SGD with
  momentum, RMSprop; learning-rate schedules, label noise, dropout, kreg L1/L2 on and off, batch sizes 16 to full
  batch, divergers. It is split **by family**, not by seed (`record_curves.is_design_family`): the **design**
  families (digits and breast_cancer, MLP/CNN, Adam or plain SGD) are the only curves rules were tuned on; the
  **held-out** families (every other data set, the RNNs, RMSprop and SGD with momentum) are only reported.
  The **fresh** group: curves recorded after every candidate rule here was designed and its parameters chosen
  (`record_curves --v2 --batch fresh`, configurations with no earlier curve, from all families), the clean check
  of the opt-in `rule="up_patience"`.

Each curve is replayed, epoch by epoch, until the policy stops or the curve ends. kreg's policies are the pure rules
the callbacks delegate to (`kreg.callbacks.stopping_policy`, driven with `update(epoch, value, train_loss)`, no model
needed). Keras's `EarlyStopping(patience=p)` is replayed by `keras_patience_run`, a NumPy/Python transcription of
its `on_epoch_end` (same wait counter, same "first value is the best", NaN never improves); `check_keras` replays
Keras's real callback on a sample of curves and asserts the same stop epochs, so the fast path cannot drift;
`check_kreg_rules` asserts that kreg's default `rule="up_progress"` and `rule="up_patience"` stop every curve where
the candidate rules they implement ("UP3 or progress < 1% over 25, after 10", "UP3 after 10, max 30") do.

Second round of issue 13: `python -m benchmarks.bench_early_stopping search` scores every candidate of
`search_grid()` on the design rows only and prints the one the fixed criterion picks (`design_search`).

Scores, per policy, averaged over curves:

- quality: how good the best monitored value seen up to the stop is, relative to the curve's global best. For a
  loss (minimized) it is `global best / best seen up to the stop`; for a metric to maximize `best seen / global
  best`. 1.0 is perfect (the stop never missed the best epoch), lower is worse. For a kreg policy, the value of the
  epoch whose weights it restores (`best_epoch`; with `smoothing` or `min_delta` not always the best seen).
- epochs: epochs run (at most the curve's length).
- front: the quality of the fixed-patience front (Keras patience 2, 5, 10, 20, 40; linear between their mean
  (epochs, quality) points) at the policy's own mean epochs; margin = quality - front (above 0: beyond the front).
  The target rows give a 90 % bootstrap interval of the margin (curves resampled with replacement).

Monitors: `val_loss` means the penalty-free validation loss, i.e. `val_data_loss` when the run had a penalty (what
`AdaptiveEarlyStopping` monitors by default) and `val_loss` otherwise; `val_accuracy` (maximized) on the
classification curves.

Target (issue 13): on the held-out families, at the cost of patience 10 the quality of patience 20, i.e. not
dominated by any fixed patience and above their front at its own cost, for `val_loss` and `val_accuracy`; checked
for the default (`rule="up_progress"`), issue 5's `rule="patience_growth"` and `rule="up_patience"`.
"""

import json
import math
import pathlib

import numpy as np

from benchmarks import record_curves
from kreg.callbacks.stopping_policy import AdaptiveStoppingPolicy, StoppingPolicy

V1_PATH = pathlib.Path(__file__).parent / "data" / "early_stopping_curves.json"
V2_PATH = record_curves.V2_PATH
FIXED_PATIENCES = (2, 5, 10, 20, 40)
MONITORS = (("val_loss", 1.0), ("val_accuracy", -1.0))
DEFAULT = 'kreg adaptive (default, rule="up_progress")'
PATIENCE_GROWTH = 'kreg rule="patience_growth" (issue 5)'
UP_PATIENCE = 'kreg rule="up_patience"'
TARGETS = (DEFAULT, PATIENCE_GROWTH, UP_PATIENCE)


# ---------------------------------------------------------------------------------------------------- curves


def load_curves(v1_path=V1_PATH, v2_path=V2_PATH):
    """Every recorded curve as `{"group", "family", "history"}`; group is "v1", "design", "held-out" or "fresh".

    "fresh": v2 curves recorded with `--batch fresh` (after the candidate rules were designed) of configurations
    with no curve recorded before (a new seed replica of an already seen configuration is not fresh), from every
    family; "design" and "held-out" hold the other v2 curves."""
    curves = []
    for curve in json.loads(pathlib.Path(v1_path).read_text())["curves"]:
        config = curve["config"]
        optimizer = "momentum" if config["optimizer"] == "sgd" else config["optimizer"]  # v1's SGD had momentum
        curves.append({"group": "v1", "family": f"{config['dataset']}/mlp/{optimizer}", "history": curve["history"]})
    seen = set()
    v2 = record_curves.read_v2(v2_path)
    old_ids = {curve["config"]["id"] for curve in v2 if curve.get("batch") != "fresh"}
    for curve in v2:
        key = (curve["config"]["id"], curve["config"].get("replica", 0))
        if key in seen:
            continue
        seen.add(key)
        family = curve["family"]
        group = "design" if record_curves.is_design_family(family) else "held-out"
        if curve.get("batch") == "fresh" and curve["config"]["id"] not in old_ids:
            group = "fresh"
        name = f"{family['dataset']}/{family['model']}/{family['optimizer']}"
        curves.append({"group": group, "family": name, "history": curve["history"]})
    return curves


def monitored(history, monitor):
    """The monitored series as floats (NaN for a missing or non-finite value), or None if not logged."""
    if monitor == "val_loss":
        values = history.get("val_data_loss", history["val_loss"])
    elif monitor in history:
        values = history[monitor]
    else:
        return None
    return [math.nan if v is None else float(v) for v in values]


def quality(values, run, sign):
    """Best value seen in the first `run` epochs relative to the global best (1.0 is perfect, for both signs)."""
    values = np.asarray(values, dtype="float64")
    finite, seen = np.isfinite(values), np.isfinite(values[:run])
    if not seen.any():
        return 0.0
    if sign > 0:
        return float(np.min(values[finite]) / np.min(values[:run][seen]))
    return float(np.max(values[:run][seen]) / np.max(values[finite]))


def restored_quality(values, epoch, sign):
    """Quality of the value at `epoch` (the epoch whose weights a kreg policy restores) relative to the global best."""
    values = np.asarray(values, dtype="float64")
    best = np.min(values[np.isfinite(values)]) if sign > 0 else np.max(values[np.isfinite(values)])
    value = values[epoch]
    if not np.isfinite(value):
        return 0.0
    return float(best / value) if sign > 0 else float(value / best)


# ---------------------------------------------------------------------------------------------------- policies


def keras_patience_run(values, sign, patience):
    """Epochs Keras's `EarlyStopping(patience=patience)` runs on `values` (its `on_epoch_end`, transcribed)."""
    best, wait = None, 0
    for epoch, value in enumerate(values):
        wait += 1
        if best is None or sign * (best - value) > 0:  # NaN never improves, as in Keras
            best, wait = value, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1
    return len(values)


def policy_run(policy, values, train_loss):
    """Epochs a kreg `StoppingPolicy` runs on `values`."""
    for epoch, value in enumerate(values):
        if policy.update(epoch, value, train_loss=train_loss[epoch]).stop:
            return epoch + 1
    return len(values)


def _kreg(cls, **kwargs):
    return lambda sign: cls(sign=sign, **kwargs)


def policies():
    """Name -> (factory of a fresh policy given the sign, or an int patience for Keras's rule)."""
    table = {f"keras patience={p}": p for p in FIXED_PATIENCES}
    prechelt = {
        "prechelt GL2": {"criterion": "gl", "alpha": 2.0},
        "prechelt GL5": {"criterion": "gl", "alpha": 5.0},
        "prechelt PQ0.5": {"criterion": "pq", "alpha": 0.5},
        "prechelt UP2": {"criterion": "up", "strips": 2},
        "prechelt UP3": {"criterion": "up", "strips": 3},
    }
    for name, kwargs in prechelt.items():
        table[name] = _kreg(StoppingPolicy, **kwargs)
    # The default since issue 13: "UP3 or progress < 1% over 25, after 10" below, in kreg (`check_kreg_rules`).
    table[DEFAULT] = _kreg(AdaptiveStoppingPolicy)
    table[PATIENCE_GROWTH] = _kreg(AdaptiveStoppingPolicy, rule="patience_growth")
    # UP_3 after patience 10, else max 30: "UP3 after 10, max 30" below, in kreg.
    table[UP_PATIENCE] = _kreg(AdaptiveStoppingPolicy, rule="up_patience")
    table.update(CANDIDATES)
    return table


def _oriented(value, sign):
    """Smaller is better; the log for a positive minimized value (a loss shrinking by a constant factor is progress)."""
    return math.log(value) if sign > 0 and value > 0 else sign * value


class Rule:
    """A candidate rule as a plain function of the values seen so far: `stop(values, bests, wait) -> bool`.

    `values` are the oriented values (`_oriented`) so far, `bests` the epochs of the new bests so far, `wait` the
    epochs since the last one. A NaN/inf stops at once, as the kreg policies do (`check_finite`).
    """

    def __init__(self, stop):
        self.stop = stop

    def run(self, values, sign):
        oriented, bests, best = [], [], None
        for epoch, value in enumerate(values):
            if not math.isfinite(value):
                return epoch + 1
            y = _oriented(value, sign)
            oriented.append(y)
            if best is None or y < best:
                best = y
                bests.append(epoch)
                continue
            if epoch > 0 and self.stop(oriented, bests, epoch - bests[-1]):
                return epoch + 1
        return len(values)


class RawRule(Rule):
    """A candidate rule on the raw values: `stop(values, sign, bests, wait) -> bool` (`values` as logged, `sign` +1
    to minimize, -1 to maximize); new bests, the wait and a NaN/inf as in `Rule`."""

    def run(self, values, sign):
        seen, bests, best = [], [], None
        for epoch, value in enumerate(values):
            if not math.isfinite(value):
                return epoch + 1
            seen.append(value)
            if best is None or sign * (best - value) > 0:
                best = value
                bests.append(epoch)
                continue
            if epoch > 0 and self.stop(seen, sign, bests, epoch - bests[-1]):
                return epoch + 1
        return len(values)


def _trend_improving(values, window):
    """Issue 5's trend test: the mean of the last `window` values beats the mean of the `window` before them."""
    return len(values) >= 2 * window and sum(values[-2 * window : -window]) > sum(values[-window:])


def timescale_rule(factor=3.0, k=3, patience=10, trend=True):
    """Patience from the run's own improvement time scale: `factor` x the mean gap between its last `k` new bests
    (at least `patience`). A run that improves every epoch and then stalls for 10 is likely done; one that improves
    every 8 epochs is not."""

    def stop(values, bests, wait):
        j = min(k, len(bests) - 1)
        gap = (bests[-1] - bests[-1 - j]) / j if j else bests[-1] + 1
        p = max(patience, factor * gap)
        return wait >= p and not (trend and _trend_improving(values, max(2, int(p))))

    return Rule(stop)


def up_patience_rule(patience=10, max_patience=30, strip=5, strips=3):
    """Prechelt's UP combined with patience: after `patience` epochs without a new best, stop if the value at the end
    of each of the last `strips` strips of `strip` epochs was worse than at the end of the strip before (a rising
    curve: overfitting), else wait up to `max_patience` (a flat, noisy curve may still improve)."""

    def stop(values, bests, wait):
        if wait < patience:
            return False
        n = len(values)
        rising = n > strip * strips and all(
            values[n - 1 - strip * i] > values[n - 1 - strip * (i + 1)] for i in range(strips)
        )
        return rising or wait >= max_patience

    return Rule(stop)


def slope_rule(patience=10, ratio=0.3, z=1.0):
    """A statistical test on the slope of recent values: once `wait >= max(patience, ratio (best + 1))`, go on only
    while the least-squares slope of the last P values is below 0 by more than `z` standard errors."""

    def stop(values, bests, wait):
        p = max(patience, ratio * (bests[-1] + 1))
        if wait < p:
            return False
        w = max(3, int(p))
        y = np.asarray(values[-w:])
        x = np.arange(len(y)) - (len(y) - 1) / 2
        slope = float(x @ (y - y.mean()) / (x @ x))
        residual = y - y.mean() - slope * x
        se = math.sqrt(float(residual @ residual) / max(1, len(y) - 2) / float(x @ x)) + 1e-12
        return slope / se >= -z

    return Rule(stop)


def worsening_rule(short=5, patience=10, ratio=0.3, z=2.0):
    """Two speeds: stop already after `short` epochs when the last `short` values are worse than the `short` before
    them by `z` standard errors (clearly overfitting), else as issue 5's rule."""

    def stop(values, bests, wait):
        p = max(patience, ratio * (bests[-1] + 1))
        if short <= wait < p and len(values) >= 2 * short:
            recent, previous = np.asarray(values[-short:]), np.asarray(values[-2 * short : -short])
            se = math.sqrt(recent.var(ddof=1) / short + previous.var(ddof=1) / short) + 1e-12
            if (recent.mean() - previous.mean()) / se > z:
                return True
        return wait >= p and not _trend_improving(values, max(2, int(p)))

    return Rule(stop)


def _rising(values, sign, strip=5, strips=3):
    """Prechelt's UP_s with strips ending at the last value: each of the values 0, k, ..., (s-1)k epochs ago is
    worse than the one k epochs before it (`values` raw, `sign` +1 to minimize)."""
    n = len(values)
    return n > strip * strips and all(
        sign * (values[n - 1 - strip * i] - values[n - 1 - strip * (i + 1)]) > 0 for i in range(strips)
    )


def _relative_progress(values, sign, window):
    """How much the best value improved over the last `window` values, relative to the best before them (None:
    fewer than `window + 1` values)."""
    if len(values) <= window:
        return None
    then = min(values[: len(values) - window], key=lambda v: sign * v)
    now = min(values, key=lambda v: sign * v)
    if then == 0:
        return math.inf if sign * (then - now) > 0 else 0.0
    return sign * (then - now) / abs(then)


def up_progress_rule(patience=10, window=25, min_progress=0.01, up=True):
    """UP, progress and patience (the default since issue 13): after `patience` epochs without a new best, stop if
    the curve rose over the last 3 strips of 5 epochs (`up`), or if its best improved by less than `min_progress`
    (relative) over the last `window` epochs; else wait, up to `window` epochs without a new best. A run that is
    overfitting, or that has reached its plateau, stops early; one still making real progress gets the long wait.
    `up=False`: the progress test alone."""

    def stop(values, sign, bests, wait):
        if wait < patience:
            return False
        if (up and _rising(values, sign)) or wait >= window:
            return True
        progress = _relative_progress(values, sign, window)
        return progress is not None and progress < min_progress

    return RawRule(stop)


def up_strip_means_rule(patience=10, max_patience=30, strip=5, strips=3):
    """UP on strip means instead of single values (less noisy): after `patience`, stop if the mean of each of the
    last `strips` strips was worse than the mean of the strip before, else wait up to `max_patience`."""

    def stop(values, bests, wait):
        if wait < patience:
            return False
        n = len(values)
        if wait >= max_patience:
            return True
        if n < strip * (strips + 1):
            return False
        means = [sum(values[n - strip * (i + 1) : n - strip * i]) / strip for i in range(strips + 1)]
        return all(means[i] > means[i + 1] for i in range(strips))

    return Rule(stop)


def three_way_rule(patience=10, flat=20, max_patience=40, window=20, z=2.0):
    """Direction from a slope test on the last `window` values: after `patience` epochs without a new best, stop if
    the slope is significantly rising (t > z), wait up to `max_patience` if significantly falling (t < -z), else
    (flat) up to `flat`."""

    def stop(values, bests, wait):
        if wait < patience:
            return False
        if len(values) < window:
            return wait >= flat
        y = np.asarray(values[-window:])
        x = np.arange(window) - (window - 1) / 2
        slope = float(x @ (y - y.mean()) / (x @ x))
        residual = y - y.mean() - slope * x
        t = slope / (math.sqrt(float(residual @ residual) / (window - 2) / float(x @ x)) + 1e-12)
        if t > z:
            return True
        return wait >= (max_patience if t < -z else flat)

    return Rule(stop)


def gap_rule(factor=2.0, k=3, patience=10, max_patience=40, up=False, floor=None):
    """Patience from the run's own time scale, without a trend test: `factor` x the longest gap between its last
    `k + 1` new bests, between `patience` (or `floor` when `up`) and `max_patience`; `up`: stop a rising curve
    after `patience` (UP_3) and apply the gap patience (at least `floor`) to the others."""

    def stop(values, bests, wait):
        if wait < patience:
            return False
        if up and _rising(values, 1.0):
            return True
        tail = bests[-(k + 1) :]
        gaps = [b - a for a, b in zip(tail, tail[1:])] or [bests[-1] + 1]
        low = floor if up and floor is not None else patience
        return wait >= min(max_patience, max(low, factor * max(gaps)))

    return Rule(stop)


#: Candidate rules, each with the reason it was tried (docs/early_stopping.md has what the numbers showed).
CANDIDATES = {
    # The one-liner: patience proportional to the epoch of the best value, no trend test.
    "ratio only max(8, 0.25 b)": _kreg(AdaptiveStoppingPolicy, patience=8, patience_ratio=0.25, trend_test=False),
    # A larger fixed floor with the trend test and no ratio: the trend test alone handles slow improvers.
    "patience 15 + trend": _kreg(AdaptiveStoppingPolicy, patience=15, patience_ratio=0.0),
    # Smoothed monitoring: compare an exponential moving average instead of the raw, noisy values.
    "adaptive on EMA 0.5": _kreg(AdaptiveStoppingPolicy, smoothing=0.5),
    # Noise-aware improvement: a new best must beat the best by 1 % (relative), not by a noise-sized amount.
    "adaptive, min_delta 1% rel": _kreg(AdaptiveStoppingPolicy, min_delta=0.01, min_delta_mode="rel"),
    # Patience from the run's own improvement time scale.
    "timescale 3 x gap(3), min 10, trend": timescale_rule(),
    # UP with patience: quick stop on a rising curve, longer wait on a flat one.
    "UP3 after 10, max 30": up_patience_rule(),
    "UP3 after 10, max 20": up_patience_rule(max_patience=20),
    # Slope test instead of the mean-difference trend test.
    "slope test z=1 (10, 0.3)": slope_rule(),
    # Two speeds: stop early when clearly worsening.
    "worsening z=2 after 5, else issue 5": worsening_rule(),
    # Second round (issue 13, chosen on the design rows only; `SEARCH` below has the whole grid):
    # UP on strip means: single values are noisy, means of 5 are less so.
    "UP3 on strip means after 10, max 30": up_strip_means_rule(),
    # The direction of the curve from a slope t-test: rising stops, falling waits long, flat in between.
    "3-way slope test z=2 (10 / 20 / 40)": three_way_rule(),
    # Patience from the time scale of the run's own improvements, without the trend test.
    "2 x longest of last 3 gaps, 10..40": gap_rule(),
    "UP3 after 10, else 2 x gap, 20..40": gap_rule(up=True, floor=20),
    # Smoothed monitoring with UP; scored at the restored epoch (the best of the smoothed values).
    "UP3 after 10, max 30, on EMA 0.5": _kreg(AdaptiveStoppingPolicy, rule="up_patience", smoothing=0.5),
    # Noise-aware improvement with UP: a new best must beat the old one by 0.1 % (relative).
    "UP3 after 10, max 30, min_delta 0.1% rel": _kreg(
        AdaptiveStoppingPolicy, rule="up_patience", min_delta=0.001, min_delta_mode="rel"
    ),
    # Progress: stop once the best improved by less than delta (relative) over the last W epochs, no UP.
    "progress < 0.2% over 30, after 10": up_progress_rule(window=30, min_progress=0.002, up=False),
    # UP and progress combined: the design winner, kreg's default (`check_kreg_rules`).
    "UP3 or progress < 1% over 25, after 10": up_progress_rule(),
}


def search_grid():
    """The whole second-round search of issue 13 (`python -m benchmarks.bench_early_stopping search`): every
    candidate scored on the design rows only. Name -> rule."""
    grid = {
        "UP3 after 10, max 25": up_patience_rule(max_patience=25),
        "UP3 on strip means after 10, max 30": up_strip_means_rule(),
        "UP3 on strip means after 10, max 25": up_strip_means_rule(max_patience=25),
        "3-way slope test z=2 (10 / 20 / 40)": three_way_rule(),
        "3-way slope test z=1 (10 / 20 / 40)": three_way_rule(z=1.0),
        "3-way slope test z=2 (10 / 15 / 40)": three_way_rule(flat=15),
        "2 x longest of last 3 gaps, 10..40": gap_rule(),
        "UP3 after 10, else 2 x gap, 20..40": gap_rule(up=True, floor=20),
        "UP3 or progress < 0.2% over 20, after 10": up_progress_rule(window=20, min_progress=0.002),
        "UP3 after 10, max 30, on EMA 0.3": _kreg(AdaptiveStoppingPolicy, rule="up_patience", smoothing=0.3),
        "UP3 after 10, max 30, on EMA 0.5": _kreg(AdaptiveStoppingPolicy, rule="up_patience", smoothing=0.5),
    }
    for rel in (0.001, 0.005):
        grid[f"UP3 after 10, max 30, min_delta {rel:.1%} rel"] = _kreg(
            AdaptiveStoppingPolicy, rule="up_patience", min_delta=rel, min_delta_mode="rel"
        )
    for patience in (5, 10):
        for window in (20, 25, 30, 40):
            for delta in (0.001, 0.002, 0.005, 0.01):
                name = f"progress < {delta:.1%} over {window}, after {patience}"
                grid[name] = up_progress_rule(patience, window, delta, up=False)
    for window in (25, 30, 40):
        for delta in (0.002, 0.005, 0.01):
            grid[f"UP3 or progress < {delta:.1%} over {window}, after 10"] = up_progress_rule(10, window, delta)
    return grid


def design_search(curves=None):
    """Scores `search_grid()` on the design rows; the choice: among the candidates above the front (margin > 0)
    and not dominated on both `val_loss` and `val_accuracy`, the largest sum of the two margins. Returns
    (rows, chosen name)."""
    curves = load_curves() if curves is None else curves
    design = [c for c in curves if c["group"] == "design"]
    table = {f"keras patience={p}": p for p in FIXED_PATIENCES}
    table.update(search_grid())
    rows, margins = [], {}
    for monitor, sign in MONITORS:
        for row in section(design, "design", monitor, sign, table, targets=()):
            if row["policy"] in table and not row["policy"].startswith("keras"):
                rows.append(row)
                margins.setdefault(row["policy"], []).append((row["margin"], row["dominated"]))
    eligible = {
        name: sum(m for m, _ in pair)
        for name, pair in margins.items()
        if all(m > 0 and not dominated for m, dominated in pair)
    }
    return rows, max(eligible, key=eligible.get)


def check_keras(curves, count=24):
    """Replays Keras's real `EarlyStopping` on `count` curves for every fixed patience; asserts `keras_patience_run`
    stops at the same epoch. Returns the number of (curve, patience, monitor) replays checked."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    checked = 0
    for curve in curves[:: max(1, len(curves) // count)][:count]:
        for monitor, sign in MONITORS:
            values = monitored(curve["history"], monitor)
            if values is None:
                continue
            for patience in FIXED_PATIENCES:
                callback = keras.callbacks.EarlyStopping(
                    monitor=monitor, mode="min" if sign > 0 else "max", patience=patience
                )
                callback.set_model(model)
                model.stop_training = False
                callback.on_train_begin()
                run = len(values)
                for epoch, value in enumerate(values):
                    callback.on_epoch_end(epoch, {monitor: value})
                    if model.stop_training:
                        run = epoch + 1
                        break
                expected = keras_patience_run(values, sign, patience)
                assert run == expected, (curve["family"], monitor, patience, run, expected)
                checked += 1
    return checked


def check_kreg_rules(curves):
    """Asserts that kreg's `AdaptiveStoppingPolicy` (fed no training loss) stops every curve where the candidate it
    implements does: the default `rule="up_progress"` as "UP3 or progress < 1% over 25, after 10", and
    `rule="up_patience"` as "UP3 after 10, max 30". Returns the number of replays checked."""
    pairs = (
        ({}, CANDIDATES["UP3 or progress < 1% over 25, after 10"]),
        ({"rule": "up_patience"}, CANDIDATES["UP3 after 10, max 30"]),
    )
    checked = 0
    for curve in curves:
        for monitor, sign in MONITORS:
            values = monitored(curve["history"], monitor)
            if values is None:
                continue
            for kwargs, rule in pairs:
                policy = AdaptiveStoppingPolicy(sign=sign, **kwargs)
                run = policy_run(policy, values, [None] * len(values))
                assert run == rule.run(values, sign), (curve["family"], monitor, kwargs, run)
                checked += 1
    return checked


# ---------------------------------------------------------------------------------------------------- scoring


def score(curves, monitor, sign, table=None):
    """Per policy: (qualities, epochs) arrays over the curves that log `monitor`."""
    table = policies() if table is None else table
    series = []
    for curve in curves:
        values = monitored(curve["history"], monitor)
        # A loss whose best is exactly 0 (float32 underflow of a perfectly fitted validation set) has no quality
        # ratio: such curves are left out of the loss rows.
        finite = [v for v in values if math.isfinite(v)] if values is not None else []
        if finite and not (sign > 0 and not min(finite) > 0):
            series.append((values, curve["history"]["loss"]))
    results = {}
    for name, policy in table.items():
        q, e = [], []
        for values, train_loss in series:
            if isinstance(policy, int):
                run = keras_patience_run(values, sign, policy)
            elif isinstance(policy, Rule):
                run = policy.run(values, sign)
            else:
                instance = policy(sign)
                run = policy_run(instance, values, train_loss)
                if instance.best is not None:  # the restored weights' value (smoothing, min_delta: not the best seen)
                    q.append(restored_quality(values, instance.best_epoch, sign))
                    e.append(run)
                    continue
            q.append(quality(values, run, sign))
            e.append(run)
        results[name] = (np.array(q), np.array(e))
    return results


def front_quality(epochs, fixed_points):
    """Quality of the fixed-patience front at `epochs` (linear between the (epochs, quality) points; clamped to
    the cheapest point's quality below it and the costliest point's above it)."""
    xs, ys = zip(*sorted(fixed_points))
    return float(np.interp(epochs, xs, ys))


def dominated_by(point, fixed_points):
    """The fixed points at least as good and as cheap as `point` (epochs, quality), strictly in one."""
    e, q = point
    return [p for p in fixed_points if p[1] >= q and p[0] <= e and (p[1] > q or p[0] < e)]


def section(curves, group, monitor, sign, table=None, targets=TARGETS):
    """The rows of one curve group and monitored quantity, then its target rows (one per name in `targets`)."""
    results = score(curves, monitor, sign, table)
    means = {name: (float(e.mean()), float(q.mean())) for name, (q, e) in results.items()}
    fixed = [means[f"keras patience={p}"] for p in FIXED_PATIENCES]
    rows = []
    for name, (q, _) in results.items():
        front = front_quality(means[name][0], fixed)
        rows.append(
            {
                "curves": f"{group} ({len(q)})",
                "monitor": monitor,
                "policy": name,
                "quality": means[name][1],
                "epochs": means[name][0],
                "front at same epochs": front,
                "margin": means[name][1] - front,
                "dominated": "yes" if dominated_by(means[name], fixed) else "",
                "worst quality": float(q.min()),
                "runs missing best by >1%": int((q < 0.99).sum()),
            }
        )
    p10, p20 = means["keras patience=10"], means["keras patience=20"]
    for name in targets:
        if name not in means:
            continue
        e, q = means[name]
        low, high = margin_interval(results, name)
        rows.append(
            {
                "curves": f"{group} ({len(results[name][0])})",
                "monitor": monitor,
                "policy": f"target: {name} above the front, not dominated",
                "quality": "yes" if q > front_quality(e, fixed) and not dominated_by(means[name], fixed) else "NO",
                "epochs": f"p10 {p10[1]:.4f}/{p10[0]:.1f}, p20 {p20[1]:.4f}/{p20[0]:.1f}",
                "margin": f"90% bootstrap interval [{low:+.4f}, {high:+.4f}]",
            }
        )
    return rows


def margin_interval(results, name, resamples=1000, seed=0):
    """5th and 95th percentiles of `name`'s margin over the front when the curves are resampled with replacement
    (the fixed patiences' front is recomputed on each resample): how much of a margin is noise of the curve draw."""
    rng = np.random.default_rng(seed)
    count = len(results[name][0])
    fixed = [results[f"keras patience={p}"] for p in FIXED_PATIENCES]
    margins = []
    for _ in range(resamples):
        idx = rng.integers(0, count, count)
        front = [(float(e[idx].mean()), float(q[idx].mean())) for q, e in fixed]
        q, e = results[name]
        margins.append(float(q[idx].mean()) - front_quality(float(e[idx].mean()), front))
    low, high = np.percentile(margins, [5, 95])
    return float(low), float(high)


def run(v1_path=V1_PATH, v2_path=V2_PATH):
    curves = load_curves(v1_path, v2_path)
    check_keras([c for c in curves if c["group"] != "v1"])
    check_kreg_rules(curves)
    rows = []
    for group in ("design", "held-out", "fresh", "v1"):
        subset = [c for c in curves if c["group"] == group]
        if not subset:
            continue
        for monitor, sign in MONITORS:
            rows += section(subset, group, monitor, sign)
    return rows


if __name__ == "__main__":
    import sys

    from benchmarks.__main__ import _print_table

    if sys.argv[1:] == ["search"]:
        search_rows, chosen = design_search()
        _print_table("early_stopping: issue 13 search, design rows only", search_rows)
        print(f"\nchosen (margin > 0 and not dominated on both monitors, largest sum of margins): {chosen}")
    else:
        _print_table("early_stopping", run())
