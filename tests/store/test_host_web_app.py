"""Safe in its host (issue 14): jiekun as the core of a small web back office.

A WSGI app (stdlib only: ``wsgiref`` with a threading server on 127.0.0.1) serves JSON over ONE
shared ``Engine``: ``POST /cases/<id>/submit``, ``POST /cases/<id>/fire/<trigger>``,
``GET /cases/<id>``, ``GET /cases``. A refusal (``JiekunError``) is a 4xx whose body is the
error's ``as_json()`` (404 E-NOT-FOUND; 409 E-CONFLICT, E-ORDER, E-IDEMPOTENCY; 503 E-BUSY;
422 otherwise); anything else is a 500, which no request may get.

40 client threads (urllib) submit and move cases of their own — valid commands, an idempotent
repeat, and commands that must be refused: a typo trigger, a wrong actor, a command dated before
the case's last event (E-ORDER), a used idempotency key with another payload (E-IDEMPOTENCY),
reads of a missing case and outside the reader's remit — while ``jiekun scheduler catch-up``
runs in other processes on the same store (a SQLite file, a PostgreSQL database). Every request
gets the answer it should; afterwards every chain verifies, the export replays with no
violation, and each case's history is the same whoever fired its timers (each once, at its due
time).
"""

from __future__ import annotations

import json
import os
import random
import re
import socketserver
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from store_cases import (
    AUDITOR,
    CITY,
    DEEP_STEPS,
    DEEP_SUBMIT,
    GU,
    RELATIVE_STEPS,
    RELATIVE_SUBMIT,
    XINWU,
    at,
    deep_application,
    relative_application,
    union,
)

from jiekun.policies.authorization import Actor
from jiekun.policies.errors import JiekunError
from jiekun.policies.resident_id import check_character
from jiekun.workflow.audit import verify
from jiekun.workflow.decider import Decider
from jiekun.workflow.engine import Engine
from jiekun.workflow.replay import replay
from jiekun.workflow.transfer import export_lines

CLIENTS = 40
CASES_EACH = 2
BACKGROUND = 150  # cases in unit publicity before the clients start: the scheduler's load
UNTIL = "2024-06-30"  # after every publicity of this test (its re-checks come later)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
STATUS = {"E-NOT-FOUND": 404, "E-CONFLICT": 409, "E-ORDER": 409, "E-IDEMPOTENCY": 409,
          "E-BUSY": 503}
ROUTE_ZH = "没有这个接口"

Environ = dict[str, Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict",
           422: "Unprocessable Entity", 500: "Internal Server Error",
           503: "Service Unavailable"}


# -- the host ----------------------------------------------------------------------------------

def actor_of(text: str) -> Actor:
    """``role[:org]``; a worker's is ``worker:<id number>``."""
    role, _, who = text.partition(":")
    if role == "worker":
        return Actor(role, id_number=who or None)
    return Actor(role, org=who or None)


def actor_from_json(value: dict[str, str]) -> Actor:
    return Actor(value["role"], org=value.get("org"), id_number=value.get("id_number"))


def event_json(event: Any) -> dict[str, Any]:
    return {"case": event.case_id, "seq": event.seq, "trigger": event.trigger,
            "at": event.at.isoformat(), "state": event.derived.state,
            "timers": [{"kind": str(t.kind), "due": None if t.due is None else t.due.isoformat()}
                       for t in event.derived.timers]}


class HostError(Exception):
    """A request the host itself refuses (unknown route, malformed body): a 4xx too."""

    def __init__(self, status: int, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.status = status
        self.body = {"code": code, "message_zh": message_zh, "message_en": message_en}


def back_office(engine: Engine) -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    """The WSGI app: every request on the one engine it was given."""

    def route(environ: Environ) -> tuple[int, Any]:
        method = environ["REQUEST_METHOD"]
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if method == "GET" and parts == ["cases"]:
            limit = int(query["limit"]) if "limit" in query else None
            rows = engine.cases(actor_of(query.get("as", "auditor")), limit=limit,
                                after=query.get("after"))
            return 200, [{k: str(v) for k, v in row.items()} for row in rows]
        if method == "GET" and len(parts) == 2 and parts[0] == "cases":
            case = engine.case(parts[1], actor_of(query.get("as", "auditor")))
            return 200, {"case": case.case_id, "state": case.state, "version": case.version}
        if method == "POST" and len(parts) >= 3 and parts[0] == "cases":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                actor, when = actor_from_json(body["actor"]), datetime.fromisoformat(body["at"])
            except (ValueError, KeyError, TypeError) as error:
                raise HostError(400, "HOST-BODY", f"malformed request body: {error}",
                                "请求内容格式不正确") from None
            key = body.get("idempotency_key")
            if parts[2:] == ["submit"]:
                event = engine.submit(parts[1], body["application"], actor, when,
                                      idempotency_key=key)
                return 200, event_json(event)
            if len(parts) == 4 and parts[2] == "fire":
                event = engine.fire(parts[1], parts[3], actor, when, body.get("data") or {},
                                    idempotency_key=key)
                return 200, event_json(event)
        raise HostError(404, "HOST-ROUTE", f"no route {method} {environ.get('PATH_INFO')}",
                        ROUTE_ZH)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            try:
                status, body = route(environ)
            except JiekunError as refusal:
                status, body = STATUS.get(refusal.code, 422), refusal.as_json()
            except HostError as error:
                status, body = error.status, error.body
            payload = json.dumps(body, ensure_ascii=False).encode()
        except Exception as error:  # a bug of the engine or of the host: never expected
            status = 500
            payload = json.dumps({"error": type(error).__name__, "detail": str(error),
                                  "trace": traceback.format_exc()}).encode()
        start_response(f"{status} {REASONS.get(status, 'Error')}",
                       [("Content-Type", "application/json; charset=utf-8"),
                        ("Content-Length", str(len(payload)))])
        return [payload]

    return app


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # 40 clients connect at once


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@dataclass
class Served:
    base: str
    server: ThreadingServer
    thread: threading.Thread


def serve(engine: Engine) -> Served:
    server = make_server("127.0.0.1", 0, back_office(engine), server_class=ThreadingServer,
                         handler_class=QuietHandler)
    assert isinstance(server, ThreadingServer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="back-office", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    return Served(f"http://{host!s}:{port}", server, thread)


# -- the clients -------------------------------------------------------------------------------

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


@dataclass
class Answer:
    client: int
    label: str
    method: str
    path: str
    status: int | None  # None: no answer at all
    body: Any
    expected: tuple[int, str | None]  # (status, code) the request must get


def request(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with OPENER.open(req, timeout=120) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return int(error.code), json.loads(raw)
        except ValueError:
            return int(error.code), raw.decode(errors="replace")


def resident(k: int) -> str:
    """Distinct valid ids (born 1985-06-01), one for each k < 1000."""
    first17 = f"32021119850601{k:03d}"
    return first17 + check_character(first17)


@dataclass(frozen=True)
class ClientCase:
    case_id: str
    relative: bool
    applicant: str

    @property
    def steps(self) -> dict[str, datetime]:
        return {name: at(when) for name, _who, when in
                (RELATIVE_STEPS if self.relative else DEEP_STEPS)}

    @property
    def submitted(self) -> datetime:
        return at(RELATIVE_SUBMIT if self.relative else DEEP_SUBMIT)

    @property
    def federation(self) -> Actor:
        return XINWU if self.relative else CITY

    def application(self) -> dict[str, Any]:
        return (relative_application if self.relative else deep_application)(self.applicant)


def client_cases(n: int) -> list[ClientCase]:
    return [ClientCase(f"W-{n:02d}-{j}", (n + j) % 2 == 1, resident(n * CASES_EACH + j))
            for j in range(CASES_EACH)]


def who(actor: Actor) -> dict[str, str]:
    return actor.as_json()


@dataclass
class Client:
    """One user of the back office, driving its own cases with think time between requests."""

    n: int
    base: str
    answers: list[Answer] = field(default_factory=list)
    passed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ask(self, label: str, method: str, path: str, body: dict[str, Any] | None,
            expected: tuple[int, str | None]) -> Any:
        try:
            status, answer = request(method, self.base + path, body)
        except Exception as error:  # no answer: connection refused, reset, timed out
            status, answer = None, f"{type(error).__name__}: {error}"
        self.answers.append(Answer(self.n, label, method, path, status, answer, expected))
        time.sleep(random.uniform(0.0, 0.03))  # a clerk's think time
        return answer

    def fire(self, case: ClientCase, label: str, trigger: str, actor: Actor, when: datetime,
             expected: tuple[int, str | None], data: dict[str, Any] | None = None,
             key: str | None = None) -> Any:
        body: dict[str, Any] = {"actor": who(actor), "at": when.isoformat(), "data": data or {}}
        if key is not None:
            body["idempotency_key"] = key
        return self.ask(label, "POST", f"/cases/{quote(case.case_id)}/fire/{trigger}", body,
                        expected)

    def run(self, barrier: threading.Barrier) -> None:
        cases = client_cases(self.n)
        barrier.wait(timeout=120)
        ok = (200, None)
        for case in cases:
            self.ask("read a case not yet there", "GET", f"/cases/{case.case_id}?as=auditor",
                     None, (404, "E-NOT-FOUND"))
            body = {"actor": who(union()), "at": case.submitted.isoformat(),
                    "application": case.application(), "idempotency_key": "submit"}
            for label in ("submit", "submit again (same key, same request)"):
                self.ask(label, "POST", f"/cases/{case.case_id}/submit", body, ok)
        for case in cases:
            start = case.steps["start_preliminary_review"]
            self.fire(case, "typo trigger", "start_preliminary_reveiw", union(), start,
                      (422, "E-TRANSITION"))
            self.fire(case, "another union", "start_preliminary_review", union("gu-other-9"),
                      start, (422, "E-ACTOR"))
            self.fire(case, "start", "start_preliminary_review", union(), start, ok)
        for case in cases:
            passing = case.steps["pass_preliminary_review"]
            self.passed[case.case_id] = self.fire(case, "pass", "pass_preliminary_review",
                                                  union(), passing, ok, key="pass")
            self.fire(case, "used key, another payload", "pass_preliminary_review", union(),
                      passing, (409, "E-IDEMPOTENCY"), data={"reason": "再来一次"}, key="pass")
            self.fire(case, "before the last event", "approve", case.federation,
                      passing - timedelta(minutes=30), (409, "E-ORDER"))
            self.ask("read outside the remit", "GET", f"/cases/{case.case_id}?as=federation:"
                     "liangxi", None, (422, "E-ACTOR"))
            self.ask("list a page", "GET", f"/cases?as=auditor&limit=10&after=W-{self.n:02d}",
                     None, ok)
        for case in cases:
            # after the unit publicity's due time: it fires first (here or in the scheduler)
            self.fire(case, "approve", "approve", case.federation, case.steps["approve"], ok)
            self.ask("read own case", "GET", f"/cases/{case.case_id}?as=grassroots_union:{GU}",
                     None, ok)


# -- the scheduler processes -------------------------------------------------------------------

@dataclass
class SchedulerRun:
    started: float
    ended: float
    returncode: int
    output: dict[str, Any] | None
    stderr: str


def catch_up(url: str, cwd: Path) -> SchedulerRun:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jiekun.workflow.cli", "scheduler", "catch-up", "--until", UNTIL,
         "--db", url, "--format", "json"],
        capture_output=True, text=True, timeout=300, cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        output = json.loads(done.stdout)
    except ValueError:
        output = None
    return SchedulerRun(started, time.monotonic(), done.returncode, output, done.stderr)


@dataclass
class SchedulerLoop:
    """``catch-up`` processes one after another until told to stop (at least one)."""

    url: str
    cwd: Path
    runs: list[SchedulerRun] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    failure: list[str] = field(default_factory=list)

    def run(self) -> None:
        try:
            while True:
                self.runs.append(catch_up(self.url, self.cwd))
                if self.stop.is_set():
                    return
        except Exception:
            self.failure.append(traceback.format_exc())


# -- the test ----------------------------------------------------------------------------------

def make_background(engine: Engine) -> None:
    """Cases waiting in unit publicity, their due times spread over 2024-01..05."""
    for k in range(BACKGROUND):
        case_id = f"BG-{k:03d}"
        when = at("2024-01-02T09:00:00+08:00") + timedelta(days=k % 120, minutes=k)
        application = deep_application(resident(500 + k))
        engine.submit(case_id, application, union(), when)
        engine.fire(case_id, "start_preliminary_review", union(), when)
        engine.fire(case_id, "pass_preliminary_review", union(), when)



@pytest.fixture
def served(backend: str, decider: Decider) -> Iterator[tuple[Engine, Served]]:
    """The back office on a fresh store of each backend (default pool and timeout)."""
    engine = Engine.open(backend, decider=decider)
    make_background(engine)
    office = serve(engine)
    try:
        yield engine, office
    finally:
        office.server.shutdown()
        office.server.server_close()
        office.thread.join(10)
        engine.close()


def test_back_office_with_a_scheduler_process(served: tuple[Engine, Served], backend: str,
                                              tmp_path: Path) -> None:
    engine, office = served
    started = time.monotonic()
    clients = [Client(n, office.base) for n in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)
    failures: list[str] = []

    def body(client: Client) -> None:
        try:
            client.run(barrier)
        except Exception:
            failures.append(f"client {client.n}:\n{traceback.format_exc()}")

    threads = [threading.Thread(target=body, args=(c,), name=f"client-{c.n}") for c in clients]
    for thread in threads:
        thread.start()
    loop = SchedulerLoop(backend, tmp_path)
    scheduler = threading.Thread(target=loop.run, name="scheduler-loop")
    scheduler.start()
    barrier.wait(timeout=120)  # the first catch-up process is starting: the clients go
    clients_started = time.monotonic()
    for thread in threads:
        thread.join(300)
    clients_ended = time.monotonic()
    loop.stop.set()
    scheduler.join(600)
    assert not scheduler.is_alive() and loop.failure == [], loop.failure
    last = catch_up(backend, tmp_path)  # after the clients: every timer due by UNTIL fires

    # every request answered as it should be, no 5xx
    assert failures == [], failures[0]
    assert not any(t.is_alive() for t in threads), "a client still runs"
    answers = [a for c in clients for a in c.answers]
    per_case = 3 + 3 + 5 + 2  # requests per case, see Client.run
    assert len(answers) == CLIENTS * CASES_EACH * per_case
    unanswered = [a for a in answers if a.status is None]
    assert unanswered == [], unanswered[:3]
    server_errors = [a for a in answers if a.status is not None and a.status >= 500]
    assert server_errors == [], server_errors[:3]
    refusals = [a for a in answers if a.status != 200]
    for a in refusals:
        assert a.status is not None and 400 <= a.status < 500, a
        assert isinstance(a.body, dict) and a.body.get("code"), a
        assert CHINESE.search(str(a.body.get("message_zh", ""))), a
        assert str(a.body.get("message_en", "")).strip(), a
        assert a.status == STATUS.get(a.body["code"], 422), a
    wrong = [a for a in answers if (a.status, None if a.status == 200 else a.body.get("code"))
             != a.expected]
    assert wrong == [], wrong[:3]
    by_label: dict[str, list[Answer]] = {}
    for a in answers:
        by_label.setdefault(a.label, []).append(a)
    for first, again in zip(by_label["submit"], by_label["submit again (same key, same request)"],
                            strict=True):
        assert first.body == again.body and first.body["seq"] == 1, (first, again)
    assert all(a.body["seq"] == 5 for a in by_label["approve"]), by_label["approve"][:3]
    assert all(a.body["state"] in ("media_publicity", "archived")
               for a in by_label["read own case"])

    # the scheduler processes: each ran to its end, and fired each timer once among them
    runs = [*loop.runs, last]
    fired: list[tuple[str, str]] = []
    for run in runs:
        assert run.returncode == 0 and run.output is not None, (run.returncode, run.stderr)
        fired += [(f["case"], f["trigger"]) for f in run.output["firings"]
                  if f["outcome"] == "fired"]
    assert any(r.started < clients_ended and r.ended > clients_started for r in loop.runs)
    assert len(fired) == len(set(fired)), Counter(fired).most_common(3)

    # every case as its user drove it, its timers fired once each at their due time
    client_case_list = [c for n in range(CLIENTS) for c in client_cases(n)]
    passed = {case_id: event for c in clients for case_id, event in c.passed.items()}
    engine_fired = 0
    for case in client_case_list:
        history = engine.history(case.case_id, AUDITOR)
        assert [e.trigger for e in history] == [
            "submit", "start_preliminary_review", "pass_preliminary_review",
            "unit_publicity_ended", "approve", "media_publicity_ended"], case
        unit_due = datetime.fromisoformat(passed[case.case_id]["timers"][0]["due"])
        assert history[3].at == unit_due, (case, history[3])
        media_due = history[4].derived.timers[0].due
        assert history[5].at == media_due, (case, history[5])
        assert engine.case(case.case_id, AUDITOR).state == "archived"
        engine_fired += (case.case_id, "unit_publicity_ended") not in fired
    for k in range(BACKGROUND):
        history = engine.history(f"BG-{k:03d}", AUDITOR)
        assert [e.trigger for e in history][-1] == "unit_publicity_ended", k
    with engine.store.reads() as reads:
        report = verify(reads, engine.decider)
    assert report.ok, report.problems[:3]
    lines = list(export_lines(engine))
    replayed = replay(lines, engine.decider)
    assert len(replayed.cases) == len(client_case_list) + BACKGROUND
    assert replayed.violations == 0, [(k, c.violation) for k, c in replayed.cases.items()
                                      if c.violation is not None][:3]
    assert len(lines) == report.events

    codes = Counter(str(a.body["code"]) for a in refusals)
    applied = sum(1 for a in answers if a.method == "POST" and a.status == 200) - len(
        by_label["submit again (same key, same request)"])
    print(f"\n{backend.split(':')[0]}: {CLIENTS} client threads, {len(answers)} requests, "
          f"{applied} commands applied, refusals {dict(sorted(codes.items()))}, "
          f"{len(runs)} catch-up processes fired {len(fired)} timers "
          f"({engine_fired} client publicities fired by the engine first), "
          f"{report.events} events, violations {replayed.violations}, "
          f"{time.monotonic() - started:.1f} s")
