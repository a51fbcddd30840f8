"""Sealing the vault rows a store holds from before encryption (issue 19), after migration
0006: each plain value (and the projection's personal figures) is sealed in place under its
case's key, and each applicant gets its keyed index entry. Projections written before
``cases.personal`` existed hold their personal figures (``medical_declared``) in the plain
snapshot: they are taken out of it and sealed into ``cases.personal``, as the engine writes
them now. Events keep their digests (the chain covers them); only the vault's copies change.
One transaction: a store is sealed wholly or not at all, and running it again seals nothing
twice (sealed values are recognised by their prefix)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, or_, select, update

from jiekun.persistence.keys import KeyProvider
from jiekun.persistence.queries import store_origin
from jiekun.persistence.schema import case_personal, cases, personal_data
from jiekun.persistence.vault import Vault
from jiekun.persistence.vault_crypto import PREFIX, is_sealed
from jiekun.policies.errors import KeyUnavailable

# The projection's personal figures, kept apart from its snapshot (as workflow/row_mapping.py's
# _SNAPSHOT_PERSONAL: persistence cannot import it)
FIGURES = "medical_declared"
Rows = Sequence[Row[Any, Any, Any]]  # three columns each


def seal_existing(engine: Engine, keys: KeyProvider) -> int:
    """Seal every vault value still in plain text; returns how many rows changed."""
    with engine.begin() as connection:
        # a case's existing key is found through the store (by batch reference or by case)
        vault = Vault(keys, lambda: store_origin(connection)).on(connection)
        if not vault.encrypts:
            return 0
        snapshots = _plain_figures(connection)
        figures = connection.execute(
            select(cases.c.case_id, cases.c.version, cases.c.personal)
            .where(cases.c.personal.is_not(None), cases.c.personal.not_like(PREFIX + "%"))).all()
        plain = connection.execute(
            select(personal_data.c.case_id, personal_data.c.seq, personal_data.c.payload)
            .where(personal_data.c.payload.not_like(PREFIX + "%"))).all()
        applicants = connection.execute(
            select(case_personal.c.case_id, case_personal.c.applicant_id,
                   case_personal.c.application)
            .where(or_(case_personal.c.applicant_key.is_(None),
                       case_personal.c.application.not_like(PREFIX + "%"),
                       case_personal.c.applicant_id.not_like(PREFIX + "%")))).all()
        prepare = getattr(keys, "prepare", None)
        if prepare is not None:  # a provider that makes many keys at once (FileKeyProvider)
            # only the cases sealed here: every other case has its key (by case or by batch);
            # made by case, so no batch key is handed out that the store would not record
            prepare(vault.scope(), sorted(
                {c for c, _, _, moved in snapshots if moved is not None}
                | {str(r[0]) for r in [*figures, *plain, *applicants]}))
        changed = (_move_figures(connection, vault, snapshots)
                   + _seal_figures(connection, vault, figures)
                   + _seal_payloads(connection, vault, plain)
                   + _seal_applicants(connection, vault, applicants))
        if vault.made():  # (a provider without ``prepare`` handed out batch keys)
            raise KeyUnavailable(f"{keys.describe()} made batch keys while sealing an old "
                                 "store; nothing was changed",
                                 detail_zh="封存旧数据时密钥异常，未作更改")
    return changed


def _plain_figures(connection: Connection) -> list[tuple[str, int, str, str | None]]:
    """(case, version, snapshot without the figures, the figures as ``cases.personal`` holds
    them or None) of each projection whose snapshot holds them. None: the figures are empty
    (the engine writes none then), or ``cases.personal`` holds them already (and wins when
    the case is read: the snapshot's copy goes, nothing else changes)."""
    rows = connection.execute(
        select(cases.c.case_id, cases.c.version, cases.c.snapshot, cases.c.personal)
        .where(cases.c.snapshot.like(f'%"{FIGURES}"%'))).all()
    found = []
    for case_id, version, text, personal in rows:
        snapshot: dict[str, Any] = json.loads(text)
        if FIGURES not in snapshot:
            continue  # the name was inside some value
        figures = snapshot.pop(FIGURES)
        moved = _compact({FIGURES: figures}) if figures and personal is None else None
        found.append((str(case_id), int(version), _compact(snapshot), moved))
    return found


def _compact(value: Any) -> str:
    """JSON as the engine writes it (pydantic's compact form: no spaces, UTF-8 as is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _move_figures(connection: Connection, vault: Vault,
                  snapshots: list[tuple[str, int, str, str | None]]) -> int:
    """Take the figures out of the snapshots, sealed into ``cases.personal`` (place: the
    case's version) — written sealed at once, never as plain text in another column."""
    for case_id, version, snapshot, figures in snapshots:
        values: dict[str, Any] = {"snapshot": snapshot}
        if figures is not None:
            values["personal"] = vault.seal(case_id, str(version), "cases.personal", figures)
        connection.execute(update(cases).where(cases.c.case_id == case_id).values(values))
    return len(snapshots)


def _seal_figures(connection: Connection, vault: Vault, figures: Rows) -> int:
    for case_id, version, personal in figures:
        connection.execute(update(cases).where(cases.c.case_id == case_id).values(
            personal=vault.seal(case_id, str(version), "cases.personal", personal)))
    return len(figures)


def _seal_payloads(connection: Connection, vault: Vault, plain: Rows) -> int:
    for case_id, seq, payload in plain:
        connection.execute(
            update(personal_data)
            .where(personal_data.c.case_id == case_id, personal_data.c.seq == seq)
            .values(payload=vault.seal(case_id, str(seq), "personal_data.payload", payload)))
    return len(plain)


def _seal_applicants(connection: Connection, vault: Vault, rows: Rows) -> int:
    """Seal what is plain of each applicant row and give it its keyed index entry."""
    for case_id, applicant_id, application in rows:
        id_number = (vault.open(case_id, "application", "case_personal.applicant_id",
                                applicant_id) if is_sealed(applicant_id) else applicant_id)
        text = (application if is_sealed(application) else
                vault.seal(case_id, "application", "case_personal.application", application))
        connection.execute(
            update(case_personal).where(case_personal.c.case_id == case_id).values(
                applicant_id=vault.seal(case_id, "application", "case_personal.applicant_id",
                                        id_number),
                application=text, applicant_key=vault.index(id_number)))
    return len(rows)
