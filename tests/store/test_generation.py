"""The store generation on SQLite: the shared generation file every process reads instead of the
database, and the database check that backs it."""

from __future__ import annotations

import sqlite3
import time

import pytest

from devuc.store import db as store_db
from devuc.store.db import Store
from devuc.store.migrate import upgrade


@pytest.fixture
def database(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}"
    upgrade(url)
    return url, tmp_path / "devuc.db"


async def test_a_commit_is_seen_by_another_store_at_once(database):
    url, _ = database
    writer, reader = Store(url), Store(url)  # two processes' worth of stores on one file
    try:
        before = await reader.generation()
        async with writer.write():
            pass
        assert await reader.generation() == before + 1  # no wait for the database check
        async with writer.write(affects_auth=False):
            pass
        assert await reader.generation() == before + 1
    finally:
        await writer.close()
        await reader.close()


async def test_a_change_the_file_missed_is_seen_within_the_trust_period(database, monkeypatch):
    """A writer that died between commit and announcement, or a change made with plain SQL."""
    monkeypatch.setattr(store_db, "GENERATION_FILE_TRUST_SECONDS", 0.2)
    url, path = database
    reader = Store(url)
    try:
        before = await reader.generation()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE store_generation SET value = value + 1 WHERE id = 1")
        deadline = time.monotonic() + 2
        while await reader.generation() == before:
            assert time.monotonic() < deadline, "the database check never caught the change"
        assert await reader.generation() == before + 1
    finally:
        await reader.close()


async def test_a_file_ahead_of_a_replaced_database_is_restarted(database):
    url, path = database
    store = Store(url)
    try:
        await store.generation()
        store._generation_file.raise_to(10_000)  # as left behind by a database since deleted
        store._generation_reader._checked_at = 0.0
        assert await store.generation() < 10_000
        async with store.write():
            pass
        assert await store.generation() == (await _database_value(path))
    finally:
        await store.close()


async def _database_value(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT value FROM store_generation").fetchone()[0]


async def test_the_file_is_private(database):
    url, path = database
    store = Store(url)
    try:
        await store.generation()
        mode = (path.parent / "devuc.db-generation").stat().st_mode & 0o777
        assert mode == 0o600
    finally:
        await store.close()
