"""The demo: two and a half years of a synthetic Wuxi caseload on the embedded default (SQLite).

``caseload`` makes the households (seeded), ``Simulation`` drives them through the durable
engine with the scheduler on a simulated clock (what the people do is in ``plans``), and
``summarize`` reads the figures back. ``jiekun demo`` (jiekun.workflow.cli.demo) runs it all.
"""

from jiekun.workflow.demo.caseload import Household, caseload
from jiekun.workflow.demo.simulation import END, START, DemoStats, Simulation
from jiekun.workflow.demo.summary import AUDITOR, aid_per_item, summarize

__all__ = [
    "AUDITOR",
    "END",
    "START",
    "DemoStats",
    "Household",
    "Simulation",
    "aid_per_item",
    "caseload",
    "summarize",
]
