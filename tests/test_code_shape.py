"""The shape of the code that issue 13 fixed, kept by a test (read from the source, with ast):

- no module imports a ``_private`` name from another module (tests included);
- SQL lives only in ``persistence/``: no other package imports SQLAlchemy or a database
  driver, takes a raw connection (``.reading()``, ``.connection``) or asks which database it
  runs on (``dialect``);
- inside ``persistence/`` only ``backends.py`` branches on the backend's name;
- every name in ``jiekun.workflow.__all__`` has a docstring.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import jiekun.workflow

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("states", "policies", "workflow", "persistence", "scheduler", "diagrams")
OUTSIDE_PERSISTENCE = tuple(p for p in PACKAGES if p != "persistence")


def _modules(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, module, name) of every ``from module import name``."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                yield node.lineno, node.module or "", alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ""


def test_no_module_imports_a_private_name_of_another() -> None:
    found = [f"{path.relative_to(ROOT)}:{line} {module}.{name}"
             for path in _modules(*PACKAGES, "tests")
             for line, module, name in _imports(path)
             if name.startswith("_") and not name.startswith("__")]
    assert found == []


def test_no_sql_or_database_outside_persistence() -> None:
    drivers = ("sqlalchemy", "sqlite3", "psycopg", "alembic")
    found = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in _modules(*OUTSIDE_PERSISTENCE)
             for line, module, _ in _imports(path)
             if module.split(".")[0] in drivers]
    raw = re.compile(r"\.reading\(\)|\.connection\b|\bdialect\b|\bexecute\(\s*[\"']")
    for path in _modules(*OUTSIDE_PERSISTENCE):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if raw.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number} {line.strip()}")
    assert found == []


def test_only_the_backends_module_asks_which_database_it_is() -> None:
    asks = re.compile(r"dialect\.name\s*==|name\s*==\s*[\"'](sqlite|postgresql)[\"']|"
                      r"dialect\s*==")
    found = [f"{path.relative_to(ROOT)}:{number}"
             for path in _modules("persistence") if path.name != "backends.py"
             for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
             if asks.search(line)]
    assert found == []


def test_the_embedding_surface_is_declared_and_documented() -> None:
    surface = set(jiekun.workflow.__all__)
    assert {"Engine", "Actor", "Command", "Event", "CaseState", "JiekunError",
            "CaseNotFound", "InvalidInput", "GuardFailed", "TransitionNotAllowed",
            "NotAuthorized", "ConcurrencyConflict", "IdempotencyMismatch", "StoreBusy",
            "SchemaBehind"} <= surface
    undocumented = [name for name in sorted(surface)
                    if not (getattr(jiekun.workflow, name).__doc__ or "").strip()]
    assert undocumented == []
    errors = [name for name in surface if isinstance(getattr(jiekun.workflow, name), type)
              and issubclass(getattr(jiekun.workflow, name), Exception)]
    assert all(issubclass(getattr(jiekun.workflow, name), jiekun.workflow.JiekunError)
               for name in errors)
    public_methods = [name for name in vars(jiekun.workflow.Engine)
                      if not name.startswith("_")]
    assert [m for m in public_methods
            if callable(getattr(jiekun.workflow.Engine, m))
            and not (getattr(jiekun.workflow.Engine, m).__doc__ or "").strip()] == []
