"""`examples/tuning_search.py`: a two-trial search writes its table, HParams logs and the TensorBoard command."""

import importlib.util
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "tuning_search.py"


def load():
    spec = importlib.util.spec_from_file_location("kreg_example_tuning_search", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_search(tmp_path, capsys):
    results, test_accuracy, logs = load().main(["--quick", "--out", str(tmp_path), "--overwrite"])
    out = capsys.readouterr().out
    assert len(results.rows) == 2 and {row["status"] for row in results.rows} <= {"completed", "pruned"}
    assert set(results.best_values) >= {"penalty", "dropout"}
    assert 0 <= test_accuracy <= 1
    assert f"tensorboard --logdir {logs}" in out and "#hparams" in out
    assert any(pathlib.Path(logs).rglob("events.out.tfevents.*"))
