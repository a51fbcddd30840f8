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

The file is read twice and never held whole: once for its policy version lines (an event is
decided under the version it names, wherever in the file that version's line is), once to
hand the events out in batches. Each worker keeps a case compact once it can no longer use its
application, and counts events instead of keeping them (``Replayer``), so memory is bounded by
the cases still open.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import traceback
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import connection as pipes
from pathlib import Path
from typing import Any

from jiekun.policies.errors import InvalidInput
from jiekun.workflow.decider import Decider
from jiekun.workflow.history import parse_numbered
from jiekun.workflow.history_versions import versions_in
from jiekun.workflow.records import CaseState
from jiekun.workflow.replay import CaseReplay, Replayer, ReplayReport, Violation, replay

# Below this size a history is replayed in one process: starting the workers and handing the
# lines over cost more than the second core gives back (measured: tests/bench/replaying.py).
PARALLEL_FROM_BYTES = 2_000_000
BATCH = 2_000  # lines handed to a worker at a time
_FAST_PREFIX = '{"case": "'

Lines = Callable[[], Iterator[str]]


def file_lines(path: str | Path) -> Lines:
    """The lines of a UTF-8 file, streamed, split as ``str.splitlines`` splits the whole text
    (so line numbers are those of ``replay(text.splitlines())``)."""
    def read() -> Iterator[str]:
        with open(path, encoding="utf-8", newline="") as stream:
            for chunk in stream:
                yield from chunk.splitlines()
    return read


@dataclass(frozen=True)
class _Outcome:
    """What a worker sends back: its cases in the report's terms, and its first malformed
    line (number and text), if any."""

    cases: list[tuple[str, str | None, str | None, str | None, int, Violation | None,
                      list[tuple[int, str, list[str]]]]]
    malformed: tuple[int, str] | None = None
    crash: str | None = None


@contextmanager
def _few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while judging: a replay makes few cycles, and
    each full collection walks every case held (~20% of a replay's time with the defaults)."""
    thresholds = gc.get_threshold()
    gc.freeze()  # what was built before (the decider, the machine) is never garbage
    gc.set_threshold(50_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _work(connection: pipes.Connection, decider: Decider, version_lines: list[str]) -> None:
    """A worker: judge the batches it is sent, in order, until None; send its outcome."""
    try:
        replayer = Replayer(decider, versions_in(version_lines), keep_events=False,
                            compact=True)
        malformed: tuple[int, str] | None = None
        with _few_collections():
            while (batch := connection.recv()) is not None:
                if malformed is not None:
                    continue  # the file is invalid input: nothing more to judge
                for number, text in batch:
                    try:
                        line = parse_numbered(text, number)
                    except InvalidInput:
                        malformed = (number, text)
                        break
                    if line is not None:
                        replayer.judge(line)
        connection.send(_Outcome([
            (case_id, r.case.state, r.case.category, r.case.reviewing_body, r.applied,
             r.violation, r.unverifiable_lines)
            for case_id, r in replayer.cases.items()], malformed))
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


def _case_of(text: str) -> str | None:
    """The case id of an event line as ``case export`` writes it (``"case"`` its first key,
    no escapes, one such key), without parsing the JSON; None to parse it."""
    if not text.startswith(_FAST_PREFIX) or "\\" in text or text.count('"case"') != 1:
        return None
    end = text.find('"', len(_FAST_PREFIX))
    return text[len(_FAST_PREFIX):end] if end > 0 else None


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
        version_lines = [text for text in lines() if text.lstrip().startswith(
            '{"policy_version"')] if file_versions else []
        versions_in(version_lines)  # a version line refused: see below
    except InvalidInput:
        # which error the file reports first (a malformed event line, or this one) is what
        # one process decides: it parses every line before the versions
        return replay(lines(), decider, file_versions=file_versions)
    if workers <= 1:
        return _in_process(lines, decider, version_lines)
    return _on_workers(lines, decider, version_lines, workers)


def _in_process(lines: Lines, decider: Decider, version_lines: list[str]) -> ReplayReport:
    replayer = Replayer(decider, versions_in(version_lines), keep_events=False, compact=True)
    with _few_collections():
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
    ends = [context.Pipe() for _ in range(workers)]
    processes = [context.Process(target=_work, args=(child, decider, version_lines),
                                 daemon=True) for _, child in ends]
    for process in processes:
        process.start()
    for _, child in ends:
        child.close()
    order: dict[str, int] = {}  # case id → shard, in the order cases first appear
    malformed: tuple[int, str] | None = None
    try:
        malformed = _hand_out(lines, order, [parent for parent, _ in ends], workers)
        outcomes: list[_Outcome] = [parent.recv() for parent, _ in ends]
    finally:
        for parent, _ in ends:
            parent.close()
        for process in processes:
            process.join()
    return _merged(order, outcomes, malformed)


def _hand_out(lines: Lines, order: dict[str, int], parents: list[pipes.Connection],
              workers: int) -> tuple[int, str] | None:
    """Send every event line to its shard, in file order; the first line that cannot be
    routed (not an event object: it is malformed) stops the reading."""
    batches: list[list[tuple[int, str]]] = [[] for _ in range(workers)]
    malformed: tuple[int, str] | None = None
    for number, text in enumerate(lines(), start=1):
        stripped = text.lstrip()
        if not stripped:
            continue
        if stripped.startswith(('{"policy_version"', '{"checkpoint"')):
            try:
                if parse_numbered(text, number) is None:
                    continue  # a meta line
            except InvalidInput:
                malformed = (number, text)
                break
        case_id = _case_of(text)
        shard = order.get(case_id) if case_id is not None else None
        if shard is None:
            routed = _route_key(text)
            if routed is None:
                malformed = (number, text)
                break
            case_id, key = routed
            shard = order.get(case_id)
            if shard is None:
                shard = order[case_id] = _shard_of(key, workers)
        batch = batches[shard]
        batch.append((number, text))
        if len(batch) >= BATCH:
            parents[shard].send(batch)
            batches[shard] = []
    for shard, batch in enumerate(batches):
        if batch:
            parents[shard].send(batch)
        parents[shard].send(None)
    return malformed


def _merged(order: dict[str, int], outcomes: list[_Outcome],
            malformed: tuple[int, str] | None) -> ReplayReport:
    crashed = [o.crash for o in outcomes if o.crash is not None]
    if crashed:
        raise RuntimeError(f"a replay worker failed:\n{crashed[0]}")
    found = [o.malformed for o in outcomes if o.malformed is not None]
    if malformed is not None:
        found.append(malformed)
    if found:
        number, text = min(found)
        parse_numbered(text, number)  # raises the InvalidInput one process raises
        raise AssertionError(f"line {number} was refused by a worker but parses here")
    by_case: dict[str, Any] = {}
    for outcome in outcomes:
        for row in outcome.cases:
            by_case[row[0]] = row
    cases: dict[str, CaseReplay] = {}
    for case_id in order:
        _, state, category, body, applied, violation, unverifiable = by_case[case_id]
        cases[case_id] = CaseReplay(
            CaseState(case_id, state, category=category, reviewing_body=body),
            violation=violation, unverifiable_lines=unverifiable, applied=applied)
    return ReplayReport(cases)


def replay_file(path: str | Path, decider: Decider | None = None, *,
                file_versions: bool = True, workers: int | None = None) -> ReplayReport:
    """``replay`` of the history at ``path``: on one process per core from
    ``PARALLEL_FROM_BYTES`` on, else in this process (streamed either way)."""
    if workers is None and Path(path).stat().st_size < PARALLEL_FROM_BYTES:
        workers = 1
    return replay_lines(file_lines(path), decider, file_versions=file_versions,
                        workers=workers)
