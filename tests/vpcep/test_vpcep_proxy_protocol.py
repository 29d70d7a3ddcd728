"""PROXY protocol v2 parsing, the uvicorn protocol that strips it, and who is believed about the
VPC endpoint of a request (devuc/proxy_protocol.py)."""

from __future__ import annotations

import asyncio
import time

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from devuc.proxy_protocol import (
    INGRESS_KEY,
    Ingress,
    IngressSettings,
    NotProxyProtocol,
    ProxyProtocolError,
    ProxyProtocolHttp,
    TrustedProxies,
    parse,
    vpc_endpoint,
)
from devuc.runtime import RECEIVED_KEY
from vpcep_helpers import SIGNATURE, proxy_v2, tlv, vpce_tlv

ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


# --- the parser -------------------------------------------------------------------------------


def test_parse_ipv4_with_tlvs():
    raw = proxy_v2(("198.51.100.7", 40000), ("10.1.2.3", 443), tlvs=tlv(0x01, b"h2") + vpce_tlv(ID))
    header = parse(raw + b"GET / HTTP/1.1\r\n")
    assert header.command == "PROXY"
    assert header.source == ("198.51.100.7", 40000) and header.destination == ("10.1.2.3", 443)
    assert header.length == len(raw)
    assert header.tlvs == ((0x01, b"h2"), (0xEA, b"\x01" + ID.encode()))
    assert header.vpce_id(0xEA, 0x01) == ID
    assert header.vpce_id(0xEA, 0x02) is None  # another subtype
    assert header.vpce_id(0xE0, -1) is None
    assert parse(proxy_v2(tlvs=tlv(0xE0, ID.encode()))).vpce_id(0xE0, -1) == ID  # no subtype byte


def test_parse_ipv6_local_and_unspec():
    header = parse(proxy_v2(("2001:db8::5", 1), ("2001:db8::6", 2)))
    assert header.source == ("2001:db8::5", 1)
    local = parse(proxy_v2(command=0x0, tlvs=vpce_tlv(ID)))
    assert local.command == "LOCAL" and local.source is None and local.vpce_id(0xEA, 1) == ID
    unspec = SIGNATURE + bytes([0x21, 0x00]) + (0).to_bytes(2, "big")
    assert parse(unspec).source is None and parse(unspec).tlvs == ()


def test_parse_needs_more_bytes_then_decides():
    raw = proxy_v2(tlvs=vpce_tlv(ID))
    for cut in range(len(raw)):
        assert parse(raw[:cut]) is None, cut
    assert parse(raw).length == len(raw)


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\n", b"\r\n\r\nX", b"PROXY TCP4 1.2.3.4", b"\x00"])
def test_not_proxy_protocol(data):
    with pytest.raises(NotProxyProtocol):
        parse(data)


@pytest.mark.parametrize("raw", [
    proxy_v2(version=1),
    proxy_v2(command=0x2),
    SIGNATURE + bytes([0x21, 0x41]) + (0).to_bytes(2, "big"),  # family 4
    SIGNATURE + bytes([0x21, 0x13]) + (0).to_bytes(2, "big"),  # transport 3
    SIGNATURE + bytes([0x21, 0x11]) + (4).to_bytes(2, "big") + b"\x01\x02\x03\x04",  # short addresses
    SIGNATURE + bytes([0x21, 0x11]) + (14).to_bytes(2, "big") + bytes(12) + b"\xea\x00",  # truncated TLV
    SIGNATURE + bytes([0x21, 0x11]) + (15).to_bytes(2, "big") + bytes(12) + b"\xea\x00\x05",  # TLV too long
])
def test_malformed(raw):
    with pytest.raises(ProxyProtocolError):
        parse(raw)


def test_non_ascii_endpoint_is_none():
    assert parse(proxy_v2(tlvs=tlv(0xEA, b"\x01\xff\xfe"))).vpce_id(0xEA, 1) is None


# --- trust ------------------------------------------------------------------------------------


def test_trusted_proxies():
    trusted = TrustedProxies(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", " "])
    assert "10.200.1.1" in trusted and "192.0.2.7" in trusted and "192.0.2.8" not in trusted
    assert "::ffff:10.0.0.1" in trusted and "2001:db8::1" in trusted and "2001:db9::1" not in trusted
    assert "fe80::1%eth0" not in trusted and "not-an-ip" not in trusted and None not in trusted
    assert not TrustedProxies([]) and "127.0.0.1" not in TrustedProxies([])


def scope(client=("127.0.0.1", 5000), headers=(), ingress: Ingress | None = None) -> dict:
    s = {"client": client, "headers": [(k.lower().encode(), v.encode()) for k, v in headers], "state": {}}
    if ingress is not None:
        s["state"][INGRESS_KEY] = ingress
    return s


def test_vpc_endpoint_rules():
    trusted = TrustedProxies(["127.0.0.2"])
    header = [("X-Vpcep-Id", ID)]
    # served by devuc's protocol: the connection's own verdict counts, not the scope's client
    assert vpc_endpoint(scope(headers=header, ingress=Ingress("127.0.0.2", True)), trusted, "X-Vpcep-Id") == ID
    assert vpc_endpoint(scope(client=("127.0.0.2", 1), headers=header, ingress=Ingress("127.0.0.1", False)),
                        trusted, "X-Vpcep-Id") is None
    tlv_first = Ingress("127.0.0.2", True, vpce_id="from-tlv")
    assert vpc_endpoint(scope(headers=header, ingress=tlv_first), trusted, "X-Vpcep-Id") == "from-tlv"
    # the header name is a setting, matched case-insensitively
    assert vpc_endpoint(scope(headers=[("x-edge-vpce", ID)], ingress=Ingress("p", True)), trusted, "X-Edge-Vpce") == ID
    assert vpc_endpoint(scope(headers=header, ingress=Ingress("p", True)), trusted, "X-Edge-Vpce") is None
    # malformed values count as none
    for bad in ("UPPER", "a" * 41, "", "a b"):
        assert vpc_endpoint(scope(headers=[("X-Vpcep-Id", bad)], ingress=Ingress("p", True)), trusted,
                            "X-Vpcep-Id") is None
    assert vpc_endpoint(scope(ingress=Ingress("p", True, vpce_id="BAD!")), trusted, "X-Vpcep-Id") is None
    # under another server: the scope's client decides
    assert vpc_endpoint(scope(client=("127.0.0.2", 1), headers=header), trusted, "X-Vpcep-Id") == ID
    assert vpc_endpoint(scope(client=("127.0.0.1", 1), headers=header), trusted, "X-Vpcep-Id") is None
    assert vpc_endpoint(scope(client=None, headers=header), trusted, "X-Vpcep-Id") is None


# --- the uvicorn protocol ---------------------------------------------------------------------


class Transport(asyncio.Transport):
    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__()
        self.peer, self.buffer, self.closed = peer, b"", False

    def get_extra_info(self, name, default=None):
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data):
        self.buffer += data

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def set_protocol(self, protocol):
        pass


class Protocol(ProxyProtocolHttp):
    settings = IngressSettings(TrustedProxies(["127.0.0.2"]), 0xEA, 0x01)


async def serve_bytes(chunks: list[bytes], peer: str, times: list[int] | None = None) -> tuple[list[dict], Transport]:
    """Feed ``chunks`` to the protocol as reads from ``peer``; ``times`` gets the monotonic clock
    before each read and after the last."""
    seen: list[dict] = []

    async def app(scope, receive, send):
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = Config(app=app, lifespan="off", proxy_headers=False)
    config.load()
    protocol = Protocol(config=config, server_state=ServerState(), app_state={"shared": 1})
    transport = Transport((peer, 50000))
    protocol.connection_made(transport)
    for chunk in chunks:
        if times is not None:
            times.append(time.monotonic_ns())
        protocol.data_received(chunk)
        await asyncio.sleep(0)
    if times is not None:
        times.append(time.monotonic_ns())
    for _ in range(50):
        if transport.buffer.count(b"HTTP/1.1 204") >= len(seen) and seen:
            break
        await asyncio.sleep(0.01)
    protocol.connection_lost(None)
    return seen, transport


REQUEST = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"


async def test_protocol_trusted_peer_strips_the_header():
    raw = proxy_v2(("203.0.113.5", 4242), tlvs=vpce_tlv(ID)) + REQUEST + REQUEST
    seen, transport = await serve_bytes([raw[i:i + 7] for i in range(0, len(raw), 7)], "127.0.0.2")
    assert len(seen) == 2 and transport.buffer.count(b"HTTP/1.1 204") == 2
    for s in seen:
        assert s["client"] == ("203.0.113.5", 4242)
        assert s["state"][INGRESS_KEY] == Ingress("127.0.0.2", True, ID)
        assert s["state"]["shared"] == 1 and s["path"] == "/x"


async def test_protocol_trusted_peer_plain_http():
    seen, _ = await serve_bytes([REQUEST], "127.0.0.2")
    assert seen[0]["client"] == ("127.0.0.2", 50000)
    assert seen[0]["state"][INGRESS_KEY] == Ingress("127.0.0.2", True, None)


async def test_protocol_untrusted_peer_is_not_parsed():
    seen, transport = await serve_bytes([proxy_v2(tlvs=vpce_tlv(ID)) + REQUEST], "127.0.0.1")
    assert seen == [] and transport.buffer.startswith(b"HTTP/1.1 400")
    seen, _ = await serve_bytes([REQUEST], "127.0.0.1")
    assert seen[0]["client"] == ("127.0.0.1", 50000)
    assert seen[0]["state"][INGRESS_KEY] == Ingress("127.0.0.1", False, None)


async def test_protocol_malformed_header_closes():
    seen, transport = await serve_bytes([proxy_v2(version=3) + REQUEST], "127.0.0.2")
    assert seen == [] and transport.closed and transport.buffer == b""


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.0.0.2"])
async def test_each_request_notes_when_its_first_bytes_were_read(peer):
    """For the store's shared reads (devuc/store/db.py): a request's time is that of the read
    its request line began in, on a kept-alive connection too."""
    second = REQUEST.replace(b"/x", b"/y")
    times: list[int] = []
    seen, _ = await serve_bytes([REQUEST + second[:10], second[10:], REQUEST], peer, times)
    assert [s["path"] for s in seen] == ["/x", "/y", "/x"]
    stamps = [s["state"][RECEIVED_KEY] for s in seen]
    assert times[0] <= stamps[0] == stamps[1] <= times[1]
    assert times[2] <= stamps[2] <= times[3]
