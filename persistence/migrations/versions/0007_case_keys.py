"""Which key-store key seals each case (issue 19's cost): ``case_keys(case_id, key_ref)``.

A new case's data key comes from a batch made ahead in the key provider's store (one durable
commit for many keys, where one key a commit cost ~0.7 ms a new case); the batch's keys are
named by random references, and the store records the case's reference here, in the same
transaction as the case's first sealed value. The reference names a key; it is not a key: a
backup holding it after the purge names a key the purge destroyed. Cases sealed before this
revision have no row: their keys are found by case id, as before.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_keys",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("key_ref", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_keys")
