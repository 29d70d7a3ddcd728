"""Engine and transactions.

``Store.read()`` opens a plain transaction; ``Store.write()`` opens one that takes the write lock
up front on SQLite (``BEGIN IMMEDIATE``), so two writers never dead-lock on a lock upgrade and a
second process (``devuc bootstrap`` beside ``devuc serve``) simply waits its turn.

On SQLite, reads run on the event loop through a plain (synchronous) connection: in WAL mode a
reader never waits for a writer, and reading a few rows takes microseconds, far less than the
hand-off to a driver thread would. Writes, which may wait for the write lock, stay on aiosqlite.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, make_url, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .tables import store_generation

SQLITE_BUSY_TIMEOUT_MS = 30_000


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


def _configure_sqlite(engine: AsyncEngine | Engine) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - trivial wiring
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial wiring
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


GENERATION_SQL = "SELECT value FROM store_generation WHERE id = 1"
_BUMP = update(store_generation).where(store_generation.c.id == 1).values(
    value=store_generation.c.value + 1
)


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        self._generation_reader = None
        self._reader = _in_loop_reader(url) if self.is_sqlite else None

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
    async def write(self, *, affects_auth: bool = True) -> AsyncIterator[AsyncConnection]:
        """A write transaction. Unless the caller says the change cannot alter any authorisation
        decision (``affects_auth=False``: last-login times, failure counters), it also moves the
        store generation on, which invalidates every node's caches."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn
                if affects_auth:
                    await conn.execute(_BUMP)

    async def generation(self) -> int:
        """The store generation: one primary-key read, without a transaction of its own."""
        if self._generation_reader is None:
            self._generation_reader = await _GenerationReader.open(self.url)
        return await self._generation_reader.read()

    async def close(self) -> None:
        if self._generation_reader is not None:
            await self._generation_reader.close()
            self._generation_reader = None
        if self._reader is not None:
            self._reader.dispose()
        await self.engine.dispose()


def _in_loop_reader(url: str) -> Engine:
    parsed = make_url(url)
    engine = create_engine(
        parsed.set(drivername="sqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        hide_parameters=True,
    )
    _configure_sqlite(engine)
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
    """Reads the one-row generation table on the cheapest path each database offers: a plain
    sqlite3 connection (a read of one row takes microseconds, so it runs on the event loop), or
    an asyncpg pool (one round trip)."""

    def __init__(self, sqlite_conn=None, pg_pool=None) -> None:
        self._sqlite = sqlite_conn
        self._pg = pg_pool

    @classmethod
    async def open(cls, url: str) -> _GenerationReader:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            conn = sqlite3.connect(
                parsed.database, isolation_level=None, check_same_thread=False,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            )
            conn.execute("PRAGMA query_only=ON")
            return cls(sqlite_conn=conn)
        import asyncpg

        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(pg_pool=await asyncpg.create_pool(dsn, min_size=1, max_size=4))

    async def read(self) -> int:
        if self._sqlite is not None:
            return self._sqlite.execute(GENERATION_SQL).fetchone()[0]
        return await self._pg.fetchval(GENERATION_SQL)

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        else:
            await self._pg.close()
