"""Alembic environment: migrations run on the connection jiekun hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from jiekun.persistence.backends import backend_for
from jiekun.persistence.schema import metadata

connection = context.config.attributes["connection"]
backend = backend_for(connection.dialect.name)
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=backend.alters_in_batches)
with context.begin_transaction():
    context.run_migrations()
