"""``jiekun keys init|status|rotate [--index]``: the master key of the vault and the key of
its applicant index (issue 19).

The master key lives in a file (``JIEKUN_MASTER_KEY_FILE``, or ``<db>.master-key`` beside a
SQLite store), mode 0600; the wrapped data keys of the cases in its key store beside it
(``<file>.keystore``). Neither is in the database. An unusable key exits 4 (E-KEY).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from jiekun.persistence.database import configured_for_url, key_file_beside
from jiekun.persistence.index_rotation import rotate_index_at
from jiekun.persistence.keys import (
    MASTER_KEY_ENV,
    FileKeyProvider,
    KeyProvider,
    create_master_key_file,
)
from jiekun.policies.errors import KeyUnavailable
from jiekun.workflow.cli.common import db_option, emit, open_engine, store_common


@click.group()
def keys() -> None:
    """The master key that seals personal data (init, status, rotate)."""


def _file_provider(db_url: str) -> FileKeyProvider:
    provider: KeyProvider | None = configured_for_url(db_url)[0]
    if provider is None:
        raise KeyUnavailable(f"no master key is configured for {db_url}: set {MASTER_KEY_ENV} "
                             "or run `jiekun keys init`",
                             detail_zh=f"未配置主密钥：请设置 {MASTER_KEY_ENV}")
    if not isinstance(provider, FileKeyProvider):
        raise KeyUnavailable(f"the key provider is {provider.describe()}: manage it with its "
                             "own tools")
    return provider


@keys.command("init")
@click.option("--file", "key_file", type=click.Path(dir_okay=False), default=None,
              help=f"where to write the master key (default: ${MASTER_KEY_ENV}, else beside "
                   "the SQLite store as DB.master-key)")
@db_option
@store_common
def keys_init(key_file: str | None, db_url: str, fmt: str) -> None:
    """Create a master key file (mode 0600; an existing one is never overwritten)."""
    named = key_file or os.environ.get(MASTER_KEY_ENV) or None
    path = Path(named) if named else key_file_beside(db_url)
    if path is None:
        raise KeyUnavailable(f"say where the master key goes: --file PATH or {MASTER_KEY_ENV}",
                             detail_zh=f"请用 --file 或 {MASTER_KEY_ENV} 指定主密钥文件位置")
    key_id = create_master_key_file(path)
    emit(fmt, {"master_key": key_id, "file": str(path)},
         lambda r: f"master key {r['master_key']} → {r['file']} (mode 0600): keep it and its "
                   ".keystore off the database's backups, and back them up apart")


@keys.command("status")
@db_option
@store_common
def keys_status(db_url: str, fmt: str) -> None:
    """The key provider, its master keys, the data keys of this store per master key and
    cipher."""
    provider = _file_provider(db_url)
    engine = open_engine(db_url, fmt)
    try:
        with engine.store.reads() as reads:
            scope = reads.store_origin()  # the provider keeps each store's keys apart by it
            used = reads.key_references()  # batch keys that seal a case
    finally:
        engine.close()
    result = {"store": scope, **provider.status(scope, used)}
    emit(fmt, result, _status_text)


def _status_text(r: dict[str, Any]) -> str:
    lines = [f"provider: file {r['master_key_file']} (key store {r['key_store']})",
             f"master keys: {', '.join(r['master_keys'])} (current {r['current_master_key']})"
             + ("; a rotation is in progress: run `jiekun keys rotate` to finish it"
                if r["rotation_in_progress"] else ""),
             f"cipher of new data keys: {r['algorithm']}"]
    lines += [f"  {k['count']} {_KINDS.get(k['kind'], k['kind'])} key(s) under "
              f"{k['master_key']}, {k['algorithm']}" for k in r["keys"]]
    if any(k["kind"] in ("index-next", "index-switch") for k in r["keys"]):
        lines.append("an index re-keying is in progress: run `jiekun keys rotate --index` to "
                     "finish it")
    return "\n".join(lines)


_KINDS = {"case": "case", "unused": "unused (made ahead in a batch)", "index": "index",
          "index-next": "new index (re-keying)", "index-switch": "new index (switching)"}


@keys.command("rotate")
@click.option("--index", "index", is_flag=True,
              help="re-key the applicant index instead: hash every row under a new index key "
                   "and destroy the old one (after purges, before a backup is handed on)")
@db_option
@store_common
def keys_rotate(index: bool, db_url: str, fmt: str) -> None:
    """Rewrap every data key under a new master key (what they seal is not touched). Both
    keys open until it is done; an interrupted rotation is finished by running it again.
    With --index: re-key the applicant index of this store (writers wait meanwhile)."""
    provider = _file_provider(db_url)
    if index:
        open_engine(db_url, fmt).close()  # exits 4 when missing, behind or unreachable
        emit(fmt, rotate_index_at(db_url, provider), _index_text)
        return
    done = provider.rotate()
    emit(fmt, done, lambda r: f"rotated: {r['rewrapped']} key(s) rewrapped under "
                              f"{r['master_key']}; retired {', '.join(r['retired']) or 'none'}")


def _index_text(r: dict[str, Any]) -> str:
    text = (f"applicant index re-keyed: {r['rekeyed']} of {r['rows']} row(s) hashed under a "
            "new index key; the old key " + ("destroyed" if r["old_key_destroyed"]
                                             else "was destroyed already"))
    if r["keyless"]:
        text += (f"; {r['keyless']} row(s) whose data key is gone left as they were (their "
                 "hash matches nothing now)")
    return text
