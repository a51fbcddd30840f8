"""Sealing the vault rows a store holds from before encryption (issue 19), after migration
0006: each plain value (and the projection's personal figures) is sealed in place under its
case's key, and each applicant gets its
keyed index entry. Events keep their digests (the chain covers them); only the vault's copies
change. One transaction: a store is sealed wholly or not at all, and running it again seals
nothing twice (sealed values are recognised by their prefix)."""

from __future__ import annotations

from sqlalchemy import Engine, or_, select, update

from jiekun.persistence.keys import KeyProvider
from jiekun.persistence.queries import store_origin
from jiekun.persistence.schema import case_personal, cases, personal_data
from jiekun.persistence.vault import Vault
from jiekun.persistence.vault_crypto import PREFIX, is_sealed


def seal_existing(engine: Engine, keys: KeyProvider) -> int:
    """Seal every vault value still in plain text; returns how many rows changed."""
    changed = 0
    with engine.begin() as connection:
        vault = Vault(keys, lambda: store_origin(connection))
        if not vault.encrypts:
            return 0
        plain = connection.execute(
            select(personal_data.c.case_id, personal_data.c.seq, personal_data.c.payload)
            .where(personal_data.c.payload.not_like(PREFIX + "%"))).all()
        figures = connection.execute(
            select(cases.c.case_id, cases.c.version, cases.c.personal)
            .where(cases.c.personal.is_not(None), cases.c.personal.not_like(PREFIX + "%"))).all()
        prepare = getattr(keys, "prepare", None)
        if prepare is not None:  # a provider that makes many keys at once (FileKeyProvider)
            everyone = connection.execute(select(case_personal.c.case_id)).scalars().all()
            prepare(vault.scope(), sorted({str(c) for c in everyone}
                                        | {str(r[0]) for r in plain}))
        for case_id, version, personal in figures:
            connection.execute(update(cases).where(cases.c.case_id == case_id).values(
                personal=vault.seal(case_id, str(version), "cases.personal", personal)))
            changed += 1
        for case_id, seq, payload in plain:
            connection.execute(
                update(personal_data)
                .where(personal_data.c.case_id == case_id, personal_data.c.seq == seq)
                .values(payload=vault.seal(case_id, str(seq), "personal_data.payload",
                                           payload)))
            changed += 1
        rows = connection.execute(
            select(case_personal.c.case_id, case_personal.c.applicant_id,
                   case_personal.c.application)
            .where(or_(case_personal.c.applicant_key.is_(None),
                       case_personal.c.application.not_like(PREFIX + "%"),
                       case_personal.c.applicant_id.not_like(PREFIX + "%")))).all()
        for case_id, applicant_id, application in rows:
            id_number = (vault.open(case_id, "application", "case_personal.applicant_id",
                                    applicant_id) if is_sealed(applicant_id) else applicant_id)
            text = (application if is_sealed(application) else
                    vault.seal(case_id, "application", "case_personal.application",
                               application))
            connection.execute(
                update(case_personal).where(case_personal.c.case_id == case_id).values(
                    applicant_id=vault.seal(case_id, "application",
                                            "case_personal.applicant_id", id_number),
                    application=text, applicant_key=vault.index(id_number)))
            changed += 1
    return changed
