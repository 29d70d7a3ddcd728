"""User groups through a real server: CRUD, members, the built-in `admin` group and the Tenant
Administrator right it grants (spec/iam.md §2.7)."""

from __future__ import annotations

import re
import time

import pytest

from support import Server, error_code, get_token

HEX32 = re.compile(r"^[0-9a-f]{32}$")
GROUP_FIELDS = {"id", "name", "domain_id", "description", "create_time", "links"}
PASSWORD = "Xy7!kPq2w"


def auth(token: str) -> dict:
    return {"X-Auth-Token": token}


def message(r) -> str:
    return r.json()["error"]["message"]


def new_user(c, token: str, acct: dict, name: str, **fields) -> dict:
    r = c.post("/v3.0/OS-USER/users", headers=auth(token),
               json={"user": {"name": name, "domain_id": acct["account_id"], **fields}})
    assert r.status_code == 201, r.text
    return r.json()["user"]


def new_group(c, token: str, name: str, **fields) -> dict:
    r = c.post("/v3/groups", headers=auth(token), json={"group": {"name": name, **fields}})
    assert r.status_code == 201, r.text
    return r.json()["group"]


def groups(c, token: str, query: str = "") -> dict[str, dict]:
    r = c.get("/v3/groups" + query, headers=auth(token))
    assert r.status_code == 200, r.text
    return {g["name"]: g for g in r.json()["groups"]}


def admin_group(c, token: str) -> dict:
    return groups(c, token, "?name=admin")["admin"]


def assert_group_shape(server: Server, group: dict, acct: dict) -> None:
    assert set(group) == GROUP_FIELDS, group
    assert HEX32.match(group["id"])
    assert group["domain_id"] == acct["account_id"]
    assert isinstance(group["create_time"], int) and not isinstance(group["create_time"], bool)
    assert group["links"]["self"] == f"{server.base_url}/v3/groups/{group['id']}"


def roles_of(c, token: str) -> list[str]:
    r = c.get("/v3/auth/tokens?nocatalog=true", headers={**auth(token), "X-Subject-Token": token})
    assert r.status_code == 200, r.text
    return [role["name"] for role in r.json()["token"]["roles"]]


@pytest.fixture(scope="module")
def acct(server: Server) -> dict:
    """One account for this module (tests use their own group and user names) with a group `ops`
    and its owner's token."""
    data = server.bootstrap()
    with server.client() as c:
        data["token"] = get_token(c, data)
        new_group(c, data["token"], "ops")
    return data


def test_group_crud(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        start = set(groups(c, token))
        assert {"admin", "ops"} <= start
        before_ms = int(time.time() * 1000)
        r = c.post("/v3/groups", headers=auth(token), json={"group": {
            "name": "developers", "description": "Build and release", "domain_id": acct["account_id"]}})
        assert r.status_code == 201, r.text
        assert set(r.json()) == {"group"}
        dev = r.json()["group"]
        assert_group_shape(server, dev, acct)
        assert (dev["name"], dev["description"]) == ("developers", "Build and release")
        assert before_ms - 5000 <= dev["create_time"] <= int(time.time() * 1000) + 5000
        ops = new_group(c, token, "operations")  # no description, no domain_id: the caller's domain
        assert_group_shape(server, ops, acct)
        assert ops["description"] == ""

        r = c.get(f"/v3/groups/{dev['id']}", headers=auth(token))
        assert r.status_code == 200 and r.json() == {"group": dev}

        # list and its filters
        r = c.get("/v3/groups", headers=auth(token))
        assert r.status_code == 200
        assert set(r.json()) == {"groups", "links"}
        assert r.json()["links"]["self"] == server.base_url + "/v3/groups"
        listed = {g["name"]: g for g in r.json()["groups"]}
        assert set(listed) == start | {"developers", "operations"}
        assert listed["developers"] == dev
        for g in listed.values():
            assert_group_shape(server, g, acct)
        assert set(groups(c, token, "?name=operations")) == {"operations"}
        assert groups(c, token, "?name=OPERATIONS") == {}
        assert groups(c, token, "?name=nobody") == {}
        assert set(groups(c, token, f"?domain_id={acct['account_id']}")) == start | {"developers", "operations"}
        assert set(groups(c, token, f"?domain_id={acct['account_id']}&name=admin")) == {"admin"}
        assert groups(c, token, "?domain_id=" + "0" * 32) == {}

        # update
        r = c.patch(f"/v3/groups/{dev['id']}", headers=auth(token),
                    json={"group": {"name": "devs", "description": "renamed"}})
        assert r.status_code == 200, r.text
        updated = r.json()["group"]
        assert (updated["id"], updated["name"], updated["description"]) == (dev["id"], "devs", "renamed")
        assert updated["create_time"] == dev["create_time"]
        r = c.patch(f"/v3/groups/{dev['id']}", headers=auth(token), json={"group": {"description": "only this"}})
        assert r.status_code == 200 and r.json()["group"]["name"] == "devs"
        assert c.get(f"/v3/groups/{dev['id']}", headers=auth(token)).json()["group"]["description"] == "only this"

        # duplicate names: 409 IAM.0005, nothing changes
        for name in ("devs", "admin", "operations"):
            r = c.post("/v3/groups", headers=auth(token), json={"group": {"name": name}})
            assert r.status_code == 409 and error_code(r) == "IAM.0005", r.text
        r = c.patch(f"/v3/groups/{ops['id']}", headers=auth(token), json={"group": {"name": "devs"}})
        assert r.status_code == 409 and error_code(r) == "IAM.0005"
        r = c.patch(f"/v3/groups/{ops['id']}", headers=auth(token), json={"group": {"name": "admin"}})
        assert r.status_code == 409 and error_code(r) == "IAM.0005"
        assert set(groups(c, token)) == start | {"devs", "operations"}

        # delete
        r = c.delete(f"/v3/groups/{dev['id']}", headers=auth(token))
        assert r.status_code == 204 and r.content == b""
        for method in ("GET", "PATCH", "DELETE"):
            r = c.request(method, f"/v3/groups/{dev['id']}", headers=auth(token),
                          json={"group": {"description": "x"}} if method == "PATCH" else None)
            assert r.status_code == 404 and error_code(r) == "IAM.0004", (method, r.text)
        assert set(groups(c, token)) == start | {"operations"}
        # the name can be used again
        again = new_group(c, token, "devs")
        assert again["id"] != dev["id"]


@pytest.mark.parametrize("body, field", [
    ({}, "group"),
    ({"group": "devs"}, "group"),
    ({"group": {}}, "group.name"),
    ({"group": {"name": ""}}, "group.name"),
    ({"group": {"name": "   "}}, "group.name"),
    ({"group": {"name": "g" * 65}}, "group.name"),
    ({"group": {"name": "tab\tname"}}, "group.name"),
    ({"group": {"name": "trailing\n"}}, "group.name"),
    ({"group": {"name": 7}}, "group.name"),
    ({"group": {"name": "ok", "description": "d" * 256}}, "group.description"),
    ({"group": {"name": "ok", "description": "a<b"}}, "group.description"),
    ({"group": {"name": "ok", "description": 5}}, "group.description"),
    ([], None),
], ids=["no-group", "group-string", "no-name", "empty-name", "blank-name", "name-65", "name-tab",
        "name-newline", "name-number", "description-256", "description-char", "description-number",
        "list-body"])
def test_create_group_validation(server: Server, acct, body, field):
    token = acct["token"]
    with server.client() as c:
        before = groups(c, token)
        r = c.post("/v3/groups", headers=auth(token), json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == 400
        if field:
            assert field in message(r), r.text
        assert groups(c, token) == before
        # the same rules apply on update
        if isinstance(body, dict) and isinstance(body.get("group"), dict) and body["group"]:
            ops = before["ops"]
            r = c.patch(f"/v3/groups/{ops['id']}", headers=auth(token), json=body)
            assert r.status_code == 400, r.text
            assert groups(c, token) == before


def test_group_in_another_domain_is_forbidden(server: Server, acct):
    token = acct["token"]
    with server.client() as c:
        before = groups(c, token)
        r = c.post("/v3/groups", headers=auth(token), json={"group": {"name": "x", "domain_id": "0" * 32}})
        assert r.status_code == 403 and error_code(r) == "IAM.0002"
        assert groups(c, token) == before


def test_members(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        ann = new_user(c, token, acct, "ann")
        ben = new_user(c, token, acct, "ben")
        team = new_group(c, token, "m-team")
        other = new_group(c, token, "m-other")
        member = f"/v3/groups/{team['id']}/users"

        r = c.get(member, headers=auth(token))
        assert r.status_code == 200 and r.json()["users"] == []
        assert r.json()["links"]["self"] == server.base_url + member

        r = c.put(f"{member}/{ann['id']}", headers=auth(token))
        assert r.status_code == 204 and r.content == b""
        assert c.put(f"{member}/{ann['id']}", headers=auth(token)).status_code == 204  # idempotent
        assert c.head(f"{member}/{ann['id']}", headers=auth(token)).status_code == 204
        r = c.head(f"{member}/{ben['id']}", headers=auth(token))
        assert r.status_code == 404
        assert c.head(f"/v3/groups/{other['id']}/users/{ann['id']}", headers=auth(token)).status_code == 404

        r = c.get(member, headers=auth(token))
        users = r.json()["users"]
        assert [u["id"] for u in users] == [ann["id"]]
        assert users[0]["name"] == "ann" and users[0]["domain_id"] == acct["account_id"]
        assert {"id", "name", "domain_id", "enabled", "links"} <= set(users[0])

        assert c.put(f"{member}/{ben['id']}", headers=auth(token)).status_code == 204
        assert c.put(f"{member}/{acct['user_id']}", headers=auth(token)).status_code == 204
        r = c.get(member, headers=auth(token))
        assert {u["name"] for u in r.json()["users"]} == {"ann", "ben", acct["user_name"]}

        r = c.delete(f"{member}/{ben['id']}", headers=auth(token))
        assert r.status_code == 204 and r.content == b""
        assert c.head(f"{member}/{ben['id']}", headers=auth(token)).status_code == 404
        r = c.delete(f"{member}/{ben['id']}", headers=auth(token))
        assert r.status_code == 404 and error_code(r) == "IAM.0004"
        assert {u["name"] for u in c.get(member, headers=auth(token)).json()["users"]} == {
            "ann", acct["user_name"]}

        # unknown users and groups
        for url in (f"{member}/{'0' * 32}", f"/v3/groups/{'0' * 32}/users/{ann['id']}"):
            for method in ("PUT", "DELETE"):
                r = c.request(method, url, headers=auth(token))
                assert r.status_code == 404 and error_code(r) == "IAM.0004", (method, url, r.text)
            assert c.head(url, headers=auth(token)).status_code == 404
        r = c.get(f"/v3/groups/{'0' * 32}/users", headers=auth(token))
        assert r.status_code == 404 and error_code(r) == "IAM.0004"

        # deleting a group with members leaves the users alone
        assert c.delete(f"/v3/groups/{team['id']}", headers=auth(token)).status_code == 204
        for user in (ann, ben):
            assert c.get(f"/v3.0/OS-USER/users/{user['id']}", headers=auth(token)).status_code == 200
        assert c.head(f"{member}/{ann['id']}", headers=auth(token)).status_code == 404


def test_builtin_admin_group_cannot_be_deleted_or_renamed(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        admin = admin_group(c, token)
        assert_group_shape(server, admin, acct)
        url = f"/v3/groups/{admin['id']}"
        r = c.delete(url, headers=auth(token))
        assert r.status_code == 403 and error_code(r) == "IAM.0002", r.text
        r = c.patch(url, headers=auth(token), json={"group": {"name": "root"}})
        assert r.status_code == 403 and error_code(r) == "IAM.0002", r.text
        r = c.patch(url, headers=auth(token), json={"group": {"name": "root", "description": "sneaky"}})
        assert r.status_code == 403
        assert admin_group(c, token) == admin  # still there, unchanged
        assert "root" not in groups(c, token)
        # the owner is a member, and the owner keeps its rights
        assert c.head(f"{url}/users/{acct['user_id']}", headers=auth(token)).status_code == 204
        # a description change is not a rename
        r = c.patch(url, headers=auth(token), json={"group": {"name": "admin", "description": "Admins"}})
        assert r.status_code == 200 and r.json()["group"]["name"] == "admin"
        assert admin_group(c, token)["description"] == "Admins"


def test_admin_group_membership_grants_and_removes_tenant_administrator(server: Server, acct):
    with server.client() as c:
        owner = acct["token"]
        cleo = new_user(c, owner, acct, "cleo", password=PASSWORD)
        before = get_token(c, acct, user="cleo", password=PASSWORD)
        assert "te_admin" not in roles_of(c, before)
        create = {"user": {"name": "by-cleo", "domain_id": acct["account_id"]}}
        r = c.post("/v3.0/OS-USER/users", headers=auth(before), json=create)
        assert r.status_code == 403 and r.json()["error_code"] == "IAM.0002"

        admin = admin_group(c, owner)
        member = f"/v3/groups/{admin['id']}/users/{cleo['id']}"
        assert c.put(member, headers=auth(owner)).status_code == 204
        token = get_token(c, acct, user="cleo", password=PASSWORD)
        r = c.post("/v3/auth/tokens?nocatalog=true", json={"auth": {"identity": {"methods": ["password"],
                   "password": {"user": {"name": "cleo", "password": PASSWORD,
                                         "domain": {"name": acct["account_name"]}}}},
                   "scope": {"project": {"name": "cn-north-4"}}}})
        assert r.status_code == 201 and "te_admin" in [x["name"] for x in r.json()["token"]["roles"]]
        assert "te_admin" in roles_of(c, token)
        r = c.post("/v3.0/OS-USER/users", headers=auth(token), json=create)
        assert r.status_code == 201, r.text
        assert c.get("/v3/users", headers=auth(token)).status_code == 200
        assert c.get("/v3/groups", headers=auth(token)).status_code == 200

        assert c.delete(member, headers=auth(owner)).status_code == 204
        # the right is gone on the very next request, with the token that had it
        create["user"]["name"] = "by-cleo-2"
        r = c.post("/v3.0/OS-USER/users", headers=auth(token), json=create)
        assert r.status_code == 403 and r.json()["error_code"] == "IAM.0002", r.text
        r = c.get("/v3/users", headers=auth(token))
        assert r.status_code == 403 and error_code(r) == "IAM.0002"
        assert "te_admin" not in roles_of(c, token)
        names = {u["name"] for u in c.get("/v3/users", headers=auth(owner)).json()["users"]}
        assert "by-cleo" in names and "by-cleo-2" not in names


def test_group_calls_need_an_admin(server: Server, acct):
    with server.client() as c:
        owner = acct["token"]
        dora = new_user(c, owner, acct, "dora", password=PASSWORD)
        eli = new_user(c, owner, acct, "eli")
        team = new_group(c, owner, "na-team")
        admin = admin_group(c, owner)
        assert c.put(f"/v3/groups/{team['id']}/users/{dora['id']}", headers=auth(owner)).status_code == 204
        token = get_token(c, acct, user="dora", password=PASSWORD)
        before = {name: (g, c.get(f"/v3/groups/{g['id']}/users", headers=auth(owner)).json()["users"])
                  for name, g in groups(c, owner).items()}

        calls = [
            ("GET", "/v3/groups", None),
            ("GET", f"/v3/groups?domain_id={acct['account_id']}", None),
            ("POST", "/v3/groups", {"group": {"name": "mine"}}),
            ("GET", f"/v3/groups/{team['id']}", None),
            ("PATCH", f"/v3/groups/{team['id']}", {"group": {"name": "hacked"}}),
            ("DELETE", f"/v3/groups/{team['id']}", None),
            ("GET", f"/v3/groups/{team['id']}/users", None),
            ("PUT", f"/v3/groups/{admin['id']}/users/{dora['id']}", None),
            ("PUT", f"/v3/groups/{team['id']}/users/{eli['id']}", None),
            ("DELETE", f"/v3/groups/{team['id']}/users/{dora['id']}", None),
            ("HEAD", f"/v3/groups/{team['id']}/users/{dora['id']}", None),
            ("HEAD", f"/v3/groups/{admin['id']}/users/{acct['user_id']}", None),
        ]
        for method, url, body in calls:
            r = c.request(method, url, headers=auth(token), json=body)
            assert r.status_code == 403, (method, url, r.status_code, r.text)
            if method != "HEAD":
                assert error_code(r) == "IAM.0002", (method, url, r.text)
                assert team["id"] not in r.text and admin["id"] not in r.text
        after = {name: (g, c.get(f"/v3/groups/{g['id']}/users", headers=auth(owner)).json()["users"])
                 for name, g in groups(c, owner).items()}
        assert after == before
        assert "te_admin" not in roles_of(c, token)
