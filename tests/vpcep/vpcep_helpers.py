"""Helpers for the private-access tests: tokens, IAM users, requests signed by the official SDK's
signer, and PROXY protocol v2 preambles built byte by byte."""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import struct

import httpx
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from support import Server, get_token

REGION = "ap-southeast-3"
OTHER_REGION = "sa-brazil-1"
PATH = "/v2/vpceps"
PREFIXED = "/devuc-accessmgmt/v2/vpceps"
PASSWORD = "Xy7!kPq2w"
NO_PERMISSION = {"error_code": "UC.00011003", "error_msg": "No permission."}
DENIED = {
    "error_code": "UC.00011065",
    "error_msg": "Tenants with private network access enabled cannot be invited.",
}


def vpce() -> str:
    """A fresh VPC endpoint ID in the usual 36-character form."""
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def token(server: Server, acct: dict, project: str | None = REGION, **kw) -> str:
    with server.client() as c:
        return get_token(c, acct, project=project, **kw)


def hdrs(tok: str, region: str | None = REGION, **extra) -> dict:
    h = {"X-Auth-Token": tok}
    if region is not None:
        h["region"] = region
    h.update(extra)
    return h


def add(c: httpx.Client, tok: str, ids, *, region: str = REGION, path: str = PATH, **body) -> httpx.Response:
    vpceps = [i if isinstance(i, dict) else {"vpcep_id": i} for i in ids]
    return c.post(path, headers=hdrs(tok, region), json={"vpceps": vpceps, **body})


def remove(c: httpx.Client, tok: str, ids, *, region: str = REGION, path: str = PATH, **body) -> httpx.Response:
    vpceps = [{"vpcep_id": i} for i in ids]
    return c.request("DELETE", path, headers=hdrs(tok, region), json={"vpceps": vpceps, **body})


def listing(c: httpx.Client, tok: str, acct: dict, *, region: str = REGION, path: str = PATH, **query) -> httpx.Response:
    return c.get(path, headers=hdrs(tok, region), params={"enterprise_id": acct["account_id"], **query})


def listed_ids(c: httpx.Client, tok: str, acct: dict, region: str = REGION) -> list[str]:
    r = listing(c, tok, acct, region=region, limit=100)
    assert r.status_code == 200, r.text
    return [v["vpcep_id"] for v in r.json()["data"]["vpceps"]]


def new_user(c: httpx.Client, owner_token: str, acct: dict, *, admin: bool) -> dict:
    """An IAM user of the account (in the admin group, so a Tenant Administrator, if ``admin``)."""
    name = f"u{secrets.token_hex(4)}"
    r = c.post("/v3.0/OS-USER/users", headers={"X-Auth-Token": owner_token},
               json={"user": {"name": name, "domain_id": acct["account_id"], "password": PASSWORD}})
    assert r.status_code == 201, r.text
    user_id = r.json()["user"]["id"]
    if admin:
        groups = c.get("/v3/groups", params={"name": "admin"}, headers={"X-Auth-Token": owner_token})
        group_id = groups.json()["groups"][0]["id"]
        r = c.put(f"/v3/groups/{group_id}/users/{user_id}", headers={"X-Auth-Token": owner_token})
        assert r.status_code == 204, r.text
    return {"user_name": name, "password": PASSWORD, "user_id": user_id}


def signed(server: Server, ak: str, sk: str, method: str, path: str, *, query=(), body: dict | None = None,
           headers: dict | None = None) -> tuple[str, dict, bytes]:
    """URL, headers and body of a request signed by the official SDK's signer."""
    raw = json.dumps(body).encode() if body is not None else b""
    header_params = dict(headers or {})
    if body is not None:
        header_params["Content-Type"] = "application/json;charset=utf-8"
    request = SdkRequest(method=method, schema="http", host=server.base_url.split("://")[1],
                         resource_path=path, query_params=list(query), header_params=header_params,
                         body=raw)
    request = Signer(BasicCredentials(ak, sk)).sign(request)
    return request.url, dict(request.header_params), raw


# ---------------------------------------------------------------------------------------------
# PROXY protocol v2

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def proxy_v2(source=("203.0.113.9", 51000), destination=("10.0.0.1", 443), *, tlvs: bytes = b"",
             command: int = 0x1, version: int = 2) -> bytes:
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    family = 0x11 if src.version == 4 else 0x21
    addresses = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    body = addresses + tlvs
    return SIGNATURE + bytes([(version << 4) | command, family]) + struct.pack("!H", len(body)) + body


def vpce_tlv(vpce_id: str) -> bytes:
    return tlv(0xEA, b"\x01" + vpce_id.encode())


def raw_http(server: Server, payload: bytes, *, bind: str = "127.0.0.1") -> bytes:
    """Send bytes on a fresh TCP connection from ``bind``; everything the server answered."""
    host, port = server.base_url.split("://")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10, source_address=(bind, 0)) as s:
        s.sendall(payload)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def http_request(method: str, path: str, headers: dict, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: devuc", "Connection: close", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_response(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}
