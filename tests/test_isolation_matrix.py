"""Tenant isolation over every operation of the served OpenAPI document x seven kinds of caller:
own account, another account's ids, no credentials, an expired token, a revoked token, an inactive
key and a temporary key past its expiry. Nothing of account B is ever read, changed, or revealed
to exist, and no caller without valid credentials gets a 2xx."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
from sqlalchemy import update

from support import Server, get_token

REGION = "cn-north-4"
OPEN_OPERATIONS = {("post", "/v3/auth/tokens"), ("get", "/health")}
DEVELOPER_ROLE = "eb344656dbab466b91a787262c44e5e5"


def _sign(server: Server, ak: str, sk: str, method: str, path: str, body: bytes,
          security_token: str | None = None) -> dict:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    headers = {"Content-Type": "application/json"}
    if security_token:
        headers["X-Security-Token"] = security_token
    request = SdkRequest(method=method.upper(), schema="http", host=server.base_url.split("://")[1],
                         resource_path=path, query_params=[], header_params=headers, body=body)
    return dict(Signer(BasicCredentials(ak, sk)).sign(request).header_params)


def _run(coro):
    return asyncio.run(coro)


def _expire_key(server: Server, access: str) -> None:
    from devuc.store import tables as t
    from devuc.store.db import Store

    async def run() -> None:
        store = Store(server.database_url)
        try:
            async with store.write() as conn:
                await conn.execute(update(t.access_keys).where(t.access_keys.c.access == access)
                                   .values(expires_us=int((time.time() - 1) * 1e6)))
        finally:
            await store.close()

    _run(run())


def _expired_token(server: Server, acct: dict) -> str:
    from devuc.config import Settings
    from devuc.iam.tokens import new_payload
    from devuc.runtime import Runtime

    async def make() -> str:
        rt = Runtime.open(Settings(data_dir=server.data_dir, database_url=server.database_url))
        try:
            payload = new_payload(acct["user_id"], acct["account_id"], acct["projects"][REGION], 60)
            payload = type(payload)(**{**payload.__dict__, "expires_us": payload.issued_us - 1})
            return await rt.keyring.issue(payload)
        finally:
            await rt.close()

    return _run(make())


def _tenant(server: Server, c: httpx.Client) -> dict:
    """An account with a second user, a group, a CodeArts project with that user in it, and ids
    of each."""
    acct = server.bootstrap()
    token = get_token(c, acct)
    h = {"X-Auth-Token": token}
    user = c.post("/v3.0/OS-USER/users", headers=h, json={"user": {
        "name": "member", "domain_id": acct["account_id"], "password": "Member-passw0rd"}}).json()["user"]
    group = c.post("/v3/groups", headers=h, json={"group": {"name": "team"}}).json()["group"]
    project = c.post("/v4/project", headers=h, json={"project_name": "iso", "project_type": "scrum"}).json()
    c.post(f"/v4/projects/{project['project_id']}/member", headers=h,
           json={"user_id": user["id"], "domain_id": acct["account_id"], "role_id": 4})
    template = c.post("/devuc/v1/permission-templates", headers=h,
                      json={"name": "iso", "project_id": project["project_id"]}).json()
    return {**acct, "token": token, "ids": {
        "template_id": template["template_id"],
        "user_id": user["id"], "group_id": group["id"], "project_id": project["project_id"],
        "access_key": acct["access"], "domain_id": acct["account_id"], "role_id": DEVELOPER_ROLE}}


def _snapshot(c: httpx.Client, tenant: dict) -> dict:
    h = {"X-Auth-Token": tenant["token"]}
    ids = tenant["ids"]
    return {
        "users": c.get("/v3/users", headers=h).json(),
        "groups": c.get("/v3/groups", headers=h).json(),
        "members": c.get(f"/v3/groups/{ids['group_id']}/users", headers=h).json(),
        "keys": c.get("/v3.0/OS-CREDENTIAL/credentials", headers=h).json(),
        "projects": c.get("/v4/projects?offset=0&limit=100", headers=h).json(),
        "project_members": c.get(f"/v4/projects/{ids['project_id']}/members?offset=0&limit=100",
                                 headers=h).json(),
        "templates": c.get(f"/devuc/v1/permission-templates/{ids['template_id']}", headers=h).json(),
        "vpceps": c.get(f"/v2/vpceps?enterprise_id={ids['domain_id']}",
                        headers={**h, "region": REGION}).json(),
    }


def _operations(c: httpx.Client) -> list[tuple[str, str]]:
    document = c.get("/openapi.json").json()
    return sorted((method, path) for path, item in document["paths"].items() for method in item
                  if (method, path) not in OPEN_OPERATIONS)


def test_every_operation_against_every_kind_of_caller(server: Server):
    with server.client() as c:
        a, b = _tenant(server, c), _tenant(server, c)
        operations = _operations(c)
        assert len(operations) >= 60

        # credentials that must not work
        revoked = get_token(c, a)
        assert c.delete("/v3/auth/tokens", headers={"X-Auth-Token": revoked,
                                                    "X-Subject-Token": revoked}).status_code == 204
        h = {"X-Auth-Token": a["token"]}
        spare = c.post("/v3.0/OS-CREDENTIAL/credentials", headers=h,
                       json={"credential": {"user_id": a["ids"]["user_id"]}}).json()["credential"]
        assert c.put(f"/v3.0/OS-CREDENTIAL/credentials/{spare['access']}", headers=h,
                     json={"credential": {"status": "inactive"}}).status_code == 200
        temp = c.post("/v3.0/OS-CREDENTIAL/securitytokens", headers=h, json={
            "auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}).json()["credential"]
        _expire_key(server, temp["access"])
        expired = _expired_token(server, a)

        before = _snapshot(c, b)
        secrets_of_b = {b["account_name"], b["user_name"], *b["ids"].values()} - {DEVELOPER_ROLE}
        checked = 0
        for method, template in operations:
            path_b = re.sub(r"{(\w+)}", lambda m: b["ids"][m.group(1)], template)
            body = b"{}"
            kinds = {
                "no credentials": {},
                "expired token": {"X-Auth-Token": expired},
                "revoked token": {"X-Auth-Token": revoked},
                "inactive key": _sign(server, spare["access"], spare["secret"], method, path_b, body),
                "expired temporary key": _sign(server, temp["access"], temp["secret"], method, path_b,
                                               body, temp["securitytoken"]),
                "other account": {"X-Auth-Token": a["token"]},
            }
            for kind, headers in kinds.items():
                r = c.request(method.upper(), path_b, content=body,
                              headers={"Content-Type": "application/json", "region": REGION, **headers})
                checked += 1
                assert r.status_code < 500, (kind, method, template, r.status_code, r.text[:200])
                if kind != "other account":
                    assert r.status_code in (400, 401, 403), (kind, method, template, r.status_code)
                    if r.status_code != 400 and method != "head":
                        assert r.json()["error_code"].startswith("APIGW."), (kind, template, r.text[:200])
                elif "{" in template:  # it names something of B's: never a success
                    assert not 200 <= r.status_code < 300, (kind, method, template, r.status_code, r.text[:200])
                leaked = [s for s in secrets_of_b if s in r.text and s not in path_b]
                assert not leaked, (kind, method, template, leaked)
        assert _snapshot(c, b) == before

        # the own account: same operations on its own ids never fail the server
        for method, template in operations:
            path_a = re.sub(r"{(\w+)}", lambda m: a["ids"][m.group(1)], template)
            r = c.request(method.upper(), path_a, content=b"{}", headers={
                "Content-Type": "application/json", "region": REGION, "X-Auth-Token": a["token"]})
            checked += 1
            assert r.status_code < 500, ("own", method, template, r.status_code, r.text[:200])
            if r.status_code == 401 and method != "head" and r.json().get("error_code") == "APIGW.0307":
                a["token"] = get_token(c, a)  # the own calls may revoke the caller's token
        print(f"isolation matrix: {len(operations)} operations, {checked} requests")
