"""Alembic environment: always run on a connection handed in by service.store.db, so the
server, `huashu db upgrade` and the tests migrate exactly the database they use."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from service.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `huashu db upgrade` (service.store.db.Database.migrate)")

if connection.dialect.name == "postgresql":
    # Two servers starting at once must not both create the tables.
    connection.execute(text("SELECT pg_advisory_xact_lock(7254001)"))

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
