"""Engine creation: one place that knows the differences between SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import storage.tables  # noqa: F401  (registers every table)
from storage.tables.core import metadata


def make_engine(url: str, *, pre_ping: bool = True, pool_size: int = 10, autocommit: bool = False) -> AsyncEngine:
    """`pre_ping=False` is for paths on a gateway request's critical path: asyncpg's ping is three round trips
    (BEGIN, `;`, ROLLBACK) per checkout; such a caller retries once on an invalidated connection instead.
    `autocommit` (PostgreSQL) is for read-only pools and single-statement writes (the reservation function): no
    BEGIN/ROLLBACK around statements, and the ping is one `;`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
            cur = dbapi_conn.cursor()
            # WAL lets readers (/tokens me) run while ingestion writes; NORMAL is durable across app crashes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping,
                               **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))


def on_statement(engine: AsyncEngine, callback: Callable[[], object]) -> None:
    """Call `callback` for every SQL statement sent on `engine` (an executemany counts once)."""
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *_args: callback())


# What a database that is down, restarting or unreachable raises: callers answer "unavailable, retry" on these.
# (sqlite3.OperationalError: the SQLite writer's own connection, storage/sqlite_writer.py: locked, disk I/O.)
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (DBAPIError, OSError, sqlite3.OperationalError)


async def database_error(engine: AsyncEngine) -> str | None:
    """None when the database answers a trivial query, else the error's type name (health checks)."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy"
        return type(exc).__name__
    return None


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_for(engine: AsyncEngine):  # noqa: ANN201
    """The dialect's INSERT, which has on_conflict_do_nothing/update on both backends."""
    return sqlite.insert if is_sqlite(engine) else postgresql.insert


async def create_schema(engine: AsyncEngine) -> None:
    """Tests of a single store only: the application builds its schema with the Alembic migrations."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
