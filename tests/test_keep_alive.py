"""The keep-alive timeout of `devuc serve`'s HTTP protocol (devuc/proxy_protocol.py,
_KeepAliveByClock): a connection idle for the whole timeout after an answer is closed; one that
keeps sending requests stays open however long it lives; an answer that takes longer than the
timeout is not cut off, and its connection is closed once idle for the timeout after it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from uvicorn import Config, Server

from devuc.proxy_protocol import IngressSettings, ProxyProtocolHttp, TrustedProxies
from support import free_port

TIMEOUT = 0.6


class Protocol(ProxyProtocolHttp):
    settings = IngressSettings(TrustedProxies([]), 0xEA, 0x01)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(3 * TIMEOUT)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port():
    port = free_port()
    server = Server(Config(app=app, host="127.0.0.1", port=port, http=Protocol, lifespan="off",
                           timeout_keep_alive=TIMEOUT, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(10)


def _ask(conn: socket.socket, path: str = "/") -> bytes:
    conn.sendall(b"GET %s HTTP/1.1\r\nHost: devuc\r\n\r\n" % path.encode())
    answer = b""
    while not answer.endswith(b"\r\n\r\nok"):
        chunk = conn.recv(4096)
        assert chunk, f"closed before the answer to {path} was whole: {answer!r}"
        answer += chunk
    return answer


def _closed_after(conn: socket.socket, answered: float, limit: float = 5) -> float:
    """Seconds from ``answered`` (the monotonic clock when the last answer was read) until the
    server closes ``conn`` (fails after ``limit``)."""
    conn.settimeout(limit)
    assert conn.recv(1) == b""
    return time.monotonic() - answered


def test_an_idle_connection_is_closed_once_the_timeout_has_passed(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        assert _ask(conn).startswith(b"HTTP/1.1 200 ")
        waited = _closed_after(conn, time.monotonic())
    assert 0.8 * TIMEOUT <= waited <= TIMEOUT + 1.0, waited


def test_a_connection_that_keeps_asking_stays_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        started = time.monotonic()
        count = 0
        while time.monotonic() - started < 4 * TIMEOUT:  # four timeouts long, never idle for one
            assert _ask(conn).startswith(b"HTTP/1.1 200 ")
            answered = time.monotonic()
            count += 1
            time.sleep(TIMEOUT / 6)
        assert count >= 10
        waited = _closed_after(conn, answered)  # and closed once it falls idle
    assert 0.8 * TIMEOUT <= waited <= TIMEOUT + 1.0, waited


def test_a_slow_answer_is_not_cut_off_by_the_timeout(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        assert _ask(conn).startswith(b"HTTP/1.1 200 ")  # a timer is armed after this answer
        time.sleep(TIMEOUT / 2)
        started = time.monotonic()
        assert _ask(conn, "/slow").startswith(b"HTTP/1.1 200 ")  # the timer fires meanwhile
        assert time.monotonic() - started >= 3 * TIMEOUT * 0.9
        assert _ask(conn).startswith(b"HTTP/1.1 200 ")  # still open after the slow answer
        waited = _closed_after(conn, time.monotonic())
    assert 0.8 * TIMEOUT <= waited <= TIMEOUT + 1.0, waited
