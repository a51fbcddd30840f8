"""Issue 19's cost in CPU instructions, which a shared machine's noise does not move:
``python -m tests.bench.instructions [CASES]`` runs the engine on the benchmark's workload
under valgrind's callgrind, with the vault sealed and without encryption, each on CASES and
on twice CASES cases (default 150), and reports the instructions a transition costs on each
side (the difference of the two sizes over the difference of their transitions: what the
process does once — imports, building the workload's first part, the migrations — cancels
out). Needs ``valgrind`` (Debian package ``valgrind``); ~5 minutes on 2 cores. Not part of
`make bench`: the wall-clock row there is the issue's figure; this tells what it would be
without the machine's noise (user-space instructions only: not the system calls, not the
cache misses).

``python -m tests.bench.instructions run MODE CASES`` is one side, as valgrind runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(mode: str, cases: int) -> None:
    from jiekun.persistence.keys import NO_ENCRYPTION, FileKeyProvider
    from jiekun.workflow.decider import Decider
    from jiekun.workflow.engine import Engine
    from tests.bench import durable
    from tests.bench.workload import build, stream

    work = Path(tempfile.mkdtemp(prefix="jiekun-instructions-"))
    os.environ["JIEKUN_MASTER_KEY_FILE"] = str(work / "master-key")
    try:
        decider = Decider()
        steps = stream(build(decider, cases, seed=1))
        url = f"sqlite:///{work / 'store.db'}"
        durable.prepared_store(url)  # (creates the master key)
        keys = NO_ENCRYPTION if mode == "plain" else FileKeyProvider(work / "master-key")
        engine = Engine.open(url, decider=decider, keys=keys)
        durable.run_engine(engine, steps)
        engine.close()
        print(f"steps {len(steps)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measured(mode: str, cases: int) -> tuple[int, int]:
    """(instructions, transitions) of one side under callgrind."""
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out",
             sys.executable, "-m", "tests.bench.instructions", "run", mode, str(cases)],
            cwd=ROOT, capture_output=True, text=True, check=True)
    total = re.search(r"Collected : (\d+)", done.stderr)
    steps = re.search(r"steps (\d+)", done.stdout)
    if total is None or steps is None:
        raise RuntimeError(f"valgrind said:\n{done.stderr[-2000:]}\n{done.stdout[-2000:]}")
    return int(total.group(1)), int(steps.group(1))


def main(cases: int = 150) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    runs = [(mode, n) for mode in ("plain", "sealed") for n in (cases, 2 * cases)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = dict(zip(runs, pool.map(lambda r: _measured(*r), runs), strict=True))
    per_step = {}
    for mode in ("plain", "sealed"):
        (small, n1), (large, n2) = found[(mode, cases)], found[(mode, 2 * cases)]
        per_step[mode] = (large - small) / (n2 - n1)
        print(f"{mode}: {per_step[mode]:,.0f} instructions a transition "
              f"({n2 - n1:,} transitions between the two sizes)")
    print(f"sealed vs plain: {per_step['sealed'] / per_step['plain'] - 1:+.1%} instructions")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        _run(sys.argv[2], int(sys.argv[3]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
