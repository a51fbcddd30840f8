"""``jiekun demo``: the main job on the embedded default, written to ``demo-output/``: the
store, the exported history, the policy it ran under, diagrams, the audit and a summary."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import click

from jiekun.diagrams import case_path_diagram, lifecycle_diagram, render
from jiekun.persistence.database import make_engine, upgrade
from jiekun.policies.aid_merge import policy_text_with_tables
from jiekun.workflow.aid_report import aid_report
from jiekun.workflow.audit import verify
from jiekun.workflow.cli.common import read_policy
from jiekun.workflow.cli.diagram import path_steps
from jiekun.workflow.decider import Decider
from jiekun.workflow.demo import (
    AUDITOR,
    END,
    START,
    Simulation,
    aid_per_item,
    caseload,
    summarize,
)
from jiekun.workflow.demo.training import write_training_outputs
from jiekun.workflow.engine import Engine
from jiekun.workflow.proven_export import proven_export

DATA = Path(__file__).parents[2] / "policies" / "data"
ILLUSTRATIVE_TIERS = DATA / "illustrative-aid-tiers.toml"
DEFAULT_POLICY = DATA / "wx-2023-45.toml"


def _table(title: str, counts: dict[str, int]) -> str:
    lines = [title]
    lines += [f"  {name:<26} {count:>6}" for name, count in counts.items()]
    return "\n".join(lines)


def _write_outputs(out: Path, engine: Engine) -> tuple[dict[str, Any], str]:
    lengths = engine.decider.policy.durations.model_dump()
    for lang in ("zh", "en"):
        render(lifecycle_diagram(engine.decider.lifecycle, lang, False, lengths),
               out / f"lifecycle-{lang}.svg")
    longest = max(engine.cases(AUDITOR), key=lambda r: int(str(r["version"])))
    case_id = str(longest["case_id"])
    events = engine.history(case_id, AUDITOR)
    render(case_path_diagram(engine.decider.lifecycle, path_steps(events), "zh",
                             lengths=lengths, title=case_id), out / f"case-{case_id}-path.svg")
    with (out / "history.jsonl").open("w", encoding="utf-8") as sink:
        # an export that proves itself (CONTRACT §2.1), dated at the simulated clock's end
        for line in proven_export(engine.store, END):
            sink.write(line + "\n")
    with engine.store.reads() as reads:
        audit = verify(reads, engine.decider).as_json()
    (out / "audit-verify.json").write_text(json.dumps(audit, indent=2), "utf-8")
    return audit, case_id


@click.command()
@click.option("--households", default=2000, show_default=True)
@click.option("--seed", default=45, show_default=True, help="the caseload and decisions")
@click.option("--output", default="demo-output", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--policy", "policy_file", default=None, type=click.Path(dir_okay=False))
def demo(households: int, seed: int, output: str, policy_file: str | None) -> None:
    """Two and a half years of a synthetic Wuxi caseload (2024-01 … 2026-06) on a fresh
    SQLite store, every timer fired by the scheduler on a simulated clock."""
    started = time.perf_counter()
    out = Path(output)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    url = f"sqlite:///{out / 'jiekun.db'}"
    upgrade(make_engine(url))
    # Aid needs tier tables; the shipped policy has none (no official amounts are invented),
    # so the demo adds illustrative ones under a policy id that says so, written out as
    # demo-output/policy.toml: the file to replay the demo's history with.
    source = Path(policy_file) if policy_file else DEFAULT_POLICY
    policy_out = out / "policy.toml"
    policy_out.write_text(policy_text_with_tables(
        source.read_text("utf-8"), ILLUSTRATIVE_TIERS.read_text("utf-8"), "+illustrative-aid"),
        "utf-8")
    engine = Engine.open(url, decider=Decider(read_policy(str(policy_out), "text")))
    load = caseload(households, seed, START.date(), START.date().replace(year=2025, month=12,
                                                                         day=20),
                    engine.decider.policy.living_standard_on(START.date()).amount)
    simulation = Simulation(engine, load)
    with click.progressbar(length=(END - START).days, label="2024-01 → 2026-06",
                           show_pos=True) as bar:
        stats = simulation.run(bar.update)
    click.echo("writing diagrams, the exported history and the audit …")
    audit, path_case = _write_outputs(out, engine)
    click.echo("writing the handbook, the page diagrams and the 2025 report …")
    training = write_training_outputs(out, engine)
    summary = summarize(engine, stats, time.perf_counter() - started)
    summary["aid"] = aid_report(engine)
    summary["audit_verify"] = audit
    summary["path_diagram_case"] = path_case
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                      "utf-8")
    click.echo("\n\n".join([
        f"{summary['households']} households, {summary['events']} events in "
        f"{summary['seconds']} s (seed {seed})",
        _table("cases per state", summary["cases_per_state"]),
        _table("cases per category", summary["cases_per_category"]),
        _table("cases per reviewing body", summary["cases_per_reviewing_body"]),
        _table("timers fired", summary["timers_fired"]),
        _table("refusals by rule id", summary["refusals_by_rule"]),
        _table("aid granted per item, yuan (ILLUSTRATIVE tier tables, not official amounts)",
               aid_per_item(summary["aid"])),
        f"audit verify: {'passed' if audit['ok'] else 'FAILED'} ({audit['cases']} cases, "
        f"{audit['events']} events)",
        f"written to {out}/: jiekun.db, history.jsonl, policy.toml, lifecycle-zh.svg, "
        f"lifecycle-en.svg, case-{path_case}-path.svg, audit-verify.json, summary.json, "
        f"{', '.join(training)}",
        f"replay it: jiekun replay {out}/history.jsonl (it names the policy version of each "
        "event)",
    ]))
    if not audit["ok"]:
        raise SystemExit(1)
