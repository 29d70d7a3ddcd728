"""Small writes on SQLite: on a connection of the event loop's when the write lock is free, on the
driver's thread when another writer holds it (devuc/store/db.py, Store.write)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time

import pytest
from sqlalchemy import func, insert, select

from devuc.store import db
from devuc.store import tables as t
from devuc.store.db import Store
from devuc.store.migrate import upgrade


@pytest.fixture
def database(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}"
    upgrade(url)
    return url


@pytest.fixture
async def store(database):
    store = Store(database)
    yield store
    await store.close()


def record(request_id: str) -> dict:
    return dict(at_us=1, request_id=request_id, action="POST /x", target="/x", source="127.0.0.1",
                status=201, outcome="allowed")


async def recorded(store: Store) -> list[str]:
    async with store.read() as conn:
        return [r.request_id for r in await conn.execute(select(t.audit_events.c.request_id))]


async def test_a_small_write_runs_on_the_event_loops_connection(store, monkeypatch):
    class NoDriverThread:
        def connect(self):
            raise AssertionError("went to the driver's thread")

    monkeypatch.setattr(store, "engine", NoDriverThread())
    before = await store.generation()
    async with store.write(affects_auth=False, small=True) as conn:
        await conn.execute(insert(t.audit_events), record("r1"))
        count = (await conn.execute(select(func.count()).select_from(t.audit_events))).scalar_one()
        assert count == 1
    assert await recorded(store) == ["r1"]
    assert await store.generation() == before
    with pytest.raises(AssertionError):  # any other write still goes to the driver's thread
        async with store.write(affects_auth=False):
            pass


async def test_a_small_write_waits_off_the_loop_while_another_writer_holds_the_lock(store, tmp_path):
    other = sqlite3.connect(tmp_path / "devuc.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        async def write() -> None:
            async with store.write(affects_auth=False, small=True) as conn:
                await conn.execute(insert(t.audit_events), record("r2"))

        writing = asyncio.ensure_future(write())
        gaps = []
        for _ in range(30):  # the loop keeps turning meanwhile, never held for the lock
            began = time.monotonic()
            await asyncio.sleep(0.01)
            gaps.append(time.monotonic() - began)
        assert max(gaps) < 0.5, max(gaps)
        assert not writing.done()
    finally:
        other.execute("COMMIT")
        other.close()
    await asyncio.wait_for(writing, 10)
    assert await recorded(store) == ["r2"]


async def test_a_small_write_that_fails_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        async with store.write(affects_auth=False, small=True) as conn:
            await conn.execute(insert(t.audit_events), record("r3"))
            raise RuntimeError("the caller gave up")
    async with store.write(affects_auth=False, small=True) as conn:  # the lock was let go
        await conn.execute(insert(t.audit_events), record("r4"))
    assert await recorded(store) == ["r4"]


async def test_the_loops_commits_are_checkpointed_on_the_driver_thread(store, tmp_path, monkeypatch):
    """The loop's connections never run SQLite's automatic checkpoint; every so many of their
    commits, one runs on the driver's thread and brings the database file up to date."""
    monkeypatch.setattr(db, "LOOP_COMMITS_PER_CHECKPOINT", 5)

    def in_the_database_file() -> int:  # the file alone, without its write-ahead log
        copy = tmp_path / "copy.db"
        shutil.copy(tmp_path / "devuc.db", copy)
        with sqlite3.connect(copy) as conn:
            return conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]

    for i in range(5):
        async with store.write(affects_auth=False, small=True) as conn:
            await conn.execute(insert(t.audit_events), record(f"c{i}"))
        if i == 3:
            assert in_the_database_file() == 0
    await asyncio.wait_for(store._checkpointing, 10)
    assert in_the_database_file() == 5
