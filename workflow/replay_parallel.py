"""``jiekun replay`` of a large history: streamed from its file, judged on one process per core,
with the report one process gives (issue 18).

Cases are independent but for R-ONE-OPEN-CASE, which is judged across cases in file order by
the applicant's id number. So the events are cut into shards by that id: a case goes where the
id of its first line sends it (a submit's ``data.applicant.id_number``, else a worker actor's
``id_number``, else its case id: a case whose first line names no applicant never holds an
open case for anyone, as its first line is then refused), and its later lines follow its case
id. Every shard sees all cases of its applicants in file order, so R-ONE-OPEN-CASE reads there
what it reads in one process. Every worker gets the file's policy version lines; each event
keeps its line number. The reports are merged in the order the cases first appear in the file.

The file is streamed, never held whole: read once for its policy version lines (an event is
decided under the version it names, wherever in the file that version's line is), then by each
worker, which routes every line as every other worker does and judges its own shard's (the
main process only merges). Each worker keeps a case compact once it can no longer use its
application, and counts events instead of keeping them (``Replayer``), so memory is bounded by
the cases still open (and the ids of the cases seen, which routing needs).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing import connection as pipes
from pathlib import Path
from typing import Any

from jiekun.policies.errors import InvalidInput
from jiekun.workflow.decider import Decider
from jiekun.workflow.history import FileLines, parse_numbered
from jiekun.workflow.history_versions import versions_in
from jiekun.workflow.records import CaseState
from jiekun.workflow.replay import (
    CaseReplay,
    Replayer,
    ReplayReport,
    Violation,
    few_collections,
    replay,
)

# Below this size a history is replayed in one process: starting the workers and each reading
# the whole file cost more than the second core gives back (measured: tests/bench/replaying.py).
PARALLEL_FROM_BYTES = 2_000_000
_FAST_PREFIX = '{"case": "'

Lines = Callable[[], Iterator[str]]


def file_lines(path: str | Path) -> Lines:
    """The lines of a UTF-8 file, streamed, split as ``str.splitlines`` splits the whole text
    (so line numbers are those of ``replay(text.splitlines())``)."""
    return FileLines(path)


_Row = tuple[int, str, str | None, str | None, str | None, int, Violation | None,
            list[tuple[int, str, list[str]]]]


@dataclass(frozen=True)
class _Outcome:
    """What a worker sends back: its cases in the report's terms, each after the number of
    its first line, and its first malformed line (number and text), if any."""

    cases: list[_Row]
    malformed: tuple[int, str] | None = None
    crash: str | None = None
    unreadable: UnicodeDecodeError | None = None  # raised here as one process raises it


@dataclass
class _Shard:
    """Shard ``shard`` of ``workers``, as one worker reads the file: every worker routes
    every line (routing is deterministic in file order) and keeps its own cases' lines, so
    that no process hands lines out (a line of another shard costs a prefix check and a
    lookup, its case's first line a JSON parse). ``stop`` is shared by the workers: the
    first malformed line found so far, past which no worker need read."""

    shard: int
    workers: int
    stop: Any  # a shared multiprocessing value ('q'), 0 until a worker finds a malformed line
    # case id → the number of its first line when this shard judges it, else 0
    seen: dict[str, int] = field(default_factory=dict)

    def lines(self, lines: Lines) -> Iterator[tuple[int, str]]:
        """(number, text) of this shard's event lines, in file order, and the first line
        that cannot be routed (not an event object, so malformed: the worker names it)."""
        seen, shard, workers, stop = self.seen, self.shard, self.workers, self.stop
        start = len(_FAST_PREFIX)
        for number, text in enumerate(lines(), start=1):
            if not number & 1023 and stop.value and stop.value < number:
                return  # a worker found an earlier malformed line: the file is refused
            # the case id of a line as ``case export`` writes it (``"case"`` its first key, no
            # escapes, one such key) read without parsing: this runs for every line in every
            # worker, and a known case's line needs nothing more
            if (text.startswith(_FAST_PREFIX) and "\\" not in text
                    and text.count('"case"') == 1 and (end := text.find('"', start)) > 0):
                first = seen.get(text[start:end])
                if first is not None:
                    if first:
                        yield number, text
                    continue
            stripped = text.lstrip()
            if not stripped:
                continue
            if stripped.startswith(('{"policy_version"', '{"checkpoint"')):
                try:
                    if parse_numbered(text, number) is None:
                        continue  # a meta line
                except InvalidInput:
                    yield number, text
                    return
            routed = _route_key(text)
            if routed is None:
                yield number, text  # refused by parse_numbered too (it is not an event)
                return
            case_id, key = routed
            first = seen.get(case_id)
            if first is None:
                first = seen[case_id] = (number if _shard_of(key, workers) == shard else 0)
            if first:
                yield number, text

    def found_malformed(self, number: int) -> None:
        with self.stop.get_lock():
            if not self.stop.value or number < self.stop.value:
                self.stop.value = number


def _work(connection: pipes.Connection, lines: Lines, shard: _Shard, decider: Decider,
          version_lines: list[str]) -> None:
    """A worker: judge this shard's lines of the file, in file order; send its outcome."""
    try:
        replayer = Replayer(decider, versions_in(version_lines), keep_events=False,
                            compact=True)
        malformed: tuple[int, str] | None = None
        with few_collections():
            for number, text in shard.lines(lines):
                try:
                    line = parse_numbered(text, number)
                except InvalidInput:
                    malformed = (number, text)
                    shard.found_malformed(number)
                    break
                if line is not None:
                    replayer.judge(line)
        first = shard.seen
        rows: list[_Row] = [] if malformed else [
            (first[case_id], case_id, r.case.state, r.case.category, r.case.reviewing_body,
             r.applied, r.violation, r.unverifiable_lines)
            for case_id, r in replayer.cases.items()]
        first.clear()  # the routing and the cases, before the outcome is pickled beside them
        replayer.cases.clear()
        connection.send(_Outcome(rows, malformed))
    except UnicodeDecodeError as error:  # not UTF-8: the file is refused as it is read
        connection.send(_Outcome([], None, None, error))
    except BaseException:  # a bug, or a refusal the replay re-raises: the parent re-raises it
        connection.send(_Outcome([], None, traceback.format_exc()))
    finally:
        connection.close()


def _route_key(text: str) -> tuple[str, str] | None:
    """(case id, shard key) of an event line that starts a case: the applicant's id number
    when the line names one, else the case id. None when the line is not an event object."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("case"), str):
        return None
    case_id: str = obj["case"]
    data, actor = obj.get("data"), obj.get("actor")
    applicant = data.get("applicant") if isinstance(data, dict) else None
    id_number = applicant.get("id_number") if isinstance(applicant, dict) else None
    if not isinstance(id_number, str) and isinstance(actor, dict) and actor.get(
            "role") == "worker":
        id_number = actor.get("id_number")
    # an id is upper-cased as the application's validator does (a lower-case check x)
    return case_id, ("id:" + id_number.upper() if isinstance(id_number, str)
                     else "case:" + case_id)


def _shard_of(key: str, workers: int) -> int:
    # a stable hash (not ``hash``: salted per process), spread over the workers
    return zlib.crc32(key.encode()) % workers


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def replay_lines(lines: Lines, decider: Decider | None = None, *, file_versions: bool = True,
                 workers: int | None = None) -> ReplayReport:
    """The report ``replay`` gives for these lines, judged on ``workers`` processes (default:
    one per core; one judges in this process, still streamed). ``lines`` is called twice."""
    decider = decider or Decider()
    workers = workers or cores()
    try:
        version_lines = _version_lines(lines) if file_versions else []
        versions_in(version_lines)  # a version line refused: see below
    except InvalidInput:
        # which error the file reports first (a malformed event line, or this one) is what
        # one process decides: it parses every line before the versions
        return replay(lines(), decider, file_versions=file_versions)
    if workers <= 1:
        return _in_process(lines, decider, version_lines)
    return _on_workers(lines, decider, version_lines, workers)


def _version_lines(lines: Lines) -> list[str]:
    prefix = '{"policy_version"'
    if isinstance(lines, FileLines):
        return lines.starting_with(prefix)
    return [text for text in lines() if text.lstrip().startswith(prefix)]


def _in_process(lines: Lines, decider: Decider, version_lines: list[str]) -> ReplayReport:
    replayer = Replayer(decider, versions_in(version_lines), keep_events=False, compact=True)
    with few_collections():
        for number, text in enumerate(lines(), start=1):
            line = parse_numbered(text, number)
            if line is not None:
                replayer.judge(line)
    return replayer.report()


def _on_workers(lines: Lines, decider: Decider, version_lines: list[str],
                workers: int) -> ReplayReport:
    # fork: the workers inherit the decider (its machine and policy) already built; replay
    # holds no database handle or thread that a fork could copy in a bad state
    context = (multiprocessing.get_context("fork")
               if "fork" in multiprocessing.get_all_start_methods()
               else multiprocessing.get_context("spawn"))
    stop = context.Value("q", 0)
    ends = [context.Pipe(duplex=False) for _ in range(workers)]
    processes = [context.Process(target=_work, args=(
        child, lines, _Shard(shard, workers, stop), decider, version_lines), daemon=True)
        for shard, (_, child) in enumerate(ends)]
    for process in processes:
        process.start()
    for _, child in ends:
        child.close()
    try:
        outcomes: list[_Outcome] = [parent.recv() for parent, _ in ends]
    finally:
        for parent, _ in ends:
            parent.close()
        for process in processes:
            process.join()
    return _merged(outcomes)


def _merged(outcomes: list[_Outcome]) -> ReplayReport:
    crashed = [o.crash for o in outcomes if o.crash is not None]
    if crashed:
        raise RuntimeError(f"a replay worker failed:\n{crashed[0]}")
    unreadable = [o.unreadable for o in outcomes if o.unreadable is not None]
    if unreadable:
        raise unreadable[0]
    found = [o.malformed for o in outcomes if o.malformed is not None]
    if found:
        number, text = min(found)
        parse_numbered(text, number)  # raises the InvalidInput one process raises
        raise AssertionError(f"line {number} was refused by a worker but parses here")
    rows = sorted((row for outcome in outcomes for row in outcome.cases),
                  key=lambda row: row[0])  # the order the cases first appear in
    return ReplayReport({
        case_id: CaseReplay(
            CaseState(case_id, state, category=category, reviewing_body=body),
            violation=violation, unverifiable_lines=unverifiable, applied=applied)
        for _, case_id, state, category, body, applied, violation, unverifiable in rows})


def replay_file(path: str | Path, decider: Decider | None = None, *,
                file_versions: bool = True, workers: int | None = None) -> ReplayReport:
    """``replay`` of the history at ``path``: on one process per core from
    ``PARALLEL_FROM_BYTES`` on, else in this process (streamed either way)."""
    if workers is None and Path(path).stat().st_size < PARALLEL_FROM_BYTES:
        workers = 1
    return replay_lines(file_lines(path), decider, file_versions=file_versions,
                        workers=workers)
