"""`make soak` (issue 8): the long run that CI's budget leaves out. ``python -m tests.soak``.

1. Crash consistency (tests/store/crash_harness.py): the engine in a child process killed with
   SIGKILL at random moments of its stream of transitions, ``SOAK_KILLS`` times [200] on a
   SQLite file and on a PostgreSQL 15 server of its own (tests/store/pg.py), the store
   checked after every restart: lost or partial events, duplicate firings, acknowledged
   commands.
2. The randomized tests, run by pytest in a subprocess with ``JIEKUN_SOAK_SCALE`` [10] times
   their CI examples: the fuzz tests of outside inputs (tests/workflow/test_fuzz_inputs.py,
   which tally the inputs they try), the property tests of the decider
   (tests/workflow/test_properties.py) and the model-based test of the durable engine against
   the fold (tests/store/test_engine_vs_fold.py).

One markdown report on stdout, progress on stderr. Exit status 1 when any check failed: a
violation, a child that crashed, a failing or erroring test, or PostgreSQL not starting.
Also ``SOAK_SEED`` [1] (the kills' seed, and the child's stream).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jiekun.persistence.database import make_engine, upgrade
from jiekun.workflow.decider import Decider
from tests.store.crash_harness import CrashReport, run_kills

ROOT = Path(__file__).resolve().parents[1]
STARTED = time.perf_counter()
RANDOMIZED = ["tests/workflow/test_fuzz_inputs.py", "tests/workflow/test_properties.py",
              "tests/store/test_engine_vs_fold.py"]


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


def setting(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _upgraded(url: str) -> str:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


@dataclass
class TestRun:
    files: list[str]
    scale: int
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    fuzz_inputs: dict[str, int] = field(default_factory=dict)  # test → inputs tried
    examples: dict[str, int] = field(default_factory=dict)  # test → hypothesis examples
    commands: dict[str, int] = field(default_factory=dict)  # state machine → commands compared
    seconds: float = 0.0
    status: int = 0
    output_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 0 and self.failures == 0 and self.errors == 0 and self.tests > 0


def run_randomized(scale: int, workdir: Path) -> TestRun:
    files = list(RANDOMIZED)
    run = TestRun(files, scale)
    tally, junit = workdir / "tally.jsonl", workdir / "junit.xml"
    env = {**os.environ, "JIEKUN_SOAK_SCALE": str(scale), "JIEKUN_SOAK_TALLY": str(tally)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider",
         "--hypothesis-show-statistics", f"--junitxml={junit}"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    run.seconds = time.perf_counter() - started
    run.status = done.returncode
    run.output_tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
    if junit.exists():
        root = ElementTree.parse(junit).getroot()
        for suite in root.iter("testsuite"):
            run.tests += int(suite.get("tests", 0))
            run.failures += int(suite.get("failures", 0))
            run.errors += int(suite.get("errors", 0))
            run.skipped += int(suite.get("skipped", 0))
    counted: dict[str, int] = {}  # examples a test counts itself (a state machine's runs)
    if tally.exists():
        for line in tally.read_text("utf-8").splitlines():
            entry = json.loads(line)
            test = entry["test"]
            if "inputs" in entry:
                run.fuzz_inputs[test] = run.fuzz_inputs.get(test, 0) + int(entry["inputs"])
            if "examples" in entry:
                named = f"{entry['module']}::{test}"  # as pytest and its statistics name it
                counted[named] = int(entry["examples"])
                run.commands[named] = int(entry.get("commands", 0))
    run.examples = {**hypothesis_examples(done.stdout), **counted}
    return run


def hypothesis_examples(output: str) -> dict[str, int]:
    """Examples run per test (passing + failing, every phase), from the statistics that
    ``--hypothesis-show-statistics`` prints."""
    counts: dict[str, int] = {}
    current: str | None = None
    for line in output.splitlines():
        header = re.match(r"^(\S+::\S+):\s*$", line)
        if header:
            current = header.group(1)
            counts.setdefault(current, 0)
            continue
        found = re.search(r"(\d+) passing\b.*?(\d+) failing", line)
        if found and current is not None:
            counts[current] += int(found.group(1)) + int(found.group(2))
    return counts


def crash_run(name: str, url: str, kills: int, seed: int, workdir: Path, decider: Decider
              ) -> CrashReport:
    log(f"{name}: {kills} kills (seed {seed})")
    report = run_kills(url, kills, seed, workdir / name, backend=name, decider=decider,
                       progress=log)
    log(report.summary())
    return report


def with_postgres(action: Callable[[str], CrashReport]) -> CrashReport | str:
    """``action(url)`` on a new database of a throw-away PostgreSQL 15 server; the reason as
    text when the server cannot be started."""
    from tests.store.pg import PostgresServer, PostgresUnavailable

    server = PostgresServer()
    try:
        try:
            server.start()
        except (PostgresUnavailable, OSError, ValueError, subprocess.SubprocessError) as error:
            return f"PostgreSQL 15 could not be started: {error}"
        return action(_upgraded(server.url(server.create_database("soak"))))
    finally:
        server.stop()


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


def report_markdown(crashes: list[CrashReport], missing: list[str], tests: TestRun,
                    kills: int, seed: int, total: float) -> str:
    out = ["# jiekun soak report", "",
           f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, Python "
           f"{sys.version.split()[0]}; kills per backend {kills} (seed {seed}), randomized "
           f"tests ×{tests.scale}. Total {minutes(total)}.", "",
           "## Crash consistency (SIGKILL during a stream of transitions)", "",
           "| | " + " | ".join(r.backend for r in crashes) + " |",
           "| --- | " + " | ".join("---:" for _ in crashes) + " |"]

    def row(label: str, value: Callable[[CrashReport], object]) -> None:
        out.append(f"| {label} | " + " | ".join(str(value(r)) for r in crashes) + " |")

    row("kills survived (restart + checks passed)",
        lambda r: r.kills if r.ok else f"{r.kills} (with violations)")
    row("kills after events were written", lambda r: r.kills_after_events)
    row("… command in flight, committed, not yet acknowledged", lambda r: r.in_flight_committed)
    row("… command in flight, rolled back", lambda r: r.in_flight_rolled_back)
    row("… repeat of an acknowledged command in flight", lambda r: r.in_flight_repeat)
    row("… during a scheduler catch-up", lambda r: r.during_catch_up)
    row("… between steps (choosing, acknowledging)", lambda r: r.between_steps)
    row("… during start-up / recovery", lambda r: r.before_first_step)
    row("in-flight commands re-sent after restart", lambda r: r.recovered_resends)
    row("events committed but unacknowledged at a kill", lambda r: r.committed_unacknowledged)
    row("events in the store", lambda r: f"{r.events:,}")
    row("cases", lambda r: f"{r.cases:,}")
    row("acknowledged commands and firings", lambda r: f"{r.acknowledged:,}")
    row("… of which refusals", lambda r: f"{r.acknowledged_refusals:,}")
    row("… of which repeats (same idempotency key)", lambda r: f"{r.repeats:,}")
    row("timer firings (events)", lambda r: f"{r.timer_firings:,}")
    row("blocked firings (objection open)", lambda r: f"{r.blocked_firings:,}")
    row("**lost events**", lambda r: r.lost_events)
    row("**partial transitions**", lambda r: r.partial_transitions)
    row("**duplicate firings / keys**", lambda r: r.duplicate_firings)
    row("unexpected outcomes", lambda r: r.unexpected)
    row("**crashes** (child died before its kill)", lambda r: r.crashes)
    row("store checks run (a full audit every 25 kills and at the end)", lambda r: r.audits)
    row("chains verified (final full audit)", lambda r: f"{r.chains_verified:,}")
    row("duration", lambda r: minutes(r.seconds))
    for reason in missing:
        out += ["", f"**Not measured: {reason}**"]
    for report in crashes:
        if report.violations:
            out += ["", f"Violations on {report.backend} (first 20 of "
                        f"{len(report.violations)}):", "", "```"]
            out += [str(v) for v in report.violations[:20]] + ["```"]
    out += ["", f"## Randomized tests (×{tests.scale} their CI examples)", "",
            "| | |", "| --- | ---: |"]
    fuzz = sum(tests.fuzz_inputs.values())
    out.append(f"| fuzz inputs tried | {fuzz:,} ("
               + ", ".join(f"{k} {v:,}" for k, v in sorted(tests.fuzz_inputs.items())) + ") |")
    for test, count in sorted(tests.examples.items()):
        out.append(f"| examples: `{test}` | {count:,} |")
    for test, count in sorted(tests.commands.items()):
        out.append(f"| commands compared, engine vs fold: `{test}` | {count:,} |")
    out.append(f"| tests run | {tests.tests} ({', '.join(tests.files)}) |")
    out.append(f"| **crashes** (test failures / errors) | {tests.failures} / {tests.errors} |")
    out.append(f"| skipped | {tests.skipped} |")
    out.append(f"| duration | {minutes(tests.seconds)} |")
    if not tests.ok:
        out += ["", f"pytest exited {tests.status}:", "", "```", tests.output_tail, "```"]
    failed = bool(missing) or not tests.ok or any(not r.ok for r in crashes)
    out += ["", f"**Result: {'FAILED' if failed else 'all checks passed'}** "
                f"({minutes(total)})"]
    return "\n".join(out)


def main() -> int:
    kills = setting("SOAK_KILLS", 200)
    seed = setting("SOAK_SEED", 1)
    scale = setting("JIEKUN_SOAK_SCALE", 10)
    workdir = Path(tempfile.mkdtemp(prefix="jiekun-soak-"))
    decider = Decider()
    crashes: list[CrashReport] = []
    missing: list[str] = []
    failed = True
    try:
        url = _upgraded(f"sqlite:///{workdir / 'soak.db'}")
        crashes.append(crash_run("sqlite", url, kills, seed, workdir, decider))
        pg = with_postgres(lambda pg_url: crash_run("postgresql", pg_url, kills, seed,
                                                    workdir, decider))
        if isinstance(pg, str):
            log(pg)
            missing.append(pg)
        else:
            crashes.append(pg)
        log(f"randomized tests ×{scale}")
        tests = run_randomized(scale, workdir)
        log(f"randomized tests: {tests.tests} run, {tests.failures} failed, {tests.errors} "
            f"errors ({tests.seconds:.0f} s)")
        failed = bool(missing) or not tests.ok or any(not r.ok for r in crashes)
    finally:
        if failed:  # the stores, the children's logs and stderr, for the investigation
            log(f"kept for inspection: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - STARTED
    print(report_markdown(crashes, missing, tests, kills, seed, total), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
