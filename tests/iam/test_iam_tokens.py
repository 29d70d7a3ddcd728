"""Password tokens through a real server: issue, validate, check, revoke, scope, lockout,
rotation, expiry and tampering (spec/iam.md §3.1-3.6, §4.1)."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import datetime, timedelta

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3 as ks_v3

from support import Server, error_code, get_token, password_body


def test_first_start_writes_owner_only_credentials(server: Server):
    creds_path = server.data_dir / "credentials.json"
    creds = json.loads(creds_path.read_text())
    assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
    assert {"account_id", "user_name", "password", "access", "secret", "projects"} <= creds.keys()
    assert server.startup_seconds < 30  # /health answered; the 3 s target is measured in the note
    with server.client() as c:
        get_token(c, creds)


def test_keystoneauth1_password_plugin_gets_project_scoped_token(server: Server, account):
    auth = ks_v3.Password(
        auth_url=server.base_url + "/v3",
        username=account["user_name"],
        password=account["password"],
        user_domain_name=account["account_name"],
        project_name="cn-north-4",
        project_domain_name=account["account_name"],
    )
    sess = ks_session.Session(auth=auth)
    token = sess.get_token()
    assert token
    assert sess.get_project_id() == account["projects"]["cn-north-4"]
    access = auth.get_access(sess)
    assert "te_admin" in access.role_names
    assert access.domain_id is None and access.project_domain_id == account["account_id"]


def test_token_body_shape_and_lifetime(server: Server, account):
    with server.client() as c:
        body = password_body(account["user_name"], account["password"], account["account_name"],
                             {"project": {"name": "cn-north-4"}})
        r = c.post("/v3/auth/tokens", json=body)
        assert r.status_code == 201
        assert r.headers["content-type"] == "application/json; charset=utf8"
        assert len(r.headers["x-request-id"]) == 32
        assert r.headers["x-iam-trace-id"] == "token_null_" + r.headers["x-request-id"]
        tok = r.json()["token"]
        issued = datetime.strptime(tok["issued_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        expires = datetime.strptime(tok["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert expires - issued == timedelta(hours=24)
        assert tok["methods"] == ["password"]
        assert tok["user"] == {
            "id": account["user_id"], "name": account["user_name"], "password_expires_at": "",
            "domain": {"id": account["account_id"], "name": account["account_name"]},
        }
        assert tok["project"]["id"] == account["projects"]["cn-north-4"]
        assert "domain" not in tok
        assert tok["roles"] == [{"id": "0", "name": "te_admin"}]
        assert tok["catalog"] and tok["catalog"][0]["type"] == "iam"
        r = c.post("/v3/auth/tokens?nocatalog=1", json=body)
        assert r.json()["token"]["catalog"] == []


def test_scopes(server: Server, account):
    name, pw, dom = account["user_name"], account["password"], account["account_name"]
    with server.client() as c:
        by_id = c.post("/v3/auth/tokens", json=password_body(
            name, pw, dom, {"project": {"id": account["projects"]["ap-southeast-3"]}}))
        assert by_id.status_code == 201 and by_id.json()["token"]["project"]["name"] == "ap-southeast-3"
        domain = c.post("/v3/auth/tokens", json=password_body(name, pw, dom, {"domain": {"name": dom}}))
        assert domain.status_code == 201
        assert domain.json()["token"]["domain"] == {"id": account["account_id"], "name": dom}
        assert "project" not in domain.json()["token"]
        # the seed's example puts "scope" beside "auth"
        body = password_body(name, pw, dom)
        body["scope"] = {"project": {"name": "cn-east-3"}}
        top = c.post("/v3/auth/tokens", json=body)
        assert top.status_code == 201 and top.json()["token"]["project"]["name"] == "cn-east-3"
        for scope in ({"project": {"name": "no-such-region"}}, {"domain": {"name": "someone-else"}},
                      {"project": {"name": "cn-north-4", "domain": {"name": "someone-else"}}}):
            r = c.post("/v3/auth/tokens", json=password_body(name, pw, dom, scope))
            assert r.status_code == 401 and error_code(r) == "IAM.0001", scope


def test_bad_credentials_answer_alike(server: Server, account):
    with server.client() as c:
        cases = [
            password_body(account["user_name"], "Wrong-passw0rd", account["account_name"]),
            password_body("nobody", account["password"], account["account_name"]),
            password_body(account["user_name"], account["password"], "no-such-account"),
        ]
        bodies = set()
        for body in cases:
            r = c.post("/v3/auth/tokens", json=body)
            assert r.status_code == 401
            assert r.json()["error"]["error_code"] == "IAM.0001"
            bodies.add(r.json()["error"]["message"])
        assert len(bodies) == 1


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({}, 400, "IAM.0072"),
        ({"auth": {"identity": {"methods": ["password"]}}}, 400, "IAM.0072"),
        ({"auth": {"identity": {"methods": ["token"], "token": {"id": "x"}}}}, 400, "IAM.0007"),
        ({"auth": {"identity": {"methods": ["password", "totp"]}}}, 400, "IAM.0007"),
        ({"auth": {"identity": {"methods": "password"}}}, 400, "IAM.0011"),
        ({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": 5, "password": "x", "domain": {"name": "d"}}}}}}, 400, "IAM.0011"),
        ([1, 2], 400, "IAM.0011"),
    ],
)
def test_malformed_token_requests(server: Server, body, status, code):
    with server.client() as c:
        r = c.post("/v3/auth/tokens", json=body)
        assert r.status_code == status and error_code(r) == code, r.text
        assert "'" in r.json()["error"]["message"] or code == "IAM.0011"


def test_malformed_json_and_sizes(server: Server, account):
    with server.client() as c:
        r = c.post("/v3/auth/tokens", content=b'{"auth": ', headers={"content-type": "application/json"})
        assert r.status_code == 400 and error_code(r) == "IAM.0011"
        r = c.post("/v3/auth/tokens", content=b"\xff\xfe", headers={"content-type": "application/json"})
        assert r.status_code == 400 and error_code(r) == "IAM.0011"
        big = json.dumps({"auth": {"pad": "x" * 40_000}}).encode()
        r = c.post("/v3/auth/tokens", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 400 and error_code(r) == "IAM.1101"
        huge = b"x" * (12 * 1024 * 1024 + 1)
        r = c.post("/v3/auth/tokens", content=huge, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error_code"] == "APIGW.0201"

        def chunks():
            for _ in range(13):
                yield b"y" * (1024 * 1024)

        r = c.post("/v3/auth/tokens", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error_code"] == "APIGW.0201"


def test_validate_check_revoke(server: Server, account):
    with server.client() as c:
        caller = get_token(c, account)
        subject = get_token(c, account, project=None)
        h = {"X-Auth-Token": caller, "X-Subject-Token": subject}
        r = c.get("/v3/auth/tokens", headers=h)
        assert r.status_code == 200 and r.headers["X-Subject-Token"] == subject
        assert r.json()["token"]["domain"]["id"] == account["account_id"]
        assert c.head("/v3/auth/tokens", headers=h).status_code == 200
        r = c.get("/v3/auth/tokens", headers={"X-Auth-Token": caller})
        assert r.status_code == 400 and error_code(r) == "IAM.0009"
        assert c.delete("/v3/auth/tokens", headers=h).status_code == 204
        r = c.get("/v3/auth/tokens", headers=h)
        assert r.status_code == 404 and error_code(r) == "IAM.0004"
        assert c.head("/v3/auth/tokens", headers=h).status_code == 404
        assert c.delete("/v3/auth/tokens", headers=h).status_code == 404
        # the revoked token no longer authenticates anything
        r = c.get("/v3/auth/projects", headers={"X-Auth-Token": subject})
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0307"
        # revoking one's own token
        assert c.delete("/v3/auth/tokens", headers={"X-Auth-Token": caller, "X-Subject-Token": caller}).status_code == 204
        r = c.get("/v3/auth/projects", headers={"X-Auth-Token": caller})
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0307"


def test_missing_tampered_and_expired_tokens(server: Server, account):
    with server.client() as c:
        r = c.get("/v3/auth/projects")
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
        assert "x-auth-token not found" in r.json()["error_msg"]
        token = get_token(c, account)
        tampered = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]
        for bad in (tampered, "MIInot-a-token", "garbage", "x" * 5000):
            r = c.get("/v3/auth/projects", headers={"X-Auth-Token": bad})
            assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301", bad[:20]
            assert "decrypt token fail" in r.json()["error_msg"]
        expired = forge_token(server, account, expires_in=-5)
        r = c.get("/v3/auth/projects", headers={"X-Auth-Token": expired})
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
        assert "token expires" in r.json()["error_msg"]
        r = c.get("/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": expired})
        assert r.status_code == 404


def test_x_project_id_and_x_domain_id_with_a_token(server: Server, account):
    """Sent with a token, they must name the caller's own account and one of its enabled projects
    (as with a signed request); else 403 APIGW.0302 before the route runs. They never change the
    token's scope."""
    other = server.bootstrap()
    own = account["projects"]
    with server.client() as c:
        token = get_token(c, account)  # scoped to cn-north-4
        domain_token = get_token(c, account, project=None)
        for headers in ({"X-Project-Id": own["cn-north-4"]}, {"X-Project-Id": own["ap-southeast-3"]},
                        {"X-Domain-Id": account["account_id"]},
                        {"X-Domain-Id": account["account_id"], "X-Project-Id": own["cn-north-4"]}):
            for t in (token, domain_token):
                r = c.get("/v3/auth/projects", headers={"X-Auth-Token": t, **headers})
                assert r.status_code == 200, (headers, r.text)
        # the token's own scope still decides: its project, not the one named in X-Project-Id
        r = c.get("/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token,
                                              "X-Project-Id": own["ap-southeast-3"]})
        assert r.status_code == 200 and r.json()["token"]["project"]["id"] == own["cn-north-4"]

        groups = {g["name"] for g in c.get("/v3/groups", headers={"X-Auth-Token": token}).json()["groups"]}
        for headers in ({"X-Project-Id": other["projects"]["cn-north-4"]}, {"X-Project-Id": "0" * 32},
                        {"X-Domain-Id": other["account_id"]},
                        {"X-Domain-Id": other["account_id"], "X-Project-Id": own["cn-north-4"]},
                        {"X-Domain-Id": account["account_id"], "X-Project-Id": other["projects"]["cn-north-4"]}):
            for t in (token, domain_token):
                r = c.get("/v3/auth/projects", headers={"X-Auth-Token": t, **headers})
                assert r.status_code == 403 and error_code(r) == "APIGW.0302", (headers, r.text)
            # refused before the route: a write asked this way changes nothing
            r = c.post("/v3/groups", json={"group": {"name": "never-made"}},
                       headers={"X-Auth-Token": token, **headers})
            assert r.status_code == 403 and error_code(r) == "APIGW.0302", (headers, r.text)
        after = {g["name"] for g in c.get("/v3/groups", headers={"X-Auth-Token": token}).json()["groups"]}
        assert after == groups


def forge_token(server: Server, account: dict, *, expires_in: int) -> str:
    """A token signed with the server's own keys whose lifetime is already over."""
    from devuc.config import Settings
    from devuc.iam.tokens import new_payload
    from devuc.runtime import Runtime

    async def make() -> str:
        rt = Runtime.open(Settings(data_dir=server.data_dir, database_url=server.database_url))
        try:
            payload = new_payload(account["user_id"], account["account_id"], None, 60)
            payload = type(payload)(**{**payload.__dict__,
                                       "expires_us": payload.issued_us + expires_in * 1_000_000})
            return await rt.keyring.issue(payload)
        finally:
            await rt.close()

    return asyncio.run(make())


def test_lockout_after_five_failures(server: Server, account):
    with server.client() as c:
        wrong = password_body(account["user_name"], "Wrong-passw0rd", account["account_name"])
        for _ in range(5):
            assert c.post("/v3/auth/tokens", json=wrong).status_code == 401
        right = password_body(account["user_name"], account["password"], account["account_name"])
        r = c.post("/v3/auth/tokens", json=right)
        assert r.status_code == 401 and error_code(r) == "IAM.0061"
    assert "locked" in (server.data_dir / "serve.log").read_text()


def test_success_resets_failure_count(server: Server, account):
    with server.client() as c:
        wrong = password_body(account["user_name"], "Wrong-passw0rd", account["account_name"])
        for _ in range(4):
            c.post("/v3/auth/tokens", json=wrong)
        get_token(c, account)
        for _ in range(4):
            c.post("/v3/auth/tokens", json=wrong)
        get_token(c, account)


def test_key_rotation_keeps_old_tokens_valid(server: Server, account):
    with server.client() as c:
        before = get_token(c, account)
        out = server.cli("keys", "rotate").stdout
        assert "rotated" in out
        # the server re-reads the key ring when it meets a token it cannot open
        after = get_token(c, account)
        # a token signed with the new key, as another node would sign it, is accepted too
        newest = forge_token(server, account, expires_in=3600)
        for token in (before, after, newest):
            r = c.get("/v3/auth/projects", headers={"X-Auth-Token": token})
            assert r.status_code == 200, r.text


def _stored_hash(server: Server, user_id: str, replace_with: str | None = None) -> str:
    """The user's stored password hash, after putting ``replace_with`` in its place if given."""
    from sqlalchemy import select, update

    from devuc.config import Settings
    from devuc.runtime import Runtime
    from devuc.store import tables as t

    async def run() -> str:
        rt = Runtime.open(Settings(data_dir=server.data_dir, database_url=server.database_url))
        try:
            if replace_with is not None:
                async with rt.store.write(affects_auth=False) as conn:
                    await conn.execute(update(t.users).where(t.users.c.id == user_id)
                                       .values(password_hash=replace_with))
            async with rt.store.read() as conn:
                return (await conn.execute(select(t.users.c.password_hash)
                                           .where(t.users.c.id == user_id))).scalar_one()
        finally:
            await rt.close()

    return asyncio.run(run())


def test_a_hash_with_older_parameters_is_replaced_at_the_next_login(server: Server, account):
    import nacl.pwhash.argon2id as argon2id

    older = argon2id.str(account["password"].encode(), opslimit=2, memlimit=19 * 1024 * 1024).decode()
    assert older.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    _stored_hash(server, account["user_id"], replace_with=older)
    with server.client() as c:
        wrong = password_body(account["user_name"], "Wrong-passw0rd", account["account_name"])
        assert c.post("/v3/auth/tokens", json=wrong).status_code == 401
        assert _stored_hash(server, account["user_id"]) == older  # only a success re-hashes
        get_token(c, account)
        current = _stored_hash(server, account["user_id"])
        assert current.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
        get_token(c, account)  # the new hash verifies, and stays
        assert _stored_hash(server, account["user_id"]) == current
