"""History files in and out of the store: ``case import`` and ``case export``.

Import fires every line through the durable engine at its recorded time, with the report of a
replay (a case stops at its first violation). Export writes the applied events in commit
order, times in Asia/Shanghai, so that replaying an export reproduces the stored states.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from jiekun.policies.deadlines import SHANGHAI
from jiekun.policies.errors import FieldProblem, InvalidInput
from jiekun.workflow.engine import Engine
from jiekun.workflow.history import HistoryLine, event_line, parse_history
from jiekun.workflow.records import CaseState, Command, Event
from jiekun.workflow.replay import ReplayReport, judge_history
from jiekun.workflow.row_mapping import event_of


def import_history(engine: Engine, lines: Iterable[str]) -> ReplayReport:
    """InvalidInput (nothing stored) when a line is malformed; otherwise the report."""
    parsed = list(parse_history(lines))

    def fire(case: CaseState, command: Command, line: HistoryLine
             ) -> tuple[Event, CaseState, list[str]]:
        if line.redacted:
            raise InvalidInput("history file", [FieldProblem(
                f"line {line.line}", "a redacted event cannot be imported: its personal data "
                "was destroyed", "已脱敏的事件不能导入：其个人信息已销毁")])
        event = engine.execute(command)
        return event, engine.decider.apply(case if case.state else None, event), []

    def start(case_id: str) -> CaseState:
        return engine.stored_case(case_id) or CaseState(case_id)

    return judge_history(parsed, fire, start)


def export_lines(engine: Engine, case_id: str | None = None) -> Iterator[str]:
    """History lines; every event of a case whose personal data was destroyed carries its
    recorded derivations (``derived``), which the replay of such a case takes."""
    with engine.store.reads() as reads:
        records = (reads.case_events(case_id) if case_id is not None
                   else reads.all_events())
        purged = reads.purged_cases()
        for record in records:
            event = event_of(record.stored)
            derived = (event.derived.model_dump(mode="json")
                       if event.case_id in purged else None)
            yield event_line(event.case_id, event.at.astimezone(SHANGHAI), event.trigger,
                             event.actor, event.data, derived)
