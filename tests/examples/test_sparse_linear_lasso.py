"""`examples/sparse_linear_lasso.py`: the proximal fit has exactly Lasso's zero set; Keras's L1 has no exact zero."""

import importlib.util
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "sparse_linear_lasso.py"


def load():
    spec = importlib.util.spec_from_file_location("kreg_example_sparse_linear_lasso", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_proximal_l1_finds_lassos_zero_set_and_keras_l1_none(capsys):
    results = load().main(["--steps", "150", "--samples", "300"])
    assert "same zero set" in capsys.readouterr().out
    lasso, proximal, keras_l1 = results["sklearn Lasso"], results["kreg L1 proximal"], results["keras L1"]
    assert lasso["zeros"] >= 20
    assert proximal["same_zero_set"] and proximal["zeros"] == lasso["zeros"]
    assert proximal["relative_error"] < 0.01
    assert keras_l1["zeros"] == 0 and not keras_l1["same_zero_set"]
