"""The lifecycle diagram model against the definition it is extracted from (no graphviz)."""

from __future__ import annotations

from collections import Counter

import pytest

from jiekun.diagrams import (
    START_NODE_ID,
    Cluster,
    Diagram,
    Edge,
    Legend,
    LegendSample,
    LineStyle,
    Node,
    NodeKind,
    lifecycle_diagram,
)
from jiekun.diagrams.labels import BRANCH_LABELS
from jiekun.policies.policy_file import load_policy
from jiekun.states import Branch, Lifecycle, Phase, Role, Scope, build_lifecycle

LIFECYCLE: Lifecycle = build_lifecycle()

# The brief's vocabulary for actors, written out here so the test does not read it back from
# the code under test.
ACTORS = {
    "zh": {Role.WORKER: "职工", Role.GRASSROOTS_UNION: "基层工会", Role.FEDERATION: "总工会",
           Role.SYSTEM: "系统"},
    "en": {Role.WORKER: "worker", Role.GRASSROOTS_UNION: "grassroots union",
           Role.FEDERATION: "federation", Role.SYSTEM: "system"},
}
COUNTY = {"zh": "县级以上总工会", "en": "county-level or higher federation"}
PHASES_ZH = {Phase.APPLICATION: "申报审核", Phase.ARCHIVE: "建档管理", Phase.EXIT: "退出",
             Phase.CLOSED: "关闭"}

# timer-fired trigger → its length as drawn with the default lengths
LENGTHS = {
    "zh": {"unit_publicity_ended": "5个工作日", "media_publicity_ended": "5个工作日",
           "exit_publicity_ended": "5个工作日", "recheck_due": "12/6个月",
           "phase_out_ended": "≤6个月", "retention_expired": "10年"},
    "en": {"unit_publicity_ended": "5 working days", "media_publicity_ended": "5 working days",
           "exit_publicity_ended": "5 working days", "recheck_due": "12/6 months",
           "phase_out_ended": "≤6 months", "retention_expired": "10 years"},
}


def definition_edge_keys() -> Counter[tuple[str, str, str]]:
    keys: Counter[tuple[str, str, str]] = Counter()
    for trigger in LIFECYCLE.triggers:
        for route in trigger.routes:
            source = START_NODE_ID if route.source is None else route.source
            keys[(source, trigger.name, source if route.dest is None else route.dest)] += 1
    return keys


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_one_node_per_state_with_the_definitions_label(lang: str) -> None:
    diagram = lifecycle_diagram(LIFECYCLE, lang)
    states = diagram.state_nodes
    assert [n.id for n in states] == [s.name for s in LIFECYCLE.states]
    for state in LIFECYCLE.states:
        node = diagram.node(state.name)
        assert node.label == (state.label.zh if lang == "zh" else state.label.en)
        assert node.cluster == state.phase.value
        assert (node.initial, node.final) == (state.initial, state.final)


def test_the_start_point_is_the_only_node_that_is_not_a_state() -> None:
    diagram = lifecycle_diagram(LIFECYCLE)
    others = [n for n in diagram.nodes if n.kind is not NodeKind.STATE]
    assert [(n.id, n.kind, n.cluster) for n in others] == [(START_NODE_ID, NodeKind.START, None)]
    assert START_NODE_ID not in LIFECYCLE.state_index
    from_start = [e for e in diagram.edges if e.source == START_NODE_ID]
    assert [(e.trigger, e.target) for e in from_start] == [("submit", "submitted")]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_one_edge_per_source_trigger_destination(lang: str) -> None:
    diagram = lifecycle_diagram(LIFECYCLE, lang)
    assert Counter(e.key for e in diagram.edges) == definition_edge_keys()
    assert len(diagram.edges) == sum(len(t.routes) for t in LIFECYCLE.triggers)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_edges_carry_the_triggers_label(lang: str) -> None:
    diagram = lifecycle_diagram(LIFECYCLE, lang)
    for edge in diagram.edges:
        label = LIFECYCLE.trigger(edge.trigger).label
        assert edge.label == (label.zh if lang == "zh" else label.en)


def test_internal_routes_are_self_loops_and_only_they_are() -> None:
    diagram = lifecycle_diagram(LIFECYCLE)
    internal = {(r.source, t.name) for t in LIFECYCLE.triggers for r in t.routes if r.dest is None}
    loops = {(e.source, e.trigger) for e in diagram.edges if e.source == e.target}
    assert loops == internal
    assert {(e.source, e.trigger) for e in diagram.edges if e.internal} == internal
    assert ("exit_pending", "confirm_exit") in loops  # the first of two confirmations


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_actor_labels_name_every_role_that_may_fire_from_that_source(lang: str) -> None:
    diagram = lifecycle_diagram(LIFECYCLE, lang)
    for edge in diagram.edges:
        source = None if edge.source == START_NODE_ID else edge.source
        rules = [a for a in LIFECYCLE.trigger(edge.trigger).actors
                 if a.in_states is None or source in a.in_states]
        expected = [COUNTY[lang] if a.scope is Scope.COUNTY_OR_ABOVE else ACTORS[lang][a.role]
                    for a in rules]
        sep = "、" if lang == "zh" else ", "
        assert edge.actor_label == sep.join(dict.fromkeys(expected)), edge.id


def test_publicity_actors_depend_on_which_publicity() -> None:
    diagram = lifecycle_diagram(LIFECYCLE)
    assert diagram.edge("unit_publicity", "dismiss_objection", "unit_publicity").actor_label \
        == "基层工会"
    assert diagram.edge("media_publicity", "uphold_objection", "rejected").actor_label == "总工会"
    assert diagram.edge("exit_verification", "verify_exit", "exit_publicity").actor_label \
        == "县级以上总工会、基层工会"


def test_clusters_are_the_phases() -> None:
    diagram = lifecycle_diagram(LIFECYCLE)
    assert diagram.clusters == tuple(Cluster(p.value, PHASES_ZH[p]) for p in Phase)
    assert {n.cluster for n in diagram.state_nodes} == {p.value for p in Phase}
    assert [n.id for n in diagram.nodes_in(Phase.CLOSED.value)] == [
        s.name for s in LIFECYCLE.states if s.phase is Phase.CLOSED]


def test_guards_only_when_asked() -> None:
    plain = lifecycle_diagram(LIFECYCLE)
    assert all(e.guards == () for e in plain.edges)
    guarded = lifecycle_diagram(LIFECYCLE, guards=True)
    for trigger in LIFECYCLE.triggers:
        for route in trigger.routes:
            source = START_NODE_ID if route.source is None else route.source
            target = source if route.dest is None else route.dest
            assert guarded.edge(source, trigger.name, target).guards == route.guards
    assert any(e.guards for e in guarded.edges)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_timer_edges_are_dashed_with_their_length(lang: str) -> None:
    diagram = lifecycle_diagram(LIFECYCLE, lang)
    fired = {(s, t.fires) for t in LIFECYCLE.timers for s in t.states}
    for edge in diagram.edges:
        if (edge.source, edge.trigger) in fired:
            assert edge.timed and edge.style is LineStyle.DASHED, edge.id
            assert edge.length_label == LENGTHS[lang][edge.trigger], edge.id
            assert edge.actor_label == ACTORS[lang][Role.SYSTEM]
        else:
            assert not edge.timed and edge.style is LineStyle.SOLID, edge.id
            assert edge.length_label is None
    # 3 publicities, the re-check, the phase-out, retention from 4 states
    assert sum(e.timed for e in diagram.edges) == 9


def test_lengths_override_the_defaults() -> None:
    diagram = lifecycle_diagram(LIFECYCLE, "zh", lengths={
        "unit_publicity_working_days": 7, "recheck_months_relative": 12,
        "recheck_months_accident": 12, "phase_out_max_months": 3,
        "retention_years_rejected_withdrawn": 15,
    })
    lengths = {e.id: e.length_label for e in diagram.edges if e.timed}
    assert lengths["unit_publicity--unit_publicity_ended--upper_review"] == "7个工作日"
    assert lengths["media_publicity--media_publicity_ended--archived"] == "5个工作日"
    assert lengths["archived--recheck_due--under_recheck"] == "12个月"
    assert lengths["phase_out--phase_out_ended--exit_pending"] == "≤3个月"
    assert lengths["rejected--retention_expired--purged"] == "15年"
    assert lengths["withdrawn--retention_expired--purged"] == "15年"
    assert lengths["exited--retention_expired--purged"] == "10年"


def test_english_lengths_of_one_are_singular() -> None:
    diagram = lifecycle_diagram(LIFECYCLE, "en", lengths={"exit_publicity_working_days": 1,
                                                          "retention_years": 1})
    assert diagram.edge("exit_publicity", "exit_publicity_ended", "exited").length_label \
        == "1 working day"
    assert diagram.edge("cancelled", "retention_expired", "purged").length_label == "1 year"


def test_the_policy_files_durations_are_accepted_as_lengths() -> None:
    durations = load_policy().durations.model_dump()
    diagram = lifecycle_diagram(LIFECYCLE, "zh", lengths=durations)
    edge = diagram.edge("unit_publicity", "unit_publicity_ended", "upper_review")
    assert edge.length_label == f"{durations['unit_publicity_working_days']}个工作日"


@pytest.mark.parametrize("lengths", [{"unit_publicity_days": 5}, {"retention_years": 0}])
def test_bad_lengths_are_refused(lengths: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(lengths))):
        lifecycle_diagram(LIFECYCLE, lengths=lengths)


def test_branches_tell_the_routes_of_one_trigger_apart() -> None:
    diagram = lifecycle_diagram(LIFECYCLE, "en")
    to_archive = diagram.edge("re_entered", "readmit", "archived")
    to_review = diagram.edge("re_entered", "readmit", "preliminary_review")
    assert to_archive.branch_label == BRANCH_LABELS[Branch.CAME_FROM_PHASE_OUT].en
    assert to_review.branch_label == BRANCH_LABELS[Branch.CAME_FROM_EXITED].en
    assert to_archive.branch_label != to_review.branch_label
    assert diagram.edge("upper_review", "approve", "media_publicity").branch_label is None
    assert all(b in BRANCH_LABELS and BRANCH_LABELS[b].zh and BRANCH_LABELS[b].en for b in Branch)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_title_and_legend_explain_solid_and_dashed(lang: str) -> None:
    diagram = lifecycle_diagram(LIFECYCLE, lang)
    assert diagram.title
    assert [e.sample for e in diagram.legend.entries] == [LegendSample.ACTION_EDGE,
                                                          LegendSample.TIMER_EDGE]
    assert all(e.label for e in diagram.legend.entries)
    assert lifecycle_diagram(LIFECYCLE, "zh").title != lifecycle_diagram(LIFECYCLE, "en").title


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="'fr'"):
        lifecycle_diagram(LIFECYCLE, "fr")


def test_a_diagram_refuses_dangling_edges_and_duplicates() -> None:
    node = Node("a", "A", None)
    legend = Legend("", ())
    with pytest.raises(ValueError, match="unknown end"):
        Diagram("t", (node,), (Edge("a", "b", "go", "go", "x"),), (), legend)
    with pytest.raises(ValueError, match="duplicate node"):
        Diagram("t", (node, node), (), (), legend)
    with pytest.raises(ValueError, match="unknown cluster"):
        Diagram("t", (Node("a", "A", "nowhere"),), (), (), legend)
