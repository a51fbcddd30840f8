"""The store's identity (issue 16): one row naming this store in every checkpoint it gives.

A random name, made once when the schema is created or upgraded to this revision, so a
checkpoint names the store it was taken of whatever URL, role or driver reached it, and a
copy restored elsewhere is recognisably the same store.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "origin", "value": f"jiekun.store/{uuid.uuid4()}"}])


def downgrade() -> None:
    op.drop_table("store_meta")
