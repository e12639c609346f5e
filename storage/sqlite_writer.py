"""A SQLite file's hot-path writes (ingestion, budget reservations) on one connection owned by one thread.

Through SQLAlchemy's aiosqlite adapter every statement is several hops between the event loop and the driver's
thread, and the Python work between statements holds the event loop. Here a whole transaction is one call in the
writer's thread: SQLite runs it with the GIL released (the sqlite3 module releases it around each step), so the
event loop parses the next batch on the other core meanwhile. One thread per process also queues this process's
writers without SQLite's busy back-off; other processes still wait on SQLite's lock (busy_timeout).

Checkpoints (copying the write-ahead log into the database file, with its fsyncs) would otherwise run inside
whichever commit crosses SQLite's 1,000-page mark: half of a batch's time. The writer's connection does not
checkpoint; a thread of its own does, PASSIVE (never blocking a writer), once a second."""
from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class SqliteWriter:
    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenbot-sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._setups: list[Callable[[sqlite3.Connection], None]] = []
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

    def on_connect(self, setup: Callable[[sqlite3.Connection], None]) -> None:
        """Run `setup` on the connection when it opens (temporary tables of the stores that use it)."""
        self._setups.append(setup)
        if self._conn is not None:
            self._executor.submit(setup, self._conn).result()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(connection, *args)` in the writer's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, fn, args)

    def _call(self, fn: Callable[..., T], args: tuple) -> T:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            for setup in self._setups:
                setup(conn)
            self._conn = conn
            self._checkpointer = threading.Thread(target=self._checkpoint_every_second, daemon=True,
                                                  name="tokenbot-sqlite-checkpoint")
            self._checkpointer.start()
        return fn(self._conn, *args)

    def _checkpoint_every_second(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            while not self._stop.wait(1.0):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def close(self) -> None:
        def close_conn() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._stop.set()
        self._executor.submit(close_conn).result()
        self._executor.shutdown()
        if self._checkpointer is not None:
            self._checkpointer.join()


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A transaction that takes the write lock first (BEGIN IMMEDIATE): what it reads, no other writer changes."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
