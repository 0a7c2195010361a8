"""Tests of `kreg.tuning.pareto`: the front against the brute-force definition of non-domination, and the PNG."""

import numpy as np
import pytest

from kreg.tuning.pareto import pareto_front, save_pareto_png


def brute_force(points, maximize=(True, True)):
    signs = np.where(maximize, 1.0, -1.0)
    front = []
    for i, p in enumerate(points):
        if any(v is None or np.isnan(v) for v in p):
            continue
        a = np.asarray(p, float) * signs
        dominated = False
        for j, q in enumerate(points):
            if j == i or any(v is None or np.isnan(v) for v in q):
                continue
            b = np.asarray(q, float) * signs
            if np.all(b >= a) and np.any(b > a):
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("maximize", [(True, True), (True, False), (False, False)])
def test_matches_brute_force(seed, maximize):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    # Rounded values make ties on one or both coordinates common.
    points = [tuple(p) for p in np.round(rng.uniform(size=(n, 2)), 1)]
    if seed % 3 == 0:
        points.append((float("nan"), 0.5))
        points.append((None, 0.2))
    assert pareto_front(points, maximize) == brute_force(points, maximize)


def test_small_example():
    assert pareto_front([(0.9, 0.0), (0.8, 0.5), (0.7, 0.4), (0.9, 0.0)]) == [0, 1, 3]
    assert pareto_front([]) == []


def test_png(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [
        {"trial_id": "0", "val_accuracy": 0.9, "sparsity": 0.0, "status": "completed"},
        {"trial_id": "1", "val_accuracy": 0.85, "sparsity": 0.6, "status": "completed"},
        {"trial_id": "2", "val_accuracy": 0.5, "sparsity": 0.1, "status": "pruned"},
    ]
    path = save_pareto_png(rows, str(tmp_path / "front.png"))
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
