"""Alembic environment. tokenbot runs migrations itself (`tokenbot db upgrade`, and at `serve` start-up) by passing
a live connection in `config.attributes["connection"]`; plain `alembic` on the command line is not needed."""
from __future__ import annotations

from alembic import context

import storage.tables  # noqa: F401  (registers every table)
from storage.stores.event_partitions import include_name
from storage.tables.core import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tokenbot db upgrade`, which passes the connection")

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
                  compare_type=True, include_name=include_name)  # not usage_events' monthly partitions
with context.begin_transaction():
    context.run_migrations()
