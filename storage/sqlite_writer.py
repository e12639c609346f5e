"""A SQLite file's hot-path writes (ingestion, budget reservations) on one connection owned by one writer.

Through SQLAlchemy's aiosqlite adapter every statement is several hops between the event loop and the driver's
thread, and the Python work between statements holds the event loop. Here a whole transaction is one call in the
writer. One writer per process also queues this process's writers without SQLite's busy back-off; other processes
still wait on SQLite's lock (busy_timeout).

Where the writer runs (TOKENBOT_SQLITE_WRITER):
- `process` (the default for `tokenbot serve`): a child process of its own. A thread is not enough: the sqlite3
  module gives up the GIL around each step of a statement and must take it back after, and while the event loop
  parses the next batch (pure Python) it holds the GIL for up to the interpreter's 5 ms switch interval each time.
  Measured on the ingest benchmark, a writer thread next to a parsing event loop got under 10% of its own speed. The
  child has its own interpreter, so parsing (one core) and SQLite (the other) run at once; the price is pickling the
  rows (about 1 microsecond an event) and a socket round trip per call (about 0.1 ms).
- `thread`: a thread of this process (no child to start: CLI commands, tests, one-core machines).

Checkpoints (copying the write-ahead log into the database file, with its fsyncs) would otherwise run inside
whichever commit crosses SQLite's 1,000-page mark: half of a batch's time. The writer's connection does not
checkpoint; a thread of its own does, PASSIVE (never blocking a writer), once a second, and holds the writer back only
for the last few frames when the log has grown long enough to start again from its beginning (_Connection._restart_log)."""
from __future__ import annotations

import asyncio
import gc
import multiprocessing
import pickle
import socket
import struct
import sqlite3
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
I = TypeVar("I")
R = TypeVar("R")

GROUP_MAX = 4  # items (HTTP batches) per group commit
# Two groups in flight: the writer finds the next one waiting when it finishes one, while the event loop parses the
# batches after it. (One group in flight with no size limit made the two take turns: every caller joined the group
# being written, and the event loop then had nothing to parse; measured with bench/ingest.py.)
GROUPS_IN_FLIGHT = 2

MODES = ("process", "thread")

RESTART_LOG_PAGES = 4096  # a write-ahead log this long (16 MiB at 4 KiB pages) is restarted from its beginning ...
RESTART_WAIT_MS = 100  # ... waiting at most this long for readers still on it (the writer waits meanwhile)
WAL_KEEP_BYTES = 64 << 20  # a restarted log file longer than this is truncated to it
# The writer's page cache (SQLite's default is 2 MiB). While events were unique on id alone (before migration
# c4e8a1f0b9d2), a gateway's random ids put each new event on its own page of that index; with 2 MiB those pages were
# evicted and spilled to the log again within one transaction. bench/ingest.py --random-ids then: 49,774-50,158
# events/s against 36,504-40,436, the writer 19 us an event against 23-26 (alternating runs); in process, 3.4 KB
# written per event against 4.3 KB.
CACHE_KIB = 64 << 10


class _Connection:
    """The writer's connection and its checkpointing thread (in the writer's process, whichever that is)."""

    def __init__(self, path: str) -> None:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        self.conn = conn
        self.turn = threading.Lock()  # held by the writer for each call; the checkpointer takes it to restart the log
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_every_second, args=(path,), daemon=True,
                                              name="tokenbot-sqlite-checkpoint")
        self._checkpointer.start()

    def call(self, fn: Callable[..., T], args: tuple) -> T:
        with self.turn:
            return fn(self.conn, *args)

    def _checkpoint_every_second(self, path: str) -> None:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            while not self._stop.wait(1.0):
                _, log_pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if log_pages >= RESTART_LOG_PAGES:
                    self._restart_log(conn)
        finally:
            conn.close()

    def _restart_log(self, conn: sqlite3.Connection) -> None:
        """Copy the last frames and let the next write start the log from its beginning. A PASSIVE checkpoint never
        does that under a steady stream of writes (it is always a few frames behind), so the log grew by every page
        written (730 MB in 10 s of the ingest benchmark), and each new page of a growing file is zeroed by the
        filesystem first: a fifth of the writer's time. The writer waits meanwhile (`turn`): the PASSIVE run just
        before has copied nearly everything, so this is the last few frames and one fsync. Readers still on the old
        log get RESTART_WAIT_MS; past that the restart is tried again a second later."""
        with self.turn:
            conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
            try:
                conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            except sqlite3.OperationalError:
                pass  # busy: next second
            finally:
                conn.execute("PRAGMA busy_timeout=30000")

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join()
        self.conn.close()


_FRAME = struct.Struct("!Q")  # a message's length, then its pickle


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _writer_process(sock: socket.socket, path: str) -> None:
    """The writer process: calls in, results out, one at a time, until its parent closes the socket or dies (the
    socket then reads as closed too: a killed parent never leaves a writer holding the file)."""
    conn = _Connection(path)
    modules = 0
    try:
        while True:
            if len(sys.modules) != modules:
                # A call's function arrives by name and imports its module (SQLAlchemy with it) on first use: tens of
                # thousands of long-lived objects, which every full collection would walk again. bench/ingest.py: the
                # collector was 6% of this process's samples before.
                gc.freeze()
                modules = len(sys.modules)
            try:
                fn, args = pickle.loads(_recv_exactly(sock, _FRAME.unpack(_recv_exactly(sock, _FRAME.size))[0]))
            except EOFError:
                return
            try:
                reply = pickle.dumps((True, conn.call(fn, args)), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - handed to the caller, whose error it is
                try:
                    reply = pickle.dumps((False, exc), protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # noqa: BLE001 - an exception that cannot be pickled still reaches the caller
                    reply = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            sock.sendall(_FRAME.pack(len(reply)) + reply)
    finally:
        conn.close()


class _WriterProcess:
    """The parent's end: pickling and socket I/O on the event loop's own thread. (concurrent.futures'
    ProcessPoolExecutor moves them to helper threads, which then wait for the GIL behind the parsing event loop at
    each hand-over: writer and event loop took turns instead of working at once.)

    Calls are pipelined: the next call is sent while the writer is still on the one before, and one reader answers
    them in order (the writer runs them in order). With one call at a time the writer sat idle while the event loop
    pickled and sent the next group: a quarter of its time on the ingest benchmark."""

    def __init__(self, path: str) -> None:
        parent_sock, child_sock = socket.socketpair()
        self.sock = parent_sock
        self.process = multiprocessing.get_context("spawn").Process(
            target=_writer_process, args=(child_sock, path), daemon=True, name="tokenbot-sqlite-writer")
        self.process.start()
        child_sock.close()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._send_lock = asyncio.Lock()  # one message at a time onto the socket
        self._waiting: deque[asyncio.Future] = deque()  # callers, in the order their calls were sent
        self._reader: asyncio.Task | None = None
        self._died: _WriterDied | None = None

    async def call(self, fn: Callable[..., T], args: tuple) -> T:
        message = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        async with self._send_lock:
            if self._died is not None:
                raise self._died
            if self._streams is None:
                self._streams = await asyncio.open_connection(sock=self.sock, limit=1 << 20)
                self._reader = asyncio.get_running_loop().create_task(self._read_replies(self._streams[0]))
            answer: asyncio.Future = asyncio.get_running_loop().create_future()
            self._waiting.append(answer)
            try:
                self._streams[1].write(_FRAME.pack(len(message)) + message)
                await self._streams[1].drain()
            except ConnectionError as exc:
                self._fail(_WriterDied(str(exc) or type(exc).__name__))
        ok, value = await asyncio.shield(answer)  # a cancelled caller must not take its reply from the next one
        if not ok:
            raise value
        return value

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                size = _FRAME.unpack(await reader.readexactly(_FRAME.size))[0]
                data = await reader.readexactly(size)
                try:
                    reply = pickle.loads(data)
                except Exception as exc:  # noqa: BLE001 - e.g. an exception class that cannot be rebuilt: its caller's
                    reply = (False, RuntimeError(f"unreadable reply from the SQLite writer: {exc!r}"))
                answer = self._waiting.popleft()
                if not answer.done():
                    answer.set_result(reply)
        except Exception as exc:  # noqa: BLE001 - the socket closed or broke: no caller may wait forever
            self._fail(_WriterDied(str(exc) or type(exc).__name__))

    def _fail(self, died: _WriterDied) -> None:
        self._died = died
        while self._waiting:
            answer = self._waiting.popleft()
            if not answer.done():
                answer.set_exception(died)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # the writer reads end-of-file, closes its connection, exits
        except OSError:
            pass
        self.process.join(timeout=30)
        if self._reader is not None:
            self._reader.cancel()
        if self._streams is not None:
            self._streams[1].close()
        else:
            self.sock.close()


class _WriterDied(Exception):
    pass


class SqliteWriter:
    def __init__(self, path: str, mode: str = "thread") -> None:
        if mode not in MODES:
            raise ValueError(f"SQLite writer mode must be one of {MODES}")
        self.path = path
        self.mode = mode
        self._process: _WriterProcess | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._groups: dict[Callable, list[tuple[Any, asyncio.Future]]] = {}
        self._in_flight: dict[Callable, int] = {}
        self._tasks: set[asyncio.Task] = set()
        self._thread_conn: _Connection | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(connection, *args)` in the writer. In process mode `fn` and its arguments are pickled: a module-level
        function and plain data. Started at the first call: commands that only read never start a process."""
        if self.mode == "thread":
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenbot-sqlite-writer")
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._thread_call, fn, args)
        if self._process is None:
            self._process = _WriterProcess(self.path)
        process = self._process
        try:
            return await process.call(fn, args)
        except _WriterDied as exc:
            # The writer process died (killed, out of memory). SQLite rolled its open transaction back; the next
            # call starts a new process, and this one is answered as "database unavailable, retry".
            if self._process is process:
                self._process = None
                process.close()
            raise sqlite3.OperationalError(f"SQLite writer process died: {exc}") from exc

    async def run_grouped(self, fn: Callable[[sqlite3.Connection, list[I]], list[R]], item: I) -> R:
        """`fn(connection, items)[k]` for this item, in one call (one transaction) with the items that queued for
        `fn` while the writer was busy: group commit. A commit, its write-ahead log pages and the rollup pages it
        touches are then paid once for several HTTP requests. If a group fails, each of its items runs on its own,
        so one bad item fails only its own caller."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._groups.setdefault(fn, []).append((item, future))
        self._send_groups(fn)
        return await future

    def _send_groups(self, fn: Callable) -> None:
        queue = self._groups[fn]
        while queue and self._in_flight.get(fn, 0) < GROUPS_IN_FLIGHT:
            group, self._groups[fn] = queue[:GROUP_MAX], queue[GROUP_MAX:]
            queue = self._groups[fn]
            self._in_flight[fn] = self._in_flight.get(fn, 0) + 1
            task = asyncio.get_running_loop().create_task(self._run_group(fn, group))
            self._tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._tasks.discard)

    async def _run_group(self, fn: Callable, group: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            try:
                results = await self.run(fn, [item for item, _ in group])
            except Exception as exc:  # noqa: BLE001 - handed to the callers below
                if len(group) == 1:
                    _settle(group[0][1], exc=exc)
                    return
                for item, future in group:
                    try:
                        _settle(future, (await self.run(fn, [item]))[0])
                    except Exception as one_exc:  # noqa: BLE001 - this caller's own error
                        _settle(future, exc=one_exc)
                return
            for (_, future), result in zip(group, results):
                _settle(future, result)
        finally:
            self._in_flight[fn] -= 1
            self._send_groups(fn)

    def _thread_call(self, fn: Callable[..., T], args: tuple) -> T:
        if self._thread_conn is None:
            self._thread_conn = _Connection(self.path)
        return self._thread_conn.call(fn, args)

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None
        if self._executor is not None:
            if self._thread_conn is not None:
                self._executor.submit(self._thread_conn.close).result()
                self._thread_conn = None
            self._executor.shutdown()
            self._executor = None


def _settle(future: asyncio.Future, result: object = None, exc: BaseException | None = None) -> None:
    if future.done():  # the caller went away (cancelled): nobody to tell
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


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
