"""The scheduler process of the memory benchmark: ``python -m tests.bench.rss_child URL UNTIL``.

Opens the engine on the store, runs one ``SchedulerService.tick`` (what the heartbeat runs:
fire every due timer, then find the next one) with a simulated clock at UNTIL, and prints one
JSON line: its peak resident set (VmHWM) before the tick (imports and engine open) and after.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime


def vm_hwm_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(url: str, until: str) -> None:
    from jiekun.scheduler.service import SchedulerService
    from jiekun.workflow.clock import SimulatedClock
    from jiekun.workflow.engine import Engine

    engine = Engine.open(url)
    service = SchedulerService(engine, clock=SimulatedClock(datetime.fromisoformat(until)),
                               blocking=False)
    idle = vm_hwm_kb()
    fired = service.tick()
    peak = vm_hwm_kb()
    outcomes = Counter(f.outcome for f in fired)
    engine.store.engine.dispose()
    print(json.dumps({"idle_kb": idle, "peak_kb": peak, "outcomes": dict(outcomes)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
