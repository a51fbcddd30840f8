"""``jiekun audit checkpoint`` and ``audit verify --against`` as an auditor runs them (issue 16,
part): a checkpoint kept outside the store still verifies after the store grew, and a deleted
last event (the truncation ``audit verify`` alone does not see once the case's rows are rebuilt
consistently) is named against it with exit 1."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

HISTORIES = Path(__file__).resolve().parents[1] / "cases" / "histories"
JIEKUN = [sys.executable, "-m", "jiekun.workflow.cli"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JIEKUN, *args], capture_output=True, text=True, timeout=120)


def test_a_checkpoint_holds_while_the_store_grows_and_names_a_truncation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audited.db'}"
    mark = tmp_path / "checkpoint.txt"
    assert _run("db", "upgrade", "--db", url).returncode == 0
    assert _run("case", "import", str(HISTORIES / "01-deep-happy-path-to-archive.jsonl"),
                "--db", url).returncode == 0
    taken = _run("audit", "checkpoint", "-o", str(mark), "--db", url, "--format", "json")
    assert taken.returncode == 0, taken.stderr
    size = json.loads(taken.stdout)["size"]
    assert size > 0 and mark.read_text("utf-8").splitlines()[1] == str(size)
    assert (tmp_path / "checkpoint.txt.index").exists()

    assert _run("case", "import", str(HISTORIES / "05-relative-recheck-phase-out-exit.jsonl"),
                "--db", url).returncode == 0
    grown = _run("audit", "verify", "--against", str(mark), "--db", url, "--format", "json")
    assert grown.returncode == 0, grown.stdout + grown.stderr
    against = json.loads(grown.stdout)["against"]
    assert against["ok"] and against["size"] > size and against["consistency_proof"]

    # an insider removes the newest event of the first case and rewinds its case row to match
    with sqlite3.connect(tmp_path / "audited.db") as raw:
        _, seq, prev = raw.execute(
            "SELECT case_id, seq, prev_hash FROM events WHERE position = "
            "(SELECT max(position) FROM events WHERE case_id = "
            "(SELECT case_id FROM events ORDER BY position LIMIT 1))").fetchone()
        first = raw.execute("SELECT case_id FROM events ORDER BY position LIMIT 1").fetchone()[0]
        raw.execute("DELETE FROM events WHERE case_id = ? AND seq = ?", (first, seq))
        raw.execute("UPDATE cases SET version = ?, head_hash = ? WHERE case_id = ?",
                    (seq - 1, prev, first))
    broken = _run("audit", "verify", "--against", str(mark), "--db", url)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN" in broken.stdout
    named = [line for line in broken.stdout.splitlines() if line.startswith("  ")]
    # the place is the leaf of the deleted event (the checkpoint's last one): the store now
    # holds another event there, which is named
    assert any(f"leaf {size - 1} differs" in line for line in named), broken.stdout
