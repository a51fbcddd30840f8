"""Policy versions live in the store (issue 15): the ``policy_versions`` table.

A new store gets the policy shipped with this jiekun as version 1. A store that already holds
events gets one version for every (policy id, policy hash) its events name, numbered in the
order the store first used them, and keeps every event as it is (events are never rewritten):

- the hash events recorded for the shipped ``wx-2023-45.toml`` before this revision (a hash of
  the pydantic model, ``LEGACY_SHIPPED_HASH``) is registered with the shipped text, under the
  hash of that text (``policy_text_hash``) with the old hash kept as ``legacy_hash``: an alias,
  so a reader looking up either finds the version;
- any other hash names a policy file passed with ``--policy`` whose text the store never held:
  it is registered with that hash (as both ``hash`` and ``legacy_hash``), no text, and a note
  saying so. Such a version is never current. An operator who ran the store under their own
  file publishes it after the upgrade (``jiekun policy publish FILE``).

When no registered version has a text, the shipped policy is published as the newest version,
so every store has a current version after this revision.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from jiekun.policies.policy_file import shipped_policy_text
from jiekun.policies.policy_hash import LEGACY_SHIPPED_HASH, policy_text_hash

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The text hash of the shipped file whose model hash is LEGACY_SHIPPED_HASH: the alias holds
# only while the shipped text is that one (a later release that changes the file registers
# old events' hash without text).
SHIPPED_TEXT_HASH = "sha256:ab59ea14d4604ea4cee79f802a2bd3d73f9a1eba0e18c4b25e86a90e5600c562"
BY = "jiekun db upgrade (migration 0005)"


def upgrade() -> None:
    table = op.create_table(
        "policy_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.Column("legacy_hash", sa.String(80), nullable=True),
        sa.Column("toml", sa.Text, nullable=True),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_policy_versions_hash", "policy_versions", ["hash"])
    op.create_index("ix_policy_versions_legacy_hash", "policy_versions", ["legacy_hash"])
    shipped = shipped_policy_text()
    shipped_hash = policy_text_hash(shipped)
    shipped_id = str(tomllib.loads(shipped)["id"])
    alias = LEGACY_SHIPPED_HASH if shipped_hash == SHIPPED_TEXT_HASH else None
    now = datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"
    used = op.get_bind().execute(sa.text(
        "SELECT policy_id, policy_hash, MIN(position) AS first FROM events "
        "WHERE policy_hash IS NOT NULL GROUP BY policy_id, policy_hash ORDER BY first"))
    rows: list[dict[str, object]] = []
    for policy_id, policy_hash, _first in used:
        number = len(rows) + 1
        if policy_hash in (alias, shipped_hash):
            rows.append({"version": number, "policy_id": policy_id, "hash": shipped_hash,
                         "legacy_hash": alias, "toml": shipped, "published_by": BY,
                         "published_at": now,
                         "note": "the shipped policy, named by events stored before migration "
                                 f"0005 as {policy_hash}"})
        else:
            rows.append({"version": number, "policy_id": policy_id, "hash": policy_hash,
                         "legacy_hash": policy_hash, "toml": None, "published_by": BY,
                         "published_at": now,
                         "note": "registered from the events that name it: its text was never "
                                 "stored (a policy file passed with --policy before migration "
                                 "0005)"})
    if not any(row["toml"] is not None for row in rows):
        rows.append({"version": len(rows) + 1, "policy_id": shipped_id, "hash": shipped_hash,
                     "legacy_hash": alias, "toml": shipped, "published_by": BY,
                     "published_at": now, "note": "the policy shipped with jiekun"})
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_policy_versions_legacy_hash", "policy_versions")
    op.drop_index("ix_policy_versions_hash", "policy_versions")
    op.drop_table("policy_versions")
