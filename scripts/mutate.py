"""Mutation testing of one kreg module with mutmut, in a throw-away copy: `make mutate MODULE=... TESTS="..."`.

    python scripts/mutate.py kreg/ops/proximal.py tests/ops/test_proximal.py [more test files] [--backend jax]

Copies the repository (without `.git`, `runs/` and `mutants/`) to a temporary directory, writes the `[tool.mutmut]`
section that works for kreg there, runs `mutmut run` and prints mutmut's results (each surviving mutant's name;
`mutmut show <name>` in the printed directory shows its diff). What the configuration needs, and why:

- `process_isolation = "fork"`: mutmut's default isolation starts a fresh interpreter per mutant, which imports
  TensorFlow (or JAX) each time and times out on every mutant.
- One thread per backend (`TF_NUM_INTRAOP_THREADS`, `OMP_NUM_THREADS`, ...): a forked child of a multi-threaded
  TensorFlow deadlocks.
- `timeout_constant = 3`, `timeout_multiplier = 10`: a mutant is stopped after `10 (t + 3)` seconds, `t` its tests'
  time in the clean run: room for a forked child's first TensorFlow kernels on a loaded machine, while a mutant that
  loops (a power iteration told to run forever) costs less than with mutmut's defaults on slow tests.
- A narrow test selection (the module's own tests): every mutant runs it.

Needs `pip install mutmut==3.8.1` (`make mutate` installs it).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SINGLE_THREAD = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def mutmut_config(module, tests, deselect=()):
    """The `[tool.mutmut]` TOML section for mutating `module` against the test files `tests`."""

    def toml_list(items):
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    cli_args = ["-p", "no:cacheprovider", "-x", "-q", "--no-header"]
    for test in deselect:
        cli_args += ["--deselect", test]
    return "\n".join(
        [
            "[tool.mutmut]",
            'source_paths = ["kreg"]',
            f"only_mutate = {toml_list([module])}",
            f"pytest_add_cli_args = {toml_list(cli_args)}",
            f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
            'process_isolation = "fork"',
            "timeout_constant = 3.0",
            "timeout_multiplier = 10.0",
            "",
        ]
    )


def prepare(module, tests, deselect, workdir):
    """Copies the repository into `workdir` and writes the mutmut configuration into its pyproject.toml."""
    for path in [module, *tests]:
        if not (ROOT / path).exists():
            raise SystemExit(f"{path} does not exist under {ROOT}")
    shutil.copytree(ROOT, workdir, ignore=shutil.ignore_patterns(".git", "runs", "mutants", "*.egg-info"))
    pyproject = workdir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n" + mutmut_config(module, tests, deselect))
    return workdir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the file to mutate, e.g. kreg/ops/proximal.py")
    parser.add_argument("tests", nargs="+", help="the test files every mutant runs")
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--deselect", action="append", default=[], help="a slow test id to leave out (repeatable)")
    parser.add_argument("--workdir", help="where to copy the repository (default: a new temporary directory)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="kreg-mutate-")) / "repo"
    prepare(args.module, args.tests, args.deselect, workdir)
    env = {**os.environ, **SINGLE_THREAD, "KERAS_BACKEND": args.backend}
    print(f"mutating {args.module} in {workdir} on {args.backend}", flush=True)
    run = subprocess.run(["mutmut", "run", "--max-children", "1"], cwd=workdir, env=env)
    subprocess.run(["mutmut", "results"], cwd=workdir, env=env)
    print(f"`cd {workdir} && mutmut show <name>` shows a mutant's diff", flush=True)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
