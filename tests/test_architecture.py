"""The package reads as its flow: each stage imports only from the stages before it, no
module imports itself through others, and no function is longer than 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "equilens"

#: stage of each top-level part of the package; a module may import from a lower or equal
#: stage only (equal: inside its own sub-package, or analysis beside symmetry).
STAGES = {"errors": 0, "io": 0, "data": 1, "validation": 1, "models": 2, "training": 3, "analysis": 4,
          "symmetry": 4, "ase": 4, "study": 5, "report": 6, "cli": 7}
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), filename=str(p))
            for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """Every equilens module ``name`` imports, at module level or inside a function."""
    found: set[str] = set()
    package = name if name in known and _is_package(name) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("equilens")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if not base.startswith("equilens"):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return {m for m in found if m in known and m != name}


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").is_file()


def _stage(module: str) -> int | None:
    parts = module.split(".")
    return STAGES.get(parts[1]) if len(parts) > 1 else None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, tree, known) for name, tree in modules.items()}


def test_every_stage_imports_only_from_earlier_stages(graph):
    wrong = [f"{a} -> {b}" for a, deps in graph.items() for b in deps
             if _stage(a) is not None and _stage(b) is not None and _stage(b) > _stage(a)]
    assert not wrong, "imports against the flow: " + "; ".join(sorted(wrong))


def test_no_import_cycles(graph):
    # a package's __init__ re-exports its modules: edges into a package face are followed
    # to what it re-exports, so only real module-to-module loops count
    edges = {a: {b for b in deps if not (_is_package(b) and a.startswith(b + "."))}
             for a, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_functions_are_short():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}::{node.name} ({n} lines)")
    assert not long, "functions over 60 lines: " + ", ".join(long)
