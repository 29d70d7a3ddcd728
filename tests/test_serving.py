"""Fair accepting between workers (devuc/serving.py): a burst of connections is shared out, every
accepted connection is served, and running out of file descriptors pauses accepting instead of
spinning."""

import asyncio
import errno
import importlib.util
import re
import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

from devuc import serving
from support import start_server


class _Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data.upper())


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


async def _connect_all(port: int, count: int) -> list[socket.socket]:
    clients = []
    for _ in range(count):
        client = socket.socket()
        client.setblocking(False)
        try:
            client.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        clients.append(client)
    return clients


async def test_a_burst_is_shared_between_two_listeners_on_one_socket():
    """Two servers on one listening socket (as two workers are): each accepts one connection per
    wake-up, so a burst of 8 does not all land on the first to wake."""
    loop = asyncio.get_running_loop()
    sock = _listener()
    twin = sock.dup()  # a second descriptor of the same socket, as a second worker holds
    seen = {"a": 0, "b": 0}

    def counting(name):
        def factory():
            seen[name] += 1
            return _Echo()
        return factory

    a = serving.OneAtATimeServer(loop, sock, counting("a"), 64)
    b = serving.OneAtATimeServer(loop, twin, counting("b"), 64)
    clients = await _connect_all(sock.getsockname()[1], 8)
    deadline = time.monotonic() + 5
    while seen["a"] + seen["b"] < 8 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    try:
        assert seen["a"] + seen["b"] == 8
        assert min(seen.values()) >= 3, seen
        # Every accepted connection is served by the protocol.
        for client in clients:
            await loop.sock_sendall(client, b"ping")
            assert await asyncio.wait_for(loop.sock_recv(client, 4), 5) == b"PING"
    finally:
        for client in clients:
            client.close()
        a.close()
        b.close()
        await asyncio.wait_for(a.wait_closed(), 5)
        await asyncio.wait_for(b.wait_closed(), 5)
        sock.close()
        twin.close()
    assert not a.is_serving()


async def test_closed_server_accepts_nothing_more():
    loop = asyncio.get_running_loop()
    sock = _listener()
    accepted = []
    server = serving.OneAtATimeServer(loop, sock, lambda: accepted.append(1) or _Echo(), 64)
    server.close()
    await server.wait_closed()
    clients = await _connect_all(sock.getsockname()[1], 2)
    await asyncio.sleep(0.2)
    assert accepted == []
    for client in clients:
        client.close()
    sock.close()


async def test_a_connection_set_up_after_close_is_closed():
    """A connection accepted just as the worker stops (its set-up finishing after close) must not
    hold the shutdown open: it is closed at once."""
    loop = asyncio.get_running_loop()
    sock = _listener()
    server = serving.OneAtATimeServer(loop, sock, _Echo, 64)
    server.close()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    await server._serve(ours)
    assert await asyncio.wait_for(loop.sock_recv(theirs, 10), 5) == b""  # closed on our side
    theirs.close()
    await server.wait_closed()
    sock.close()


async def test_out_of_descriptors_pauses_then_accepts_again(monkeypatch, caplog):
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(serving, "_RESOURCE_PAUSE_SECONDS", 0.2)
    sock = _listener()
    calls = {"n": 0}

    class Flaky:
        """The listening socket, whose first accept fails as if the process had no descriptor."""

        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def accept(self):
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError(errno.EMFILE, "Too many open files")
            return self.real.accept()

    accepted = []
    server = serving.OneAtATimeServer(loop, Flaky(sock), lambda: accepted.append(1) or _Echo(), 64)
    clients = await _connect_all(sock.getsockname()[1], 1)
    await asyncio.sleep(0.1)
    assert accepted == [] and calls["n"] == 1  # paused: no busy loop on the readable socket
    deadline = time.monotonic() + 5
    while not accepted and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert accepted == [1]
    assert "EMFILE" in caplog.text
    server.close()
    await server.wait_closed()
    for client in clients:
        client.close()
    sock.close()


def _harness_procs():
    """bench/procs.py, whose /proc readers tell which worker holds which connection."""
    path = Path(__file__).resolve().parents[1] / "bench" / "procs.py"
    spec = importlib.util.spec_from_file_location("devuc_bench_procs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_two_workers_share_a_pool_of_keep_alive_connections(tmp_path):
    procs = _harness_procs()
    server = start_server(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}",
                          args=("--workers", "2"))
    try:
        port = int(re.search(r":(\d+)$", server.base_url).group(1))
        workers = []
        deadline = time.monotonic() + 20
        while len(workers) < 2 and time.monotonic() < deadline:  # both workers up
            workers = [int(p) for p in Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
                       .read_text().split()
                       if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]
            time.sleep(0.1)
        assert len(workers) == 2
        time.sleep(1)
        for _ in range(3):
            clients = [httpx.Client(base_url=server.base_url, timeout=10) for _ in range(8)]
            try:
                for client in clients:
                    assert client.get("/health").status_code == 200
                split = procs.connection_split(workers, port)
                assert sum(split) == 8 and min(split) >= 1, split
            finally:
                for client in clients:
                    client.close()
            time.sleep(0.3)
    finally:
        server.stop()


class _FakeTransport:
    def __init__(self, closing: bool) -> None:
        self.closing = closing

    def is_closing(self) -> bool:
        return self.closing


async def test_the_turn_counts_open_connections_and_forgets_closed_ones():
    loop = asyncio.get_running_loop()
    sock = _listener()
    server = serving.OneAtATimeServer(loop, sock, _Echo, 64)
    try:
        server._live = {_FakeTransport(True) for _ in range(100)} | {_FakeTransport(False) for _ in range(5)}
        assert server._open_connections() == 5
        assert len(server._live) == 5  # past the threshold: the closed ones were dropped
        server._live |= {_FakeTransport(False) for _ in range(50)}
        assert server._open_connections() == serving._TURN_STEPS  # counted only as far as needed
        assert serving._TURN_SECONDS * (serving._TURN_STEPS + 1) <= 0.0101
    finally:
        server.close()
        await server.wait_closed()
        sock.close()


async def test_a_serve_worker_puts_what_exists_once_started_out_of_the_collectors_sight(tmp_path, monkeypatch):
    """`devuc serve`'s workers (app_from_env) freeze the objects that exist once the app has
    started, so full collections no longer walk them (devuc/app.py); an app made with plain
    create_app, as a test or an embedding program makes it, leaves its process's collector alone."""
    import gc

    from devuc.app import app_from_env, create_app
    from devuc.config import SETTINGS_ENV, Settings

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}")
    monkeypatch.setenv(SETTINGS_ENV, settings.model_dump_json())
    gc.unfreeze()
    try:
        plain = create_app(settings)
        async with plain.router.lifespan_context(plain):
            assert gc.get_freeze_count() == 0
        worker = app_from_env()
        async with worker.router.lifespan_context(worker):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
