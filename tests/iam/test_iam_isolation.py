"""Account isolation: an administrator of account A, pointing every identity route at account B's
ids and filters, never reads or changes B's data, and cannot tell B's ids from ids that do not
exist (spec/iam.md §2.7 "Cross-domain access is always 403", §3.4, §3.7, §3.11, §3.12)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from support import Server, get_token, password_body

PASSWORD = "Xy7!kPq2w"


def auth(token: str) -> dict:
    return {"X-Auth-Token": token}


def code_of(r) -> str | None:
    if not r.content:
        return None
    body = r.json()
    if "error" in body:
        return body["error"].get("error_code")
    return body.get("error_code")


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    url: str  # formatted with the target ids (B's, or ids that exist nowhere)
    body: dict | None = None
    headers: dict | None = None  # extra headers, formatted like url
    signed: bool = False  # A's access key signs the request instead of A's token
    # "lookup": same status and code for B's ids as for unknown ids, and never 2xx
    # "empty": 200 with an empty list under `key`
    # (status, code): the spec's fixed answer for B's ids (tokens: §3.4-3.6)
    expect: object = "lookup"
    key: str | None = None


CASES = [
    Case("show user", "GET", "/v3.0/OS-USER/users/{user}"),
    Case("update user", "PUT", "/v3.0/OS-USER/users/{user}", {"user": {"description": "pwned"}}),
    Case("disable user and set password", "PUT", "/v3.0/OS-USER/users/{user}",
         {"user": {"password": "Pwn3d!pass", "enabled": False, "access_mode": "console"}}),
    Case("change password", "POST", "/v3/users/{user}/password",
         {"user": {"original_password": PASSWORD, "password": "Pwn3d!pass"}}),
    Case("delete user", "DELETE", "/v3/users/{user}"),
    Case("delete owner", "DELETE", "/v3/users/{owner}"),
    Case("show group", "GET", "/v3/groups/{group}"),
    Case("rename group", "PATCH", "/v3/groups/{group}", {"group": {"name": "pwned", "description": "x"}}),
    Case("rename admin group", "PATCH", "/v3/groups/{admin_group}", {"group": {"description": "pwned"}}),
    Case("delete group", "DELETE", "/v3/groups/{group}"),
    Case("list members", "GET", "/v3/groups/{group}/users"),
    Case("list admin members", "GET", "/v3/groups/{admin_group}/users"),
    Case("add member", "PUT", "/v3/groups/{group}/users/{user}"),
    Case("add to their admin group", "PUT", "/v3/groups/{admin_group}/users/{user}"),
    Case("check member", "HEAD", "/v3/groups/{group}/users/{user}"),
    Case("check owner is admin", "HEAD", "/v3/groups/{admin_group}/users/{owner}"),
    Case("remove member", "DELETE", "/v3/groups/{group}/users/{user}"),
    Case("remove owner from admin", "DELETE", "/v3/groups/{admin_group}/users/{owner}"),
    Case("their user into our admin group", "PUT", "/v3/groups/{our_admin_group}/users/{user}"),
    Case("our user into their group", "PUT", "/v3/groups/{group}/users/{our_user}"),
    Case("create user in their domain", "POST", "/v3.0/OS-USER/users",
         {"user": {"name": "planted", "domain_id": "{account}", "password": PASSWORD}}),
    Case("create group in their domain", "POST", "/v3/groups",
         {"group": {"name": "planted", "domain_id": "{account}"}}),
    Case("list groups", "GET", "/v3/groups?domain_id={account}", expect="empty", key="groups"),
    Case("list groups by name", "GET", "/v3/groups?domain_id={account}&name=admin", expect="empty",
         key="groups"),
    Case("list users", "GET", "/v3/users?domain_id={account}", expect="empty", key="users"),
    Case("list users by name", "GET", "/v3/users?domain_id={account}&name=victim", expect="empty",
         key="users"),
    Case("list projects", "GET", "/v3/projects?domain_id={account}", expect="empty", key="projects"),
    Case("list projects by parent", "GET", "/v3/projects?parent_id={account}", expect="empty",
         key="projects"),
    Case("list projects by name", "GET", "/v3/projects?domain_id={account}&name=cn-north-4",
         expect="empty", key="projects"),
    Case("signed with their domain id", "GET", "/v3/auth/projects", headers={"X-Domain-Id": "{account}"},
         signed=True),
    Case("signed with their project id", "GET", "/v3/auth/projects", headers={"X-Project-Id": "{project}"},
         signed=True),
    Case("signed list users with their domain id", "GET", "/v3/users", headers={"X-Domain-Id": "{account}"},
         signed=True),
    Case("validate their token", "GET", "/v3/auth/tokens", headers={"X-Subject-Token": "{token}"},
         expect=(403, "IAM.0002")),
    Case("check their token", "HEAD", "/v3/auth/tokens", headers={"X-Subject-Token": "{token}"},
         expect=(403, None)),
    Case("revoke their token", "DELETE", "/v3/auth/tokens", headers={"X-Subject-Token": "{token}"},
         expect=(403, "IAM.0002")),
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _send(c, server: Server, acct: dict, token: str, case: Case, ids: dict):
    url = _fill(case.url, ids)
    headers = _fill(case.headers or {}, ids)
    body = _fill(case.body, ids)
    if not case.signed:
        return c.request(case.method, url, headers={**auth(token), **headers}, json=body)
    request = SdkRequest(method=case.method, schema="http", host=server.base_url.split("//", 1)[1],
                         resource_path=url, query_params=[], header_params=dict(headers), body="")
    Signer(BasicCredentials(acct["access"], acct["secret"])).sign(request)
    return c.request(case.method, url, headers=request.header_params)


def _snapshot(c, token: str) -> dict:
    """Everything account B's owner can see of B's identity data."""
    def get(url):
        r = c.get(url, headers=auth(token))
        assert r.status_code == 200, (url, r.text)
        return r.json()

    users = get("/v3/users")["users"]
    groups = get("/v3/groups")["groups"]
    return {
        "users": users,
        "user details": [get(f"/v3.0/OS-USER/users/{u['id']}")["user"] for u in users],
        "groups": groups,
        "members": {g["id"]: get(f"/v3/groups/{g['id']}/users")["users"] for g in groups},
        "projects": get("/v3/projects")["projects"],
        "domains": get("/v3/auth/domains")["domains"],
    }


def test_account_a_cannot_reach_account_b(server: Server, account):
    a = account
    b = server.bootstrap()
    with server.client() as c:
        a_token = get_token(c, a)
        b_token = get_token(c, b)
        r = c.post("/v3.0/OS-USER/users", headers=auth(b_token), json={"user": {
            "name": "victim", "domain_id": b["account_id"], "password": PASSWORD}})
        assert r.status_code == 201, r.text
        victim = r.json()["user"]
        victim_token = get_token(c, b, user="victim", password=PASSWORD)
        r = c.post("/v3/groups", headers=auth(b_token), json={"group": {"name": "b-team"}})
        assert r.status_code == 201, r.text
        b_group = r.json()["group"]
        assert c.put(f"/v3/groups/{b_group['id']}/users/{victim['id']}", headers=auth(b_token)).status_code == 204
        b_admin = next(g for g in c.get("/v3/groups", headers=auth(b_token)).json()["groups"]
                       if g["name"] == "admin")
        a_admin = next(g for g in c.get("/v3/groups", headers=auth(a_token)).json()["groups"]
                       if g["name"] == "admin")
        a_before = _snapshot(c, a_token)
        b_before = _snapshot(c, b_token)

        common = {"our_admin_group": a_admin["id"], "our_user": a["user_id"]}
        b_ids = {**common, "user": victim["id"], "owner": b["user_id"], "group": b_group["id"],
                 "admin_group": b_admin["id"], "account": b["account_id"],
                 "project": b["projects"]["cn-north-4"], "token": victim_token}
        unknown = {**common, "user": secrets.token_hex(16), "owner": secrets.token_hex(16),
                   "group": secrets.token_hex(16), "admin_group": secrets.token_hex(16),
                   "account": secrets.token_hex(16), "project": secrets.token_hex(16),
                   "token": "MIIunknown" + secrets.token_urlsafe(40)}
        secret_values = [v for k, v in b_ids.items() if k not in common] + [
            b["account_name"], b["user_name"], b_group["name"], *b["projects"].values()]

        # control: A's key signs correctly, with A's own domain and project ids
        own = Case("control", "GET", "/v3/auth/projects", signed=True,
                   headers={"X-Domain-Id": a["account_id"], "X-Project-Id": a["projects"]["cn-north-4"]})
        r = _send(c, server, a, a_token, own, b_ids)
        assert r.status_code == 200, r.text

        for case in CASES:
            r = _send(c, server, a, a_token, case, b_ids)
            label = f"{case.name}: {case.method} {case.url} -> {r.status_code} {r.text[:200]}"
            exposed = r.text + " ".join(v for k, v in r.headers.items() if k.lower() != "x-subject-token")
            for value in secret_values:
                if case.expect == "empty" and value == b["account_id"]:
                    exposed = exposed.replace(f"domain_id={value}", "")  # the echoed "self" link
                    exposed = exposed.replace(f"parent_id={value}", "")
                assert value not in exposed, (label, value)
            assert "X-Subject-Token" not in r.headers, label
            if case.expect == "empty":
                assert r.status_code == 200, label
                assert r.json()[case.key] == [], label
                other = _send(c, server, a, a_token, case, unknown)
                assert other.status_code == 200 and other.json()[case.key] == [], label
            elif case.expect == "lookup":
                assert r.status_code in (401, 403, 404), label
                other = _send(c, server, a, a_token, case, unknown)
                assert (other.status_code, code_of(other)) == (r.status_code, code_of(r)), (
                    label, "unknown ids answered", other.status_code, other.text[:200])
            else:
                status, code = case.expect
                assert r.status_code == status, label
                if code:
                    assert code_of(r) == code, label

        # a token of A cannot be scoped to B's project or domain either
        for scope in ({"project": {"id": b["projects"]["cn-north-4"]}},
                      {"domain": {"id": b["account_id"]}}, {"domain": {"name": b["account_name"]}}):
            r = c.post("/v3/auth/tokens", json=password_body(a["user_name"], a["password"], a["account_name"], scope))
            assert r.status_code == 401 and "X-Subject-Token" not in r.headers, scope

        # B's data and tokens are exactly as they were, and so is A's
        assert _snapshot(c, b_token) == b_before
        assert _snapshot(c, a_token) == a_before
        for token in (b_token, victim_token):
            r = c.get("/v3/auth/tokens", headers={**auth(b_token), "X-Subject-Token": token})
            assert r.status_code == 200, r.text
        get_token(c, b, user="victim", password=PASSWORD)  # password unchanged
