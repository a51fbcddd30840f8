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


def test_an_auditor_signs_keeps_and_checks_an_export(tmp_path: Path) -> None:
    """keygen → a signed checkpoint → the store grows → an export against the checkpoint →
    verify-export with the key and the checkpoint proves it; a forged copy exits 1 naming the
    line; without --against the export is reported as consistent with itself only."""
    url = f"sqlite:///{tmp_path / 'audited.db'}"
    key, mark, export = tmp_path / "audit.key", tmp_path / "cp.txt", tmp_path / "export.jsonl"
    assert _run("db", "upgrade", "--db", url).returncode == 0
    assert _run("case", "import", str(HISTORIES / "01-deep-happy-path-to-archive.jsonl"),
                "--db", url).returncode == 0
    made = _run("audit", "keygen", "--name", "wx-audit", "-o", str(key))
    assert made.returncode == 0, made.stderr
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+wx-audit+")
    assert _run("audit", "keygen", "--name", "wx-audit", "-o", str(key)).returncode == 2
    assert _run("audit", "checkpoint", "-o", str(mark), "--key", str(key),
                "--db", url).returncode == 0
    assert "\n\n— wx-audit " in mark.read_text()
    signed = _run("audit", "verify", "--against", str(mark), "--key", f"{key}.pub", "--db", url)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert _run("case", "import", str(HISTORIES / "05-relative-recheck-phase-out-exit.jsonl"),
                "--db", url).returncode == 0
    exported = _run("case", "export", "-o", str(export), "--against", str(mark), "--key",
                    str(key), "--at", "2026-11-29T15:00:00+08:00", "--db", url)
    assert exported.returncode == 0, exported.stderr

    proven = _run("audit", "verify-export", str(export), "--against", str(mark), "--key",
                  f"{key}.pub", "--format", "json")
    assert proven.returncode == 0, proven.stdout + proven.stderr
    result = json.loads(proven.stdout)
    assert (result["proven"], result["against"], result["signature"]) == (
        True, "verified", "verified")
    alone = _run("audit", "verify-export", str(export))
    assert alone.returncode == 0 and "consistent with itself only" in alone.stdout

    lines = export.read_text("utf-8").splitlines()
    line = json.loads(lines[3])
    line["actor"]["org"] = "gu-forged"
    lines[3] = json.dumps(line, ensure_ascii=False)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n", "utf-8")
    caught = _run("audit", "verify-export", str(forged), "--against", str(mark))
    assert caught.returncode == 1, caught.stdout
    assert f"line 4, case {line['case']} #{line['seq']}: hash" in caught.stdout
    # a store that no longer holds the checkpoint's log: verify --against names the signature
    # of another key too
    other = tmp_path / "other.key"
    assert _run("audit", "keygen", "--name", "wx-audit", "-o", str(other)).returncode == 0
    wrong = _run("audit", "verify", "--against", str(mark), "--key", f"{other}.pub", "--db", url)
    assert wrong.returncode == 1 and "signature" in wrong.stdout
