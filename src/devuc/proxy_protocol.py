"""Which VPC endpoint a request came through: PROXY protocol v2 for uvicorn, and the trust rule.

A load balancer in front of devuc tells it the VPC endpoint a connection arrived through, in one
of two ways (spec/codearts-uc.md §6, enforcement contract 1):

* a PROXY protocol v2 preamble (haproxy's ``proxy-protocol.txt``) whose TLV of type 0xEA,
  subtype 0x01 carries the endpoint ID, the convention AWS PrivateLink uses and the one most load
  balancers can emit (type and subtype are settings: ``proxy_protocol_tlv_type``,
  ``proxy_protocol_tlv_subtype``; a subtype of -1 means the whole TLV value is the ID);
* an HTTP header set by the proxy (setting ``vpcep_header``, default ``X-Vpcep-Id``).

Either is believed only when the TCP peer is one of the ``trusted_proxies`` (addresses or CIDR
ranges). From any other peer a PROXY preamble is not even looked for (the bytes reach the HTTP
parser, which refuses them) and the header is ignored.

:class:`ProxyProtocolHttp` is the uvicorn HTTP protocol ``devuc serve`` runs. On a connection from
an untrusted peer it adds nothing but one dictionary copy when the connection opens (and the clock
reading below); on one from a
trusted peer it strips a PROXY v2 preamble if the first bytes carry its signature, takes the client
address from it, and exposes the endpoint ID. Each request's ASGI scope carries an
:class:`Ingress` under ``scope["state"][INGRESS_KEY]``; :func:`vpc_endpoint` reads it. The
protocol also notes when each request began to arrive (``scope["state"][RECEIVED_KEY]``), for
the store's shared generation reads.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace
from time import monotonic_ns
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment, misc]

from .runtime import RECEIVED_KEY

log = logging.getLogger("devuc.ingress")

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
HEADER_LEN = 16  # signature, version/command, family/transport, length
MAX_HEADER_LEN = HEADER_LEN + 0xFFFF
INGRESS_KEY = "devuc.ingress"
VPCEP_ID = re.compile(r"[0-9a-z-]{1,40}")

_ADDRESS_LENGTHS = {0x1: 12, 0x2: 36, 0x3: 216}  # AF_INET, AF_INET6, AF_UNIX


class ProxyProtocolError(ValueError):
    """The bytes start like a PROXY v2 header but are not a valid one."""


@dataclass(frozen=True)
class ProxyHeader:
    command: str  # "PROXY" or "LOCAL"
    source: tuple[str, int] | None  # the original client, for TCP over IPv4/IPv6
    destination: tuple[str, int] | None
    tlvs: tuple[tuple[int, bytes], ...]
    length: int  # bytes the header occupies on the wire

    def vpce_id(self, tlv_type: int, subtype: int) -> str | None:
        """The VPC endpoint ID carried in the first TLV of ``tlv_type`` (and ``subtype`` as its
        first byte, unless ``subtype`` is -1), or None."""
        for kind, value in self.tlvs:
            if kind != tlv_type:
                continue
            if subtype >= 0:
                if not value or value[0] != subtype:
                    continue
                value = value[1:]
            try:
                text = value.decode("ascii").strip("\x00 ")
            except UnicodeDecodeError:
                return None
            return text or None
        return None


def parse(data: bytes) -> ProxyHeader | None:
    """The PROXY v2 header at the start of ``data``; None when more bytes are needed to decide.

    Raises :class:`NotProxyProtocol` when ``data`` does not start with the v2 signature, and
    :class:`ProxyProtocolError` when it does but the header is malformed."""
    probe = data[: len(SIGNATURE)]
    if not SIGNATURE.startswith(probe):
        raise NotProxyProtocol
    if len(data) < HEADER_LEN:
        return None
    version_command, family, length = struct.unpack_from("!BBH", data, len(SIGNATURE))
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"unsupported PROXY protocol version {version_command >> 4}")
    command = version_command & 0x0F
    if command not in (0x0, 0x1):
        raise ProxyProtocolError(f"unknown PROXY protocol command {command}")
    total = HEADER_LEN + length
    if len(data) < total:
        return None
    body = data[HEADER_LEN:total]
    address_family, transport = family >> 4, family & 0x0F
    if address_family > 0x3 or transport > 0x2:
        raise ProxyProtocolError(f"unknown address family/transport 0x{family:02x}")
    address_len = _ADDRESS_LENGTHS.get(address_family, 0)
    if len(body) < address_len:
        raise ProxyProtocolError("address block longer than the header")
    source = destination = None
    if command == 0x1 and transport == 0x1 and address_family in (0x1, 0x2):
        size = 4 if address_family == 0x1 else 16
        src = ipaddress.ip_address(body[:size])
        dst = ipaddress.ip_address(body[size : 2 * size])
        sport, dport = struct.unpack_from("!HH", body, 2 * size)
        source, destination = (str(src), sport), (str(dst), dport)
    return ProxyHeader(
        command="PROXY" if command == 0x1 else "LOCAL",
        source=source,
        destination=destination,
        tlvs=tuple(_tlvs(body[address_len:])),
        length=total,
    )


class NotProxyProtocol(Exception):
    """The connection does not start with a PROXY v2 header."""


def _tlvs(block: bytes) -> Iterable[tuple[int, bytes]]:
    at = 0
    while at < len(block):
        if len(block) - at < 3:
            raise ProxyProtocolError("truncated TLV")
        kind, size = struct.unpack_from("!BH", block, at)
        at += 3
        if at + size > len(block):
            raise ProxyProtocolError(f"TLV 0x{kind:02x} longer than the header")
        yield kind, block[at : at + size]
        at += size


# ---------------------------------------------------------------------------------------------
# trust


class TrustedProxies:
    """The addresses whose VPC endpoint claims are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: object) -> bool:
        if not self.networks or not isinstance(host, str):
            return False
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


@functools.lru_cache(maxsize=8)
def trusted_proxies(entries: tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies(entries)


@dataclass(frozen=True)
class Ingress:
    """What the connection layer learnt about a request's way in."""

    peer: str | None  # the TCP peer's address
    trusted: bool  # the peer is a trusted proxy
    vpce_id: str | None = None  # from a PROXY v2 TLV


def vpc_endpoint(
    scope: dict[str, Any], trusted: TrustedProxies, header: str, *, tlv: bool = True
) -> str | None:
    """The VPC endpoint ID a request came through, or None.

    Believed only from a trusted proxy: the PROXY v2 TLV first, then the ``header``. Under a
    server other than ``devuc serve`` (no :class:`Ingress` in the scope) the peer is the scope's
    ``client``. A malformed ID (not 1-40 digits, lower-case letters and '-') counts as none."""
    ingress: Ingress | None = scope.get("state", {}).get(INGRESS_KEY)
    if ingress is not None:
        if not ingress.trusted:
            return None
        if tlv and ingress.vpce_id is not None:
            return _valid(ingress.vpce_id, "PROXY protocol TLV")
    else:
        client = scope.get("client")
        if not client or client[0] not in trusted:
            return None
    name = header.lower().encode("latin-1")
    for key, value in scope.get("headers", ()):
        if key == name:
            return _valid(value.decode("latin-1").strip(), f"header {header}")
    return None


def _valid(value: str, where: str) -> str | None:
    if VPCEP_ID.fullmatch(value):
        return value
    log.warning("ignored a malformed VPC endpoint ID from a trusted proxy (%s)", where)
    return None


# ---------------------------------------------------------------------------------------------
# the uvicorn protocol


@dataclass(frozen=True)
class IngressSettings:
    trusted: TrustedProxies
    tlv_type: int
    tlv_subtype: int


@functools.cache
def _ingress_settings() -> IngressSettings:
    """The settings `devuc serve` handed its workers (see config.served_settings)."""
    from .config import served_settings

    settings = served_settings()
    return IngressSettings(
        trusted_proxies(tuple(settings.trusted_proxies)),
        settings.proxy_protocol_tlv_type,
        settings.proxy_protocol_tlv_subtype,
    )


_JOIN_BELOW = 64 * 1024


class CoalescedWrites:
    """A connection's transport that sends an answer's head and body in one write.

    uvicorn writes an answer's status line and headers when the app starts the answer, and the
    body when the app sends it, each straight to the socket: two system calls and two TCP
    segments for every answer (the server disables Nagle's algorithm), and a client that wakes
    for the headers, then again for the body. Here a write is held until the next one, which
    goes out with it at once; a write that no other follows in the same turn of the event loop
    (a streamed body's part, ``100 Continue``) leaves at the end of that turn. Everything else
    is the transport's own."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport, loop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            if len(data) < _JOIN_BELOW:
                self._transport.write(held + data)
            else:  # a large body is not copied to be joined
                self._transport.writelines((held, data))

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:  # asked after every answer: not through __getattr__
        return self._transport.is_closing()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class _KeepAliveByClock:
    """The keep-alive timeout of uvicorn's httptools protocol, kept with one timer per idle
    spell instead of one per answer.

    uvicorn arms a timer when an answer is complete and cancels it when the next request's bytes
    arrive: two timer operations per request, which showed as 2-3 % of a worker's time under
    load. Here an answer only notes when the connection fell idle; a timer is armed when none is,
    and when it fires it closes the connection if it has been idle for the whole timeout, waits
    out the rest if it has not, and lets the connection be while a request is in progress (the
    end of that request's answer arms it again). The timeout is the same: a connection is closed
    once ``timeout_keep_alive`` seconds have passed since its last answer with no new request."""

    _idle_since: float | None = None  # loop time of the last answer; None while a request runs

    def on_response_complete(self) -> None:
        if self.pipeline or self.transport.is_closing():  # the next request is already here
            super().on_response_complete()
            return
        self.server_state.total_requests += 1
        self.flow.resume_reading()
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _unset_keepalive_if_required(self) -> None:
        # Called when request bytes arrive (and by the base class around pipelined requests):
        # the connection is busy; a timer that fires now finds it so and leaves it open.
        self._idle_since = None

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_since is None or self.transport.is_closing():
            return
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None


# With httptools (uvicorn[standard], as devuc installs it); h11's protocol keeps its own timer.
_PROTOCOL_BASES: tuple[type, ...] = (
    (_KeepAliveByClock, AutoHTTPProtocol)
    if HttpToolsProtocol is not None and issubclass(AutoHTTPProtocol, HttpToolsProtocol)
    else (AutoHTTPProtocol,)
)


class ProxyProtocolHttp(*_PROTOCOL_BASES):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, plus PROXY v2 on connections from trusted proxies, writes
    coalesced per turn of the event loop (`CoalescedWrites`) and, with httptools, one keep-alive
    timer per idle spell (`_KeepAliveByClock`)."""

    settings: IngressSettings | None = None  # tests may set it; else read from the environment

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescedWrites(transport, self.loop)
        settings = self.settings or _ingress_settings()
        self._ingress_settings = settings
        peer = self.client[0] if self.client else None
        trusted = peer in settings.trusted
        self._preamble: bytes | None = b"" if trusted else None
        # Copied into every request's scope["state"] by the base class.
        self.app_state = {**self.app_state, INGRESS_KEY: Ingress(peer, trusted)}

    def data_received(self, data: bytes) -> None:
        # When a request began to arrive: a store read sent after it may answer it (devuc/store/db.py).
        self.app_state[RECEIVED_KEY] = monotonic_ns()
        if self._preamble is None:
            super().data_received(data)
            return
        buffered = self._preamble + data
        try:
            header = parse(buffered)
        except NotProxyProtocol:
            self._preamble = None
            super().data_received(buffered)
            return
        except ProxyProtocolError as exc:
            log.warning("refused a connection from %s: %s", self.client[0] if self.client else "?", exc)
            self._preamble = None
            self.transport.close()
            return
        if header is None:
            if len(buffered) > MAX_HEADER_LEN:  # pragma: no cover - parse() decides before this
                self.transport.close()
            self._preamble = buffered
            return
        self._preamble = None
        settings = self._ingress_settings
        ingress: Ingress = self.app_state[INGRESS_KEY]
        self.app_state[INGRESS_KEY] = replace(
            ingress, vpce_id=header.vpce_id(settings.tlv_type, settings.tlv_subtype)
        )
        if header.source is not None:
            self.client = header.source
        rest = buffered[header.length :]
        if rest:
            super().data_received(rest)
