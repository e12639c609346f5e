"""usage_events partitioned by month on PostgreSQL, id unique per month (storage/stores/event_partitions.py); SQLite unchanged

Revision ID: a9d3c5e7f201
Revises: 3f6b0c2d9e71
Create Date: 2026-11-23 03:10:00
"""
from datetime import UTC, datetime

from alembic import op


revision = 'a9d3c5e7f201'
down_revision = '3f6b0c2d9e71'
branch_labels = None
depends_on = None

# Written out here rather than imported: a migration must not change when the code it would import does.
INDEXES = ("CREATE INDEX ix_usage_events_ts ON usage_events (ts)",
           "CREATE INDEX ix_usage_events_unmapped ON usage_events (user_ref) WHERE person_id IS NULL")


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _partition(year: int, month: int) -> None:
    """A month's partition, with its own unique index on id: a partitioned table's unique indexes must include the
    partition key, so deduplication on id alone is per partition."""
    name = f"usage_events_y{year:04d}m{month:02d}"
    start = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
    end = int(datetime(*_month_after(year, month), 1, tzinfo=UTC).timestamp())
    op.execute(f"CREATE TABLE {name} PARTITION OF usage_events FOR VALUES FROM ({start}) TO ({end})")
    op.execute(f"CREATE UNIQUE INDEX {name}_id ON {name} (id)")


def _set_aside(suffix: str) -> None:
    """Rename the table and the names of its indexes, so the new table can take them."""
    op.execute(f"ALTER TABLE usage_events RENAME TO usage_events_{suffix}")
    for index in ("ix_usage_events_ts", "ix_usage_events_unmapped"):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_{suffix}")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _set_aside("unpartitioned")
    op.execute("CREATE TABLE usage_events (LIKE usage_events_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (ts)")
    for statement in INDEXES:
        op.execute(statement)
    now = datetime.now(UTC)
    months = {(now.year, now.month), _month_after(now.year, now.month)}
    months |= {(int(y), int(m)) for y, m in bind.exec_driver_sql(
        "SELECT DISTINCT extract(year FROM to_timestamp(ts) AT TIME ZONE 'UTC'), "
        "extract(month FROM to_timestamp(ts) AT TIME ZONE 'UTC') FROM usage_events_unpartitioned")}
    for year, month in sorted(months):
        _partition(year, month)
    op.execute("INSERT INTO usage_events SELECT * FROM usage_events_unpartitioned")
    op.execute("DROP TABLE usage_events_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside("partitioned")
    op.execute("CREATE TABLE usage_events (LIKE usage_events_partitioned INCLUDING DEFAULTS)")
    # id was unique per month: keep one row per id, as the plain table's key requires.
    op.execute("INSERT INTO usage_events SELECT DISTINCT ON (id) * FROM usage_events_partitioned ORDER BY id, ts")
    op.execute("DROP TABLE usage_events_partitioned")  # and its partitions
    op.execute("ALTER TABLE usage_events ADD CONSTRAINT usage_events_pkey PRIMARY KEY (id)")
    for statement in INDEXES:
        op.execute(statement)
