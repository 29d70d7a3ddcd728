"""What devuc's PROXY-protocol-aware HTTP protocol costs a request, against uvicorn's own.

Feeds keep-alive requests through each protocol class over an in-memory transport (no sockets,
so only the protocol's own work is measured) and prints microseconds per request for:

* uvicorn's protocol (the baseline),
* devuc's protocol on a connection from an untrusted peer (every request from the internet),
* devuc's protocol on a connection from a trusted proxy that sent a PROXY v2 header.

Times are the process's CPU time, so other load on the machine does not distort them much.

Run: ``python bench/proxy_protocol.py [requests]``.
"""

from __future__ import annotations

import asyncio
import statistics
import struct
import sys
import time

from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from devuc.proxy_protocol import IngressSettings, ProxyProtocolHttp, TrustedProxies

REQUEST = b"GET /health HTTP/1.1\r\nHost: devuc\r\nX-Auth-Token: abc\r\n\r\n"
PREAMBLE = (
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11"
    + struct.pack("!H", 12 + 3 + 37)
    + bytes([203, 0, 113, 9, 10, 0, 0, 1]) + struct.pack("!HH", 5000, 443)
    + b"\xea" + struct.pack("!H", 37) + b"\x01" + b"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
)


class Transport(asyncio.Transport):
    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer
        self.written = 0

    def get_extra_info(self, name, default=None):
        return {"peername": (self.peer, 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data):
        self.written += 1

    def close(self):
        pass

    def is_closing(self):
        return False

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


class Devuc(ProxyProtocolHttp):
    settings = IngressSettings(TrustedProxies(["10.9.9.9"]), 0xEA, 0x01)


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def run(cls, peer: str, preamble: bytes, n: int) -> float:
    config = Config(app=app, lifespan="off", proxy_headers=False, log_level="warning")
    config.load()
    protocol = cls(config=config, server_state=ServerState(), app_state={})
    transport = Transport(peer)
    protocol.connection_made(transport)
    started = time.process_time()
    if preamble:
        protocol.data_received(preamble)
    for _ in range(n):
        protocol.data_received(REQUEST)
        while protocol.cycle is not None and not protocol.cycle.response_complete:
            await asyncio.sleep(0)
    elapsed = time.process_time() - started
    protocol.connection_lost(None)
    return elapsed / n * 1e6


async def main(n: int) -> None:
    cases = {
        "uvicorn (baseline)": (AutoHTTPProtocol, "192.0.2.1", b""),
        "devuc, untrusted peer": (Devuc, "192.0.2.1", b""),
        "devuc, trusted proxy + PROXY v2": (Devuc, "10.9.9.9", PREAMBLE),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(7):  # interleaved rounds, median reported
        for name, (cls, peer, preamble) in cases.items():
            results[name].append(await run(cls, peer, preamble, n))
    for name, samples in results.items():
        print(f"{name:34s} {statistics.median(samples):6.2f} us/request")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
