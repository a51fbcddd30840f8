"""What an embedding system imports: ``from jiekun.workflow import Engine`` works as before,
and a process that only replays (a replay worker, ``jiekun replay``'s library call) does not
pay for the store's libraries (SQLAlchemy, alembic: ~0.7 s of start-up)."""

from __future__ import annotations

import subprocess
import sys

import jiekun.workflow
from jiekun.workflow.engine import Engine


def test_engine_is_importable_from_the_package_surface() -> None:
    assert jiekun.workflow.Engine is Engine
    assert "Engine" in jiekun.workflow.__all__


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    try:
        jiekun.workflow.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("an unknown name was found")


def test_replaying_does_not_import_the_store_libraries() -> None:
    probe = ("import sys, jiekun.workflow, jiekun.workflow.replay_parallel; "
             "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout
