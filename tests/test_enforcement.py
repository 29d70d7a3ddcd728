"""Enforcement modes (docs/enforcement.md) with real requests against real servers, one per mode:
``enforce`` refuses, ``log`` lets the refused request through and logs and audits the reason,
``off`` lets it through without a refusal record; authentication failures and tenant isolation
are refused in every mode."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "vpcep"))

from support import Server, devuc, error_code, get_token, start_server  # noqa: E402
from vpcep_helpers import add, signed, vpce  # noqa: E402

MODES = ("enforce", "log", "off")
PASSWORD = "Xy7!kPq2w-enf"


@pytest.fixture(scope="module", params=MODES)
def moded(request, tmp_path_factory):
    """A server in one enforcement mode: ``enforce`` by default (nothing set), ``log`` from the
    environment, ``off`` from a TOML configuration file."""
    mode = request.param
    data = tmp_path_factory.mktemp(f"enf-{mode}")
    env: dict[str, str] = {}
    if mode == "log":
        env["DEVUC_ENFORCEMENT"] = "log"
    elif mode == "off":
        config = data / "devuc.toml"
        config.write_text('enforcement = "off"\n')
        env["DEVUC_CONFIG"] = str(config)
    server = start_server(data, f"sqlite+aiosqlite:///{data / 'devuc.db'}", env)
    request.addfinalizer(server.stop)
    return mode, server


@pytest.fixture(scope="module")
def world(moded):
    """An account with its owner, a plain user bob and a project bob is not in; a second account."""
    mode, server = moded
    acct, other = server.bootstrap(), server.bootstrap()
    with server.client() as c:
        owner = get_token(c, acct)
        r = c.post("/v3.0/OS-USER/users", headers={"X-Auth-Token": owner},
                   json={"user": {"name": f"bob{secrets.token_hex(3)}", "domain_id": acct["account_id"],
                                  "password": PASSWORD}})
        assert r.status_code == 201, r.text
        bob = r.json()["user"]
        bob_token = get_token(c, acct, user=bob["name"], password=PASSWORD)
        r = c.post("/v4/project", headers={"X-Auth-Token": owner},
                   json={"project_name": f"p{secrets.token_hex(3)}", "project_type": "scrum"})
        assert r.status_code == 200, r.text
        project = r.json()["project_id"]
        other_token = get_token(c, other)
    return {"mode": mode, "server": server, "acct": acct, "owner": owner, "bob": bob, "bob_token": bob_token,
            "project": project, "other_token": other_token}


def _log(server: Server) -> str:
    return (server.data_dir / "serve.log").read_text()


def _lines(server: Server, *needles: str) -> list[str]:
    return [line for line in _log(server).splitlines() if all(n in line for n in needles)]


def _audit(server: Server, *args: str) -> list[dict]:
    out = server.cli("audit", "--json", "--limit", "200", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_banner_names_the_mode(world):
    assert f"(enforcement: {world['mode']})" in _log(world["server"])


def test_authorization_refusal_follows_the_mode(world):
    mode, server, bob = world["mode"], world["server"], world["bob"]
    project = world["project"]
    with server.client() as c:
        # a non-member of the same account reads the project
        r = c.get(f"/v4/projects/{project}", headers={"X-Auth-Token": world["bob_token"]})
        # a non-administrator lists the account's IAM users
        users = c.get("/v3/users", headers={"X-Auth-Token": world["bob_token"]})
        # a non-administrator edits the project: after the bypass the update really happens
        renamed = f"renamed-{mode}"
        put = c.put(f"/v4/projects/{project}", headers={"X-Auth-Token": world["bob_token"]},
                    json={"project_name": renamed})
    refusals = _lines(server, "code=PM.02174103", f"user={bob['id']}")
    iam_refusals = _lines(server, "code=IAM.0002", f"user={bob['id']}")
    if mode == "enforce":
        assert (r.status_code, error_code(r)) == (400, "PM.02174103")
        assert (users.status_code, error_code(users)) == (403, "IAM.0002")
        assert (put.status_code, error_code(put)) == (400, "PM.02174103")
        assert refusals and all("authorization refused:" in line for line in refusals)
        assert any("reason='not_member: see this project" in line for line in refusals)
        assert iam_refusals
        denied = [e for e in _audit(server, "--outcome", "denied") if e["user_id"] == bob["id"]]
        assert {e["action"] for e in denied} >= {"GET /v4/projects/{project_id}", "GET /v3/users"}
        assert all(e["reason"] for e in denied)
    else:
        assert r.status_code == 200, r.text
        assert r.json()["project"]["project_id"] == project
        assert users.status_code == 200 and bob["id"] in {u["id"] for u in users.json()["users"]}
        assert put.status_code == 204, put.text
        with server.client() as c:
            shown = c.get(f"/v4/projects/{project}", headers={"X-Auth-Token": world["owner"]})
        assert shown.json()["project"]["name"] == renamed
    if mode == "log":
        assert refusals and all("let through (enforcement=log)" in line for line in refusals)
        assert any("reason='not_member: see this project" in line for line in refusals)
        assert any("request='GET /v4/projects/" in line for line in refusals)
        assert iam_refusals
        passed = [e for e in _audit(server, "--outcome", "let_through") if e["user_id"] == bob["id"]]
        by_action = {e["action"]: e for e in passed}
        assert by_action["GET /v4/projects/{project_id}"]["status"] == 200
        assert "PM.02174103 not_member" in by_action["GET /v4/projects/{project_id}"]["reason"]
        assert "IAM.0002" in by_action["GET /v3/users"]["reason"]
        assert by_action["PUT /v4/projects/{project_id}"]["status"] == 204
    if mode == "off":
        assert not refusals and not iam_refusals
        events = [e for e in _audit(server) if e["user_id"] == bob["id"]]
        assert all(e["outcome"] not in ("denied", "let_through") and e["reason"] is None for e in events)


def test_private_access_follows_the_mode(world):
    """The private-access refusal is an authorization refusal like the others."""
    mode, server, acct = world["mode"], world["server"], world["acct"]
    other = server.bootstrap()
    with server.client() as c:
        owner = get_token(c, other, project="ap-southeast-3")
        assert add(c, owner, [vpce()]).status_code == 200
        r = c.get("/v3/auth/projects", headers={"X-Auth-Token": owner})
    lines = _lines(server, "private access denied", other["account_id"])
    if mode == "enforce":
        assert (r.status_code, error_code(r)) == (403, "UC.00011065")
        assert lines and "authorization refused" in lines[-1]
    elif mode == "log":
        assert r.status_code == 200
        assert lines and "let through" in lines[-1] and "request='GET /v3/auth/projects'" in lines[-1]
    else:
        assert r.status_code == 200 and not lines
    assert acct["password"] not in _log(server) and owner not in _log(server)


def test_authentication_failures_are_refused_in_every_mode(world):
    server, acct, project = world["server"], world["acct"], world["project"]
    with server.client() as c:
        for headers in ({}, {"X-Auth-Token": "not-a-token"}):
            r = c.get(f"/v4/projects/{project}", headers=headers)
            assert (r.status_code, error_code(r)) == (401, "APIGW.0301")
        # a request signed with the wrong secret key
        url, headers, _ = signed(server, acct["access"], "x" * 40, "GET", "/v3/auth/projects")
        r = c.get(url, headers=headers)
        assert (r.status_code, error_code(r)) == (401, "APIGW.0301")
        assert "canonical_request" not in r.json()  # not a developer-mode server


def test_tenant_isolation_holds_in_every_mode(world):
    """Another account's project is "not found" in every mode, answered exactly as an id nobody
    has, and not logged or counted as a refusal (that would tell a stranger the id is taken)."""
    server, project = world["server"], world["project"]
    unknown = "0" * 32
    with server.client() as c:
        r = c.get(f"/v4/projects/{project}", headers={"X-Auth-Token": world["other_token"]})
        members = c.get(f"/v4/projects/{project}/members", headers={"X-Auth-Token": world["other_token"]})
        nobody = c.get(f"/v4/projects/{unknown}", headers={"X-Auth-Token": world["other_token"]})
    assert (r.status_code, error_code(r)) == (400, "PM.02152005")
    assert (members.status_code, error_code(members)) == (400, "PM.02152005")
    assert r.json()["error_msg"].replace(project, "ID") == nobody.json()["error_msg"].replace(unknown, "ID")
    assert not _lines(server, f"project={project}")


def test_integrity_rules_hold_in_every_mode(world):
    """What nobody may do (remove the project's creator) is refused whatever the mode; in enforce
    the missing right is refused first."""
    server, project = world["server"], world["project"]
    with server.client() as c:
        me = c.get("/v4/user", headers={"X-Auth-Token": world["owner"]}).json()
        # bob (not a member, not an administrator) tries to remove the creator
        r = c.request("DELETE", f"/v4/projects/{project}/members", headers={"X-Auth-Token": world["bob_token"]},
                      json={"user_ids": [me["user_id"]]})
        # the owner tries too: only the integrity rule stands in the way
        own = c.request("DELETE", f"/v4/projects/{project}/members", headers={"X-Auth-Token": world["owner"]},
                        json={"user_ids": [me["user_id"]]})
        assert c.get(f"/v4/projects/{project}/user-role", headers={"X-Auth-Token": world["owner"]}).json() == {
            "user_role": -1}
    expected = "PM.02174103" if world["mode"] == "enforce" else "PM.02150301"
    assert (r.status_code, error_code(r)) == (400, expected)
    assert (own.status_code, error_code(own)) == (400, "PM.02150301")
    assert _lines(server, "refused (in every enforcement mode)", "code=PM.02150301")


def test_a_role_above_ones_own_in_a_batch_add(world):
    """Batch add narrows instead of failing: in enforce a role the caller may not grant becomes
    participant (7); in log and off the role asked for is granted."""
    mode, server, acct, owner = world["mode"], world["server"], world["acct"], world["owner"]
    with server.client() as c:
        made = []
        for name in ("tm", "carol"):
            r = c.post("/v3.0/OS-USER/users", headers={"X-Auth-Token": owner},
                       json={"user": {"name": f"{name}{secrets.token_hex(3)}", "domain_id": acct["account_id"],
                                      "password": PASSWORD}})
            assert r.status_code == 201, r.text
            made.append(r.json()["user"])
        tm, carol = made
        r = c.post("/v4/project", headers={"X-Auth-Token": owner},
                   json={"project_name": f"b{secrets.token_hex(3)}", "project_type": "scrum"})
        pid = r.json()["project_id"]
        r = c.post(f"/v4/projects/{pid}/member", headers={"X-Auth-Token": owner},
                   json={"user_id": tm["id"], "domain_id": acct["account_id"], "role_id": 5})  # test manager
        assert r.status_code == 204, r.text
        tm_token = get_token(c, acct, user=tm["name"], password=PASSWORD)
        r = c.post(f"/v4/projects/{pid}/members", headers={"X-Auth-Token": tm_token},
                   json={"users": [{"user_id": carol["id"], "role_id": 3}]})  # project manager: above
        assert r.status_code == 204, r.text
        members = c.get(f"/v4/projects/{pid}/members", headers={"X-Auth-Token": owner}).json()["members"]
    role = {m["user_id"]: m["role_id"] for m in members}[carol["id"]]
    assert role == (7 if mode == "enforce" else 3)
    lines = _lines(server, "code=PM.02174103", "rank: grant the role 3", carol["id"])
    assert bool(lines) is (mode != "off")


def test_unknown_mode_is_refused_at_start(tmp_path):
    result = devuc("serve", "--enforcement", "lenient", "--data-dir", str(tmp_path), check=False)
    assert result.returncode == 2
    assert "enforcement" in result.stderr
