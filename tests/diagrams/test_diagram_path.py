"""One case's path over the lifecycle: taken edges numbered and dated, current state marked,
everything else faded (model level, no graphviz)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jiekun.diagrams import (
    START_NODE_ID,
    Diagram,
    Emphasis,
    LegendSample,
    NodeKind,
    PathStep,
    case_path_diagram,
    lifecycle_diagram,
    to_dot,
)
from jiekun.diagrams.model import step_marker
from jiekun.states import Lifecycle, build_lifecycle

LIFECYCLE: Lifecycle = build_lifecycle()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=SHANGHAI)


# A case sent back once for supplements, with an objection raised and dismissed, archived,
# re-checked and confirmed.
STEPS = [
    PathStep("submit", None, "submitted", at("2024-03-04")),
    PathStep("start_preliminary_review", "submitted", "preliminary_review", at("2024-03-05")),
    PathStep("request_supplement", "preliminary_review", "submitted", at("2024-03-08")),
    PathStep("amend_application", "submitted", "submitted", at("2024-03-10")),
    PathStep("start_preliminary_review", "submitted", "preliminary_review", at("2024-03-11")),
    PathStep("pass_preliminary_review", "preliminary_review", "unit_publicity", at("2024-03-15")),
    PathStep("raise_objection", "unit_publicity", "unit_publicity", at("2024-03-18")),
    PathStep("dismiss_objection", "unit_publicity", "unit_publicity", at("2024-03-20")),
    PathStep("unit_publicity_ended", "unit_publicity", "upper_review", at("2024-03-25")),
    PathStep("approve", "upper_review", "media_publicity", at("2024-04-01")),
    PathStep("media_publicity_ended", "media_publicity", "archived", at("2024-04-09")),
    PathStep("recheck_due", "archived", "under_recheck", at("2025-04-09")),
    PathStep("confirm_eligibility", "under_recheck", "archived", at("2025-04-20")),
]


def step_key(step: PathStep) -> tuple[str, str, str]:
    return (START_NODE_ID if step.source is None else step.source, step.trigger, step.dest)


@pytest.fixture(scope="module")
def path() -> Diagram:
    return case_path_diagram(LIFECYCLE, STEPS, "zh")


def test_exactly_the_taken_edges_are_highlighted(path: Diagram) -> None:
    taken = {step_key(s) for s in STEPS}
    assert {e.key for e in path.edges if e.emphasis is Emphasis.HIGHLIGHT} == taken
    assert all(e.emphasis is Emphasis.FADED for e in path.edges if e.key not in taken)
    assert all(not e.marks for e in path.edges if e.key not in taken)


def test_marks_give_every_step_in_order_with_its_date(path: Diagram) -> None:
    marks = sorted((m.step, e.key, m.on) for e in path.edges for m in e.marks)
    assert marks == [(n, step_key(s), s.at.date()) for n, s in enumerate(STEPS, start=1)]
    twice = path.edge("submitted", "start_preliminary_review", "preliminary_review")
    assert [m.text for m in twice.marks] == ["② 2024-03-05", "⑤ 2024-03-11"]


def test_the_dot_source_carries_the_step_labels(path: Diagram) -> None:
    source = to_dot(path)
    assert "① 2024-03-04" in source
    assert "⑬ 2025-04-20" in source


def test_the_current_state_is_the_last_destination(path: Diagram) -> None:
    current = [n.id for n in path.nodes if n.emphasis is Emphasis.CURRENT]
    assert current == ["archived"]


def test_states_never_reached_are_faded(path: Diagram) -> None:
    visited = {s.dest for s in STEPS} | {s.source for s in STEPS if s.source}
    faded = {n.id for n in path.state_nodes if n.emphasis is Emphasis.FADED}
    assert faded == {s.name for s in LIFECYCLE.states} - visited
    highlighted = {n.id for n in path.state_nodes if n.emphasis is Emphasis.HIGHLIGHT}
    assert highlighted == visited - {"archived"}
    start = next(n for n in path.nodes if n.kind is NodeKind.START)
    assert start.emphasis is Emphasis.HIGHLIGHT


def test_the_path_keeps_the_whole_lifecycle(path: Diagram) -> None:
    whole = lifecycle_diagram(LIFECYCLE, "zh")
    assert [e.key for e in path.edges] == [e.key for e in whole.edges]
    assert [n.id for n in path.nodes] == [n.id for n in whole.nodes]
    samples = [e.sample for e in path.legend.entries]
    assert LegendSample.TAKEN_EDGE in samples and LegendSample.FADED_STATE in samples


def test_a_title_can_name_the_case() -> None:
    diagram = case_path_diagram(LIFECYCLE, STEPS[:1], "en", title="Case 42")
    assert diagram.title == "Case 42"
    assert case_path_diagram(LIFECYCLE, STEPS[:1], "en").title


def test_an_internal_last_step_leaves_the_case_where_it_was() -> None:
    diagram = case_path_diagram(LIFECYCLE, STEPS[:4], "en")
    assert [n.id for n in diagram.nodes if n.emphasis is Emphasis.CURRENT] == ["submitted"]
    loop = diagram.edge("submitted", "amend_application", "submitted")
    assert [m.step for m in loop.marks] == [4]


def test_a_partial_history_need_not_start_with_submit() -> None:
    diagram = case_path_diagram(LIFECYCLE, STEPS[11:], "zh")
    start = next(n for n in diagram.nodes if n.kind is NodeKind.START)
    assert start.emphasis is Emphasis.FADED
    assert [m.step for m in diagram.edge("archived", "recheck_due", "under_recheck").marks] == [1]


def test_dates_are_shanghai_dates() -> None:
    late_utc = datetime(2024, 3, 3, 17, 30, tzinfo=UTC)  # 01:30 on the 4th in Wuxi
    diagram = case_path_diagram(LIFECYCLE, [PathStep("submit", None, "submitted", late_utc)])
    (mark,) = diagram.edge(START_NODE_ID, "submit", "submitted").marks
    assert mark.on == date(2024, 3, 4)
    plus_one = datetime(2024, 3, 4, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    diagram = case_path_diagram(LIFECYCLE, [PathStep("submit", None, "submitted", plus_one)])
    assert diagram.edge(START_NODE_ID, "submit", "submitted").marks[0].on == date(2024, 3, 4)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        case_path_diagram(LIFECYCLE, [PathStep("submit", None, "submitted", datetime(2024, 3, 4))])


@pytest.mark.parametrize(("steps", "message"), [
    ([], "at least one step"),
    ([PathStep("approve", "submitted", "media_publicity", at("2024-03-04"))],
     "step 1 .* not a transition"),
    ([PathStep("fly_away", "submitted", "submitted", at("2024-03-04"))],
     "not a transition"),
    ([STEPS[0], PathStep("approve", "upper_review", "media_publicity", at("2024-03-05"))],
     "step 2 .* does not start in submitted"),
])
def test_broken_paths_are_refused(steps: list[PathStep], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        case_path_diagram(LIFECYCLE, steps)


def test_step_markers_stay_distinct_for_long_histories() -> None:
    markers = [step_marker(n) for n in range(1, 61)]
    assert len(set(markers)) == 60
    assert markers[0] == "①" and markers[20] == "㉑" and markers[49] == "㊿"
    assert markers[50] == "(51)"
