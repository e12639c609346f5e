"""Alembic environment. tokenbot runs migrations itself (`tokenbot db upgrade`, and at `serve` start-up) by passing
a live connection in `config.attributes["connection"]`; plain `alembic` on the command line is not needed."""
from __future__ import annotations

from alembic import context

import storage.tables  # noqa: F401  (registers every table)
from storage.stores.event_partitions import month_of_partition
from storage.tables.core import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tokenbot db upgrade`, which passes the connection")

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
                  compare_type=True,
                  # usage_events' monthly partitions (PostgreSQL) are made at run time, not declared
                  include_name=lambda name, kind, _parents: kind != "table" or month_of_partition(name or "") is None)
with context.begin_transaction():
    context.run_migrations()
