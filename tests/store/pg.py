"""A throw-away PostgreSQL 15 server for the store's tests.

``initdb`` into a temporary directory owned by the ``postgres`` system user (initdb refuses to
run as root), trust authentication for local connections, a free loopback port, the unix
socket in the temporary directory. Durability stays at PostgreSQL's defaults (fsync on,
synchronous_commit on): the tests measure the store as it will run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

BIN = Path(os.environ.get("JIEKUN_PG_BIN", "/usr/lib/postgresql/15/bin"))
INSTALL_HINT = ("install the Debian package postgresql-15 (`make debian` does, as root), or set "
                "JIEKUN_PG_BIN to the directory holding initdb and pg_ctl")


class PostgresUnavailable(RuntimeError):
    """The test server could not be started; the message says why and what to do."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.root: Path | None = None
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        self._databases = 0

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root)

    def start(self) -> None:
        initdb, pg_ctl = BIN / "initdb", BIN / "pg_ctl"
        if not (initdb.is_file() and pg_ctl.is_file()):
            raise PostgresUnavailable(f"PostgreSQL 15 is not installed ({initdb} is missing): "
                                      f"{INSTALL_HINT}")
        self.root = Path(tempfile.mkdtemp(prefix="jiekun-pg-"))
        if self._as_postgres:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(f"no `postgres` system user: {INSTALL_HINT}") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
        done = self._run(initdb, "-D", self.data, "-U", "postgres", "--auth=trust",
                         "--encoding=UTF8", "--locale=C")
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({done.returncode}):\n{done.stdout}\n"
                                      f"{done.stderr}")
        last = ""
        for _ in range(3):  # the free port may be taken between the probe and the start
            self.port = _free_port()
            options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                       "-c max_connections=60")
            done = self._run(pg_ctl, "-D", self.data, "-l", self.root / "server.log", "-w",
                             "-t", "60", "-o", options, "start")
            if done.returncode == 0:
                return
            last = done.stdout + done.stderr + self.log_tail()
        raise PostgresUnavailable(f"pg_ctl start failed:\n{last}")

    def log_tail(self, lines: int = 30) -> str:
        assert self.root is not None
        log = self.root / "server.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data / "postmaster.pid").exists():
            self._run(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as connection:
            connection.execute(statement.encode())

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database (no schema); returns its name."""
        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Dropped at once (its pages leave the buffer cache, so the final stop is quick)."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
