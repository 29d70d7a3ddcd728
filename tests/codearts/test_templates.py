"""Permission templates (codearts-uc.md §5.5, a devuc extension) against a real `devuc serve`, on
SQLite and on PostgreSQL: made from a project, changed on their own, applied to other projects
of the same type, with the User Center's template codes."""

from __future__ import annotations

import secrets

import pytest

from codearts_helpers import DEVUC_IDS, Tenant, add, error_of, new_project

TEMPLATES = "/devuc/v1/permission-templates"


def roles_by_name(answer: dict) -> dict:
    return {r["name"]: r for r in answer["roles"]}


def make(actor, project_id: str, name: str | None = None, **extra):
    return actor.call("POST", TEMPLATES, json={"name": name or f"T{secrets.token_hex(4)}",
                                               "project_id": project_id, **extra})


def source_project(owner) -> str:
    """A project with a custom role that may run and view, and viewers who may also clone."""
    source = new_project(owner)["project_id"]
    r = owner.call("POST", f"/devuc/v1/projects/{source}/roles", json={"name": "Release runner"})
    assert r.status_code == 201, r.text
    runner = r.json()["role_id"]
    r = owner.call("PATCH", f"/devuc/v1/projects/{source}/permissions", json={"roles": [
        {"role_id": runner, "permissions": {"build": {"execute": True, "view": True}}},
        {"role_id": DEVUC_IDS["viewer"], "permissions": {"build": {"copy": True}}},
    ]})
    assert r.status_code == 200, r.text
    return source


@pytest.fixture(scope="module")
def scene(server):
    tenant = Tenant(server)
    return {"server": server, "tenant": tenant, "owner": tenant.owner, "pm": tenant.user("pm"),
            "viewer": tenant.user("viewer"), "other": Tenant(server)}


def test_a_template_copies_the_project_and_keeps_its_copy(scene):
    owner, source = scene["owner"], source_project(scene["owner"])
    r = make(owner, source, "Delivery", description="roles for delivery (v2), etc.")
    assert r.status_code == 201, r.text
    template = r.json()
    assert template["name"] == "Delivery" and template["project_type"] == "scrum"
    assert template["source_project_id"] == source and template["domain_id"] == scene["tenant"].account_id
    roles = roles_by_name(template)
    assert roles["Release runner"]["type"] == "custom" and roles["Release runner"]["role_id"] != DEVUC_IDS["viewer"]
    assert roles["Release runner"]["permissions"]["build"]["execute"] is True
    assert roles["浏览者"]["permissions"]["build"]["copy"] is True
    assert roles["项目创建者"]["locked"] == ["build", "devuc"]
    assert len(template["roles"]) == 13  # the twelve system roles and the custom one

    # the project changes; the template does not
    r = owner.call("PATCH", f"/devuc/v1/projects/{source}/roles/{DEVUC_IDS['viewer']}/permissions",
                   json={"permissions": {"build": {"delete": True}}})
    assert r.status_code == 200, r.text
    shown = owner.call("GET", f"{TEMPLATES}/{template['template_id']}").json()
    assert roles_by_name(shown)["浏览者"]["permissions"]["build"]["delete"] is False

    # one template per project; names are unique in the account
    assert error_of(make(owner, source)) == (400, "UC.00011039")
    second = new_project(owner)["project_id"]
    assert error_of(make(owner, second, "Delivery")) == (400, "UC.00011041")
    listed = owner.call("GET", TEMPLATES).json()
    assert "Delivery" in [t["name"] for t in listed["templates"]] and listed["total"] == len(listed["templates"])
    assert all("roles" not in t for t in listed["templates"])
    assert owner.call("GET", TEMPLATES, params={"project_type": "normal"}).json()["total"] == 0


def test_bad_input_names_the_field(scene):
    owner = scene["owner"]
    project = new_project(owner)["project_id"]
    for body, field in (
        ({"name": "has space", "project_id": project}, "name"),
        ({"name": "x" * 65, "project_id": project}, "name"),
        ({"project_id": project}, "name"),
        ({"name": "Ok", "project_id": project, "description": "semi;colon"}, "description"),
        ({"name": "Ok", "project_id": project, "description": "d" * 257}, "description"),
        ({"name": "Ok"}, "project_id"),
        ({"name": "Ok", "project_id": "short"}, "project_id"),
    ):
        r = owner.call("POST", TEMPLATES, json=body)
        assert error_of(r) == (400, "UC.00011002"), (body, r.text)
        assert field in r.json()["error_msg"], (body, r.text)
    r = owner.call("POST", TEMPLATES, content=b"[]", headers={"Content-Type": "application/json"})
    assert error_of(r) == (400, "UC.00011001")
    assert error_of(owner.call("GET", f"{TEMPLATES}/not-an-id")) == (400, "UC.00011002")
    assert error_of(owner.call("GET", f"{TEMPLATES}/{'0' * 32}")) == (400, "UC.00011038")
    assert owner.call("GET", TEMPLATES).json()["total"] == len(owner.call("GET", TEMPLATES).json()["templates"])
    # Chinese letters are letters
    r = make(owner, project, "交付模板", description="用于交付，第二版")
    assert r.status_code == 201, r.text
    assert owner.call("DELETE", f"{TEMPLATES}/{r.json()['template_id']}").status_code == 204


def test_who_may_make_change_read_and_apply(scene):
    owner, pm, viewer, other = scene["owner"], scene["pm"], scene["viewer"], scene["other"]
    project = new_project(owner)["project_id"]
    assert add(owner, project, pm, 3).status_code == 204
    assert add(owner, project, viewer, 8).status_code == 204
    # only the owner and Tenant Administrators make, change and delete templates
    assert error_of(make(pm, project)) == (401, "UC.00011003")
    r = make(owner, project)
    assert r.status_code == 201, r.text
    tid = r.json()["template_id"]
    url = f"{TEMPLATES}/{tid}"
    assert error_of(pm.call("PUT", url, json={"name": "Mine"})) == (401, "UC.00011003")
    assert error_of(pm.call("DELETE", url)) == (401, "UC.00011003")
    assert error_of(pm.call("PATCH", f"{url}/roles/{DEVUC_IDS['viewer']}/permissions",
                            json={"permissions": {"build": {"view": False}}})) == (401, "UC.00011003")
    # every user of the account reads them
    assert pm.call("GET", url).status_code == 200 and viewer.call("GET", TEMPLATES).json()["total"] >= 1
    # another account sees none of them
    stranger = other.owner
    assert error_of(stranger.call("GET", url)) == (400, "UC.00011038")
    assert tid not in str(stranger.call("GET", TEMPLATES).json())
    assert error_of(stranger.call("DELETE", url)) == (400, "UC.00011038")
    theirs = new_project(stranger)["project_id"]
    assert error_of(stranger.call("POST", f"/devuc/v1/projects/{theirs}/permission-template",
                                  json={"template_id": tid})) == (400, "UC.00011038")
    # applying needs the right to set the project's role permissions
    target = new_project(owner)["project_id"]
    assert add(owner, target, viewer, 8).status_code == 204
    assert error_of(viewer.call("POST", f"/devuc/v1/projects/{target}/permission-template",
                                json={"template_id": tid})) == (401, "UC.00011003")
    r = owner.call("PUT", url, json={"name": "Renamed", "description": "new words"})
    assert r.status_code == 200 and (r.json()["name"], r.json()["description"]) == ("Renamed", "new words")
    assert owner.call("DELETE", url).status_code == 204
    assert error_of(owner.call("GET", url)) == (400, "UC.00011038")


def test_change_a_template_role_then_apply_it(scene):
    owner, viewer, source = scene["owner"], scene["viewer"], source_project(scene["owner"])
    r = make(owner, source)
    assert r.status_code == 201, r.text
    tid = r.json()["template_id"]
    url = f"{TEMPLATES}/{tid}"
    r = owner.call("PATCH", f"{url}/roles/{DEVUC_IDS['viewer']}/permissions",
                   json={"permissions": {"build": {"execute": True}}})
    assert r.status_code == 200, r.text
    assert r.json()["permissions"]["build"] == {**r.json()["permissions"]["build"], "execute": True, "copy": True}
    # locked rows stay as they are; the same value is no change
    admin = DEVUC_IDS["admin"]
    assert error_of(owner.call("PATCH", f"{url}/roles/{admin}/permissions",
                               json={"permissions": {"build": {"view": False}}})) == (401, "UC.00011043")
    assert owner.call("PATCH", f"{url}/roles/{admin}/permissions",
                      json={"permissions": {"build": {"view": True}}}).status_code == 200
    assert error_of(owner.call("PATCH", f"{url}/roles/{'a' * 32}/permissions",
                               json={"permissions": {"build": {"view": True}}})) == (400, "UC.00011189")
    # the source project did not change with it
    source_roles = owner.call("GET", f"/devuc/v1/projects/{source}/roles").json()
    assert roles_by_name(source_roles)["浏览者"]["permissions"]["build"]["execute"] is False

    # apply to a project of the same type: the custom role is made, the viewer row set
    target = new_project(owner)["project_id"]
    assert add(owner, target, viewer, 8).status_code == 204
    r = owner.call("POST", f"/devuc/v1/projects/{target}/permission-template", json={"template_id": tid})
    assert r.status_code == 200, r.text
    applied = roles_by_name(r.json())
    assert applied["Release runner"]["permissions"]["build"]["execute"] is True
    assert applied["Release runner"]["build_role_id"] == 500
    build = viewer.call("GET", "/v1/domain/user-permission", params={"project_id": target}).json()["result"]
    assert (build["execute_permission"], build["copy_permission"], build["delete_permission"]) == (True, True, False)
    # applying again changes nothing and makes no second role
    r = owner.call("POST", f"/devuc/v1/projects/{target}/permission-template", json={"template_id": tid})
    assert r.status_code == 200 and len(r.json()["roles"]) == len(applied)
    # later template changes do not reach the project
    assert owner.call("PATCH", f"{url}/roles/{DEVUC_IDS['viewer']}/permissions",
                      json={"permissions": {"build": {"execute": False}}}).status_code == 200
    build = viewer.call("GET", "/v1/domain/user-permission", params={"project_id": target}).json()["result"]
    assert build["execute_permission"] is True
    # another type of project cannot take it
    normal = new_project(owner, project_type="normal")["project_id"]
    assert error_of(owner.call("POST", f"/devuc/v1/projects/{normal}/permission-template",
                               json={"template_id": tid})) == (400, "UC.00011042")
    # the source project may go; the template stays
    assert owner.call("DELETE", f"/v4/projects/{source}").status_code == 204
    assert owner.call("GET", url).json()["source_project_id"] is None


def test_at_most_twenty_per_region(server):
    tenant = Tenant(server)
    owner = tenant.owner
    for i in range(20):
        r = make(owner, new_project(owner)["project_id"], f"Q{i}")
        assert r.status_code == 201, r.text
    r = make(owner, new_project(owner)["project_id"], "Q20")
    assert error_of(r) == (400, "UC.00011040")
    assert owner.call("GET", TEMPLATES).json()["total"] == 20


def test_operator_verbs(server):
    import json

    tenant = Tenant(server)
    owner = tenant.owner
    source = source_project(owner)
    target = new_project(owner)
    made = json.loads(server.cli("codearts", "templates", "make", source, "Ops1", "--description", "by the operator",
                                 "--json").stdout)
    assert made["name"] == "Ops1" and made["source_project_id"] == source
    listed = json.loads(server.cli("codearts", "templates", "list", "--account", tenant.account_name, "--json").stdout)
    assert [t["template_id"] for t in listed["templates"]] == [made["template_id"]]
    shown = json.loads(server.cli("codearts", "templates", "show", made["template_id"], "--json").stdout)
    assert {r["name"]: r["permissions"]["build"]["execute"] for r in shown["roles"]}["Release runner"] is True
    assert made["template_id"] in server.cli("codearts", "templates", "show", made["template_id"]).stdout
    applied = json.loads(server.cli("codearts", "templates", "apply", made["template_id"], target["project_name"],
                                    "--account", tenant.account_name, "--json").stdout)
    assert "Release runner" in [r["name"] for r in applied["roles"]]
    assert owner.call("GET", f"/devuc/v1/projects/{target['project_id']}/roles/{DEVUC_IDS['viewer']}").json()[
        "permissions"]["build"]["copy"] is True
    again = server.cli("codearts", "templates", "make", source, "Ops2", "--json", check=False)
    assert again.returncode == 3 and json.loads(again.stdout)["error"]["code"] == "UC.00011039"  # a conflict
    server.cli("codearts", "templates", "delete", made["template_id"])
    gone = server.cli("codearts", "templates", "show", made["template_id"], "--json", check=False)
    assert gone.returncode == 1 and json.loads(gone.stdout)["error"]["code"] == "UC.00011038"
