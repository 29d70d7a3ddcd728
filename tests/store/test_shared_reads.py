"""The store generation on PostgreSQL: one read serves every request that arrived before it was
sent, and never a request that arrived after (devuc/store/db.py, _SharedRead)."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import pytest

from devuc.store.db import GENERATION_SQL, Store, _GenerationReader
from devuc.store.migrate import upgrade
from support import drop_postgres_database, new_postgres_database, require_postgres


class FakePool:
    """asyncpg's pool as the reader uses it: ``free`` connections, the value taken when the
    statement begins, and the answer held back while ``gate`` is closed (a read under way)."""

    def __init__(self) -> None:
        self.value = 1
        self.sent = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.free = asyncio.Semaphore(4)

    @asynccontextmanager
    async def acquire(self):
        async with self.free:
            yield self

    async def fetchval(self, sql: str) -> int:
        assert sql == GENERATION_SQL
        self.sent += 1
        value = self.value
        if self.fail_next:
            self.fail_next = False
            raise ConnectionResetError("the server went away")
        await self.gate.wait()
        return value


async def settle() -> None:
    """Let every task that can run, run (a caller's task, then the read's own)."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def pool():
    return FakePool()


@pytest.fixture
def reader(pool):
    return _GenerationReader(pg_pool=pool)


async def test_requests_that_arrived_before_a_read_was_sent_share_it(pool, reader):
    arrivals = [time.monotonic_ns() for _ in range(20)]
    answers = await asyncio.gather(*(reader.read(at) for at in arrivals))
    assert answers == [1] * 20
    assert pool.sent == 1


async def test_a_request_never_takes_a_read_sent_before_it_arrived(pool, reader):
    pool.gate.clear()
    early = time.monotonic_ns()
    first = asyncio.ensure_future(reader.read(early))
    await settle()  # the read is sent, and holds the value of the moment: 1
    assert pool.sent == 1
    pool.value = 2  # a write commits, its client hears of it, then sends the next request
    late = time.monotonic_ns()
    second = asyncio.ensure_future(reader.read(late))
    joined = asyncio.ensure_future(reader.read(early))  # arrived before either read: may share
    await settle()
    pool.gate.set()
    assert await first == 1
    assert await second == 2
    assert await joined == 2  # the latest read, sent after it arrived
    assert pool.sent == 2
    # Once answered, a read still serves requests that arrived before it was sent...
    assert await reader.read(late) == 2 and pool.sent == 2
    # ...and not one that arrived after.
    pool.value = 3
    assert await reader.read(time.monotonic_ns()) == 3 and pool.sent == 3


async def test_a_caller_without_an_arrival_time_takes_only_a_read_not_yet_sent(pool, reader):
    pool.gate.clear()
    first = asyncio.ensure_future(reader.read())
    joined = asyncio.ensure_future(reader.read())  # runs before the read's statement goes out
    await settle()
    assert pool.sent == 1
    pool.value = 2
    later = asyncio.ensure_future(reader.read())  # after it went out: a read of its own
    await settle()
    pool.gate.set()
    assert await asyncio.gather(first, joined, later) == [1, 1, 2]
    assert pool.sent == 2


async def test_requests_waiting_for_a_connection_share_one_read(pool, reader):
    """With every connection busy, one read waits for the next free one, and every request that
    arrives meanwhile takes it: it will be sent after they all arrived."""
    pool.free = asyncio.Semaphore(1)
    pool.gate.clear()
    under_way = asyncio.ensure_future(reader.read(time.monotonic_ns()))
    await settle()
    pool.value = 2
    waiting = []
    for _ in range(10):
        waiting.append(asyncio.ensure_future(reader.read(time.monotonic_ns())))
        await settle()
    assert pool.sent == 1
    pool.gate.set()
    assert await under_way == 1
    assert await asyncio.gather(*waiting) == [2] * 10
    assert pool.sent == 2


async def test_a_failed_read_fails_its_sharers_and_is_not_handed_on(pool, reader):
    arrived = time.monotonic_ns()
    pool.fail_next = True
    results = await asyncio.gather(reader.read(arrived), reader.read(arrived), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionResetError, ConnectionResetError]
    assert pool.sent == 1
    assert await reader.read(arrived) == 1  # a new read, not the failed one
    assert pool.sent == 2


async def test_a_caller_that_goes_away_leaves_the_read_to_the_others(pool, reader):
    pool.gate.clear()
    arrived = time.monotonic_ns()
    leaving = asyncio.ensure_future(reader.read(arrived))
    staying = asyncio.ensure_future(reader.read(arrived))
    await settle()
    leaving.cancel()
    await settle()
    pool.gate.set()
    assert await staying == 1
    assert leaving.cancelled()
    assert pool.sent == 1


# --- on a real PostgreSQL server ---------------------------------------------------------------


class CountingPool:
    """A real asyncpg pool that counts the reads made through it (one connection each)."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.sent = 0

    @asynccontextmanager
    async def acquire(self):
        async with self.pool.acquire() as conn:
            self.sent += 1
            yield conn

    async def close(self) -> None:
        await self.pool.close()


@pytest.fixture
def postgres_url():
    require_postgres()
    url = new_postgres_database()
    upgrade(url)
    yield url
    drop_postgres_database(url)


async def test_every_commit_is_seen_by_requests_that_arrive_after_it(postgres_url):
    """Writes through one store (one node), requests on another: each request that arrives after a
    commit sees it, while reads that arrived earlier keep being shared around it."""
    writer, node = Store(postgres_url), Store(postgres_url)
    try:
        await node.generation()
        counting = node._generation_reader._pg = CountingPool(node._generation_reader._pg)
        stop = asyncio.Event()
        asked = 0

        async def traffic() -> None:  # requests whose reads are under way while writes commit
            nonlocal asked
            while not stop.is_set():
                arrived = time.monotonic_ns()
                await asyncio.gather(*(node.generation(arrived) for _ in range(8)))
                asked += 8

        background = [asyncio.ensure_future(traffic()) for _ in range(4)]
        try:
            for _ in range(40):
                async with writer.write():
                    pass
                committed = await writer.generation()
                arrived = time.monotonic_ns()  # the client heard of the commit, then sent this
                seen = await asyncio.gather(*(node.generation(arrived) for _ in range(5)))
                assert min(seen) >= committed
                asked += 5
        finally:
            stop.set()
            await asyncio.gather(*background)
        assert counting.sent < asked / 2  # shared: far fewer round trips than requests
    finally:
        await writer.close()
        await node.close()
