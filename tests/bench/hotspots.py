"""Where the time goes: ``python -m tests.bench.hotspots [TOP]`` runs cProfile on the durable
engine loop (SQLite), on ``audit verify`` and on ``replay`` with the benchmark's workload, and
prints the TOP (default 10) functions by own time (tottime) for each. Not part of `make bench`
(profiling slows everything down)."""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from jiekun.persistence.database import make_engine
from jiekun.persistence.store import Store
from jiekun.workflow.audit import verify
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.replay import replay
from tests.bench import durable, replaying, verifying
from tests.bench.run import templates_of
from tests.bench.workload import build, stream


def profiled(title: str, work: Callable[[], object], top: int) -> None:
    profile = cProfile.Profile()
    profile.enable()
    work()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    print(f"\n### {title}: total {stats.total_tt:.2f} s (profiled)\n")
    stats.sort_stats("tottime").print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines()
                    if line.strip() and not line.lstrip().startswith(("Ordered by", "List red"))))
    total = stats.total_tt  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    ours = []
    for (file, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        area = _area(file, name)
        areas[area] = areas.get(area, 0.0) + row[2]
        if area.startswith("jiekun"):
            ours.append((row[3], f"{file.split('/work/main/')[-1]}:{line}({name})"))
    print("\nown time by area: " + ", ".join(
        f"{area} {seconds / total:.0%}"
        for area, seconds in sorted(areas.items(), key=lambda x: -x[1]) if seconds >= total / 100))
    print(f"\njiekun's functions by cumulative time (top {top}):")
    for seconds, where in sorted(ours, reverse=True)[:top]:
        print(f"  {seconds / total:5.0%}  {where}")


def _area(file: str, name: str) -> str:
    if "/tests/bench/" in file:
        return "bench harness"
    if "/site-packages/" in file:
        return file.split("/site-packages/")[1].split("/")[0]
    if file == "~":  # built-ins and C methods: name them by what they belong to
        for marker, area in (("sqlite3", "sqlite3 (C)"), ("pydantic", "pydantic-core (C)"),
                             ("psycopg", "psycopg (C)"), ("hashlib", "hashlib (C)"),
                             ("_json", "json (C)")):
            if marker in name:
                return area
        return "built-ins"
    for package in ("workflow", "policies", "persistence", "scheduler", "states"):
        if f"/{package}/" in file:
            return f"jiekun {package}/"
    return "stdlib " + Path(file).stem


def main(top: int = 10) -> None:
    decider = Decider()
    runs = build(decider, 800, seed=1)
    work = Path(tempfile.mkdtemp(prefix="jiekun-hotspots-"))
    try:
        url = f"sqlite:///{work / 'engine.db'}"
        durable.prepared_store(url)
        engine = Engine.open(url, decider=decider)
        steps = stream(runs)
        profiled(f"Engine.execute, SQLite, {len(steps):,} transitions",
                 lambda: durable.run_engine(engine, steps), top)
        engine.store.engine.dispose()

        url = f"sqlite:///{work / 'audit.db'}"
        durable.prepared_store(url)
        written = verifying.build_store(url, templates_of(runs), 100_000)
        store = Store(make_engine(url))

        def verify_all() -> None:
            with store.reading() as connection:
                assert verify(store.reads_on(connection), decider).ok

        profiled(f"audit verify, {written:,} events", verify_all, top)
        store.engine.dispose()

        lines = replaying.history(runs)
        profiled(f"replay, {len(lines):,} events", lambda: replay(lines, decider), top)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
