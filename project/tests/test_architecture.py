"""The layering of readme/ARCHITECTURE.md, kept true by reading every module of project/ with ast.

* no module of ``project/`` imports ``odoo``;
* the core imports itself relatively (no absolute ``project.`` import), so it
  works under any package name (``odoo.addons.ai_train_model.project``);
* no library module imports a command-line module (:data:`CLI_MODULES`) or a
  test module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # project/
PACKAGE = ROOT.name

#: Modules whose job is a command line (``main``); libraries never import them.
#: ``cli`` is the frame they share and a library; ``model_artifact`` and
#: ``importar_datos`` are libraries that also carry a ``main``.
CLI_MODULES = frozenset(
    {
        "entrenar_modelo",
        "descargar_datos_predictivos",
        "verificar_permisos_ga",
        "dataset_manager",
        "utils.incremental",
    }
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
LIBRARY = sorted(name for name in MODULES if name not in CLI_MODULES and not name.startswith("tests"))


def _imports(name: str) -> list[tuple[int, str]]:
    """``(line, absolute dotted name)`` of every import in module ``name`` (``project.``-less
    for our own modules, as written for others); imports inside functions count."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                prefix = ".".join([PACKAGE, *base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            found.append((node.lineno, prefix))
            found += [(node.lineno, f"{prefix}.{alias.name}") for alias in node.names]
    return found


def _ours(dotted: str) -> str | None:
    """The module of ours that ``dotted`` names, without the package prefix, or None."""
    if dotted != PACKAGE and not dotted.startswith(PACKAGE + "."):
        return None
    rest = dotted[len(PACKAGE) + 1 :]
    while rest and rest not in MODULES:
        rest = rest.rpartition(".")[0]
    return rest or None


def test_the_walk_sees_the_package():
    assert {"training", "cli", "model_artifact", "forecasting.models", "utils.pipelines"} <= set(MODULES)
    assert set(MODULES) >= CLI_MODULES
    # relative imports resolve: training imports the selection module
    assert "utils.selection" in {_ours(d) for _, d in _imports("training")}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_odoo(name):
    bad = [(line, d) for line, d in _imports(name) if d == "odoo" or d.startswith("odoo.")]
    assert not bad, f"project/{name} imports odoo at {bad}"


@pytest.mark.parametrize("name", [n for n in sorted(MODULES) if not n.startswith("tests")])
def test_core_imports_itself_relatively(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    absolute = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        if any(n.split(".")[0] == PACKAGE for n in names):
            absolute.append(node.lineno)
    assert not absolute, f"project/{name} imports {PACKAGE!r} absolutely at lines {absolute}"


@pytest.mark.parametrize("name", LIBRARY)
def test_library_modules_never_import_command_line_or_test_modules(name):
    bad = sorted(
        {
            (line, target)
            for line, dotted in _imports(name)
            if (target := _ours(dotted)) and (target in CLI_MODULES or target.startswith("tests"))
        }
    )
    assert not bad, f"library module project/{name} imports command-line/test modules {bad}"


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    """Positive control: a library module importing a CLI module is reported."""
    fake = tmp_path / "fake.py"
    fake.write_text("from .entrenar_modelo import TrainConfig\nfrom .utils import incremental\n")
    monkeypatch.setitem(MODULES, "fake", fake)
    targets = {_ours(d) for _, d in _imports("fake")}
    assert {"entrenar_modelo", "utils.incremental"} <= targets
