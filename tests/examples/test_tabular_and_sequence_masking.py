"""`examples/tabular_and_sequence_masking.py` runs with short settings: every variant of both parts."""

import importlib.util
import pathlib

import numpy as np

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "tabular_and_sequence_masking.py"


def load():
    spec = importlib.util.spec_from_file_location("kreg_example_tabular_and_sequence_masking", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_run_reports_every_variant(capsys):
    results = load().main(["--quick"])
    out = capsys.readouterr().out
    assert "breast_cancer" in out and "generated sequences" in out
    assert set(results["tabular"]) == {"none", "FeatureMask", "SwapNoise"}
    assert set(results["sequence"]) == {"none", "TimeMask"}
    for part in results.values():
        for row in part.values():
            assert 0 <= row["test_accuracy"] <= 1 and row["test_loss"] > 0


def test_generated_sequences_are_balanced_and_shaped():
    x, y = load().sequence_data(0, 300, 48)
    assert x.shape == (300, 48, 2) and x.dtype == "float32"
    assert set(np.unique(y)) == {0, 1, 2} and min(np.bincount(y)) > 60
