"""The audit trail: every mutating call and every denied request is recorded with who, what, from
where and how it ended; `devuc audit` lists and filters it; no secret ever appears in it."""

from __future__ import annotations

import json

from support import Server, devuc, get_token, password_body


def audit(server: Server, *args: str) -> list[dict]:
    out = server.cli("audit", "--json", "--limit", "500", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_mutations_and_denials_are_recorded_without_secrets(server: Server, account):
    with server.client() as c:
        token = get_token(c, account)
        admin = {"X-Auth-Token": token}
        created = c.post("/v3.0/OS-USER/users", headers=admin, json={"user": {
            "name": "audited", "domain_id": account["account_id"], "password": "Audit-passw0rd"}})
        assert created.status_code == 201
        user_id = created.json()["user"]["id"]
        key = c.post("/v3.0/OS-CREDENTIAL/credentials", headers=admin,
                     json={"credential": {"user_id": user_id}}).json()["credential"]
        assert c.get("/v3/auth/projects", headers={"X-Auth-Token": "MIIforged"}).status_code == 401
        wrong = c.post("/v3/auth/tokens",
                       json=password_body(account["user_name"], "Wrong-passw0rd", account["account_name"]))
        assert wrong.status_code == 401
        assert c.get("/v3/auth/projects", headers=admin).status_code == 200  # a read: not recorded
        assert c.delete(f"/v3/users/{user_id}", headers=admin).status_code == 204

    events = audit(server, "--account", account["account_id"])
    actions = [(e["action"], e["outcome"], e["status"]) for e in events]
    assert ("POST /v3.0/OS-USER/users", "ok", 201) in actions
    # a password login names who logged in
    login = next(e for e in events if e["action"] == "POST /v3/auth/tokens" and e["status"] == 201)
    assert (login["account_id"], login["user_id"]) == (account["account_id"], account["user_id"])
    assert ("POST /v3.0/OS-CREDENTIAL/credentials", "ok", 201) in actions
    assert not any(a.startswith("GET ") for a, _, _ in actions)
    deleted = next(e for e in events if e["action"] == "DELETE /v3/users/{user_id}")
    assert deleted["target"] == f"/v3/users/{user_id}" and deleted["status"] == 204
    mine = next(e for e in events if e["action"] == "POST /v3.0/OS-USER/users")
    assert mine["user_id"] == account["user_id"] and mine["source"] == "127.0.0.1"
    assert len(mine["request_id"]) == 32 and mine["target"] == "/v3.0/OS-USER/users"

    denied = audit(server, "--outcome", "denied", "--action", "/v3/auth")
    assert any(e["action"] == "GET /v3/auth/projects" and e["status"] == 401 for e in denied)
    assert any(e["action"] == "POST /v3/auth/tokens" and e["status"] == 401 for e in denied)

    raw = server.cli("audit", "--json", "--limit", "10000").stdout
    for secret in (account["password"], "Audit-passw0rd", "Wrong-passw0rd", token, key["secret"],
                   account["secret"]):
        assert secret not in raw
    assert server.cli("audit", "--outcome", "maybe", check=False).returncode == 2


def test_the_table_shows_recorded_paths_as_they_were_asked(server: Server):
    """A caller chooses the path it requests, and a denied request is recorded with it: the
    table must show it literally, never as Rich markup that could restyle or hide rows."""
    with server.client() as c:
        r = c.delete("/v3/users/[blink]x", headers={"X-Auth-Token": "MIIforged"})
        assert r.status_code == 401
    shown = devuc("audit", "--outcome", "denied", "--action", "DELETE", *server.store_args,
                  env={**server.env, "COLUMNS": "300"}).stdout
    assert "/v3/users/[blink]x" in shown


def test_an_unknown_account_is_not_found(server: Server):
    missing = server.cli("audit", "--account", "no-such-account", check=False)
    assert missing.returncode == 1 and "IAM.0004: No account named or with id 'no-such-account'." in missing.stderr
    bad = server.cli("audit", "--since", "yesterday", "--json", check=False)
    assert bad.returncode == 2 and "INVALID: --since: not an ISO time: 'yesterday'" in bad.stderr
    assert json.loads(bad.stdout)["error"]["code"] == "INVALID"
