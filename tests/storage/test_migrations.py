"""The Alembic migrations build exactly the schema the code declares, on SQLite and on PostgreSQL."""
from __future__ import annotations

import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

import storage.tables  # noqa: F401
from storage.db import make_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.stores.event_partitions import include_name, month_of, next_month, partition_name
from storage.tables.core import metadata


def migrate(conn, revision: str, up: bool) -> None:  # noqa: ANN001
    """Alembic to `revision` on a connection (conn.run_sync), upgrading or downgrading."""
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    (command.upgrade if up else command.downgrade)(cfg, revision)


async def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await upgrade(engine)  # already at head: a no-op that must not fail
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            options = {"compare_type": True, "include_name": include_name}
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c, opts=options), metadata))
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations differ: run `tokenbot db revision -m '…'`:\n{diff}"


async def test_partitioning_moves_stored_events_and_downgrades(database_url: str) -> None:
    """PostgreSQL: migration a9d3c5e7f201 on a table holding rows of several months, then back (SQLite: nothing)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("usage_events is partitioned on PostgreSQL only")

    stamps = {"dec": 1764590400, "jun": 1781265600, "nov": 1794571200}  # 12:00 UTC on 2025-12-01, 2026-06-12, 2026-11-13
    partitions = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                  "WHERE i.inhparent = CAST('usage_events' AS regclass)")
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(migrate, "3f6b0c2d9e71", False)
            for name, ts in stamps.items():
                await conn.execute(text(
                    "INSERT INTO usage_events (id, ts, user_ref, team_id, model, input_tokens, output_tokens, "
                    "cached_input_tokens, cost_micros, cost_source, received_at, requests) "
                    "VALUES (:id, :ts, 'ada', 0, 'gpt-4o', 1, 2, 0, 3, 'event', :ts, 1)"), {"id": name, "ts": ts})
            await conn.commit()
        await upgrade(engine)
        now = month_of(int(time.time()))
        async with engine.connect() as conn:
            attached = set((await conn.execute(text(partitions))).scalars())
            rows = dict((await conn.execute(text("SELECT id, ts FROM usage_events"))).all())
            unique_on_ts_id = set((await conn.execute(text(
                "SELECT tablename FROM pg_indexes WHERE tablename LIKE 'usage_events_y%' "
                "AND indexdef LIKE 'CREATE UNIQUE INDEX % USING btree (ts, id)'"))).scalars())
        expected = {partition_name(month_of(ts)) for ts in stamps.values()} | {partition_name(now),
                                                                              partition_name(next_month(now))}
        assert attached == expected and unique_on_ts_id == expected and rows == stamps
        async with engine.connect() as conn:
            await conn.run_sync(migrate, "3f6b0c2d9e71", False)
            await conn.commit()
            kind = (await conn.execute(text("SELECT relkind::text FROM pg_class WHERE relname = 'usage_events'"))).scalar()
            rows = dict((await conn.execute(text("SELECT id, ts FROM usage_events"))).all())
            left = (await conn.execute(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'usage_events_y%'"))).scalar()
        assert (kind, rows, left) == ("r", stamps, 0)
    finally:
        await upgrade(engine)
        await engine.dispose()


async def test_events_keyed_on_time_and_id_keep_their_rows_both_ways(database_url: str) -> None:
    """Migration c4e8a1f0b9d2 on stored events (SQLite rebuilds the table), then back: the way down keeps the first
    row of each id, as the key on id alone requires."""
    insert = text("INSERT INTO usage_events (id, ts, user_ref, team_id, model, input_tokens, output_tokens, "
                  "cached_input_tokens, cost_micros, cost_source, received_at, requests) "
                  "VALUES (:id, :ts, 'ada', 0, 'gpt-4o', 1, 2, 0, :cost, 'event', :ts, 1)")
    stored = text("SELECT id, ts, cost_micros FROM usage_events ORDER BY id, ts")
    ts = int(time.time()) // 86400 * 86400  # this month: its partition exists on PostgreSQL
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(migrate, "a9d3c5e7f201", False)
            await conn.execute(text("DELETE FROM usage_events"))
            await conn.execute(insert, [{"id": "a", "ts": ts, "cost": 1}, {"id": "b", "ts": ts + 1, "cost": 2}])
            await conn.commit()
            await conn.run_sync(migrate, "c4e8a1f0b9d2", True)
            await conn.commit()
            kept = (await conn.execute(stored)).all()
            await conn.execute(insert, [{"id": "a", "ts": ts + 5, "cost": 3}])  # the id again, another request
            await conn.commit()
            with pytest.raises(Exception, match="(?i)unique"):  # the same request again
                await conn.execute(insert, [{"id": "b", "ts": ts + 1, "cost": 4}])
            await conn.rollback()
            both = (await conn.execute(stored)).all()
            await conn.run_sync(migrate, "a9d3c5e7f201", False)
            await conn.commit()
            first = (await conn.execute(stored)).all()
            await conn.execute(text("DELETE FROM usage_events"))
            await conn.commit()
        assert kept == [("a", ts, 1), ("b", ts + 1, 2)]
        assert both == [("a", ts, 1), ("a", ts + 5, 3), ("b", ts + 1, 2)]
        assert first == [("a", ts, 1), ("b", ts + 1, 2)]
    finally:
        await upgrade(engine)
        await engine.dispose()
