"""The SQLite writer on a real file: group commit, one bad item failing only its caller, calls pipelined to the writer
process each answered to its own caller, a write-ahead log that restarts under steady writes, a writer process that
dies (the next call starts another) and one whose parent dies (it exits instead of holding the file)."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from storage.sqlite_writer import RESTART_LOG_PAGES, SqliteWriter, immediate

ROOT = Path(__file__).resolve().parents[2]


def make_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)")


def insert_items(conn: sqlite3.Connection, batches: list[list[tuple[str, int | None]]]) -> list[int]:
    """Module level, so a writer process can be handed it. Per batch: rows it added."""
    with immediate(conn):
        return [conn.executemany("INSERT INTO items VALUES (?, ?) ON CONFLICT (id) DO NOTHING", rows).rowcount
                for rows in batches]


def group_sizes(conn: sqlite3.Connection, items: list[int]) -> list[int]:
    return [len(items)] * len(items)


def calls_seen(conn: sqlite3.Connection) -> int:
    return os.getpid()


def echo_after(conn: sqlite3.Connection, value: int, delay: float) -> tuple[int, int]:
    time.sleep(delay)
    return value, os.getpid()


def append_blob_slowly(conn: sqlite3.Connection, size: int) -> None:
    with immediate(conn):
        conn.execute("INSERT INTO blobs (data) VALUES (randomblob(?))", (size,))
        time.sleep(0.003)  # a steady stream, not the disk's top speed


class TwoPartError(Exception):
    """Pickles, but cannot be rebuilt from its pickle (its args hold one part)."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")


def fails_unreadably(conn: sqlite3.Connection) -> None:
    raise TwoPartError("batch", "rejected")


def stored(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT id, amount FROM items"))


@pytest.mark.parametrize("mode", ["process", "thread"])
async def test_batches_queued_together_commit_once_and_a_bad_one_fails_alone(tmp_path: Path, mode: str) -> None:
    db = tmp_path / "w.db"
    make_table(db)
    writer = SqliteWriter(str(db), mode=mode)
    try:
        # The first two callers find room in the writer's queue and go at once; the ones that arrive meanwhile share
        # one call (GROUPS_IN_FLIGHT = 2).
        assert await asyncio.gather(*(writer.run_grouped(group_sizes, i) for i in range(5))) == [1, 1, 3, 3, 3]
        batches = [[(f"a{i}", i), (f"b{i}", i)] for i in range(6)]
        batches[3] = [("c3", 3), ("bad", None)]  # NOT NULL: fails its transaction
        batches[5] = [("a0", 99), ("b5", 5)]  # a0 is batch 0's: a duplicate, not added twice
        results = await asyncio.gather(*(writer.run_grouped(insert_items, b) for b in batches),
                                       return_exceptions=True)
    finally:
        writer.close()
    assert results[:3] == [2, 2, 2] and results[4] == 2 and results[5] == 1
    assert isinstance(results[3], sqlite3.IntegrityError)
    rows = stored(db)
    assert "c3" not in rows and "bad" not in rows  # the bad batch left nothing behind
    assert rows["a0"] == 0 and rows["b5"] == 5 and len(rows) == 9


async def test_a_dead_writer_process_is_answered_as_unavailable_then_replaced(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    make_table(db)
    writer = SqliteWriter(str(db), mode="process")
    try:
        first = await writer.run(calls_seen)
        assert first != os.getpid()  # it is a process of its own
        os.kill(first, signal.SIGKILL)
        with pytest.raises(sqlite3.OperationalError, match="writer process died"):
            await writer.run_grouped(insert_items, [("x", 1)])
        second = await writer.run(calls_seen)
        assert second not in (first, os.getpid())
        assert await writer.run_grouped(insert_items, [("x", 1)]) == 1
    finally:
        writer.close()
    assert stored(db) == {"x": 1}


async def test_pipelined_calls_are_each_answered_to_their_own_caller_even_when_one_gives_up(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    make_table(db)
    writer = SqliteWriter(str(db), mode="process")
    try:
        # Later calls are sent while the writer is still busy with earlier ones (and finish faster than they do).
        calls = [asyncio.create_task(writer.run(echo_after, i, 0.05 if i % 3 == 0 else 0.0)) for i in range(12)]
        await asyncio.sleep(0.02)
        calls[4].cancel()  # a caller that went away: its answer must not reach the call after it
        results = await asyncio.gather(*calls, return_exceptions=True)
        after = await writer.run(echo_after, 99, 0.0)
    finally:
        writer.close()
    assert isinstance(results[4], asyncio.CancelledError)
    assert [r[0] for i, r in enumerate(results) if i != 4] == [i for i in range(12) if i != 4]
    assert len({r[1] for i, r in enumerate(results) if i != 4} | {after[1]}) == 1 and after[0] == 99


async def test_a_reply_the_parent_cannot_read_fails_its_own_call_only(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    make_table(db)
    writer = SqliteWriter(str(db), mode="process")
    try:
        first = await writer.run(calls_seen)
        unreadable, after = await asyncio.gather(writer.run(fails_unreadably), writer.run(echo_after, 7, 0.0),
                                                 return_exceptions=True)
    finally:
        writer.close()
    assert isinstance(unreadable, RuntimeError) and "unreadable reply" in str(unreadable)
    assert after == (7, first)  # the call sent behind it got its own answer, from the same writer


async def test_the_write_ahead_log_starts_again_from_its_beginning_under_steady_writes(tmp_path: Path) -> None:
    """A PASSIVE checkpoint alone never lets a writer that is always busy restart the log: it grew by every page
    written. A restart shows in the log file's header (its checkpoint sequence number goes up)."""
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    writer = SqliteWriter(str(db), mode="process")
    sequences: set[int] = set()
    written = 0
    try:
        in_flight: set[asyncio.Task] = set()
        deadline = time.monotonic() + 3.5  # the checkpointer looks once a second
        while time.monotonic() < deadline:
            while len(in_flight) < 3:  # the next calls are always queued: the writer is never idle
                in_flight.add(asyncio.create_task(writer.run(append_blob_slowly, 128 * 1024)))
                written += 128 * 1024
            _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            with open(f"{db}-wal", "rb") as wal:
                sequences.add(int.from_bytes(wal.read(16)[12:16], "big"))
        await asyncio.gather(*in_flight)
    finally:
        writer.close()
    assert written > 2 * RESTART_LOG_PAGES * 4096, "too few pages written to need a restart"
    assert len(sequences) > 1, "the log never started again"


def test_a_writer_process_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    make_table(db)
    script = textwrap.dedent(f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from storage.sqlite_writer import SqliteWriter
        from tests.storage.test_sqlite_writer import calls_seen

        async def main():
            writer = SqliteWriter({str(db)!r}, mode="process")
            print(await writer.run(calls_seen), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        if __name__ == "__main__":
            asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    child = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the writer process outlived its parent"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
