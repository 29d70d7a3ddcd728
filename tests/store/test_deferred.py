"""Deferred bookkeeping writes: nothing set is lost, also when set during a flush or at shutdown."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import bindparam, select, update

from devuc.store import tables as t
from devuc.store.db import Store
from devuc.store.deferred import DeferredUpdates
from devuc.store.migrate import upgrade

_SET = update(t.store_generation).where(t.store_generation.c.id == bindparam("row")).values(
    value=bindparam("v"))


async def _value(store: Store) -> int:
    async with store.read() as conn:
        return (await conn.execute(select(t.store_generation.c.value))).scalar()


@pytest.fixture
def url(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}"
    upgrade(url)  # runs its own event loop: before the test's
    return url


async def test_set_during_a_flush_and_at_close_is_written(url, tmp_path):
    store = Store(url)
    deferred = DeferredUpdates(store, delay=0.01)
    real_flush = deferred.flush
    calls = 0

    async def flush_with_a_set_meanwhile():
        nonlocal calls
        calls += 1
        await real_flush()
        if calls == 1:  # arrives as the first flush ends, before its task has finished
            deferred.set(_SET, "row", {"row": 1, "v": 777})

    deferred.flush = flush_with_a_set_meanwhile
    try:
        deferred.set(_SET, "row", {"row": 1, "v": 500})
        for _ in range(200):
            if calls >= 2 and deferred._task is None:
                break
            await asyncio.sleep(0.01)
        assert await _value(store) == 777  # the later set was written by a second round

        deferred.delay = 60  # a pending write at shutdown is written by close, not dropped
        deferred.set(_SET, "row", {"row": 1, "v": 900})
        await asyncio.wait_for(deferred.close(), 5)
        assert await _value(store) == 900
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "devuc.db") as conn:
        assert conn.execute("SELECT value FROM store_generation").fetchone()[0] == 900
