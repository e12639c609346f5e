"""The Alembic migrations build exactly the schema the code declares, on SQLite and on PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import storage.tables  # noqa: F401
from storage.db import make_engine
from storage.migrate import current_revision, head_revision, upgrade
from storage.stores.event_partitions import month_of_partition
from storage.tables.core import metadata


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)  # already at head: a no-op that must not fail
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts={
                "compare_type": True,
                "include_name": lambda name, kind, _p: kind != "table" or month_of_partition(name or "") is None}),
                                                                  metadata))
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations differ: run `tokenbot db revision -m '…'`:\n{diff}"
