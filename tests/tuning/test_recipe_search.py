"""Smoke test of the runnable recipe `tuning/search.py` (tiny settings) and its bad-input errors."""

import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load_recipe():
    spec = importlib.util.spec_from_file_location("tuning_recipe_search", ROOT / "tuning" / "search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_runs_and_prints_table_png_and_tensorboard(tmp_path, capsys):
    recipe = load_recipe()
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dataset": "wine", "penalty": ["l2", "l1"], "dropout": None, "units": 16}))
    results = recipe.main(
        [
            "--config",
            str(config),
            "--tuner",
            "random",
            "--max-trials",
            "2",
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "runs"),
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert len(results.rows) == 2
    assert "| trial_id | penalty |" in out and "best val_data_loss" in out
    assert f"tensorboard --logdir {tmp_path / 'runs' / 'wine_random' / 'logs'}" in out
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "runs" / "wine_random" / "pareto.png").exists()
        assert "pareto.png" in out


def test_bad_dataset_and_config(tmp_path):
    recipe = load_recipe()
    with pytest.raises(
        ValueError,
        match="Invalid value received for argument `dataset`. Expected one of 'digits', "
        "'breast_cancer', 'wine', 'diabetes'. Received: dataset='mnist'",
    ):
        recipe.main(["--dataset", "mnist", "--out", str(tmp_path)])
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"learning_rate": 0.1}))
    with pytest.raises(ValueError, match=r"Unknown settings in .*bad.json: \['learning_rate'\]"):
        recipe.main(["--config", str(config)])
    assert not list(tmp_path.rglob("trial.json"))
