"""The engine kernel and the styles' modules import one way only (issue 11, point 8)."""

from __future__ import annotations

import ast
import pathlib

import wfsim._core

CORE = pathlib.Path(wfsim._core.__file__).parent


def _imports(module: str) -> set[str]:
    """The ``wfsim._core`` modules ``module`` imports, TYPE_CHECKING imports included."""
    tree = ast.parse((CORE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module)
    return found


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in _imports(todo.pop()):
            if dep not in seen and (CORE / f"{dep}.py").exists():
                seen.add(dep)
                todo.append(dep)
    return seen


def test_no_style_module_imports_the_engine_kernel() -> None:
    for style in ("_imperative", "_events", "_workflow", "_context"):
        assert "_engine" not in _reachable(style), style


def test_the_kernel_does_not_import_the_body_runtime() -> None:
    assert "_bodies" not in _reachable("_engine")
    assert "_engine" not in _reachable("_engine")
