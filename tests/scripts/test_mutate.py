"""`scripts/mutate.py`: the mutmut configuration it writes and the copy it runs in (the run itself is `make mutate`)."""

import importlib.util
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
mutate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutate)


def test_the_configuration_forks_and_runs_only_the_selected_tests():
    text = mutate.mutmut_config(
        "kreg/ops/proximal.py", ["tests/ops/test_proximal.py"], deselect=["tests/ops/test_proximal.py::test_slow"]
    )
    config = tomllib.loads(text)["tool"]["mutmut"]
    assert config["only_mutate"] == ["kreg/ops/proximal.py"]
    assert config["pytest_add_cli_args_test_selection"] == ["tests/ops/test_proximal.py"]
    assert config["process_isolation"] == "fork"
    assert config["timeout_multiplier"] == 10.0 and config["timeout_constant"] == 3.0
    args = config["pytest_add_cli_args"]
    assert args[args.index("--deselect") + 1] == "tests/ops/test_proximal.py::test_slow"
    assert "-x" in args


def test_the_copy_has_the_code_and_the_configuration_but_not_git(tmp_path):
    workdir = mutate.prepare(
        "kreg/callbacks/metric_direction.py", ["tests/callbacks/test_metric_direction.py"], [], tmp_path / "repo"
    )
    assert (workdir / "kreg" / "callbacks" / "metric_direction.py").exists()
    assert not (workdir / ".git").exists()
    pyproject = tomllib.loads((workdir / "pyproject.toml").read_text())
    assert pyproject["tool"]["mutmut"]["only_mutate"] == ["kreg/callbacks/metric_direction.py"]
    assert "pytest" in pyproject["tool"]  # the project's own sections are kept


def test_a_missing_file_is_named():
    with pytest.raises(SystemExit, match="kreg/ops/nothing.py does not exist"):
        mutate.prepare("kreg/ops/nothing.py", ["tests/ops/test_proximal.py"], [], Path("/nonexistent"))


def test_every_backend_runs_single_threaded():
    assert mutate.SINGLE_THREAD["TF_NUM_INTRAOP_THREADS"] == "1" and mutate.SINGLE_THREAD["OMP_NUM_THREADS"] == "1"
