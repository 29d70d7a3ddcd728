"""Hostile input: deeply nested, invalid and slow bodies, huge query strings and headers, odd
bytes in headers. Each gets a clear error, has no effect, and the server stays responsive."""

from __future__ import annotations

import socket
import time

import httpx

from support import Server, error_code, get_token


def _raw(server: Server, payload: bytes, timeout: float = 10.0) -> bytes:
    host, port = server.base_url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and not payload.startswith(b"POST"):
                break
        return b"".join(chunks)


def _healthy(server: Server) -> None:
    started = time.monotonic()
    assert httpx.get(server.base_url + "/health", timeout=5).status_code == 200
    assert time.monotonic() - started < 2.0


def test_deeply_nested_and_invalid_bodies(server: Server, account):
    with server.client() as c:
        token = get_token(c, account)
        before = c.get("/v3/groups", headers={"X-Auth-Token": token}).json()["groups"]
        for body in (b"[" * 200_000, b'{"group": ' * 50_000, b'{"group": {"name": "\xff\xfe"}}',
                     b"\x00\x01\x02", b'{"group": {"name": "a\\ud800b"}}'):
            r = c.post("/v3/groups", content=body, headers={"X-Auth-Token": token,
                                                           "Content-Type": "application/json"})
            assert r.status_code == 400, (body[:20], r.status_code, r.text[:200])
            assert error_code(r) in ("IAM.0011", "IAM.0073", "IAM.1101"), r.text[:200]
        after = c.get("/v3/groups", headers={"X-Auth-Token": token}).json()["groups"]
        assert after == before
    _healthy(server)


def test_huge_query_strings_and_headers(server: Server, account):
    with server.client() as c:
        token = get_token(c, account)
        r = c.get("/v3/projects", params={"name": "x" * 60_000}, headers={"X-Auth-Token": token})
        assert r.status_code in (200, 400, 414), r.status_code
        assert r.status_code != 200 or r.json()["projects"] == []
    answer = _raw(server, b"GET /v3/projects HTTP/1.1\r\nHost: x\r\nX-Auth-Token: "
                  + b"A" * 200_000 + b"\r\n\r\n")
    assert answer == b"" or answer.split(b" ", 2)[1] in (b"400", b"401", b"413", b"431", b"494")
    _healthy(server)


def test_odd_bytes_in_headers_and_paths(server: Server, account):
    with server.client() as c:
        token = get_token(c, account)
        for subject in ("\u00e9t\u00e9", "MII\x7f", "MII x", "MII" + "x" * 8000):
            r = c.get("/v3/auth/tokens", headers={"X-Auth-Token": token,
                                                 "X-Subject-Token": subject.encode("latin-1")})
            assert r.status_code in (400, 404), (subject[:10], r.status_code)
            assert "\n" not in r.headers.get("X-Subject-Token", "")
    # invalid UTF-8 and control bytes in the request line and in header values
    for request in (b"GET /v3/users/%ff%fe HTTP/1.1\r\nHost: x\r\nX-Auth-Token: " + token.encode() + b"\r\n\r\n",
                    b"GET /v3/auth/projects HTTP/1.1\r\nHost: x\r\nX-Auth-Token: \xff\xfe\xfd\r\n\r\n",
                    b"GET /v3/auth/projects?name=\xff HTTP/1.1\r\nHost: x\r\n\r\n"):
        answer = _raw(server, request)
        status = answer.split(b" ", 2)[1] if answer else b""
        assert status in (b"400", b"401", b"404"), answer[:200]
    _healthy(server)


def test_a_slow_body_does_not_stall_others(server: Server):
    host, port = server.base_url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(b"POST /v3/auth/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"auth\":")
        for _ in range(3):
            _healthy(server)  # others are served while the slow body trickles in
            slow.sendall(b" ")
            time.sleep(0.2)
