"""The vault sealed (issue 19): room for ciphertext and for the keyed applicant index.

- ``case_personal.applicant_id`` becomes text (it holds the sealed id, longer than 18);
- ``case_personal.applicant_key``: HMAC-SHA256 of the id under the store's index key, indexed
  in place of the plain id's index;
- ``cases.personal``: the projection's personal figures, sealed.

Rows written before this revision are plain text; ``database.upgrade`` seals them after the
migration, with the store's master key (``vault_rows.seal_existing``): a migration never sees
a key.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_personal") as batch:
        batch.drop_index("ix_case_personal_applicant")
        batch.alter_column("applicant_id", type_=sa.Text, existing_type=sa.String(18),
                           existing_nullable=False)
        batch.add_column(sa.Column("applicant_key", sa.String(80), nullable=True))
        batch.create_index("ix_case_personal_applicant_key", ["applicant_key"])
    op.add_column("cases", sa.Column("personal", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("personal")
    with op.batch_alter_table("case_personal") as batch:
        batch.drop_index("ix_case_personal_applicant_key")
        batch.drop_column("applicant_key")
        batch.alter_column("applicant_id", type_=sa.String(18), existing_type=sa.Text,
                           existing_nullable=False)
        batch.create_index("ix_case_personal_applicant", ["applicant_id"])
