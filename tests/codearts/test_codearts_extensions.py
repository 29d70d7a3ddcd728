"""The devuc extensions over HTTP and through the CLI: custom roles (limits, name rules, copies),
the permission matrix (locked rows, rank rule, all-or-nothing), members holding several roles,
and the OpenAPI marking (spec/codearts-uc.md §5.3-§5.6)."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from huaweicloudsdkcodeartsbuild.v3 import ShowProjectPermissionRequest

from codearts_helpers import DEVUC_IDS, add, cast_for, codearts_cli, error_of, new_project

ADMIN, PM, VIEWER = DEVUC_IDS["admin"], DEVUC_IDS["pm"], DEVUC_IDS["viewer"]


@pytest.fixture
def cast(server):
    return cast_for(server)


def roles_url(pid: str, *rest: str) -> str:
    return "/".join([f"/devuc/v1/projects/{pid}/roles", *rest])


def create_role(actor, pid, name, **extra):
    return actor.call("POST", roles_url(pid), json={"name": name, **extra})


def test_catalogue_and_project_roles(cast):
    r = cast.plain.call("GET", "/devuc/v1/roles")
    assert r.status_code == 200
    catalogue = {x["role_id"]: x for x in r.json()["roles"]}
    assert catalogue[ADMIN]["projectman_role_id"] == -1 and catalogue[ADMIN]["build_role_id"] == -1
    assert catalogue[DEVUC_IDS["om"]]["projectman_role_id"] == 9 and catalogue[DEVUC_IDS["om"]]["build_role_id"] == 0
    assert catalogue[DEVUC_IDS["committer"]]["projectman_role_id"] is None
    assert catalogue[ADMIN]["locked"] == ["build", "devuc"] and catalogue[PM]["locked"] == ["devuc"]
    assert len(catalogue) == 12

    pid = new_project(cast.owner)["project_id"]
    assert add(cast.owner, pid, cast.dev, 4).status_code == 204
    listed = cast.dev.call("GET", roles_url(pid)).json()["roles"]
    assert [x["role_id"] for x in listed] == list(catalogue)
    dev = next(x for x in listed if x["role_id"] == DEVUC_IDS["dev"])
    assert dev["permissions"]["build"] == {"create": True, "modify": True, "group": True, "delete": True, "view": True,
                                           "execute": True, "copy": True, "forbidden": True, "manager": False}
    assert dev["permissions"]["devuc"] == {"project_edit": False, "member_manage": False, "role_manage": False}
    dashed = f"{VIEWER[:8]}-{VIEWER[8:12]}-{VIEWER[12:16]}-{VIEWER[16:20]}-{VIEWER[20:]}"
    assert cast.dev.call("GET", roles_url(pid, dashed)).json()["role_id"] == VIEWER
    assert error_of(cast.dev.call("GET", roles_url(pid, "f" * 32))) == (400, "UC.00011189")
    assert error_of(cast.dev.call("GET", roles_url(pid, "nope"))) == (400, "UC.00011002")
    assert error_of(cast.plain.call("GET", roles_url(pid))) == (401, "UC.00011003")
    assert cast.admin.call("GET", roles_url(pid)).status_code == 200
    hidden, unknown = cast.other.owner.call("GET", roles_url(pid)), cast.other.owner.call("GET", roles_url("e" * 32))
    assert error_of(hidden) == error_of(unknown) == (400, "UC.00011037")


def test_custom_roles_names_numbers_and_use_in_projectman(cast):
    project = new_project(cast.owner)
    pid = project["project_id"]
    for who, role in (("tm", 5), ("dev", 4), ("viewer", 8)):
        assert add(cast.owner, pid, getattr(cast, who), role).status_code == 204
    for name in ("", "   ", "x" * 31, "a/b", "naïve\tname", "项目经理", "Developer", "developer", "te_admin"):
        r = create_role(cast.owner, pid, name)
        assert error_of(r) == (400, "UC.00011180"), name
    assert error_of(cast.owner.call("POST", roles_url(pid), json={"name": 5})) == (400, "UC.00011002")
    assert error_of(create_role(cast.dev, pid, "Nope")) == (401, "UC.00011003")
    first = create_role(cast.tm, pid, " Ops (n) [1] {x} <y> ~&._- ")
    assert first.status_code == 201, first.text
    role = first.json()
    assert role["name"] == "Ops (n) [1] {x} <y> ~&._-" and role["type"] == "custom"
    assert (role["projectman_role_id"], role["build_role_id"], role["rank"]) == (500, 500, 4)
    assert not any(role["permissions"]["build"].values()) and not any(role["permissions"]["devuc"].values())
    assert error_of(create_role(cast.owner, pid, role["name"])) == (409, "UC.00011009")
    second = create_role(cast.owner, pid, "发布 Runner").json()
    assert second["projectman_role_id"] == 501 and len(second["role_id"]) == 32
    assert create_role(cast.owner, new_project(cast.owner)["project_id"], role["name"]).status_code == 201

    # ProjectMan v4 speaks of custom roles by their number
    assert add(cast.tm, pid, cast.tester, 500).status_code == 204
    assert cast.tester.call("GET", f"/v4/projects/{pid}/user-role").json() == {"user_role": 500}
    member = next(m for m in cast.owner.call("GET", f"/v4/projects/{pid}/members").json()["members"]
                  if m["user_id"] == cast.tester.user_id)
    assert (member["role_id"], member["role_name"]) == (500, role["name"])
    assert cast.owner.call("POST", f"/v4/projects/{pid}/members/role",
                           json={"role_id": 501, "user_ids": [cast.viewer.user_id]}).status_code == 204
    assert error_of(cast.owner.call("POST", f"/v4/projects/{pid}/members/role",
                                    json={"role_id": 502, "user_ids": [cast.viewer.user_id]})) == (400, "PM.02150303")

    # rename and delete
    r = cast.owner.call("PUT", roles_url(pid, role["role_id"]), json={"name": "Ops"})
    assert r.status_code == 200 and r.json()["name"] == "Ops"
    assert error_of(cast.owner.call("PUT", roles_url(pid, second["role_id"]), json={"name": "Ops"})) == (409, "UC.00011009")
    assert error_of(cast.owner.call("PUT", roles_url(pid, VIEWER), json={"name": "Watcher"})) == (401, "UC.00011043")
    assert error_of(cast.owner.call("DELETE", roles_url(pid, role["role_id"]))) == (403, "UC.00011004")  # held
    assert error_of(cast.owner.call("DELETE", roles_url(pid, VIEWER))) == (401, "UC.00011043")
    assert error_of(cast.dev.call("DELETE", roles_url(pid, role["role_id"]))) == (401, "UC.00011003")
    assert cast.owner.call("POST", f"/v4/projects/{pid}/members/role",
                           json={"role_id": 7, "user_ids": [cast.tester.user_id]}).status_code == 204
    assert cast.owner.call("DELETE", roles_url(pid, role["role_id"])).status_code == 204
    assert error_of(cast.owner.call("GET", roles_url(pid, role["role_id"]))) == (400, "UC.00011189")
    assert error_of(add(cast.owner, pid, cast.extra, 500)) == (400, "PM.02150303")
    assert create_role(cast.owner, pid, "Third").json()["projectman_role_id"] == 502  # numbers are not reused


def test_copy_a_role_from_a_project_of_the_same_type(cast):
    source = new_project(cast.owner, project_type="scrum")["project_id"]
    r = cast.owner.call("PATCH", roles_url(source, VIEWER, "permissions"),
                        json={"permissions": {"build": {"execute": True}, "devuc": {"project_edit": True}}})
    assert r.status_code == 200, r.text
    target = new_project(cast.owner, project_type="scrum")["project_id"]
    copy = create_role(cast.owner, target, "Viewer plus", copy_from={"project_id": source, "role_id": VIEWER}).json()
    assert {k for k, v in copy["permissions"]["build"].items() if v} == {"view", "execute"}
    assert copy["permissions"]["devuc"]["project_edit"] is True
    admin_copy = create_role(cast.owner, target, "Like admin", copy_from={"project_id": target, "role_id": ADMIN}).json()
    assert all(admin_copy["permissions"]["build"].values()) and admin_copy["locked"] == []
    kanban = new_project(cast.owner, project_type="xboard")["project_id"]
    r = create_role(cast.owner, kanban, "Viewer plus", copy_from={"project_id": source, "role_id": VIEWER})
    assert error_of(r) == (400, "UC.00011042")
    foreign = new_project(cast.other.owner, project_type="scrum")["project_id"]
    r = create_role(cast.owner, target, "Stolen", copy_from={"project_id": foreign, "role_id": VIEWER})
    assert error_of(r) == (400, "UC.00011037")
    r = create_role(cast.owner, target, "Ghost", copy_from={"project_id": source, "role_id": "a" * 32})
    assert error_of(r) == (400, "UC.00011189")
    r = create_role(cast.owner, target, "Half", copy_from={"project_id": source})
    assert error_of(r) == (400, "UC.00011002") and "copy_from.role_id" in r.json()["error_msg"]
    names = [x["name"] for x in cast.owner.call("GET", roles_url(target)).json()["roles"]]
    assert "Stolen" not in names and "Ghost" not in names and "Half" not in names


def test_matrix_locks_rank_and_all_or_nothing(cast):
    pid = new_project(cast.owner)["project_id"]
    for who, role in (("pm", 3), ("tm", 5), ("dev", 4)):
        assert add(cast.owner, pid, getattr(cast, who), role).status_code == 204
    custom = create_role(cast.owner, pid, "Runner").json()["role_id"]
    url = f"/devuc/v1/projects/{pid}/permissions"

    def matrix():
        return {x["role_id"]: x["permissions"] for x in cast.owner.call("GET", roles_url(pid)).json()["roles"]}

    start = matrix()
    locked = cast.owner.call("PATCH", roles_url(pid, ADMIN, "permissions"), json={"permissions": {"build": {"view": False}}})
    assert error_of(locked) == (401, "UC.00011043")
    assert error_of(cast.owner.call("PATCH", roles_url(pid, PM, "permissions"),
                                    json={"permissions": {"devuc": {"member_manage": False}}})) == (401, "UC.00011043")
    # the project manager may not edit its own row (not below itself); the creator may
    assert error_of(cast.pm.call("PATCH", roles_url(pid, PM, "permissions"),
                                 json={"permissions": {"build": {"delete": False}}})) == (401, "UC.00011043")
    assert error_of(cast.dev.call("PATCH", roles_url(pid, custom, "permissions"),
                                  json={"permissions": {"build": {"view": True}}})) == (401, "UC.00011003")
    for bad, field in [({"permissions": {"build": {"fly": True}}}, "permissions.build.fly"),
                       ({"permissions": {"deploy": {"view": True}}}, "permissions.deploy"),
                       ({"permissions": {"build": {"view": "yes"}}}, "permissions.build.view"),
                       ({"permissions": {"build": []}}, "permissions.build"),
                       ({}, "permissions")]:
        r = cast.owner.call("PATCH", roles_url(pid, custom, "permissions"), json=bad)
        assert error_of(r) == (400, "UC.00011002") and field in r.json()["error_msg"], bad
    mixed = cast.owner.call("PATCH", url, json={"roles": [
        {"role_id": custom, "permissions": {"build": {"view": True}}},
        {"role_id": ADMIN, "permissions": {"devuc": {"role_manage": False}}},
    ]})
    assert error_of(mixed) == (401, "UC.00011043")
    assert matrix() == start  # nothing of the refused requests was applied

    # the whole matrix sent back unchanged (locked rows included) is accepted
    whole = cast.owner.call("PATCH", url, json={"roles": [{"role_id": k, "permissions": v} for k, v in start.items()]})
    assert whole.status_code == 200 and matrix() == start
    r = cast.tm.call("PATCH", url, json={"roles": [
        {"role_id": custom, "permissions": {"build": {"view": True, "execute": True}, "devuc": {"member_manage": True}}},
        {"role_id": VIEWER, "permissions": {"build": {"view": False}}},
    ]})
    assert r.status_code == 200, r.text
    now = matrix()
    assert now[custom]["build"]["execute"] and now[custom]["devuc"]["member_manage"] and not now[VIEWER]["build"]["view"]
    assert cast.owner.call("PATCH", roles_url(pid, PM, "permissions"),
                           json={"permissions": {"build": {"delete": False}}}).json()["permissions"]["build"]["delete"] is False


def _store_roles(server, pid: str, count: int) -> None:
    """Put ``count`` custom roles straight into the database (making 500 over HTTP is slow)."""
    import asyncio

    from sqlalchemy import insert, update

    from devuc.store import tables as t
    from devuc.store.db import make_engine, now_us

    async def work():
        engine = make_engine(server.database_url)
        try:
            async with engine.begin() as conn:
                now = now_us()
                await conn.execute(insert(t.codearts_roles), [
                    {"id": secrets.token_hex(16), "project_id": pid, "num_id": 500 + i, "name": f"stored {i}",
                     "created_us": now, "updated_us": now} for i in range(count)])
                await conn.execute(update(t.codearts_projects).where(t.codearts_projects.c.id == pid)
                                   .values(next_role_num=500 + count))
        finally:
            await engine.dispose()

    asyncio.run(work())


def test_custom_role_limit_holds_under_concurrency(cast, server):
    pid = new_project(cast.owner)["project_id"]
    _store_roles(server, pid, 494)
    token = cast.owner.token()

    def make(i):
        with server.client() as c:
            return c.post(roles_url(pid), json={"name": f"r{i}"}, headers={"X-Auth-Token": token})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(make, range(16)))
    assert sorted(a.status_code for a in answers).count(201) == 6
    assert {error_of(a) for a in answers if a.status_code != 201} == {(403, "UC.00011016")}
    roles = cast.owner.call("GET", roles_url(pid)).json()["roles"]
    numbers = sorted(x["projectman_role_id"] for x in roles if x["type"] == "custom")
    assert len(numbers) == 500 and len(set(numbers)) == 500 and numbers[0] == 500
    # one deleted, one more fits
    last = next(x for x in roles if x["name"] == "stored 0")
    assert cast.owner.call("DELETE", roles_url(pid, last["role_id"])).status_code == 204
    assert create_role(cast.owner, pid, "one more").status_code == 201
    assert error_of(create_role(cast.owner, pid, "one too many")) == (403, "UC.00011016")


def test_members_with_several_roles(cast):
    pid = new_project(cast.owner)["project_id"]
    for who, role in (("pm", 3), ("tm", 5), ("dev", 4)):
        assert add(cast.owner, pid, getattr(cast, who), role).status_code == 204
    custom = create_role(cast.owner, pid, "Runner").json()["role_id"]
    url = f"/devuc/v1/projects/{pid}/members/{cast.dev.user_id}/roles"
    assert error_of(cast.dev.call("PUT", url, json={"role_ids": [DEVUC_IDS["tester"]]})) == (401, "UC.00011003")
    r = cast.tm.call("PUT", url, json={"role_ids": [DEVUC_IDS["tester"], custom]})
    assert r.status_code == 200 and [x["role_id"] for x in r.json()["roles"]] == [DEVUC_IDS["tester"], custom]
    assert error_of(cast.tm.call("PUT", url, json={"role_ids": [DEVUC_IDS["tm"]]})) == (401, "UC.00011043")
    r = cast.pm.call("PUT", url, json={"role_ids": [DEVUC_IDS["tester"], custom, DEVUC_IDS["dev"]]})
    assert r.status_code == 200, r.text
    assert [x["role_id"] for x in r.json()["roles"]] == [DEVUC_IDS["dev"], DEVUC_IDS["tester"], custom]
    assert cast.dev.call("GET", f"/v4/projects/{pid}/user-role").json() == {"user_role": 4}  # best rank, smallest id
    assert [x["role_id"] for x in cast.dev.call("GET", url).json()["roles"]] == [DEVUC_IDS["dev"], DEVUC_IDS["tester"], custom]
    for body, code in [({"role_ids": []}, (400, "UC.00011002")), ({"role_ids": ["x"]}, (400, "UC.00011002")),
                       ({"role_ids": ["a" * 32]}, (400, "UC.00011189")),
                       ({"role_ids": [ADMIN]}, (403, "UC.00011071")),
                       ({"role_ids": [PM]}, (401, "UC.00011043"))]:
        assert error_of(cast.pm.call("PUT", url, json=body)) == code, body
    creator_url = f"/devuc/v1/projects/{pid}/members/{cast.owner.user_id}/roles"
    assert error_of(cast.owner.call("PUT", creator_url, json={"role_ids": [ADMIN, PM]})) == (403, "UC.00011071")
    assert cast.owner.call("PUT", creator_url, json={"role_ids": [ADMIN]}).status_code == 200  # unchanged: fine
    stranger = f"/devuc/v1/projects/{pid}/members/{cast.plain.user_id}/roles"
    assert error_of(cast.owner.call("PUT", stranger, json={"role_ids": [VIEWER]})) == (400, "UC.00011059")
    assert error_of(cast.owner.call("GET", stranger)) == (400, "UC.00011059")
    # ProjectMan's role change replaces all of a member's roles with one
    assert cast.owner.call("POST", f"/v4/projects/{pid}/members/role",
                           json={"role_id": 8, "user_ids": [cast.dev.user_id]}).status_code == 204
    assert [x["role_id"] for x in cast.dev.call("GET", url).json()["roles"]] == [VIEWER]


def test_openapi_marks_the_extensions(server):
    with server.client() as c:
        document = c.get("/openapi.json").json()
    mine = [(path, item) for path, item in document["paths"].items()
            if path.startswith(("/devuc/v1/", "/v4/", "/v1/domain/", "/v1/job/"))]
    assert len(mine) >= 20
    for path, item in mine:
        for operation in item.values():
            extension = path.startswith("/devuc/v1/")
            assert (operation.get("x-devuc-extension") is True) is extension, path
            assert ("devuc extensions" in operation["tags"]) is extension, path


def test_cli_manages_roles_and_the_server_sees_it_at_once(cast, server):
    pid = new_project(cast.owner)["project_id"]
    assert add(cast.owner, pid, cast.viewer, 8).status_code == 204
    build = cast.viewer.build()

    def permission():
        return build.show_project_permission(ShowProjectPermissionRequest(project_id=pid)).result

    assert not permission().execute_permission
    out = codearts_cli(server, "roles", "set", pid, VIEWER, "build.execute=true", "--json")
    assert json.loads(out.stdout)["roles"][0]["permissions"]["build"]["execute"] is True
    assert permission().execute_permission  # written by another process, seen by the server's next request
    made = json.loads(codearts_cli(server, "roles", "create", pid, "Night shift", "--copy-role", VIEWER, "--json").stdout)
    role = made["roles"][0]
    assert role["permissions"]["build"]["execute"] is True and role["projectman_role_id"] == 500
    shown = codearts_cli(server, "member-roles", pid, cast.viewer.user_id, VIEWER, role["role_id"], "--json")
    assert [x["role_id"] for x in json.loads(shown.stdout)["roles"]] == [VIEWER, role["role_id"]]
    assert permission().role_ids == ["8", "500"]
    held = codearts_cli(server, "roles", "delete", pid, role["role_id"], check=False)
    assert held.returncode == 3 and "UC.00011004" in held.stderr  # 3: in use (docs/cli.md)
    assert "Night shift" in codearts_cli(server, "roles", "list", pid).stdout
    locked = codearts_cli(server, "roles", "set", pid, ADMIN, "build.view=false", check=False)
    assert locked.returncode == 4 and "UC.00011043" in locked.stderr  # 4: refused by a rule (docs/cli.md)
    assert permission().view_permission


def test_cli_creators_and_sequences(cast, server):
    body = {"project_name": f"cli-{secrets.token_hex(3)}", "project_type": "scrum"}
    assert error_of(cast.plain.call("POST", "/v4/project", json=body)) == (400, "PM.02174103")
    account = cast.tenant.account_id
    shown = json.loads(codearts_cli(server, "creators", account, "--user", cast.plain.user_id, "--json").stdout)
    assert shown == {"domain_id": account, "project_creation": "selected", "project_creators": [cast.plain.user_id]}
    try:
        made = cast.plain.call("POST", "/v4/project", json=body)
        assert made.status_code == 200
        number = made.json()["project_num_id"]
        low = codearts_cli(server, "sequence", "project_num_id", str(number), check=False)
        assert low.returncode == 2 and "at least" in low.stderr
        codearts_cli(server, "sequence", "project_num_id", str(number + 1000))
        again = cast.plain.call("POST", "/v4/project", json={**body, "project_name": body["project_name"] + "b"})
        assert again.json()["project_num_id"] == number + 1000
    finally:
        cleared = codearts_cli(server, "creators", account, "--clear", "--mode", "selected", "--json")
    assert json.loads(cleared.stdout)["project_creators"] == []
    assert error_of(cast.plain.call("POST", "/v4/project", json={**body, "project_name": "x" + body["project_name"]})) == (
        400, "PM.02174103")


def test_extension_bodies_that_are_not_objects(cast):
    pid = new_project(cast.owner)["project_id"]
    for raw in (b"", b"{", b"[]", b'"name"'):
        r = cast.owner.call("POST", roles_url(pid), content=raw, headers={"Content-Type": "application/json"})
        assert error_of(r) == (400, "UC.00011001")
    assert [x["type"] for x in cast.owner.call("GET", roles_url(pid)).json()["roles"]].count("custom") == 0
