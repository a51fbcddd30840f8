"""The initial store: events, cases, timers, the personal-data vault.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", _POSITION, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("personal_digest", sa.String(80), nullable=True),
        sa.Column("policy_id", sa.String(64), nullable=True),
        sa.Column("policy_hash", sa.String(80), nullable=True),
        sa.Column("derived", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("prev_hash", sa.String(80), nullable=False),
        sa.Column("hash", sa.String(80), nullable=False),
        sa.UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
        sa.UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
    )
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("category", sa.String(20), nullable=True),
        sa.Column("reviewing_body", sa.String(40), nullable=True),
        sa.Column("grassroots_union", sa.String(200), nullable=True),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("head_hash", sa.String(80), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_cases_state", "cases", ["state"])
    op.create_index("ix_cases_reviewing_body", "cases", ["reviewing_body"])
    op.create_index("ix_cases_grassroots_union", "cases", ["grassroots_union"])
    op.create_table(
        "timers",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("due", sa.String(40), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("armed_seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_timers_status_due", "timers", ["status", "due"])
    op.create_table(
        "personal_data",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "case_personal",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("applicant_id", sa.String(18), nullable=False),
        sa.Column("application", sa.Text, nullable=False),
    )
    op.create_index("ix_case_personal_applicant", "case_personal", ["applicant_id"])


def downgrade() -> None:
    for table in ("case_personal", "personal_data", "timers", "cases", "events"):
        op.drop_table(table)
