"""Private access enforced through a real server (spec/codearts-uc.md §6): an account that lists
VPC endpoints accepts API requests only through one of them; the VPCEP routes stay reachable; the
operator's switch; the decision record; and who is believed about the VPC endpoint (a trusted
proxy's header or PROXY v2 TLV; nobody else)."""

from __future__ import annotations

import json
import time

import pytest

from support import Server, start_server
from vpcep_helpers import (
    DENIED,
    OTHER_REGION,
    PATH,
    REGION,
    add,
    hdrs,
    http_request,
    listed_ids,
    new_user,
    parse_response,
    proxy_v2,
    raw_http,
    remove,
    tlv,
    token,
    vpce,
    vpce_tlv,
)

PROXY = "127.0.0.2"  # the trusted proxy's address; tests connect from it or from 127.0.0.1


def decision(c, tok: str, **headers) -> dict:
    r = c.get("/v1/vpcep-authorization", headers={"X-Auth-Token": tok, **headers})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    return body["data"]


def keystone_denied() -> dict:
    msg = DENIED["error_msg"]
    return {"error": {"code": 403, "title": "Forbidden", "message": msg, "error_code": "UC.00011065",
                      "error_msg": msg}}


def test_enforcement_and_lockout_guard(server: Server, account):
    """No trusted proxy on this server: requests come through no VPC endpoint, whatever headers
    they carry."""
    owner = token(server, account)
    global_owner = token(server, account, project=None)
    endpoint = vpce()
    with server.client() as c:
        assert decision(c, owner) == {"enterprise_id": account["account_id"], "vpcep_id": None,
                                      "result": "Allow", "config": False}
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": owner}).status_code == 200

        assert add(c, owner, [endpoint]).json()["total"] == 1
        # now every API refuses this caller: tokens, signed requests, IAM paths of each shape
        r = c.get("/v3/auth/projects", headers={"X-Auth-Token": owner})
        assert (r.status_code, r.json()) == (403, keystone_denied())
        r = c.get("/v3/auth/projects", headers={"X-Auth-Token": owner, "X-Vpcep-Id": endpoint})
        assert (r.status_code, r.json()) == (403, keystone_denied()), "a spoofed header is ignored"
        r = c.post("/v3.0/OS-USER/users", headers={"X-Auth-Token": global_owner},
                   json={"user": {"name": "never-made", "domain_id": account["account_id"], "password": "Xy7!kPq2w"}})
        assert (r.status_code, r.json()) == (403, {**DENIED, "request_id": r.headers["x-request-id"]})
        # the decision record says why
        assert decision(c, owner, **{"X-Vpcep-Id": endpoint}) == {
            "enterprise_id": account["account_id"], "vpcep_id": None, "result": "Deny", "config": True}
        # a global request is judged against every region's list
        assert decision(c, global_owner)["result"] == "Deny"
        # a region without records is not restricted
        other = token(server, account, project=OTHER_REGION)
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": other}).status_code == 200
        assert decision(c, other) == {"enterprise_id": account["account_id"], "vpcep_id": None,
                                      "result": "Allow", "config": False}
        # other accounts are not affected
        stranger = server.bootstrap()
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": token(server, stranger)}).status_code == 200

        # the VPCEP routes stay reachable: the administrator can repair the list
        assert listed_ids(c, owner, account) == [endpoint]
        second = vpce()
        assert add(c, owner, [second]).json()["total"] == 1
        assert remove(c, owner, [endpoint, second]).json()["total"] == 2
        # deleting the last record turns private access off
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": owner}).status_code == 200
        assert decision(c, global_owner)["config"] is False

        # the refused request changed nothing
        users = c.get("/v3/users", headers={"X-Auth-Token": global_owner}).json()["users"]
        assert "never-made" not in {u["name"] for u in users}


def test_operator_switch(server: Server, account):
    owner = token(server, account)
    endpoint = vpce()
    cli = ("vpcep", "private-access")
    with server.client() as c:
        assert add(c, owner, [endpoint]).status_code == 200
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": owner}).status_code == 403

        done = server.cli(*cli, "off", "--account", account["account_name"], "--region", REGION)
        assert f"private access off in {REGION}" in done.stdout
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": owner}).status_code == 200
        assert decision(c, owner)["config"] is False
        assert listed_ids(c, owner, account) == [endpoint], "switching off keeps the list"

        server.cli(*cli, "on", "--account", account["account_id"], "--region", REGION)
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": owner}).status_code == 403
        assert decision(c, owner) == {"enterprise_id": account["account_id"], "vpcep_id": None,
                                      "result": "Deny", "config": True}
        # switched off in another region only: this region is still enforced
        server.cli(*cli, "off", "--account", account["account_name"], "--region", OTHER_REGION)
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": owner}).status_code == 403


def test_decision_record_parameters(server: Server, account):
    owner = token(server, account)
    with server.client() as c:
        r = c.get("/v1/vpcep-authorization", headers={"X-Auth-Token": owner}, params={"task_id": "a" * 32})
        assert r.status_code == 200 and r.json()["data"]["result"] == "Allow"
        bad = {"error_code": "UC.00011002",
               "error_msg": "Invalid parameter 'task_id': must be 1 to 32 characters: letters, digits, '-' and '_'."}
        for task_id in ("", "a" * 33, "a b"):
            r = c.get("/v1/vpcep-authorization", headers={"X-Auth-Token": owner}, params={"task_id": task_id})
            assert (r.status_code, r.json()) == (400, bad)
        r = c.get("/v1/vpcep-authorization", headers={"X-Auth-Token": owner}, params=[("task_id", "a"), ("task_id", "b")])
        assert (r.status_code, r.json()) == (400, {
            "error_code": "UC.00011002", "error_msg": "Invalid parameter 'task_id': must be given at most once."})
        r = c.get("/v1/vpcep-authorization")
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"


# ---------------------------------------------------------------------------------------------
# behind a trusted proxy


@pytest.fixture(scope="module")
def proxied(tmp_path_factory) -> Server:
    """A server that trusts 127.0.0.2 (SQLite: who is believed does not depend on the store)."""
    data = tmp_path_factory.mktemp("proxied")
    srv = start_server(data, f"sqlite+aiosqlite:///{data / 'devuc.db'}", env={"DEVUC_TRUSTED_PROXIES": PROXY})
    yield srv
    srv.stop()


@pytest.fixture
def tenant(proxied: Server):
    acct = proxied.bootstrap()
    return acct, token(proxied, acct)


def from_proxy(server: Server):
    import httpx

    return server.client(transport=httpx.HTTPTransport(local_address=PROXY))


def test_header_from_trusted_proxy(proxied: Server, tenant):
    acct, owner = tenant
    listed, unlisted = vpce(), vpce()
    with proxied.client() as direct, from_proxy(proxied) as proxy:
        assert add(direct, owner, [listed]).status_code == 200
        projects = "/v3/auth/projects"
        assert proxy.get(projects, headers={"X-Auth-Token": owner, "X-Vpcep-Id": listed}).status_code == 200
        r = proxy.get(projects, headers={"X-Auth-Token": owner, "X-Vpcep-Id": unlisted})
        assert (r.status_code, r.json()) == (403, keystone_denied())
        assert proxy.get(projects, headers={"X-Auth-Token": owner}).status_code == 403
        # a malformed ID counts as none
        assert proxy.get(projects, headers={"X-Auth-Token": owner, "X-Vpcep-Id": listed.upper()}).status_code == 403
        # the same header from an untrusted address is ignored
        r = direct.get(projects, headers={"X-Auth-Token": owner, "X-Vpcep-Id": listed})
        assert r.status_code == 403
        # ... even when it claims, through X-Forwarded-For, to be the proxy
        r = direct.get(projects, headers={"X-Auth-Token": owner, "X-Vpcep-Id": listed, "X-Forwarded-For": PROXY})
        assert r.status_code == 403

        assert decision(proxy, owner, **{"X-Vpcep-Id": listed}) == {
            "enterprise_id": acct["account_id"], "vpcep_id": listed, "result": "Allow", "config": True}
        assert decision(direct, owner, **{"X-Vpcep-Id": listed})["vpcep_id"] is None
        # the Build API's own question (CheckJobInternal), asked through the listed endpoint
        r = proxy.get("/v1/job/permission/internal", headers={"X-Auth-Token": owner, "X-Vpcep-Id": listed})
        assert (r.status_code, r.json()) == (200, {"result": True, "error": None, "status": "success"})
        other_region = token(proxied, acct, project=OTHER_REGION)
        r = direct.get("/v1/job/permission/internal", headers={"X-Auth-Token": other_region})
        assert (r.status_code, r.json()) == (200, {"result": False, "error": None, "status": "success"})

        # an allowed request does its work; a refused one is logged, without credentials
        r = proxy.post("/v3/groups", headers={"X-Auth-Token": token(proxied, acct, project=None), "X-Vpcep-Id": listed},
                       json={"group": {"name": "through-endpoint"}})
        assert r.status_code == 201, r.text
    log = (proxied.data_dir / "serve.log").read_text()
    lines = [line for line in log.splitlines() if "private access denied" in line and acct["account_id"] in line]
    assert lines and f"user={acct['user_id']}" in lines[0] and "request='GET /v3/auth/projects'" in lines[0]
    assert owner not in log and acct["password"] not in log


def test_proxy_protocol_v2(proxied: Server, tenant):
    acct, owner = tenant
    listed = vpce()
    with proxied.client() as c:
        assert add(c, owner, [listed]).status_code == 200
    ask = http_request("GET", "/v1/vpcep-authorization", {"X-Auth-Token": owner})

    status, body = parse_response(raw_http(proxied, proxy_v2(tlvs=vpce_tlv(listed)) + ask, bind=PROXY))
    assert (status, body["data"]) == (200, {"enterprise_id": acct["account_id"], "vpcep_id": listed,
                                            "result": "Allow", "config": True})
    # IPv6 addresses, other TLVs before it, an unlisted endpoint
    other = vpce()
    header = proxy_v2(("2001:db8::1", 443), ("2001:db8::2", 443), tlvs=tlv(0x04, b"\x00") + vpce_tlv(other))
    status, body = parse_response(raw_http(proxied, header + ask, bind=PROXY))
    assert body["data"]["vpcep_id"] == other and body["data"]["result"] == "Deny"
    # the TLV wins over the header; without the TLV the trusted proxy's header counts
    both = http_request("GET", "/v1/vpcep-authorization", {"X-Auth-Token": owner, "X-Vpcep-Id": other})
    assert parse_response(raw_http(proxied, proxy_v2(tlvs=vpce_tlv(listed)) + both, bind=PROXY))[1]["data"]["vpcep_id"] == listed
    assert parse_response(raw_http(proxied, proxy_v2() + both, bind=PROXY))[1]["data"]["vpcep_id"] == other
    # LOCAL command (health checks of the proxy itself): no endpoint
    status, body = parse_response(raw_http(proxied, proxy_v2(command=0x0) + ask, bind=PROXY))
    assert (status, body["data"]["vpcep_id"], body["data"]["result"]) == (200, None, "Deny")
    # a trusted proxy may also send plain HTTP
    assert parse_response(raw_http(proxied, ask, bind=PROXY))[0] == 200

    # a gated API through the PROXY header: admitted
    projects = http_request("GET", "/v3/auth/projects", {"X-Auth-Token": owner})
    assert parse_response(raw_http(proxied, proxy_v2(tlvs=vpce_tlv(listed)) + projects, bind=PROXY))[0] == 200
    assert parse_response(raw_http(proxied, proxy_v2(tlvs=vpce_tlv(other)) + projects, bind=PROXY))[0] == 403

    # from an untrusted address a PROXY header is not parsed: the bytes are bad HTTP
    answer = raw_http(proxied, proxy_v2(tlvs=vpce_tlv(listed)) + ask)
    assert answer.startswith(b"HTTP/1.1 400")
    # a malformed header from the trusted proxy closes the connection without an answer
    assert raw_http(proxied, proxy_v2(version=1) + ask, bind=PROXY) == b""
    truncated = proxy_v2(tlvs=vpce_tlv(listed))[:-3]
    broken = truncated[:14] + (len(truncated) - 16).to_bytes(2, "big") + truncated[16:]
    assert raw_http(proxied, broken + ask, bind=PROXY) == b""


def test_proxy_protocol_keep_alive_and_fragments(proxied: Server, tenant):
    """The header is read once per connection, however the bytes arrive; later requests on the
    connection keep its endpoint."""
    import socket

    acct, owner = tenant
    listed = vpce()
    with proxied.client() as c:
        assert add(c, owner, [listed]).status_code == 200
    host, port = proxied.base_url.split("://")[1].split(":")
    keep = http_request("GET", "/v1/vpcep-authorization", {"X-Auth-Token": owner}).replace(
        b"Connection: close", b"Connection: keep-alive")
    payload = proxy_v2(tlvs=vpce_tlv(listed)) + keep
    with socket.create_connection((host, int(port)), timeout=10, source_address=(PROXY, 0)) as s:
        for i in range(len(payload)):  # one byte at a time
            s.sendall(payload[i:i + 1])
            if i < 20:
                time.sleep(0.002)
        first = _read_response(s)
        s.sendall(keep)
        second = _read_response(s)
    for raw in (first, second):
        status, body = parse_response(raw)
        assert (status, body["data"]["vpcep_id"], body["data"]["result"]) == (200, listed, "Allow")


def _read_response(s) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def test_cli_list_add_remove(server: Server, account):
    name = account["account_name"]
    one, two = sorted([vpce(), vpce()])
    out = server.cli("vpcep", "add", one, two, "--account", name, "--region", REGION, "--description", "lab (1)")
    assert f"2 VPC endpoint(s) added in {REGION}" in out.stdout
    listed = json.loads(server.cli("vpcep", "list", "--account", name, "--json").stdout)
    assert listed == {"account_id": account["account_id"], "account_name": name, "regions": [
        {"region": REGION, "private_access": "on", "vpceps": [
            {"vpcep_id": one, "description": "lab (1)"}, {"vpcep_id": two, "description": "lab (1)"}]}]}
    out = server.cli("vpcep", "remove", one, "--account", account["account_id"], "--region", REGION)
    assert f"1 VPC endpoint(s) removed in {REGION}" in out.stdout
    quota = json.loads(server.cli("vpcep", "quota", "--account", name, "--region", REGION, "--json").stdout)
    assert quota["regions"] == [{"region": REGION, "used": 1, "remaining": 99}]
    # the API sees what the CLI did
    with server.client() as c:
        owner = token(server, account)
        assert listed_ids(c, owner, account) == [two]
        assert decision(c, owner)["result"] == "Deny"


def test_cli_table_and_refusals(proxied: Server):
    """The same rules as the API, and a readable table (one backend: nothing here touches SQL
    that differs between them)."""
    acct = proxied.bootstrap()
    name = acct["account_name"]
    one = vpce()
    proxied.cli("vpcep", "add", one, "--account", name, "--region", REGION)
    proxied.cli("vpcep", "private-access", "off", "--account", name, "--region", OTHER_REGION)
    table = proxied.cli("vpcep", "list", "--account", name).stdout
    assert one in table and REGION in table and OTHER_REGION in table
    bad = proxied.cli("vpcep", "add", "UPPER", "--account", name, "--region", REGION, check=False)
    assert bad.returncode == 2 and "UC.00011002: Invalid parameter 'vpceps[0].vpcep_id': must be 1 to 40 " \
        "characters: digits, lower-case letters and '-'." in bad.stderr
    bad = proxied.cli("vpcep", "private-access", "on", "--account", name, "--region", "mars-1", check=False)
    assert bad.returncode == 2 and "'mars-1' is not a region of this service" in bad.stderr
    bad = proxied.cli("vpcep", "quota", "--account", "no-such-account", check=False)
    assert bad.returncode == 1 and "IAM.0004: No account named or with id 'no-such-account'." in bad.stderr
    missing = proxied.cli("vpcep", "remove", vpce(), "--account", name, "--region", REGION, check=False)
    assert missing.returncode == 1 and "UC.00011005" in missing.stderr  # 1: not found (docs/cli.md)


def test_admin_user_through_the_endpoint(proxied: Server, tenant):
    """A Tenant Administrator manages the list from outside; ordinary users pass only through
    the listed endpoint."""
    acct, owner = tenant
    listed = vpce()
    with proxied.client() as direct, from_proxy(proxied) as proxy:
        global_owner = token(proxied, acct, project=None)
        user = new_user(direct, global_owner, acct, admin=False)
        user_token = token(proxied, acct, user=user["user_name"], password=user["password"])
        assert add(direct, owner, [listed]).status_code == 200
        me = f"/v3.0/OS-USER/users/{user['user_id']}"
        assert direct.get(me, headers={"X-Auth-Token": user_token}).status_code == 403
        assert proxy.get(me, headers={"X-Auth-Token": user_token, "X-Vpcep-Id": listed}).status_code == 200
        # an ordinary user cannot use the VPCEP routes, through the endpoint or not
        r = proxy.get(PATH, headers=hdrs(user_token, **{"X-Vpcep-Id": listed}), params={"enterprise_id": acct["account_id"]})
        assert r.status_code == 401
