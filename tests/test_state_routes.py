"""/_devuc/: reset, snapshot, import (docs/dev-mode.md). Open to all in dev mode; outside it only
to the operator account's administrators, and invisible (the gateway's 404) to everyone else."""

from __future__ import annotations

import copy
import json
import time

import httpx
import pytest

from support import Server, error_code, get_token, new_postgres_database, password_body, require_postgres, start_server

DEV_ACCOUNT = {"account_name": "devuc-dev", "user_name": "dev-developer", "password": "Devuc-Dev-2026"}
DEV_PROJECT = "dec0de00000000000000000000002001"
DEVELOPER_ID = "dec0de00000000000000000000001004"
VIEWER_ROLE = "009eff1be3684187a634a375ce533ebb"


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> Server:
    data = tmp_path_factory.mktemp("state-dev")
    srv = start_server(data, f"sqlite+aiosqlite:///{data / 'devuc.db'}", args=("--dev",))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Server:
    data = tmp_path_factory.mktemp("state-plain")
    srv = start_server(data, f"sqlite+aiosqlite:///{data / 'devuc.db'}", env={"DEVUC_OPERATOR_ACCOUNT": "devuc"})
    yield srv
    srv.stop()


def login(client: httpx.Client, acct: dict = DEV_ACCOUNT, user: str | None = None) -> httpx.Response:
    body = password_body(user or acct["user_name"], acct["password"], acct["account_name"],
                         {"project": {"name": "cn-north-4"}})
    return client.post("/v3/auth/tokens?nocatalog=true", json=body)


def build_roles(client: httpx.Client, token: str) -> list[str]:
    """The Build role ids of the caller in the dev project (ShowProjectPermission)."""
    r = client.get("/v1/domain/user-permission", params={"project_id": DEV_PROJECT},
                   headers={"X-Auth-Token": token})
    assert r.status_code == 200, r.text
    return r.json()["result"]["role_ids"]


def undated(snapshot: dict) -> dict:
    out = copy.deepcopy(snapshot)
    out.pop("created_at")
    return out


def audit_trail(server: Server) -> list[dict]:
    out = server.cli("audit", "--json", "--limit", "10000").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_reset_empty_then_seed_and_logins_keep_working(dev: Server):
    with dev.client() as c:
        token = login(c).headers["X-Subject-Token"]
        assert c.post("/_devuc/reset", json={"to": "empty"}).json() == {"status": "ok", "to": "empty"}
        assert login(c).status_code == 401
        tables = c.get("/_devuc/snapshot").json()["tables"]
        assert "audit_events" not in tables and all(not t["rows"] for t in tables.values()), tables
        assert c.post("/_devuc/reset", json={"to": "seed"}).status_code == 200
        fresh = login(c)
        assert fresh.status_code == 201, fresh.text  # the token keys survived both resets
        # A token from before the resets belongs to the same (fixed-id) user: still valid.
        assert c.get("/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}).status_code == 200


def test_snapshot_round_trip(dev: Server):
    with dev.client() as c:
        before = c.get("/_devuc/snapshot").json()
        assert before["format"] == "devuc-snapshot" and before["version"] == 1
        assert before["master_key_fingerprint"].startswith("sha256:")
        keys = before["tables"]["access_keys"]
        sealed = keys["columns"].index("secret_enc")
        assert all(not row[sealed].startswith("devucDevSecret") for row in keys["rows"])  # still sealed
        assert "token_keys" not in before["tables"]

        owner = get_token(c, {**DEV_ACCOUNT, "user_name": "dev-owner"})
        r = c.post("/v3.0/OS-USER/users", headers={"X-Auth-Token": owner},
                   json={"user": {"name": "added-later", "domain_id": "dec0de00000000000000000000000001"}})
        assert r.status_code == 201, r.text
        changed = c.get("/_devuc/snapshot").json()
        assert undated(changed) != undated(before)

        r = c.post("/_devuc/snapshot", content=json.dumps(before))
        assert r.status_code == 200, r.text
        after = c.get("/_devuc/snapshot").json()
        assert undated(after) == undated(before)


def test_the_audit_trail_outlives_resets_and_imports(dev: Server):
    """The trail is the deployment's record, not data of the store: snapshots leave it out, and
    reset and import neither erase nor rewrite it; they are recorded in it."""
    with dev.client() as c:
        assert login(c, user="dev-developer").status_code == 201
        assert c.post("/v3/auth/tokens", json=password_body(
            "dev-developer", "Wrong-passw0rd-1", DEV_ACCOUNT["account_name"])).status_code == 401
        time.sleep(0.5)  # audit rows are written once the answer is out
        before = audit_trail(dev)
        assert any(e["action"] == "POST /v3/auth/tokens" and e["status"] == 401 for e in before)
        snapshot = c.get("/_devuc/snapshot").json()
        assert "audit_events" not in snapshot["tables"]

        # A snapshot as earlier versions wrote it, with a trail of its own: loaded, its trail passed over.
        forged = copy.deepcopy(snapshot)
        forged["tables"]["audit_events"] = {
            "columns": ["id", "at_us", "request_id", "account_id", "user_id", "action", "target",
                        "source", "vpc_endpoint", "status", "outcome", "reason"],
            "rows": [[1, 1, "f" * 32, None, None, "POST /forged", "/forged", "10.0.0.1", None, 200, "ok", None]],
        }
        assert c.post("/_devuc/reset", json={"to": "empty"}).status_code == 200
        assert c.post("/_devuc/snapshot", json=forged).status_code == 200
        assert c.post("/_devuc/reset", json={"to": "seed"}).status_code == 200
        time.sleep(0.5)
        after = audit_trail(dev)

    # newest first: what was there before is still there, unchanged, below the three state calls
    assert after[-len(before):] == before
    assert [(e["action"], e["status"]) for e in after[: len(after) - len(before)]] == [
        ("POST /_devuc/reset", 200), ("POST /_devuc/snapshot", 200), ("POST /_devuc/reset", 200)]
    assert not any(e["action"] == "POST /forged" for e in after)


def test_import_is_seen_by_the_next_request(dev: Server):
    """Import moves the store generation on: a cached permission answer does not outlive it."""
    with dev.client() as c:
        snapshot = c.get("/_devuc/snapshot").json()
        developer = login(c).headers["X-Subject-Token"]
        owner = get_token(c, {**DEV_ACCOUNT, "user_name": "dev-owner"})
        path = f"/devuc/v1/projects/{DEV_PROJECT}/members/{DEVELOPER_ID}/roles"
        assert build_roles(c, developer) == ["4"]
        r = c.put(path, headers={"X-Auth-Token": owner}, json={"role_ids": [VIEWER_ROLE]})
        assert r.status_code == 200, r.text
        assert build_roles(c, developer) == ["8"]
        assert c.post("/_devuc/snapshot", json=snapshot).status_code == 200
        assert build_roles(c, developer) == ["4"]


def test_refused_snapshots_change_nothing(dev: Server):
    with dev.client() as c:
        good = c.get("/_devuc/snapshot").json()
        other_key = {**good, "master_key_fingerprint": "sha256:" + "0" * 32}
        r = c.post("/_devuc/snapshot", json=other_key)
        assert r.status_code == 400 and "another master key" in r.json()["error_msg"], r.text
        for bad, words in [
            ({**good, "version": 99}, "version"),
            ({**good, "format": "x"}, "format"),
            ({**good, "tables": {"nope": {"columns": [], "rows": []}}}, "unknown table"),
            ({**good, "tables": {**good["tables"], "accounts": {"columns": ["id"], "rows": [["x"]]}}}, "columns"),
        ]:
            r = c.post("/_devuc/snapshot", json=bad)
            assert r.status_code == 400 and words in r.json()["error_msg"], r.text
        broken = copy.deepcopy(good)
        users = broken["tables"]["users"]
        users["rows"].append(list(users["rows"][0]))  # a duplicate primary key
        r = c.post("/_devuc/snapshot", json=broken)
        assert r.status_code == 400, r.text
        assert c.post("/_devuc/snapshot", content=b"{not json").status_code == 400
        assert c.post("/_devuc/reset", json={"to": "somewhere"}).status_code == 400
        assert login(c).status_code == 201  # the store is as it was


def test_not_in_the_openapi_document(dev: Server):
    with dev.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/_devuc")]


def test_outside_dev_mode_only_the_operator(plain: Server):
    first = json.loads((plain.data_dir / "credentials.json").read_text())
    assert first["account_name"] == "devuc"
    stranger = plain.bootstrap(password="Xy7!kPq2w-other")
    with plain.client() as c:
        unknown = c.get("/no/such/route")
        for headers in ({}, {"X-Auth-Token": "garbage"}, {"X-Auth-Token": get_token(c, stranger)}):
            for method, path in (("GET", "/_devuc/snapshot"), ("POST", "/_devuc/reset")):
                r = c.request(method, path, headers=headers, json={"to": "empty"})
                assert r.status_code == 404 and error_code(r) == error_code(unknown) == "APIGW.0101", r.text
        operator = {"X-Auth-Token": get_token(c, first)}
        snapshot = c.get("/_devuc/snapshot", headers=operator)
        assert snapshot.status_code == 200
        names = [row[1] for row in snapshot.json()["tables"]["accounts"]["rows"]]
        assert sorted(names) == sorted(["devuc", stranger["account_name"]])
        r = c.post("/_devuc/reset", headers=operator, json={"to": "seed"})
        assert r.status_code == 400 and "without a seed" in r.json()["error_msg"]
        assert c.post("/_devuc/snapshot", headers=operator, json=snapshot.json()).status_code == 200
        assert login(c, {**first, "user_name": first["user_name"]}).status_code == 201


def test_postgresql_round_trip(tmp_path):
    """On PostgreSQL too; after an import the serial counters are past the imported ids, and the
    audit trail (a serial table that no import touches) goes on recording."""
    require_postgres()
    url = new_postgres_database()
    srv = start_server(tmp_path, url, args=("--dev",))
    wrong = password_body("dev-developer", "Wrong-passw0rd-1", DEV_ACCOUNT["account_name"])
    try:
        with srv.client() as c:
            assert login(c).status_code == 201
            assert c.post("/v3/auth/tokens", json=wrong).status_code == 401  # a login_failures row
            time.sleep(0.5)  # audit rows are written once the answer is out
            trail = audit_trail(srv)
            snapshot = c.get("/_devuc/snapshot").json()
            failures = snapshot["tables"]["login_failures"]
            assert failures["columns"] == ["id", "user_id", "at_us"] and len(failures["rows"]) == 1
            # Rows with ids the database's counter has not reached yet (as from another database),
            # of another user and long past, so that they lock nobody out.
            users = snapshot["tables"]["users"]
            name, uid = users["columns"].index("name"), users["columns"].index("id")
            owner = next(row[uid] for row in users["rows"] if row[name] == "dev-owner")
            top = failures["rows"][0][0]
            failures["rows"] += [[top + n, owner, 1] for n in range(1, 21)]
            assert c.post("/_devuc/reset", json={"to": "empty"}).status_code == 200
            assert login(c).status_code == 401
            assert c.post("/_devuc/snapshot", json=snapshot).status_code == 200
            for _ in range(2):
                assert c.post("/v3/auth/tokens", json=wrong).status_code == 401
            assert login(c).status_code == 201  # which forgets the developer's failures
            assert c.post("/v3/auth/tokens", json=wrong).status_code == 401
            rows = c.get("/_devuc/snapshot").json()["tables"]["login_failures"]["rows"]
            assert [r[0] for r in rows if r[1] == owner] == [top + n for n in range(1, 21)]
            assert [r[0] > top + 20 for r in rows if r[1] != owner] == [True]
            assert c.post("/_devuc/reset", json={"to": "seed"}).status_code == 200
            assert login(c).status_code == 201
            time.sleep(0.5)
        after = audit_trail(srv)
        assert after[-len(trail):] == trail
        assert len(after) >= len(trail) + 9  # 3 state calls, 4 refused and 2 ok logins
        assert "audit record not written" not in (tmp_path / "serve.log").read_text()
    finally:
        srv.stop()  # also drops the database


def test_without_an_operator_account_nobody_outside_dev_mode(server):
    """The default: no operator account, so even the first account's administrator (who is an
    ordinary tenant) gets the 404 of an unknown route."""
    first = json.loads((server.data_dir / "credentials.json").read_text())
    with server.client() as c:
        admin = {"X-Auth-Token": get_token(c, first)}
        for method, path in (("GET", "/_devuc/snapshot"), ("POST", "/_devuc/reset")):
            r = c.request(method, path, headers=admin, json={"to": "empty"})
            assert r.status_code == 404 and error_code(r) == "APIGW.0101", r.text


def _tasks_and_templates_round_trip(srv: Server) -> None:
    """A build task's own rows and a permission template leave in a snapshot and come back with
    it; the next task made after the import gets row ids past the imported ones."""
    with srv.client() as c:
        pm = get_token(c, {**DEV_ACCOUNT, "user_name": "dev-project-manager"})
        owner = get_token(c, {**DEV_ACCOUNT, "user_name": "dev-owner"})
        job, later = "ab" * 16, "cd" * 16
        r = c.post("/v1/job/permissions/batch", headers={"X-Auth-Token": pm}, json={
            "project_id": DEV_PROJECT, "job_ids": [job], "permissions": [{"role_id": 8, "is_execute": True}]})
        assert r.status_code == 200, r.text
        r = c.post("/devuc/v1/permission-templates", headers={"X-Auth-Token": owner},
                   json={"name": "RoundTrip", "project_id": DEV_PROJECT})
        assert r.status_code == 201, r.text
        template = r.json()

        def matrix(token: str, job_id: str) -> httpx.Response:
            return c.get("/v1/job/permission/role", params={"job_id": job_id}, headers={"X-Auth-Token": token})

        before = matrix(pm, job).json()["result"]
        snapshot = c.get("/_devuc/snapshot").json()
        stored = snapshot["tables"]["codearts_build_job_roles"]
        job_column = stored["columns"].index("job_id")
        assert len([r for r in stored["rows"] if r[job_column] == job]) == len(before) - 2  # not -3, -1
        assert c.post("/_devuc/reset", json={"to": "empty"}).status_code == 200
        assert c.post("/_devuc/snapshot", json=snapshot).status_code == 200
        assert matrix(pm, job).json()["result"] == before
        shown = c.get(f"/devuc/v1/permission-templates/{template['template_id']}", headers={"X-Auth-Token": owner})
        assert shown.json() == template
        r = c.post("/v1/job/permissions/batch", headers={"X-Auth-Token": pm},
                   json={"project_id": DEV_PROJECT, "job_ids": [later], "permissions": []})
        assert r.status_code == 200, r.text
        first_ids = {row["id"] for row in before if row["id"]}
        assert min(row["id"] for row in matrix(pm, later).json()["result"] if row["id"]) > max(first_ids)
        assert c.post("/_devuc/reset", json={"to": "seed"}).status_code == 200


def test_build_tasks_and_templates_round_trip(dev: Server):
    _tasks_and_templates_round_trip(dev)


def test_build_tasks_and_templates_round_trip_on_postgresql(tmp_path):
    require_postgres()
    srv = start_server(tmp_path, new_postgres_database(), args=("--dev",))
    try:
        _tasks_and_templates_round_trip(srv)
    finally:
        srv.stop()
