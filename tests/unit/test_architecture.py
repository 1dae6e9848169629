"""The tree keeps the shape docs/architecture.md describes (issue: stage packages).

Checked here so the structure cannot rot silently: every module has a row in the architecture
document, ``smprod/`` keeps at most 8 modules of its own, and a function over 40 lines says why
in its docstring (at most 5 such functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("smprod", "catalog", "flows")
DOC = ROOT / "docs" / "architecture.md"
#: Words a long function's docstring uses to say why it is long.
REASONS = ("over 40 lines", "one function", "one listing", "one statement list")


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _named_in_doc(path: Path, doc: str) -> bool:
    """A module is named by its path; a package's ``__init__`` by its folder (a section of the
    document); the Alembic scripts by their folder's row."""
    relative = path.relative_to(ROOT).as_posix()
    folder = path.parent.relative_to(ROOT).as_posix() + "/"
    if path.name == "__init__.py" or "migrations" in path.parts:
        return f"`{relative}`" in doc or folder.split("versions/")[0] in doc
    return f"`{relative}`" in doc


def test_every_module_has_a_row_in_the_architecture_doc():
    doc = DOC.read_text()
    missing = [str(p.relative_to(ROOT)) for p in _modules() if not _named_in_doc(p, doc)]
    assert not missing, f"modules without a row in docs/architecture.md: {missing}"


def test_smprod_keeps_at_most_eight_modules_of_its_own():
    own = sorted(p.name for p in (ROOT / "smprod").glob("*.py"))
    assert len(own) <= 8, own


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function, docstring included."""
    return (node.end_lineno or node.lineno) - node.lineno + 1


def _long_functions() -> list[tuple[str, bool]]:
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _length(node) > 40:
                doc = (ast.get_docstring(node) or "").lower()
                name = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                found.append((name, any(reason in doc for reason in REASONS)))
    return found


def test_functions_over_forty_lines_say_why_and_are_few():
    long = _long_functions()
    unexplained = [name for name, explained in long if not explained]
    assert not unexplained, f"functions over 40 lines without a reason in their docstring: {unexplained}"
    assert len(long) <= 5, [name for name, _ in long]
