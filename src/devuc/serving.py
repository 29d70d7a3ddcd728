"""The event loop `devuc serve` runs its workers on: uvloop, with fair accepting.

With several workers, uvicorn's supervisor binds one listening socket and every worker listens on
it. uvloop (like asyncio) accepts *every* pending connection each time the socket is readable, so
when a client opens a pool of connections at once (a reverse proxy's keep-alive pool, a load
generator) the worker that wakes first takes most or all of them and saturates while the others
idle. Measured before this module: 8 connections from wrk split 0/8 over two workers, 32 split
32/0 or 23/9.

Here a worker accepts one connection per readiness event instead, and then leaves the socket to
the others for a moment that grows with the connections it already serves (0.5 ms for each, up
to 10 ms). The socket stays readable while connections wait, so every worker is woken, and one
that was slow to be scheduled still finds connections left. Each accepted socket is then served
by the same protocol uvicorn would have used (`loop.connect_accepted_socket`). A single worker,
which has no one to share with, keeps uvloop's own listener.

The price is paid by clients that open a connection per request: about a fifth fewer new
connections per second (bench/README.md, "Workers and connections"). Clients that keep their
connections alive, as the SDKs do, pay nothing.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from typing import Any

try:
    from uvloop import Loop as _BaseLoop
except ImportError:  # where uvicorn[standard] brings no uvloop (Windows): asyncio's own loop
    _BaseLoop = asyncio.SelectorEventLoop

log = logging.getLogger("devuc.serving")

# After the process runs out of file descriptors (or the kernel of buffers), wait this long before
# accepting again rather than spin on a socket that stays readable.
_RESOURCE_PAUSE_SECONDS = 1.0
_TURN_SECONDS = 0.0005  # per connection this worker already serves
_TURN_STEPS = 19  # so at most 10 ms
_PRUNE_MIN = 64  # closed connections kept in the count's set before it is pruned
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop factory named in uvicorn's config (``loop="devuc.serving:new_event_loop"``)."""
    return FairAcceptLoop()


class FairAcceptLoop(_BaseLoop):  # type: ignore[misc, valid-type]
    async def create_server(self, protocol_factory, host=None, port=None, *, sock=None,
                            ssl=None, backlog=100, **kwargs: Any):
        if sock is None or ssl is not None or kwargs:
            return await super().create_server(protocol_factory, host, port, sock=sock, ssl=ssl,
                                               backlog=backlog, **kwargs)
        return OneAtATimeServer(self, sock, protocol_factory, backlog)


class OneAtATimeServer:
    """The part of ``asyncio.Server`` uvicorn uses, accepting one connection per wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol_factory,
                 backlog: int) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._pending: set[asyncio.Task] = set()
        self._live: set[asyncio.BaseTransport] = set()  # accepted, maybe closed since
        self._prune_at = _PRUNE_MIN
        self._closed = asyncio.Event()
        self.sockets = [sock]
        sock.setblocking(False)
        sock.listen(backlog)
        self._listening = False
        self._listen()

    def _listen(self) -> None:
        if not self._closed.is_set() and not self._listening:
            self._loop.add_reader(self._sock.fileno(), self._accept_one)
            self._listening = True

    def _pause(self) -> None:
        if self._listening:
            self._loop.remove_reader(self._sock.fileno())
            self._listening = False

    def _accept_one(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up while it waited
        except OSError as exc:
            if exc.errno in _RESOURCE_ERRORS:
                log.error("cannot accept connections (%s): pausing for %.0f s",
                          errno.errorcode.get(exc.errno, exc.errno), _RESOURCE_PAUSE_SECONDS)
                self._pause()
                self._loop.call_later(_RESOURCE_PAUSE_SECONDS, self._listen)
                return
            raise
        conn.setblocking(False)
        # Leave the next waiting connection to another worker for a moment.
        self._pause()
        self._loop.call_later(_TURN_SECONDS * (self._open_connections() + 1), self._listen)
        task = self._loop.create_task(self._serve(conn))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _open_connections(self) -> int:
        """How many accepted connections are still open, counted up to the number at which the
        turn reaches its longest. Closed ones are dropped from the set once it has doubled, so
        an accept costs O(1) amortised however many connections the worker holds."""
        if len(self._live) > self._prune_at:
            self._live = {t for t in self._live if not t.is_closing()}
            self._prune_at = max(_PRUNE_MIN, 2 * len(self._live))
        count = 0
        for transport in self._live:
            if not transport.is_closing():
                count += 1
                if count >= _TURN_STEPS:
                    break
        return count

    async def _serve(self, conn: socket.socket) -> None:
        try:
            transport, _ = await self._loop.connect_accepted_socket(self._factory, sock=conn)
            if self._closed.is_set():
                # Accepted just as the worker began to stop, after uvicorn told its connections
                # to shut down: close it rather than let it hold the shutdown open.
                transport.close()
            else:
                self._live.add(transport)
        except OSError:  # the client went away before the connection was set up
            conn.close()

    def close(self) -> None:
        self._pause()
        self._closed.set()

    def is_serving(self) -> bool:
        return not self._closed.is_set()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def wait_closed(self) -> None:
        await self._closed.wait()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
