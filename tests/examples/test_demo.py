"""`examples/demo.py` runs end to end with short settings: the table, the PNG and one TensorBoard run per variant."""

import importlib.util
import pathlib

import numpy as np
import pytest

DEMO = pathlib.Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def load_demo():
    spec = importlib.util.spec_from_file_location("kreg_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_short_run_writes_table_plot_and_logs(tmp_path, capsys):
    demo = load_demo()
    results = demo.main(
        ["--variants", "baseline,elastic_net", "--seeds", "1", "--epochs", "3", "--logdir", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert set(results) == {"baseline", "elastic_net"}
    assert "test acc" in out and "memorized" in out and "why seed 0 stopped" in out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    for name in results:
        assert any((tmp_path / name).rglob("events.out.tfevents.*")), name
    row = results["elastic_net"][0]
    assert 0 <= row["test_accuracy"] <= 1 and row["epochs"] <= 3
    assert row["exact_zeros"] > 0  # the proximal step ran (the binding came with the report callback)


def test_demo_label_noise_is_always_a_wrong_label():
    demo = load_demo()
    (x, y_noisy, mislabelled), _, _ = demo.data(0)
    clean = {tuple(row): label for row, label in zip(*demo.load_digits(return_X_y=True))}
    y_clean = np.array([clean[tuple(row * 16.0)] for row in x])
    assert 0.12 < mislabelled.mean() < 0.28 and len(x) == demo.TRAIN_SIZE
    assert np.all(y_noisy[mislabelled] != y_clean[mislabelled])
    np.testing.assert_array_equal(y_noisy[~mislabelled], y_clean[~mislabelled])


def test_demo_rejects_unknown_variants():
    demo = load_demo()
    with pytest.raises(SystemExit):
        demo.parse(["--variants", "baseline,nonsense"])
