"""Schema migrations with Alembic, for SQLite and PostgreSQL alike (never `create_all` outside tests' helpers).

Several replicas may start at once: on PostgreSQL the upgrade holds an advisory lock, so one migrates and the others
wait and find nothing to do; SQLite's own write lock does the same for processes sharing a file."""
from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x746F6B656E626F74  # "tokenbot"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            await conn.commit()
        try:
            before = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
            await conn.run_sync(run)
            await conn.commit()
            after = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
            if after != before:
                log.info("database schema upgraded from %s to %s", before or "empty", after)
        finally:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                await conn.commit()


async def autogenerate(engine: AsyncEngine, message: str) -> None:
    """Developers: write a new revision from the difference between the models and the database."""
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)

    async with engine.connect() as conn:
        await conn.run_sync(run)
