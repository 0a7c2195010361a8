"""The dependency rule of `docs/architecture.md`, checked on the source: every `kreg` import (function-local ones
included) goes down the layers, there is no import cycle, and every module imports on its own."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kreg"

#: Layer of each top-level part of kreg, bottom first, and what each may import (besides itself).
LAYERS = {
    "base": {"validation", "registry", "keras_compat", "introspection"},
    "ops": {"ops"},
    "schedules": {"schedules", "step_source"},
    "objects": {"regularizers", "constraints", "layers"},
    "tensorboard": {"tensorboard"},
    "callbacks": {"callbacks"},
    "testing": {"testing"},
    "top": {"attach", "tuning", "__init__"},
}
MAY_IMPORT = {
    "base": {"base"},
    "ops": {"base"},
    "schedules": {"base", "ops"},
    "objects": {"base", "ops", "schedules"},
    "tensorboard": {"base", "ops"},
    "callbacks": {"base", "ops", "schedules", "objects", "tensorboard"},
    "testing": {"base", "ops", "schedules", "objects"},
    "top": set(LAYERS),
}


def module_names():
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def part(module):
    """The top-level part of a kreg module name: `kreg.regularizers.l2sp` -> `regularizers`."""
    pieces = module.split(".")
    return "__init__" if len(pieces) == 1 else pieces[1]


def layer(module):
    return next(name for name, parts in LAYERS.items() if part(module) in parts)


def source_path(module):
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def kreg_imports(module):
    """Every kreg module `module` imports, anywhere in its body (function-local imports included)."""
    tree = ast.parse(source_path(module).read_text())
    found = set()
    known = set(module_names())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "kreg"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kreg":
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    return found - {module}


@pytest.mark.parametrize("module", module_names())
def test_imports_go_down_the_layers(module):
    allowed = MAY_IMPORT[layer(module)] | {layer(module)}
    bad = sorted(name for name in kreg_imports(module) if layer(name) not in allowed)
    assert not bad, f"{module} ({layer(module)}) imports {bad}; it may import only {sorted(allowed)}"


def test_library_modules_never_import_keras_internals():
    offenders = [m for m in module_names() if "keras.src" in source_path(m).read_text()]
    assert offenders == []


def test_no_import_cycle():
    graph = {m: kreg_imports(m) for m in module_names()}
    # A package `__init__` re-exports its modules: importing the package then a module of it is not a cycle.
    for module in graph:
        graph[module] = {d for d in graph[module] if not module.startswith(d + ".")}
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError("import cycle: " + " -> ".join([*stack, node, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])


def test_every_module_imports_on_its_own():
    script = (
        "import importlib, sys\n"
        f"for name in {module_names()!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'kreg' or m.startswith('kreg.')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
