"""Personal data is never in the SQLite files in plain text (sealed, issue 19), and destroyed
personal data leaves no copy of its ciphertext either: not in freed pages of the database
(secure_delete) and not in the write-ahead log (checkpointed after the purge)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jiekun.persistence.database import make_engine, upgrade
from jiekun.scheduler.firing import TimerFirer
from jiekun.workflow.clock import SimulatedClock
from jiekun.workflow.engine import Engine
from jiekun.workflow.transfer import import_history

HISTORY = Path(__file__).parents[1] / "cases" / "histories" / (
    "07-exit-refused-verified-announced.jsonl")
APPLICANT_ID = b"320211197903155182"  # the applicant of C-8 in that history
CONTACT = "社工王某".encode()  # the phase-out's contact person


def test_no_copy_of_destroyed_data_in_the_sqlite_files(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}"
    upgrade(make_engine(url))
    engine = Engine.open(url)
    assert import_history(engine, HISTORY.read_text("utf-8").splitlines()).violations == 0
    files = [path, Path(f"{path}-wal")]
    assert not any(APPLICANT_ID in f.read_bytes() for f in files if f.exists())
    sealed = [f.read_bytes().count(b"jk1:aes:") for f in files if f.exists()]
    assert sum(sealed) > 0  # the vault's values are there, as ciphertext
    start = datetime.fromisoformat("2025-04-04T00:00:00+08:00")
    fired = TimerFirer(engine).catch_up(SimulatedClock(start),
                                        datetime.fromisoformat("2036-01-01T00:00:00+08:00"))
    assert [f.trigger for f in fired] == ["retention_expired"]
    for f in files:
        if f.exists():
            content = f.read_bytes()
            assert APPLICANT_ID not in content and CONTACT not in content, f.name
    # the purged case's ciphertext went with its rows (the other cases of the history keep
    # theirs): fewer sealed values than before
    after = [f.read_bytes().count(b"jk1:aes:") for f in files if f.exists()]
    assert sum(after) < sum(sealed)
