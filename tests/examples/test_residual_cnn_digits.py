"""`examples/residual_cnn_digits.py` runs with short settings; the spectral norm bound holds on the head."""

import importlib.util
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "residual_cnn_digits.py"


def load():
    spec = importlib.util.spec_from_file_location("kreg_example_residual_cnn_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_run_reports_both_variants_and_bounds_the_head(capsys):
    results = load().main(["--quick", "--max-value", "0.5"])
    assert "head sigma_max" in capsys.readouterr().out
    assert set(results) == {"baseline", "regularized"}
    for row in results.values():
        assert 0 <= row["test_accuracy"] <= 1 and 1 <= row["epochs"] <= 2
    assert results["regularized"]["head_spectral_norm"] <= 0.5 * 1.01
    assert results["baseline"]["head_spectral_norm"] > 0.5
