"""``audit verify`` on several cores: the case ids (of events and of projections) are sorted
and cut into contiguous shares, one process verifies each share, and the reports are merged
in case order (so the first problem named is the one a single process would name). Chains
are per case, so nothing a share needs lies in another."""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from jiekun.persistence.database import make_engine
from jiekun.persistence.store import Store
from jiekun.policies.policy_file import Policy
from jiekun.workflow.audit import AuditReport, verify
from jiekun.workflow.decider import Decider

PARALLEL_FROM = 5_000  # cases: below that, starting processes costs more than it saves


def _verify_share(url: str, policy: Policy, share: list[str]) -> AuditReport:
    # This process is ours alone and its chunks are short-lived trees of objects: the
    # collector's full passes over the long-lived ones (modules, policy, caches) are waste
    # (~10% of a share's time measured on 100,000 events).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    store = Store(make_engine(url))
    try:
        with store.reads() as reads:
            return verify(reads, Decider(policy), share)
    finally:
        store.close()


def shares(ids: list[str], parts: int) -> list[list[str]]:
    """Contiguous shares of the sorted ids, one per process, in case order."""
    size = -(-len(ids) // parts)
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def verify_store(url: str, policy: Policy, workers: int | None = None,
                 meanwhile: Callable[[], object] | None = None) -> AuditReport:
    """``meanwhile``: other work of the same audit (``audit verify --against``'s pass over the
    log's leaves) run in this process while the workers verify, on the core time they leave
    (their shares rarely end together); before the verification on a small store."""
    workers = workers or os.cpu_count() or 1
    store = Store(make_engine(url))
    try:
        with store.reads() as reads:
            ids = reads.all_case_ids()
            if workers <= 1 or len(ids) < PARALLEL_FROM:
                if meanwhile is not None:
                    meanwhile()
                return verify(reads, Decider(policy))
    finally:
        store.close()
    parts = shares(ids, workers)
    # spawn: a fresh interpreter per worker, no inherited database handles
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(parts), mp_context=context) as pool:
        futures = [pool.submit(_verify_share, url, policy, part) for part in parts]
        if meanwhile is not None:
            meanwhile()
        reports = [future.result() for future in futures]
    merged = AuditReport()
    for report in reports:  # in span order, which is case order
        merged.cases += report.cases
        merged.events += report.events
        merged.problems += report.problems
        merged.sealed += report.sealed
    return merged
