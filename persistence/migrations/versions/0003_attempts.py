"""The attempts log: every refused command, apart from the chain (issue 16).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("position", _POSITION, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(40), nullable=False),
        sa.Column("actor_org", sa.String(200), nullable=True),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
    )
    op.create_index("ix_attempts_case_position", "attempts", ["case_id", "position"])


def downgrade() -> None:
    op.drop_table("attempts")
