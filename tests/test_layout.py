"""The house rules (DESIGN.md section 2, ARCHITECTURE.md), checked on every run: the import-linter
contracts in .importlinter, no import cycles, no private name imported across modules, a cheap
start-up, and comments without timing figures that would go stale."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "modelledger"


def test_import_contracts_are_kept(capsys):
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def test_the_linter_refuses_an_upward_import(tmp_path, capsys):
    # the contracts above only mean something if a broken one fails: core imports nothing of
    # ours, so a ladder that puts cli below core must be reported broken
    config = tmp_path / "upside-down.ini"
    config.write_text(
        "[importlinter]\nroot_package = modelledger\n\n"
        "[importlinter:contract:upside]\nname = upside down\ntype = layers\n"
        "layers =\n    modelledger.core\n    modelledger.cli\n"
    )
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(config), no_cache=True, no_logo=True) == 1
    assert "upside down BROKEN" in capsys.readouterr().out


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    # imports inside functions count: a lazy import is still a dependency
    graph = grimp.build_graph("modelledger", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.b", imported="p.c")
    assert _cycles(graph) == [["p.a", "p.b"]]


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_private_name_is_imported_from_another_module():
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("modelledger"):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}")
    assert found == []


_FIGURE = re.compile(r"\d[\d.,]*\s*(?:ms|µs|us|ns)\b|\d[\d.,]*\s*(?:milli|micro)seconds?\b")


def _prose(path: Path) -> list[tuple[int, str]]:
    """Comments and docstrings, with their line numbers."""
    text = path.read_text(encoding="utf-8")
    out = [
        (tok.start[0], tok.string)
        for tok in tokenize.generate_tokens(io.StringIO(text).readline)
        if tok.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                out += [(node.body[0].lineno + i, line) for i, line in enumerate(doc.splitlines())]
    return out


def test_comments_quote_no_timing_figures():
    # figures go stale in comments; they belong to benchmarks/ and the README's Measured section
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()}"
        for path in _sources()
        for line, text in _prose(path)
        if _FIGURE.search(text)
    ]
    assert found == []


@pytest.mark.parametrize(
    "module", ["modelledger.cli.root", "modelledger.cli.app", "modelledger", "modelledger.errors"]
)
def test_start_up_loads_no_heavy_library(module):
    heavy = ("sqlalchemy", "numpy", "duckdb", "pydantic", "fastapi", "matplotlib", "psycopg")
    code = f"import sys, {module}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
