"""ProjectMan v4 and the Build permission API over plain HTTP with tokens: every documented limit,
default and error code of spec/projectman.md §3-§4, who may do what (§3, §5.1), and that a
refused or malformed request changes nothing."""

from __future__ import annotations

import secrets

import pytest

from codearts_helpers import add, cast_for, error_of, new_project

PM_BAD, PM_GONE, PM_DENIED = "PM.00000001", "PM.02152005", "PM.02174103"


@pytest.fixture
def cast(server):
    return cast_for(server)


def members_of(actor, pid) -> dict[str, int]:
    r = actor.call("GET", f"/v4/projects/{pid}/members", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return {m["user_id"]: m["role_id"] for m in r.json()["members"]}


def team(cast, **roles) -> dict:
    """A fresh project of the cast's owner with the named cast members in the given roles."""
    project = new_project(cast.owner)
    for who, role in roles.items():
        r = add(cast.owner, project["project_id"], getattr(cast, who), role)
        assert r.status_code == 204, r.text
    return project


# --- create ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body,field", [
    ({"project_type": "scrum"}, "project_name"),
    ({"project_name": "", "project_type": "scrum"}, "project_name"),
    ({"project_name": "   ", "project_type": "scrum"}, "project_name"),
    ({"project_name": "x" * 129, "project_type": "scrum"}, "project_name"),
    ({"project_name": 5, "project_type": "scrum"}, "project_name"),
    ({"project_name": "ok"}, "project_type"),
    ({"project_name": "ok", "project_type": "waterfall"}, "project_type"),
    ({"project_name": "ok", "project_type": "scrum", "description": "d" * 1001}, "description"),
    ({"project_name": "ok", "project_type": "scrum", "source": "x" * 65}, "source"),
    ({"project_name": "ok", "project_type": "scrum", "source": "bad\x07"}, "source"),
    ({"project_name": "ok", "project_type": "scrum", "enterprise_id": "no spaces"}, "enterprise_id"),
    ({"project_name": "ok", "project_type": "ipd"}, "template_id"),
    ({"project_name": "ok", "project_type": "ipd", "template_id": 10004}, "template_id"),
    ({"project_name": "ok", "project_type": "ipd", "template_id": "10001"}, "template_id"),
])
def test_create_validation_names_the_field(cast, body, field):
    before = cast.owner.call("GET", "/v4/projects", params={"limit": 1000}).json()["total"]
    r = cast.owner.call("POST", "/v4/project", json=body)
    assert error_of(r) == (400, PM_BAD)
    assert set(r.json()) == {"error_code", "error_msg"} and field in r.json()["error_msg"]
    assert len(r.headers["x-request-id"]) == 32
    assert cast.owner.call("GET", "/v4/projects", params={"limit": 1000}).json()["total"] == before


def test_create_limits_defaults_and_unique_names(cast):
    name = "x" * 128
    suffix = secrets.token_hex(2)
    made = new_project(cast.owner, name=f"  {name[:-4]}{suffix}  ", project_type="ipd", template_id=10002,
                       description="", source="AGC 华为, v1.0 (test)", enterprise_id="ep-1", unknown="ignored",
                       archive=None)
    assert made["project_name"] == f"{name[:-4]}{suffix}" and made["project_type"] == "ipd"
    shown = cast.owner.call("GET", f"/v4/projects/{made['project_id']}").json()["project"]
    assert shown["enterprise_id"] == "ep-1" and shown["project_code"] is None and shown["archive"] == 1
    for t in ("scrum", "normal", "xboard", "basic", "phoenix"):
        assert new_project(cast.owner, project_type=t, template_id="ignored for non-ipd")["project_type"] == t
    clash = cast.owner.call("POST", "/v4/project", json={"project_name": f" {made['project_name']}", "project_type": "scrum"})
    assert error_of(clash) == (400, PM_BAD) and "exists" in clash.json()["error_msg"]
    # names are per account and case-sensitive
    assert new_project(cast.owner, name=made["project_name"].upper())
    assert new_project(cast.other.owner, name=made["project_name"])
    for raw in (b"", b"not json", b"[1]", b'"text"'):
        r = cast.owner.call("POST", "/v4/project", content=raw, headers={"Content-Type": "application/json"})
        assert error_of(r) == (400, PM_BAD)
    r = cast.owner.call("POST", "/v4/projects/check-name", json={"project_name": made["project_name"]},
                        headers={"Content-Type": "application/json;charset=utf-8"})
    assert r.status_code == 200 and r.json() == {"exist": True}
    r = cast.other.owner.call("POST", "/v4/projects/check-name", json={"project_name": f"free-{secrets.token_hex(4)}"})
    assert r.json() == {"exist": False}


def test_project_creators_setting(server):
    from codearts_helpers import Tenant

    tenant = Tenant(server)
    user, admin = tenant.user("maker"), tenant.user("boss", admin=True)
    body = {"project_name": "by-user", "project_type": "scrum"}
    assert error_of(user.call("POST", "/v4/project", json=body)) == (400, PM_DENIED)  # default: selected, nobody
    assert admin.call("POST", "/v4/project", json={**body, "project_name": "by-admin"}).status_code == 200
    creators = f"/devuc/v1/domains/{tenant.account_id}/project-creators"
    assert error_of(user.call("GET", creators)) == (401, "UC.00011003")
    assert error_of(user.call("PUT", creators, json={"project_creation": "all"})) == (401, "UC.00011003")
    r = tenant.owner.call("PUT", creators, json={"project_creators": [user.user_id]})
    assert r.status_code == 200 and r.json() == {
        "domain_id": tenant.account_id, "project_creation": "selected", "project_creators": [user.user_id]}
    assert user.call("POST", "/v4/project", json=body).status_code == 200
    r = admin.call("PUT", creators, json={"project_creators": []})
    assert r.json()["project_creators"] == []
    assert error_of(user.call("POST", "/v4/project", json={**body, "project_name": "again"})) == (400, PM_DENIED)
    assert admin.call("PUT", creators, json={"project_creation": "all"}).json()["project_creation"] == "all"
    assert user.call("POST", "/v4/project", json={**body, "project_name": "again"}).status_code == 200
    stranger = Tenant(server)
    assert error_of(stranger.owner.call("GET", creators)) == (401, "UC.00011003")
    bad = tenant.owner.call("PUT", creators, json={"project_creation": "some"})
    assert error_of(bad) == (400, "UC.00011002") and "project_creation" in bad.json()["error_msg"]
    foreign = tenant.owner.call("PUT", creators, json={"project_creators": [stranger.owner.user_id]})
    assert error_of(foreign) == (400, "UC.00011181")
    assert tenant.owner.call("GET", creators).json()["project_creation"] == "all"


# --- list and show ---------------------------------------------------------------------------


def test_list_paging_filters_sorting_and_query_types(cast):
    tag = secrets.token_hex(3)
    made = [new_project(cast.owner, name=f"lst-{tag}-{i}", description=f"Needle{tag}" if i == 2 else "",
                        project_type="xboard" if i == 1 else "scrum") for i in range(4)]
    ids = [p["project_id"] for p in made]

    def listing(actor=cast.owner, **params):
        r = actor.call("GET", "/v4/projects", params={"search": f"-{tag}-", **params})
        assert r.status_code == 200, r.text
        return r.json()

    assert listing()["total"] == 4
    assert [p["project_id"] for p in listing()["projects"]] == ids[::-1]  # newest first by default
    assert [p["project_id"] for p in listing(sort="created_on:asc")["projects"]] == ids
    assert [p["project_id"] for p in listing(sort="name:desc")["projects"]] == ids[::-1]
    assert [p["project_id"] for p in listing(sort="")["projects"]] == ids[::-1]
    page = listing(limit=3, offset=3)
    assert page["total"] == 4 and [p["project_id"] for p in page["projects"]] == [ids[0]]
    assert listing(limit=2, offset=1)["projects"][0]["project_id"] == ids[2]  # a plain record offset
    assert listing(offset=100) == {"projects": [], "total": 4}
    assert [p["project_id"] for p in listing(project_type="xboard")["projects"]] == [ids[1]]
    needle = cast.owner.call("GET", "/v4/projects", params={"search": f"needle{tag.upper()}"}).json()
    assert [p["project_id"] for p in needle["projects"]] == [ids[2]]
    assert cast.owner.call("GET", "/v4/projects", params={"search": "%_%" + tag}).json()["total"] == 0
    assert listing(archive="true")["total"] == 0 and listing(archive="false")["total"] == 4
    item = listing()["projects"][0]
    assert set(item) == {"project_num_id", "project_id", "project_name", "description", "created_time",
                         "updated_time", "project_type", "creator"}
    assert set(item["creator"]) == {"user_num_id", "user_id", "user_name", "domain_id", "domain_name", "nick_name"}
    ten = cast.owner.call("GET", "/v4/projects").json()
    assert len(ten["projects"]) == min(10, ten["total"])

    # the plain user of the account is no member: not listed by default, listed in the others
    assert listing(cast.plain)["total"] == 0
    assert listing(cast.plain, query_type="domain_projects")["total"] == 4
    assert listing(cast.plain, query_type="absent")["total"] == 4
    assert listing(query_type="absent")["total"] == 0
    assert add(cast.owner, ids[0], cast.plain, 8).status_code == 204
    assert listing(cast.plain)["total"] == 1 and listing(cast.plain, query_type="absent")["total"] == 3
    r = cast.plain.call("GET", "/v4/projects/domain/not-added", params={"limit": 100})
    assert r.status_code == 200 and ids[0] not in {p["project_id"] for p in r.json()["projects"]}
    assert error_of(cast.plain.call("GET", "/v4/projects/domain/not-added", params={"limit": 101})) == (400, PM_BAD)
    # another account sees none of them, whatever it asks
    for qt in (None, "domain_projects", "absent"):
        params = {"query_type": qt} if qt else {}
        assert listing(cast.other.owner, **params)["total"] == 0


@pytest.mark.parametrize("params,name", [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"), ({"limit": ""}, "limit"),
    ({"offset": "-1"}, "offset"), ({"offset": "10001"}, "offset"), ({"offset": "1.5"}, "offset"),
    ({"sort": "name"}, "sort"), ({"sort": "owner:asc"}, "sort"), ({"sort": "name:up"}, "sort"),
    ({"archive": "yes"}, "archive"), ({"query_type": "all"}, "query_type"), ({"project_type": "waterfall"}, "project_type"),
])
def test_list_rejects_bad_query_values(cast, params, name):
    r = cast.owner.call("GET", "/v4/projects", params=params)
    assert error_of(r) == (400, PM_BAD) and name in r.json()["error_msg"]


def test_who_sees_a_project(cast):
    pid = team(cast, dev=4)["project_id"]
    assert cast.dev.call("GET", f"/v4/projects/{pid}").status_code == 200
    assert cast.owner.call("GET", f"/v4/projects/{pid.upper()}").status_code == 200
    assert cast.admin.call("GET", f"/v4/projects/{pid}").status_code == 200  # te_admin, not a member
    assert error_of(cast.plain.call("GET", f"/v4/projects/{pid}")) == (400, PM_DENIED)
    hidden = cast.other.owner.call("GET", f"/v4/projects/{pid}")
    unknown = cast.other.owner.call("GET", f"/v4/projects/{'b' * 32}")
    assert error_of(hidden) == error_of(unknown) == (400, PM_GONE)
    assert error_of(cast.owner.call("GET", "/v4/projects/short")) == (400, PM_BAD)
    assert error_of(cast.owner.call("GET", f"/v4/projects/{'g' * 31}-")) == (400, PM_BAD)
    for path in ("members", "user-role"):
        assert error_of(cast.other.owner.call("GET", f"/v4/projects/{pid}/{path}")) == (400, PM_GONE)
    assert error_of(cast.plain.call("GET", f"/v4/projects/{pid}/members")) == (400, PM_DENIED)
    assert error_of(cast.plain.call("GET", f"/v4/projects/{pid}/user-role")) == (400, "PM.02150010")
    assert error_of(cast.admin.call("GET", f"/v4/projects/{pid}/user-role")) == (400, "PM.02150010")
    assert cast.admin.call("GET", f"/v4/projects/{pid}/members").status_code == 200


def test_update_and_delete_rights(cast):
    project = team(cast, pm=3, dev=4)
    pid = project["project_id"]
    other_name = new_project(cast.owner)["project_name"]
    assert error_of(cast.dev.call("PUT", f"/v4/projects/{pid}", json={"project_name": "dev-rename"})) == (400, PM_DENIED)
    assert error_of(cast.plain.call("PUT", f"/v4/projects/{pid}", json={"project_name": "x"})) == (400, PM_DENIED)
    assert error_of(cast.other.owner.call("PUT", f"/v4/projects/{pid}", json={"project_name": "x"})) == (400, PM_GONE)
    assert error_of(cast.pm.call("PUT", f"/v4/projects/{pid}", json={"description": "no name"})) == (400, PM_BAD)
    assert error_of(cast.pm.call("PUT", f"/v4/projects/{pid}", json={"project_name": other_name})) == (400, PM_BAD)
    r = cast.pm.call("PUT", f"/v4/projects/{pid}", json={"project_name": project["project_name"], "description": "by pm"})
    assert r.status_code == 204 and r.content == b""

    def description():
        found = cast.owner.call("GET", "/v4/projects", params={"search": project["project_name"]}).json()["projects"]
        return next(p["description"] for p in found if p["project_id"] == pid)

    assert description() == "by pm"
    cast.admin.call("PUT", f"/v4/projects/{pid}", json={"project_name": project["project_name"] + "2"})
    assert description() == "by pm"  # absent: kept
    cast.owner.call("PUT", f"/v4/projects/{pid}", json={"project_name": project["project_name"], "description": ""})
    assert description() == ""

    assert error_of(cast.pm.call("DELETE", f"/v4/projects/{pid}")) == (400, PM_DENIED)
    assert error_of(cast.other.owner.call("DELETE", f"/v4/projects/{pid}")) == (400, PM_GONE)
    assert cast.admin.call("DELETE", f"/v4/projects/{pid}").status_code == 204  # te_admin, not a member
    for method, path in (("GET", ""), ("GET", "/members"), ("PUT", ""), ("DELETE", ""), ("GET", "/user-role")):
        kw = {"json": {"project_name": "x"}} if method == "PUT" else {}
        assert error_of(cast.owner.call(method, f"/v4/projects/{pid}{path}", **kw)) == (400, PM_GONE)
    assert cast.pm.call("GET", "/v4/projects", params={"search": project["project_name"]}).json()["total"] == 0


# --- members ---------------------------------------------------------------------------------


def test_add_member_rules(cast):
    pid = team(cast, pm=3, tm=5, dev=4)["project_id"]
    url = f"/v4/projects/{pid}/member"
    me = cast.owner
    for body, code, field in [
        ({"domain_id": me.account_id}, PM_BAD, "user_id"),
        ({"user_id": cast.viewer.user_id}, PM_BAD, "domain_id"),
        ({"user_id": cast.viewer.user_id.upper(), "domain_id": me.account_id}, PM_BAD, "user_id"),
        ({"user_id": cast.viewer.user_id, "domain_id": me.account_id, "role_id": "4"}, PM_BAD, "role_id"),
        ({"user_id": cast.viewer.user_id, "domain_id": me.account_id, "role_id": 12}, "PM.02150303", "12"),
        ({"user_id": cast.viewer.user_id, "domain_id": me.account_id, "role_id": 500}, "PM.02150303", "500"),
        ({"user_id": cast.viewer.user_id, "domain_id": me.account_id, "role_id": -1}, "PM.02150302", "-1"),
        ({"user_id": "0" * 32, "domain_id": me.account_id}, PM_BAD, "user_id"),
        ({"user_id": cast.foreign.user_id, "domain_id": me.account_id}, PM_BAD, "user_id"),
        ({"user_id": cast.foreign.user_id, "domain_id": cast.other.account_id}, PM_BAD, "domain_name"),
        ({"user_id": cast.foreign.user_id, "domain_id": cast.other.account_id, "domain_name": "wrong"}, PM_BAD, "domain_name"),
        ({"user_id": cast.disabled.user_id, "domain_id": me.account_id}, PM_BAD, "disabled"),
    ]:
        r = me.call("POST", url, json=body)
        assert error_of(r) == (400, code), (body, r.text)
        assert field in r.json()["error_msg"]
    # rank rule: a project manager grants below itself only, a test manager rank-4 roles only
    assert error_of(add(cast.pm, pid, cast.viewer, 3)) == (400, PM_DENIED)
    assert error_of(add(cast.tm, pid, cast.viewer, 5)) == (400, PM_DENIED)
    assert error_of(add(cast.dev, pid, cast.viewer, 8)) == (400, PM_DENIED)
    assert error_of(add(cast.plain, pid, cast.viewer, 8)) == (400, PM_DENIED)
    assert members_of(me, pid) == {me.user_id: -1, cast.pm.user_id: 3, cast.tm.user_id: 5, cast.dev.user_id: 4}

    assert add(cast.tm, pid, cast.viewer).status_code == 204  # default role: participant
    assert add(cast.pm, pid, cast.viewer, 5).status_code == 204  # already a member: unchanged
    assert members_of(me, pid)[cast.viewer.user_id] == 7
    for role in (9, 10, 11):
        p2 = new_project(me)["project_id"]
        assert add(me, p2, cast.viewer, role).status_code == 204
        assert members_of(me, p2)[cast.viewer.user_id] == role
    # another account's user joins with the right account name, and then sees the project
    r = me.call("POST", url, json={"user_id": cast.foreign.user_id, "domain_id": cast.other.account_id,
                                   "domain_name": cast.other.account_name, "role_id": 6})
    assert r.status_code == 204, r.text
    listed = cast.foreign.call("GET", "/v4/projects").json()
    assert pid in {p["project_id"] for p in listed["projects"]}
    assert cast.foreign.call("GET", f"/v4/projects/{pid}/user-role").json() == {"user_role": 6}
    member = next(m for m in me.call("GET", f"/v4/projects/{pid}/members").json()["members"]
                  if m["user_id"] == cast.foreign.user_id)
    assert member["domain_id"] == cast.other.account_id and member["domain_name"] == cast.other.account_name
    assert pid not in {p["project_id"] for p in cast.foreign.call(
        "GET", "/v4/projects", params={"query_type": "domain_projects"}).json()["projects"]}


def test_batch_add_rules(cast):
    pid = team(cast, tm=5)["project_id"]
    url = f"/v4/projects/{pid}/members"
    for body, field in [({}, "users"), ({"users": []}, "users"), ({"users": "x"}, "users"),
                        ({"users": [{"user_id": cast.dev.user_id}] * 51}, "users"),
                        ({"users": [5]}, "users[0]"), ({"users": [{"role_id": 4}]}, "users[0].user_id"),
                        ({"users": [{"user_id": cast.dev.user_id, "role_id": 4.5}]}, "users[0].role_id")]:
        r = cast.tm.call("POST", url, json=body)
        assert error_of(r) == (400, PM_BAD) and field in r.json()["error_msg"], body
    assert error_of(cast.plain.call("POST", url, json={"users": [{"user_id": cast.dev.user_id}]})) == (400, PM_DENIED)
    assert len(members_of(cast.owner, pid)) == 2
    r = cast.tm.call("POST", url, json={"users": [
        {"user_id": cast.dev.user_id, "role_id": 4},
        {"user_id": cast.dev.user_id, "role_id": 8},  # a repeat: the first wins
        {"user_id": cast.pm.user_id, "role_id": 3},  # above the test manager: participant
        {"user_id": cast.viewer.user_id, "role_id": -1},  # never the creator role: participant
        {"user_id": cast.tester.user_id, "role_id": 77},  # no such role: participant
        {"user_id": cast.extra.user_id, "role_id": None},
        {"user_id": cast.foreign.user_id, "role_id": 4},  # another account: skipped
        {"user_id": cast.disabled.user_id, "role_id": 4},  # disabled: skipped
        {"user_id": "not-an-id"},  # malformed: skipped
        {"user_id": cast.tm.user_id, "role_id": 8},  # already a member: unchanged
    ]})
    assert r.status_code == 204, r.text
    assert members_of(cast.owner, pid) == {
        cast.owner.user_id: -1, cast.tm.user_id: 5, cast.dev.user_id: 4, cast.pm.user_id: 7,
        cast.viewer.user_id: 7, cast.tester.user_id: 7, cast.extra.user_id: 7,
    }


def test_member_list_paging_and_shape(cast):
    pid = team(cast, pm=3, tm=5, dev=4, viewer=8, tester=6)["project_id"]
    url = f"/v4/projects/{pid}/members"
    everyone = cast.dev.call("GET", url).json()
    assert everyone["total"] == 6 and len(everyone["members"]) == 6
    assert [m["user_id"] for m in everyone["members"]][:2] == [cast.owner.user_id, cast.pm.user_id]
    assert set(everyone["members"][0]) == {"domain_id", "domain_name", "user_id", "user_name", "user_num_id",
                                           "role_id", "role_name", "nick_name", "user_type", "forbidden"}
    assert [m["role_name"] for m in everyone["members"]] == ["项目创建者", "项目经理", "测试经理", "开发人员", "浏览者", "测试人员"]
    pages = [cast.dev.call("GET", url, params={"limit": 2, "offset": o}).json() for o in (0, 2, 4, 6)]
    assert [m["user_id"] for p in pages for m in p["members"]] == [m["user_id"] for m in everyone["members"]]
    assert all(p["total"] == 6 for p in pages) and pages[-1]["members"] == []
    assert len(cast.dev.call("GET", url, params={"limit": 1000}).json()["members"]) == 6
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"offset": 10001}, {"limit": "x"}):
        assert error_of(cast.dev.call("GET", url, params=params)) == (400, PM_BAD)


def test_batch_delete_rules_and_all_or_nothing(cast):
    pid = team(cast, pm=3, tm=5, dev=4, viewer=8, tester=6)["project_id"]
    url = f"/v4/projects/{pid}/members"
    start = members_of(cast.owner, pid)

    def delete(actor, ids, **kw):
        return actor.call("DELETE", url, json={"user_ids": ids}, **kw)

    for body in ({}, {"user_ids": []}, {"user_ids": [cast.dev.user_id] * 51}, {"user_ids": ["short"]},
                 {"user_ids": [7]}, {"user_ids": cast.dev.user_id}):
        assert error_of(cast.owner.call("DELETE", url, json=body)) == (400, PM_BAD)
    assert error_of(delete(cast.dev, [cast.viewer.user_id])) == (400, PM_DENIED)
    assert error_of(delete(cast.pm, [cast.owner.user_id])) == (400, "PM.02150301")
    assert error_of(delete(cast.owner, [cast.owner.user_id])) == (400, "PM.02150301")
    assert error_of(delete(cast.pm, [cast.viewer.user_id, cast.owner.user_id])) == (400, "PM.02150301")
    assert error_of(delete(cast.tm, [cast.viewer.user_id, cast.pm.user_id])) == (400, PM_DENIED)  # rank
    assert error_of(delete(cast.other.owner, [cast.viewer.user_id])) == (400, PM_GONE)
    assert members_of(cast.owner, pid) == start  # every refusal changed nothing

    r = delete(cast.tm, [cast.viewer.user_id, cast.foreign.user_id, "f" * 32],
               headers={"Content-Type": "application/json;charset=utf-8"})
    assert r.status_code == 204, r.text
    assert delete(cast.tester, [cast.tester.user_id]).status_code == 204  # leaving through this API
    assert delete(cast.pm, [cast.tm.user_id]).status_code == 204
    assert set(members_of(cast.owner, pid)) == {cast.owner.user_id, cast.pm.user_id, cast.dev.user_id}
    assert delete(cast.admin, [cast.pm.user_id]).status_code == 204  # te_admin acts as the creator
    assert cast.dev.call("DELETE", f"/v4/projects/{pid}/quit").status_code == 204
    assert error_of(cast.dev.call("DELETE", f"/v4/projects/{pid}/quit")) == (400, "PM.02150010")
    assert error_of(cast.owner.call("DELETE", f"/v4/projects/{pid}/quit")) == (400, "PM.02150301")
    assert members_of(cast.owner, pid) == {cast.owner.user_id: -1}


def test_change_role_rules(cast):
    pid = team(cast, pm=3, tm=5, dev=4, viewer=8)["project_id"]
    url = f"/v4/projects/{pid}/members/role"
    start = members_of(cast.owner, pid)

    def change(actor, role, ids):
        return actor.call("POST", url, json={"role_id": role, "user_ids": ids})

    for body in ({"user_ids": [cast.dev.user_id]}, {"role_id": 6}, {"role_id": 6, "user_ids": []},
                 {"role_id": "6", "user_ids": [cast.dev.user_id]}, {"role_id": 6, "user_ids": [cast.dev.user_id] * 51}):
        assert error_of(cast.owner.call("POST", url, json=body)) == (400, PM_BAD)
    assert error_of(change(cast.dev, 6, [cast.viewer.user_id])) == (400, PM_DENIED)
    assert error_of(change(cast.owner, 6, [cast.viewer.user_id, cast.plain.user_id])) == (400, "PM.02150010")
    assert error_of(change(cast.owner, 42, [cast.viewer.user_id])) == (400, "PM.02150303")
    assert error_of(change(cast.owner, -1, [cast.viewer.user_id])) == (400, "PM.02150302")
    assert error_of(change(cast.owner, 3, [cast.owner.user_id])) == (400, "PM.02150302")
    assert error_of(change(cast.tm, 3, [cast.viewer.user_id])) == (400, PM_DENIED)  # above itself
    assert error_of(change(cast.tm, 6, [cast.viewer.user_id, cast.pm.user_id])) == (400, PM_DENIED)  # a PM
    assert members_of(cast.owner, pid) == start
    assert change(cast.tm, 8, [cast.viewer.user_id]).status_code == 204  # no change: fine
    assert change(cast.tm, 6, [cast.viewer.user_id, cast.dev.user_id]).status_code == 204
    assert change(cast.owner, 10, [cast.pm.user_id]).status_code == 204
    assert members_of(cast.owner, pid) == {
        cast.owner.user_id: -1, cast.pm.user_id: 10, cast.tm.user_id: 5, cast.viewer.user_id: 6, cast.dev.user_id: 6}
    # the former project manager lost its rights with its role, on the very next request
    assert error_of(add(cast.pm, pid, cast.tester, 4)) == (400, PM_DENIED)


def test_current_user_and_nicknames(cast):
    me = cast.viewer.call("GET", "/v4/user")
    assert me.status_code == 200
    body = me.json()
    assert body["user_id"] == cast.viewer.user_id and body["domain_name"] == cast.tenant.account_name
    assert isinstance(body["user_num_id"], int) and body["user_type"] == "User"
    assert cast.viewer.call("GET", "/v4/user").json()["user_num_id"] == body["user_num_id"]
    for bad in ({}, {"nick_name": ""}, {"nick_name": "   "}, {"nick_name": "n" * 129}, {"nick_name": 3}):
        assert error_of(cast.viewer.call("PUT", "/v4/user", json=bad)) == (400, PM_BAD)
    assert cast.viewer.call("GET", "/v4/user").json()["nick_name"] == body["nick_name"]
    url = "/v4/domain/child-users"
    nick = f"Vi {secrets.token_hex(2)}"
    assert error_of(cast.dev.call("PUT", url, json={"users": [{"user_id": cast.viewer.user_id, "nick_name": "x"}]})) == (400, PM_DENIED)
    bad = cast.owner.call("PUT", url, json={"users": [{"user_id": cast.viewer.user_id, "nick_name": nick},
                                                      {"user_id": cast.foreign.user_id, "nick_name": "y"}]})
    assert error_of(bad) == (400, PM_BAD) and "users[1].user_id" in bad.json()["error_msg"]
    assert cast.viewer.call("GET", "/v4/user").json()["nick_name"] != nick  # all or nothing
    assert cast.owner.call("PUT", url, json={"users": [{"user_id": cast.viewer.user_id, "nick_name": nick}]}).status_code == 204
    after = cast.viewer.call("GET", "/v4/user").json()
    assert after["nick_name"] == nick and after["updated_time"] >= after["created_time"]


# --- Build -----------------------------------------------------------------------------------


def test_build_permission_http_shape_and_scopes(cast, server):
    pid = team(cast, dev=4)["project_id"]
    r = cast.dev.call("GET", "/v1/domain/user-permission", params={"project_id": pid})
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["result", "error", "status"] and body["error"] is None and body["status"] == "success"
    assert list(body["result"]) == [
        "project_id", "create_permission", "modify_permission", "group_permission", "delete_permission",
        "view_permission", "execute_permission", "copy_permission", "forbidden_permission", "manager_permission",
        "role_id", "role_name", "role_ids", "role_names"]
    assert body["result"]["role_id"] == "4" and body["result"]["role_ids"] == ["4"]
    for params, code in (({}, "CB.00060200"), ({"project_id": ""}, "CB.00060200"),
                         ({"project_id": pid.upper()}, "CB.00060200"), ({"project_id": pid[:-1]}, "CB.00060200")):
        r = cast.dev.call("GET", "/v1/domain/user-permission", params=params)
        assert error_of(r) == (400, code) and set(r.json()) == {"error_code", "error_msg"}
    assert error_of(cast.dev.call("GET", "/v1/domain/user-permission", params={"project_id": "c" * 32})) == (404, "CB.00060214")
    # a te_admin who is no member, and a plain user of the account: 200, everything false
    for actor in (cast.admin, cast.plain):
        result = actor.call("GET", "/v1/domain/user-permission", params={"project_id": pid}).json()["result"]
        assert not any(v for k, v in result.items() if k.endswith("_permission"))
        assert result["role_ids"] == [] and result["role_id"] is None
    # Build wants a token scoped to a region project; ProjectMan takes a domain-scoped one
    domain_token = cast.dev.token(project=None)
    with server.client() as c:
        r = c.get("/v1/domain/user-permission", params={"project_id": pid}, headers={"X-Auth-Token": domain_token})
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
        assert c.get(f"/v4/projects/{pid}", headers={"X-Auth-Token": domain_token}).status_code == 200
        assert c.get("/v1/domain/user-permission", params={"project_id": pid}).status_code == 401
        r = c.get(f"/v4/projects/{pid}", headers={"X-Auth-Token": cast.dev.token(), "Content-Type": "application/json"})
        assert r.status_code == 200  # a GET with a content type and no body



def test_concurrent_changes_leave_one_role_per_member(cast, server):
    from concurrent.futures import ThreadPoolExecutor

    pid = new_project(cast.owner)["project_id"]
    token = cast.owner.token()

    def post(path, body):
        with server.client() as c:
            return c.post(f"/v4/projects/{pid}/{path}", json=body, headers={"X-Auth-Token": token}).status_code

    adds = [("member", {"user_id": cast.dev.user_id, "domain_id": cast.owner.account_id, "role_id": r})
            for r in (4, 6, 7, 8, 9, 10)]
    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(lambda a: post(*a), adds)) == {204}
        changes = [("members/role", {"role_id": r, "user_ids": [cast.dev.user_id]}) for r in (4, 6, 7, 8, 9, 10) * 2]
        assert set(pool.map(lambda a: post(*a), changes)) == {204}
    roles = cast.owner.call("GET", f"/devuc/v1/projects/{pid}/members/{cast.dev.user_id}/roles").json()["roles"]
    assert len(roles) == 1
    assert members_of(cast.owner, pid)[cast.dev.user_id] == roles[0]["projectman_role_id"]


def test_text_that_no_backend_can_store_is_refused(cast):
    pid = new_project(cast.owner)["project_id"]
    for body, field in [
        ('{"project_name": "a\\u0000b", "project_type": "scrum"}', "project_name"),
        ('{"project_name": "ok", "project_type": "scrum", "description": "\\ud800"}', "description"),
    ]:
        r = cast.owner.call("POST", "/v4/project", content=body.encode(), headers={"Content-Type": "application/json"})
        assert error_of(r) == (400, PM_BAD) and field in r.json()["error_msg"]
    r = cast.owner.call("PUT", "/v4/user", content=b'{"nick_name": "x\\u0000"}', headers={"Content-Type": "application/json"})
    assert error_of(r) == (400, PM_BAD)
    r = cast.owner.call("PUT", f"/v4/projects/{pid}", content=b'{"project_name": "\\udfff"}',
                        headers={"Content-Type": "application/json"})
    assert error_of(r) == (400, PM_BAD)
    assert error_of(cast.owner.call("GET", "/v4/projects?search=a%00b")) == (400, PM_BAD)
    assert error_of(cast.owner.call("GET", "/v4/projects", params={"search": "s" * 257})) == (400, PM_BAD)
    r = cast.owner.call("POST", f"/devuc/v1/projects/{pid}/roles", content=b'{"name": "r\\u0000"}',
                        headers={"Content-Type": "application/json"})
    assert error_of(r) == (400, "UC.00011002")
