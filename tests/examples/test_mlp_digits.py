"""`examples/mlp_digits.py` runs with short settings and reports both variants."""

import importlib.util
import pathlib

import numpy as np

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "mlp_digits.py"


def load():
    spec = importlib.util.spec_from_file_location("kreg_example_mlp_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_run_reports_both_variants(capsys):
    results = load().main(["--quick"])
    assert "gap" in capsys.readouterr().out
    assert set(results) == {"baseline", "regularized"}
    for row in results.values():
        assert 0 <= row["test_accuracy"] <= 1 and 0 <= row["train_accuracy"] <= 1
        assert abs(row["gap"] - (row["train_accuracy"] - row["test_accuracy"])) < 1e-9
        assert 1 <= row["epochs"] <= 5
    assert results["baseline"]["epochs"] == 5  # no early stopping on the baseline


def test_label_noise_is_always_a_wrong_label():
    example = load()
    (x, y_noisy), _, _ = example.data(0)
    (x_clean, y_clean), _, _ = example.data(0, label_noise=0.0)
    np.testing.assert_array_equal(x, x_clean)
    changed = y_noisy != y_clean
    assert 0.1 < changed.mean() < 0.3 and len(x) == 200
