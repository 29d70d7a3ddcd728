"""Engine and transactions.

``Store.read()`` opens a plain transaction; ``Store.write()`` opens one that takes the write lock
up front on SQLite (``BEGIN IMMEDIATE``), so two writers never dead-lock on a lock upgrade and a
second process (``devuc bootstrap`` beside ``devuc serve``) simply waits its turn.

On SQLite, reads run on the event loop through a plain (synchronous) connection: in WAL mode a
reader never waits for a writer, and reading a few rows takes microseconds, far less than the
hand-off to a driver thread would. Writes, which may wait for the write lock, stay on aiosqlite,
except small ones that change no authorisation decision (``write(small=True)``): those run on the
event loop when the lock is free at once, and leave the log's checkpoints to the driver's thread.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import mmap
import os
import sqlite3
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, make_url, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .tables import store_generation

SQLITE_BUSY_TIMEOUT_MS = 30_000

log = logging.getLogger("devuc.store")


def now_us() -> int:
    return time.time_ns() // 1000


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
        )
        _configure_sqlite(engine)
        return engine
    # hide_parameters: bound values (hashes, sealed secrets) never appear in error text or logs.
    return create_async_engine(
        url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )


def _configure_sqlite(engine: AsyncEngine | Engine, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                      autocheckpoint: bool = True) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - trivial wiring
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial wiring
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


GENERATION_SQL = "SELECT value FROM store_generation WHERE id = 1"
_BUMP = (
    update(store_generation)
    .where(store_generation.c.id == 1)
    .values(value=store_generation.c.value + 1)
    .returning(store_generation.c.value)
)
# On SQLite, how long a node trusts the generation file (GenerationFile) before it also reads the
# database's own counter: the bound on staleness after a writer died between its commit and its
# file update, or after a change made outside devuc.
GENERATION_FILE_TRUST_SECONDS = 1.0
# Commits on the event loop's connections between two checkpoints of the log (Store._after_loop_commit).
LOOP_COMMITS_PER_CHECKPOINT = 100


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        self._generation_reader = None
        self._reader = _in_loop_engine(url) if self.is_sqlite else None
        database = make_url(url).database if self.is_sqlite else None
        self._generation_path = (
            Path(os.path.realpath(database) + "-generation") if database and database != ":memory:" else None
        )
        # Small writes tried on the event loop first (see write()): a busy timeout of zero, so
        # the loop is never kept waiting for the lock, and no automatic checkpoint (about 9 ms
        # per 1,000 pages), which _after_loop_commit leaves to the driver's thread.
        self._loop_writer = (
            _in_loop_engine(url, busy_timeout_ms=0, autocheckpoint=False) if self._generation_path else None
        )
        self._loop_commits = 0
        self._checkpointing: asyncio.Task | None = None
        # Opened now, so that a file this process may not use fails here, not after a commit.
        self._generation_file = GenerationFile(self._generation_path) if self._generation_path else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self._reader is not None:
            with self._reader.connect() as conn, conn.begin():
                yield _InLoopConnection(conn)
            return
        async with self.engine.connect() as conn:
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def write(self, *, affects_auth: bool = True, small: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction. Unless the caller says the change cannot alter any authorisation
        decision (``affects_auth=False``: last-login times, failure counters), it also moves the
        store generation on, which invalidates every node's caches.

        ``small``: a few rows that change no authorisation decision (with ``affects_auth=False``:
        a last-login time, an audit record). On SQLite such a write first tries a connection of
        the event loop's, as reads do: when the write lock is free at once it runs there, in
        microseconds, instead of in hand-offs to the driver's thread for every statement (a
        password login's loop time fell from 1.4 to 0.6 ms). When another writer holds the lock,
        it waits for it on the driver's thread like any other write."""
        if small and not affects_auth and self._loop_writer is not None:
            conn = self._begin_on_loop()
            if conn is not None:
                with conn, conn.get_transaction():  # commits, or rolls back on an error; closes
                    yield _InLoopConnection(conn)
                self._after_loop_commit()
                return
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn
                generation = (await conn.execute(_BUMP)).scalar() if affects_auth else None
            if generation is not None and self._generation_file is not None:
                self._generation_file.raise_to(generation)  # before the write is answered

    def _after_loop_commit(self) -> None:
        """Every LOOP_COMMITS_PER_CHECKPOINT commits on the loop's connections, checkpoint the
        log on the driver's thread (a few hundred pages at most: SQLite's own threshold is
        1,000), so that it stays short even when no other writer comes by."""
        self._loop_commits += 1
        if self._loop_commits >= LOOP_COMMITS_PER_CHECKPOINT and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._loop_commits = 0
            self._checkpointing = asyncio.ensure_future(self._checkpoint())

    async def _checkpoint(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception as exc:  # the next one will catch up; never fail a request for it
            log.warning("log checkpoint failed: %s", type(exc).__name__)

    def _begin_on_loop(self) -> Connection | None:
        """A write transaction on a connection of the event loop's, or None when SQLite's write
        lock is taken (its busy timeout there is zero: the loop never waits for it)."""
        conn = self._loop_writer.connect().execution_options(sqlite_begin="IMMEDIATE")
        try:
            conn.begin()
        except OperationalError:
            conn.close()
            return None
        return conn

    async def generation(self, received_ns: int | None = None) -> int:
        """The store generation as of a moment after ``received_ns`` (the monotonic clock when the
        asking request arrived; None: now): a primary-key read, shared on PostgreSQL by the
        requests that arrived before it was sent, on SQLite mostly none (see _GenerationReader)."""
        if self._generation_reader is None:
            self._generation_reader = await _GenerationReader.open(self.url, self._generation_file)
        return await self._generation_reader.read(received_ns)

    async def close(self) -> None:
        if self._checkpointing is not None:
            await self._checkpointing
        if self._generation_reader is not None:
            await self._generation_reader.close()
            self._generation_reader = None
        if self._generation_file is not None:
            self._generation_file.close()
            self._generation_file = None
        if self._reader is not None:
            self._reader.dispose()
        if self._loop_writer is not None:
            self._loop_writer.dispose()
        await self.engine.dispose()


def _in_loop_engine(url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, autocheckpoint: bool = True) -> Engine:
    parsed = make_url(url)
    engine = create_engine(
        parsed.set(drivername="sqlite"),
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        hide_parameters=True,
    )
    _configure_sqlite(engine, busy_timeout_ms, autocheckpoint)
    return engine


class _InLoopConnection:
    """The part of AsyncConnection that read code uses, over a synchronous SQLite connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, statement, parameters=None):
        return self._conn.execute(statement, parameters)

    async def scalar(self, statement, parameters=None):
        return self._conn.scalar(statement, parameters)

    async def scalars(self, statement, parameters=None):
        return self._conn.scalars(statement, parameters)

    async def run_sync(self, function, *args, **kwargs):
        return function(self._conn, *args, **kwargs)


class _GenerationReader:
    """Reads the store generation on the cheapest exact path each database offers.

    PostgreSQL: a round trip on an asyncpg pool, shared by the requests that arrived before it
    was sent (`_SharedRead`). SQLite: every process on the machine shares a
    small memory-mapped file beside the database (`GenerationFile`) that each writer raises to the
    generation it committed, before it answers; reading it costs no system call. The database's
    own counter is read too, at most once a second, so a writer that died between its commit and
    the file update (or a change made outside devuc) is caught within that second."""

    def __init__(self, sqlite_conn=None, pg_pool=None, file: GenerationFile | None = None) -> None:
        self._sqlite = sqlite_conn
        self._pg = pg_pool
        self._file = file
        self._checked_at = 0.0
        self._latest: _SharedRead | None = None  # PostgreSQL: the read made last

    @classmethod
    async def open(cls, url: str, file: GenerationFile | None) -> _GenerationReader:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            conn = sqlite3.connect(
                parsed.database, isolation_level=None, check_same_thread=False,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            )
            conn.execute("PRAGMA query_only=ON")
            return cls(sqlite_conn=conn, file=file)
        import asyncpg

        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(pg_pool=await asyncpg.create_pool(dsn, min_size=1, max_size=4))

    async def read(self, received_ns: int | None = None) -> int:
        """The generation as of a moment after ``received_ns`` (``time.monotonic_ns()`` when the
        caller's request arrived; None: as of now)."""
        if self._pg is not None:
            latest = self._latest
            if latest is None or not latest.serves(received_ns):
                latest = self._latest = _SharedRead(self._pg)
            return await asyncio.shield(latest.task)
        if self._file is None:  # an in-memory database: no other process to share with
            return self._sqlite.execute(GENERATION_SQL).fetchone()[0]
        now = time.monotonic()
        if now - self._checked_at >= GENERATION_FILE_TRUST_SECONDS:
            self._checked_at = now
            self._file.follow(lambda: self._sqlite.execute(GENERATION_SQL).fetchone()[0])
        return self._file.read()

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        else:
            await self._pg.close()


class _SharedRead:
    """One generation read on PostgreSQL, which every request that arrived before its statement
    was sent may take as its own. Such a request was sent after its client heard of any write it
    could expect to see, so the write had committed before the statement began: on every node
    the very next request still sees it. Under load, one round trip then serves all the requests
    a worker took in while the previous one was under way, instead of one each, and no more
    than one read waits for a connection. It runs as a task of its own, so a request that goes
    away does not cancel it under the others."""

    __slots__ = ("sent_ns", "task")

    def __init__(self, pool) -> None:
        self.sent_ns: int | None = None  # until the statement goes out, any request may share it
        self.task = asyncio.ensure_future(self._run(pool))
        self.task.add_done_callback(_retrieved)

    async def _run(self, pool) -> int:
        async with pool.acquire() as conn:
            self.sent_ns = time.monotonic_ns()
            return await conn.fetchval(GENERATION_SQL)

    def serves(self, received_ns: int | None) -> bool:
        """Whether a request that arrived at ``received_ns`` (None: now) may take this answer."""
        if self.sent_ns is None:
            return not self.task.done()  # done unsent: it failed to get a connection
        if received_ns is None or self.sent_ns <= received_ns:
            return False
        return not self.task.done() or (not self.task.cancelled() and self.task.exception() is None)


def _retrieved(task: asyncio.Future) -> None:
    """Mark a failure as seen: each caller that waited has had it raised already."""
    if not task.cancelled():
        task.exception()


class GenerationFile:
    """An 8-byte counter in a file shared by every process using one SQLite database. It only
    ever grows (raised under an exclusive lock), so a reader that cached data under value v sees
    a different value once any later commit has been announced."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with _locked(fd):
                if os.fstat(fd).st_size < 8:
                    os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)
        self._fd = os.open(path, os.O_RDWR)

    def read(self) -> int:
        return _COUNTER.unpack_from(self._map)[0]

    def raise_to(self, generation: int) -> None:
        if generation <= self.read():
            return
        with _locked(self._fd):
            if generation > self.read():
                _COUNTER.pack_into(self._map, 0, generation)

    def follow(self, database_generation: Callable[[], int]) -> None:
        """Catch up with the database's own counter. The file is only ever raised to committed
        values, so a file ahead of the database (checked again under the lock, which a writer
        announcing a commit would need) belongs to a database since replaced: restart it."""
        seen = database_generation()
        if seen >= self.read():
            self.raise_to(seen)
            return
        with _locked(self._fd):
            seen = database_generation()
            if seen < self.read():
                _COUNTER.pack_into(self._map, 0, seen)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)


_COUNTER = struct.Struct("<q")


@contextmanager
def _locked(fd: int):
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
