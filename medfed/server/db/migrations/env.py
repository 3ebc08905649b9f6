"""Alembic environment: MedFed passes an open connection in `config.attributes`."""

from __future__ import annotations

from alembic import context

from medfed.server.db import analytics_tables, tables  # noqa: F401  (registers the tables)
from medfed.server.db.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run migrations through `medfed server migrate`, which supplies a connection."
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
