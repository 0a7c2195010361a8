"""`examples/finetune_l2sp.py`: attach puts one L2SP per trunk kernel, and L2-SP keeps the trunk closer to its start."""

import importlib.util
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "finetune_l2sp.py"


def load():
    spec = importlib.util.spec_from_file_location("kreg_example_finetune_l2sp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_attach_summary_and_drift(capsys):
    results = load().main(["--quick", "--factor", "1.0"])
    out = capsys.readouterr().out
    summary = results["summary"]
    assert [(a.kind, type(a.regularizer).__name__) for a in summary] == [("kernel", "L2SP"), ("kernel", "L2SP")]
    assert "L2SP(factor=1.0" in out
    for variant in ("plain", "l2sp"):
        assert 0 <= results[variant]["test_accuracy"] <= 1
    assert 0 < results["l2sp"]["drift"] < results["plain"]["drift"]
