"""An answer's head and body leave in one write (devuc/proxy_protocol.py, CoalescedWrites): what
is held goes out with the next write, or at the end of the event loop's turn when none follows;
nothing is lost on close; a large body is not copied."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

from devuc.proxy_protocol import CoalescedWrites
from support import Server


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[bytes, ...]]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", (data,)))

    def writelines(self, parts) -> None:
        self.calls.append(("writelines", tuple(parts)))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def test_head_and_body_leave_in_one_write():
    raw = Recording()
    out = CoalescedWrites(raw, asyncio.get_running_loop())
    out.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert raw.calls == []  # held for what follows
    out.write(b"{}")
    assert raw.calls == [("write", (b"HTTP/1.1 200 OK\r\n\r\n{}",))]  # at once, not at the turn's end
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(raw.calls) == 1  # the end of the turn finds nothing left


async def test_a_lone_write_leaves_at_the_end_of_the_turn():
    raw = Recording()
    out = CoalescedWrites(raw, asyncio.get_running_loop())
    out.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert raw.calls == []
    await asyncio.sleep(0)
    assert raw.calls == [("write", (b"HTTP/1.1 100 Continue\r\n\r\n",))]
    # the next pair is joined again
    out.write(b"head")
    out.write(b"body")
    assert raw.calls[-1] == ("write", (b"headbody",))


async def test_a_large_body_is_not_copied():
    raw = Recording()
    out = CoalescedWrites(raw, asyncio.get_running_loop())
    body = b"x" * (1 << 20)
    out.write(b"head")
    out.write(body)
    assert raw.calls == [("writelines", (b"head", body))]
    assert raw.calls[0][1][1] is body


async def test_close_sends_what_is_held_and_a_closed_transport_gets_nothing():
    raw = Recording()
    out = CoalescedWrites(raw, asyncio.get_running_loop())
    out.write(b"last words")
    out.close()
    assert raw.calls == [("write", (b"last words",))] and raw.closed
    out.write(b"too late")
    await asyncio.sleep(0)
    assert raw.calls == [("write", (b"last words",))]
    assert out.is_closing() and out.get_extra_info("peername") == ("127.0.0.1", 5)


def test_expect_100_continue_is_answered_before_the_body_is_sent(server: Server):
    """uvicorn writes "100 Continue" when the app first reads the body, and nothing follows it
    until the client sends that body: the write must leave on its own."""
    address = urlsplit(server.base_url)
    body = b'{"auth": {}}'
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(b"POST /v3/auth/tokens HTTP/1.1\r\nHost: devuc\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        started = time.monotonic()
        interim = conn.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        assert time.monotonic() - started < 5
        conn.sendall(body)
        answer = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b'"error_code"' in answer
