"""Explain: why a user may or may not do each thing in a project.

``permissions.explain`` and ``permissions.evaluate`` are one code path; they are checked to agree
on every subject (no role, each role, each pair of roles, tenant administrators), every matrix
kind, every tenant setting and every question, and the reasons given are checked to support the
decision. Then the HTTP route and `devuc explain`, against the answers the Build permission API
gives for the same user."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codearts_helpers import DEVUC_IDS, Tenant, add, error_of, new_project
from devuc.codearts import permissions as P
from devuc.codearts import roles as R

CUSTOM, CUSTOM2 = "c0ffee00c0ffee00c0ffee00c0ffee00", "decaf000decaf000decaf000decaf000"
ROLES = [r.role_id for r in R.SYSTEM_ROLES] + [CUSTOM, CUSTOM2]
DEV = DEVUC_IDS["dev"]

SUBJECTS = (
    [P.Subject("u")]
    + [P.Subject("u", frozenset({r})) for r in ROLES]
    + [P.Subject("u", frozenset(pair)) for pair in itertools.combinations(ROLES, 2)]
    + [P.Subject("u", frozenset(), True)]
    + [P.Subject("u", frozenset({r}), True) for r in ROLES]
)
MATRICES = [
    {},
    {role: {k: True for k in R.PERMISSION_KEYS} for role in ROLES},
    {role: {k: False for k in R.PERMISSION_KEYS} for role in ROLES},
]
TENANTS = [
    P.TenantSettings(),
    P.TenantSettings(P.CREATION_SELECTED, frozenset({"u"})),
    P.TenantSettings(P.CREATION_ALL),
]
TARGETS = [frozenset()] + [frozenset({r}) for r in ROLES] + [frozenset({DEV, CUSTOM})]
SERVICE_SETS = [frozenset(), frozenset({"build"}), frozenset({"devuc"}), frozenset(R.SERVICES)]
CHECKS = (
    [P.Check(a) for a in (*P.ACTIONS, "build.fly", "devuc.fly", "project.fly")]
    + [P.Check(P.MEMBERS_MANAGE, roles) for roles in TARGETS]
    + [P.Check(P.ROLES_MANAGE, roles, services) for roles in TARGETS for services in SERVICE_SETS]
)


def assert_agree(subject, matrix, tenant, check):
    decision = P.evaluate(subject, matrix, tenant, check)
    explanation = P.explain(subject, matrix, tenant, check)
    assert explanation.decision == decision
    assert explanation.check == check
    reasons = explanation.reasons
    assert reasons, "every decision is explained"
    if decision.allowed:
        assert any(r.grants for r in reasons)
    else:
        assert any(not r.grants for r in reasons)
    if check.action in R.PERMISSION_KEYS and check.action.startswith("build."):
        # a Build permission is exactly the OR of the member's cells, one cell per role
        cells = [r for r in reasons if r.kind == "cell"]
        assert sorted(r.role for r in cells) == sorted(subject.roles) or not subject.is_member
        if subject.is_member:
            assert decision.allowed is any(r.grants for r in cells)
            service, _, name = check.action.partition(".")
            assert all((r.resource, r.action) == (service, name) for r in cells)


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("matrix_index", range(len(MATRICES)))
def test_explain_agrees_with_evaluate_everywhere(matrix_index, tenant):
    matrix = MATRICES[matrix_index]
    for subject in SUBJECTS:
        for check in CHECKS:
            assert_agree(subject, matrix, tenant, check)


role_sets = st.frozensets(st.sampled_from(ROLES), max_size=4)
matrices = st.dictionaries(
    st.sampled_from(ROLES), st.dictionaries(st.sampled_from(R.PERMISSION_KEYS), st.booleans()), max_size=6
)


@settings(max_examples=300, deadline=None)
@given(held=role_sets, matrix=matrices, tenant_admin=st.booleans(), check=st.sampled_from(CHECKS),
       tenant=st.sampled_from(TENANTS))
def test_explain_agrees_with_evaluate_on_any_matrix(held, matrix, tenant_admin, check, tenant):
    assert_agree(P.Subject("u", held, tenant_admin), matrix, tenant, check)


def test_cell_sources():
    matrix = {DEV: {"build.delete": False, "build.view": True}, R.PROJECT_ADMIN.role_id: {"build.delete": False}}
    dev = P.explain(P.Subject("u", frozenset({DEV})), matrix, P.TenantSettings(), P.Check("build.delete"))
    assert dev.decision == P.Decision(False, "denied")
    assert [(r.kind, r.role, r.resource, r.action, r.source, r.grants) for r in dev.reasons] == [
        ("member", None, None, None, None, True), ("cell", DEV, "build", "delete", "changed", False)]
    view = P.explain(P.Subject("u", frozenset({DEV})), matrix, P.TenantSettings(), P.Check("build.view"))
    assert view.reasons[-1].source == "default"  # stored, but the same as the default
    admin = P.explain(P.Subject("u", frozenset({R.PROJECT_ADMIN.role_id})), matrix, P.TenantSettings(),
                      P.Check("build.delete"))
    assert admin.decision.allowed and admin.reasons[-1].source == "locked"
    create = P.explain(P.Subject("u"), {}, P.TenantSettings(P.CREATION_SELECTED, frozenset({"u"})),
                       P.Check(P.PROJECT_CREATE))
    assert create.decision.allowed and create.reasons[0].kind == "tenant_setting"


# --- over HTTP and through the CLI -------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(server):
    tenant = Tenant(server)
    bob, carol = tenant.user("bob"), tenant.user("carol")
    project = new_project(tenant.owner)
    pid = project["project_id"]
    assert add(tenant.owner, pid, bob, 4).status_code == 204  # developer
    r = tenant.owner.call("PATCH", f"/devuc/v1/projects/{pid}/roles/{DEV}/permissions",
                          json={"permissions": {"build": {"delete": False}}})
    assert r.status_code == 200, r.text
    return {"server": server, "tenant": tenant, "bob": bob, "carol": carol, "pid": pid,
            "name": project["project_name"], "other": Tenant(server)}


def explain_url(pid: str) -> str:
    return f"/devuc/v1/projects/{pid}/explain"


def by_permission(answer: dict) -> dict:
    return {p["permission"]: p for p in answer["permissions"]}


def test_route_explains_what_the_build_answer_says(scene):
    bob, pid = scene["bob"], scene["pid"]
    r = bob.call("GET", explain_url(pid), params={"user_id": bob.user_id})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["user"]["member"] and [x["role_id"] for x in answer["user"]["roles"]] == [DEV]
    assert not answer["user"]["tenant_admin"]
    assert answer["tenant"]["private_access"]["in_force"] is False
    perms = by_permission(answer)
    assert set(perms) == set(P.ACTIONS)
    build = bob.call("GET", "/v1/domain/user-permission", params={"project_id": pid}).json()["result"]
    for name in R.BUILD_PERMISSIONS:
        item = perms[f"build.{name}"]
        assert item["build_field"] == f"{name}_permission"
        assert item["granted"] is build[f"{name}_permission"], name
    delete = [x for x in perms["build.delete"]["reasons"] if x["kind"] == "cell"]
    assert delete == [{"kind": "cell", "grants": False, "detail": "build.delete=false", "role_id": DEV,
                       "role_name": "开发人员", "resource": "build", "action": "delete", "source": "changed"}]
    assert [x["source"] for x in perms["build.create"]["reasons"] if x["kind"] == "cell"] == ["default"]
    assert perms["devuc.member_manage"]["granted"] is False
    assert perms["project.create"]["granted"] is False
    assert "not a selected creator" in perms["project.create"]["reasons"][0]["detail"]


def test_owner_explains_anyone_and_the_creator_setting_shows(scene):
    owner, carol, pid = scene["tenant"].owner, scene["carol"], scene["pid"]
    r = owner.call("GET", explain_url(pid), params={"user_id": owner.user_id})
    me = r.json()
    assert me["user"]["tenant_admin"] and "owner" in me["user"]["tenant_admin_via"]
    assert by_permission(me)["project.create"]["reasons"][0]["kind"] == "tenant_admin"
    r = owner.call("PUT", f"/devuc/v1/domains/{scene['tenant'].account_id}/project-creators",
                   json={"project_creation": "selected", "project_creators": [carol.user_id]})
    assert r.status_code == 200, r.text
    answer = owner.call("GET", explain_url(pid), params={"user_id": carol.user_id}).json()
    assert answer["user"]["member"] is False and answer["tenant"]["selected_creator"] is True
    perms = by_permission(answer)
    assert perms["project.create"]["granted"] is True
    assert perms["project.create"]["reasons"][0]["kind"] == "tenant_setting"
    assert perms["project.view"]["granted"] is False and perms["project.view"]["decision"] == "not_member"
    assert not any(p["granted"] for k, p in perms.items() if k.startswith("build."))


def test_who_may_ask(scene):
    bob, carol, pid, other = scene["bob"], scene["carol"], scene["pid"], scene["other"]
    # another plain user of the account may not ask about bob
    assert error_of(carol.call("GET", explain_url(pid), params={"user_id": bob.user_id})) == (401, "UC.00011003")
    # another account's owner does not see the project at all
    assert error_of(other.owner.call("GET", explain_url(pid), params={"user_id": bob.user_id})) == (
        400, "UC.00011037")
    # bad input names the field
    r = bob.call("GET", explain_url(pid))
    assert error_of(r) == (400, "UC.00011002") and "user_id" in r.json()["error_msg"]
    r = bob.call("GET", explain_url(pid), params={"user_id": "Bob"})
    assert error_of(r) == (400, "UC.00011002") and "user_id" in r.json()["error_msg"]
    # a user of another account who is not a member is nobody here
    r = scene["tenant"].owner.call("GET", explain_url(pid), params={"user_id": other.owner.user_id})
    assert error_of(r) == (400, "UC.00011181")


def test_route_is_marked_as_an_extension(scene):
    with scene["server"].client() as c:
        document = c.get("/openapi.json").json()
    operation = document["paths"]["/devuc/v1/projects/{project_id}/explain"]["get"]
    assert operation["x-devuc-extension"] is True


def test_cli_by_name_and_id(scene):
    server, bob, pid = scene["server"], scene["bob"], scene["pid"]
    by_name = json.loads(server.cli("explain", bob.user_name, scene["name"], "--json").stdout)
    by_id = json.loads(server.cli("explain", bob.user_id, pid, "--json").stdout)
    over_http = bob.call("GET", explain_url(pid), params={"user_id": bob.user_id}).json()
    assert by_name == by_id
    assert by_name["permissions"] == over_http["permissions"]
    table = server.cli("explain", bob.user_name, pid).stdout
    assert "build.delete" in table and "changed" in table and "开发人员" in table
    missing = server.cli("explain", "nobody-here", pid, check=False)
    assert missing.returncode == 1 and "IAM.0004: No user named or with id 'nobody-here'" in missing.stderr
    missing = server.cli("explain", bob.user_id, "no-such-project", "--json", check=False)
    assert missing.returncode == 1 and json.loads(missing.stdout)["error"]["code"] == "PM.02152005"


def test_explain_one_build_task_as_its_answer_says(scene):
    """With job_id, the seven task permissions follow, from the same decision the task APIs
    make: the task's own row (a copy of the project's with one change), or the creator's."""
    owner, bob, pid, server = scene["tenant"].owner, scene["bob"], scene["pid"], scene["server"]
    job = "5eed" * 8
    r = owner.call("POST", "/v1/job/permissions/batch", json={
        "project_id": pid, "job_ids": [job], "permissions": [{"role_id": 4, "is_manager": True}]})
    assert r.status_code == 200, r.text
    answer = bob.call("GET", explain_url(pid), params={"user_id": bob.user_id, "job_id": job}).json()
    assert answer["job_id"] == job
    perms = by_permission(answer)
    assert set(perms) == set(P.ACTIONS) | set(P.TASK_ACTIONS)
    mine = bob.call("GET", "/v1/job/permission", params={"project_id": pid, "job_id": job}).json()["result"]
    for action in P.TASK_ACTIONS:
        item = perms[action]
        assert item["build_field"] == f"is_{action[5:]}"
        assert item["granted"] is mine[item["build_field"]], action
    cells = {x["action"]: x["source"] for x in perms["task.manager"]["reasons"] if x["kind"] == "cell"}
    assert cells == {"manager": "task"} and perms["task.manager"]["granted"]
    # the project's delete=false was copied into the task's row
    assert perms["task.delete"]["granted"] is False
    creator = owner.call("GET", explain_url(pid), params={"user_id": owner.user_id, "job_id": job}).json()
    assert by_permission(creator)["task.modify"]["reasons"][-1]["detail"].startswith("the task's creator")
    # the task must be one of this project's
    for bad in ("short", "f" * 32):
        r = bob.call("GET", explain_url(pid), params={"user_id": bob.user_id, "job_id": bad})
        assert error_of(r) == (400, "UC.00011002") and "job_id" in r.json()["error_msg"]
    by_cli = json.loads(server.cli("explain", bob.user_name, pid, "--job", job, "--json").stdout)
    assert by_cli["permissions"] == answer["permissions"]
    assert "task.manager" in server.cli("explain", bob.user_name, pid, "--job", job).stdout
