"""CodeArts Build task matrices (spec/projectman.md §4.3-4.6) through the official SDK
(huaweicloudsdkcodeartsbuild v3, unchanged but for the endpoint) against a real `devuc serve`, on
SQLite and on PostgreSQL; the single-cell update, which the SDK lacks, over plain HTTP."""

from __future__ import annotations

import secrets

import pytest
from huaweicloudsdkcodeartsbuild.v3 import (
    ApplyProjectPermissionRequest,
    BatchUpdateJobRolePermissionRequest,
    JobRolePermission,
    ProjectPermissionRequestBody,
    RolePermissionsRequestBody,
    ShowJobRolePermissionRequest,
    ShowProjectJobPermissionRequest,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from codearts_helpers import DEVUC_IDS, cast_for

FLAGS = ["is_modify", "is_delete", "is_view", "is_execute", "is_copy", "is_forbidden", "is_manager"]
DEV_TASK = set(FLAGS) - {"is_manager"}
ROW_ORDER = [-3, -1, 0, 3, 4, 5, 6, 7, 8, 1001, 1002, 1015, 1016]


def sdk_error(call) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    return info.value


def job() -> str:
    return secrets.token_hex(16)


def granted(result) -> set[str]:
    return {f for f in FLAGS if getattr(result, f)}


@pytest.fixture(scope="module")
def world(server):
    """A project with a project manager, a developer, a viewer, a non-member of the account and
    a custom role; and a stranger from another account."""
    cast = cast_for(server)
    owner = cast.tenant.owner
    r = owner.call("POST", "/v4/project", json={"project_name": f"tasks-{secrets.token_hex(3)}",
                                                "project_type": "scrum"})
    assert r.status_code == 200, r.text
    pid = r.json()["project_id"]
    for who, role in ((cast.pm, 3), (cast.dev, 4), (cast.viewer, 8), (cast.tester, 7)):
        r = owner.call("POST", f"/v4/projects/{pid}/member", json={
            "user_id": who.user_id, "domain_id": cast.tenant.account_id, "role_id": role})
        assert r.status_code == 204, r.text
    r = owner.call("POST", f"/devuc/v1/projects/{pid}/roles", json={"name": "Nightly"})
    assert r.status_code == 201, r.text
    custom = r.json()
    return {"cast": cast, "pid": pid, "custom": custom, "owner": owner, "pm": cast.pm, "dev": cast.dev,
            "viewer": cast.viewer, "participant": cast.tester, "outsider": cast.plain,
            "stranger": cast.other.owner}


def matrix(actor, job_id):
    return actor.build().show_job_role_permission(ShowJobRolePermissionRequest(job_id=job_id))


def mine(actor, pid, job_id):
    return actor.build().show_project_job_permission(
        ShowProjectJobPermissionRequest(project_id=pid, job_id=job_id)).result


def batch(actor, pid, job_ids, rows=None, switch=None):
    body = RolePermissionsRequestBody(project_id=pid, job_ids=job_ids, project_switch=switch,
                                      permissions=rows)
    return actor.build().batch_update_job_role_permission(BatchUpdateJobRolePermissionRequest(body=body))


def switch(actor, pid, job_id, value):
    body = ProjectPermissionRequestBody(job_id=job_id, project_id=pid, project_switch=value)
    return actor.build().apply_project_permission(ApplyProjectPermissionRequest(body=body))


def test_a_task_made_known_by_a_batch_update_copies_the_project_matrix(world):
    pid, pm, dev, viewer = world["pid"], world["pm"], world["dev"], world["viewer"]
    task = job()
    # before any write, the task is unknown
    err = sdk_error(lambda: matrix(dev, task))
    assert (err.status_code, err.error_code) == (400, "CB.00060201")
    err = sdk_error(lambda: mine(dev, pid, task))
    assert (err.status_code, err.error_code) == (400, "CB.00060201")

    answer = batch(pm, pid, [task], [JobRolePermission(role_id=8, is_execute=True)])
    assert (answer.status, answer.result) == ("success", None)

    shown = matrix(dev, task)
    assert shown.status == "success"
    rows = shown.result
    assert [r.role_id for r in rows] == ROW_ORDER + [500]
    by_id = {r.role_id: r for r in rows}
    assert by_id[-3].role_name is None and granted(by_id[-3]) == set(FLAGS) and by_id[-3].id == 0
    assert by_id[-1].role_name == "项目管理员" and granted(by_id[-1]) == set(FLAGS) and by_id[-1].id == 0
    assert granted(by_id[3]) == set(FLAGS)
    assert granted(by_id[4]) == DEV_TASK
    assert granted(by_id[8]) == {"is_view", "is_execute"}  # the change, on this task only
    assert granted(by_id[500]) == set() and by_id[500].role_name == "Nightly"
    stored = [r for r in rows if r.role_id not in (-3, -1)]
    assert all(r.id > 0 and r.job_id == task and r.count == 0 for r in stored)
    assert [r.id for r in stored] == sorted({r.id for r in stored})  # distinct, made in row order
    assert rows[0].create_time.endswith("+00:00") and "T" in rows[0].create_time

    # the caller who made the task known is its creator: every permission, reported as -3
    assert (mine(pm, pid, task).role_id, granted(mine(pm, pid, task))) == (-3, set(FLAGS))
    assert (mine(viewer, pid, task).role_id, granted(mine(viewer, pid, task))) == (8, {"is_view", "is_execute"})
    assert (mine(dev, pid, task).role_id, granted(mine(dev, pid, task))) == (4, DEV_TASK)
    owner_view = mine(world["owner"], pid, task)
    assert (owner_view.role_id, granted(owner_view)) == (-1, set(FLAGS))
    outsider = mine(world["outsider"], pid, task)
    assert (outsider.role_id, granted(outsider)) == (None, set())
    assert matrix(world["outsider"], task).result == []

    # the project's own matrix did not change
    other = job()
    batch(pm, pid, [other], [])
    assert granted(mine(viewer, pid, other)) == {"is_view"}


def test_the_task_keeps_its_copy_until_it_follows_the_project_again(world):
    pid, owner, pm, viewer = world["pid"], world["owner"], world["pm"], world["viewer"]
    task = job()
    switch(pm, pid, task, False)  # known now, with a copy of the project's matrix
    assert granted(mine(viewer, pid, task)) == {"is_view"}
    viewer_role = DEVUC_IDS["viewer"]
    r = owner.call("PATCH", f"/devuc/v1/projects/{pid}/roles/{viewer_role}/permissions",
                   json={"permissions": {"build": {"copy": True}}})
    assert r.status_code == 200, r.text
    try:
        assert granted(mine(viewer, pid, task)) == {"is_view"}  # its own copy: unchanged
        switch(pm, pid, task, True)
        assert granted(mine(viewer, pid, task)) == {"is_view", "is_copy"}  # the project's, as it is now
        assert all(r.id == 0 for r in matrix(viewer, task).result)
        # a row sent with the switch on is ignored: the task follows the project
        batch(pm, pid, [task], [JobRolePermission(role_id=8, is_view=False)], switch=True)
        assert granted(mine(viewer, pid, task)) == {"is_view", "is_copy"}
        switch(pm, pid, task, False)  # its own copy again, of today's project matrix
    finally:
        r = owner.call("PATCH", f"/devuc/v1/projects/{pid}/roles/{viewer_role}/permissions",
                       json={"permissions": {"build": {"copy": False}}})
        assert r.status_code == 200, r.text
    assert granted(mine(viewer, pid, task)) == {"is_view", "is_copy"}


def test_who_may_change_a_task_matrix(world):
    pid, pm, dev, viewer = world["pid"], world["pm"], world["dev"], world["viewer"]
    task = job()
    batch(pm, pid, [task], [JobRolePermission(role_id=4, is_manager=True)])
    # a developer with is_manager on this task may change it; locked rows are left alone
    batch(dev, pid, [task], [
        JobRolePermission(role_id=8, is_delete=True),
        JobRolePermission(role_id=-1, is_view=False),
        JobRolePermission(role_id=-3, is_modify=False),
    ])
    assert granted(mine(viewer, pid, task)) == {"is_view", "is_delete"}
    assert granted(mine(world["owner"], pid, task)) == set(FLAGS)
    assert granted(mine(pm, pid, task)) == set(FLAGS)

    # without is_manager: 403, and nothing of the batch is written (the first task is allowed)
    before = [(r.role_id, granted(r)) for r in matrix(pm, task).result]
    denied = job()
    batch(pm, pid, [denied], [])
    batch(pm, pid, [denied], [JobRolePermission(role_id=4, is_manager=False)])
    err = sdk_error(lambda: batch(dev, pid, [task, denied], [JobRolePermission(role_id=8, is_copy=True)]))
    assert (err.status_code, err.error_code) == (403, "CB.00060200")
    assert "manage the permissions" in err.error_msg
    assert [(r.role_id, granted(r)) for r in matrix(pm, task).result] == before
    err = sdk_error(lambda: switch(viewer, pid, task, True))
    assert (err.status_code, err.error_code) == (403, "CB.00060200")
    # a task not known yet: the project's matrix decides (a developer has no is_manager there)
    err = sdk_error(lambda: batch(dev, pid, [job()], []))
    assert (err.status_code, err.error_code) == (403, "CB.00060200")
    # a tenant administrator who is not a member has no Build rights in the project
    err = sdk_error(lambda: batch(world["cast"].admin, pid, [task], []))
    assert (err.status_code, err.error_code) == (403, "CB.00060200")


def test_roles_are_matched_by_build_id_or_user_center_id(world):
    pid, pm, dev = world["pid"], world["pm"], world["dev"]
    custom = world["custom"]
    task = job()
    dashed = DEVUC_IDS["dev"]
    dashed = f"{dashed[:8]}-{dashed[8:12]}-{dashed[12:16]}-{dashed[16:20]}-{dashed[20:]}"
    batch(pm, pid, [task], [
        JobRolePermission(devuc_role_id=custom["role_id"], is_view=True, is_execute=True),
        JobRolePermission(role_id=4, devuc_role_id=dashed, is_delete=False),
    ])
    by_id = {r.role_id: r for r in matrix(pm, task).result}
    assert granted(by_id[500]) == {"is_view", "is_execute"}
    assert granted(by_id[4]) == DEV_TASK - {"is_delete"}
    assert granted(mine(dev, pid, task)) == DEV_TASK - {"is_delete"}

    for rows, field in (
        ([JobRolePermission(role_id=77)], "permissions[0].role_id"),
        ([JobRolePermission(role_id=4, devuc_role_id=DEVUC_IDS["viewer"])], "permissions[0].devuc_role_id"),
        ([JobRolePermission(is_view=True)], "permissions[0].role_id"),
        ([JobRolePermission(role_id=3), JobRolePermission(devuc_role_id="nope")], "permissions[1].devuc_role_id"),
    ):
        err = sdk_error(lambda: batch(pm, pid, [task], rows))
        assert (err.status_code, err.error_code) == (400, "CB.00060200"), field
        assert field in err.error_msg
    assert {r.role_id: granted(r) for r in matrix(pm, task).result}[4] == DEV_TASK - {"is_delete"}


def test_bad_input_names_the_field_and_changes_nothing(world):
    pid, pm = world["pid"], world["pm"]
    task = job()

    def post(path, body, method="POST"):
        return pm.call(method, path, json=body)

    cases = [
        ("/v1/job/permissions/batch", {"job_ids": [task], "permissions": []}, "CB.00060200", "project_id"),
        ("/v1/job/permissions/batch", {"project_id": pid, "permissions": []}, "CB.00060200", "job_ids"),
        ("/v1/job/permissions/batch", {"project_id": pid, "job_ids": []}, "CB.00060200", "job_ids"),
        ("/v1/job/permissions/batch", {"project_id": pid, "job_ids": [task]}, "CB.00060200", "permissions"),
        ("/v1/job/permissions/batch", {"project_id": pid, "job_ids": ["short"], "permissions": []},
         "CB.00060201", "job_ids[0]"),
        ("/v1/job/permissions/batch", {"project_id": pid, "job_ids": [task], "permissions": [
            {"role_id": 4, "is_view": "yes"}]}, "CB.00060200", "permissions[0].is_view"),
        ("/v1/job/permissions/batch", {"project_id": "X" * 32, "job_ids": [task], "permissions": []},
         "CB.00060200", "project_id"),
        ("/v1/job/project/permission", {"job_id": task, "project_id": pid}, "CB.00060200", "project_switch"),
        ("/v1/job/project/permission", {"job_id": 7, "project_id": pid, "project_switch": True},
         "CB.00060201", "job_id"),
    ]
    for path, body, code, field in cases:
        r = post(path, body)
        assert (r.status_code, r.json()["error_code"]) == (400, code), (body, r.text)
        assert field in r.json()["error_msg"], (body, r.text)
    r = pm.call("POST", "/v1/job/permissions/batch", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error_code"]) == (400, "CB.00060200")
    # none of them made the task known
    r = pm.call("GET", "/v1/job/permission/role", params={"job_id": task})
    assert (r.status_code, r.json()["error_code"]) == (400, "CB.00060201")
    r = pm.call("GET", "/v1/job/permission/role")
    assert (r.status_code, r.json()["error_code"]) == (400, "CB.00060200") and "job_id" in r.json()["error_msg"]
    r = pm.call("GET", "/v1/job/permission", params={"job_id": task})
    assert (r.status_code, r.json()["error_code"]) == (400, "CB.00060200") and "project_id" in r.json()["error_msg"]
    r = pm.call("GET", "/v1/job/permission", params={"job_id": task, "project_id": "a" * 32})
    assert (r.status_code, r.json()["error_code"]) == (404, "CB.00060214")


def test_single_cell_update_over_http(world):
    """UpdateSimpleJobRolePermission: documented in the API reference, not in the SDK."""
    pid, pm, viewer = world["pid"], world["pm"], world["viewer"]
    task = job()
    body = {"job_id": task, "role_id": "8", "permission_name": "is_execute", "permission_value": True}
    r = pm.call("PUT", "/v1/job/role-permission", json=body)
    assert (r.status_code, r.json()["error_code"]) == (400, "CB.00060201")  # not known: no project to bind it to
    switch(pm, pid, task, True)
    r = pm.call("PUT", "/v1/job/role-permission", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success", "error": None, "result": None}
    # the task now has a matrix of its own: the project's, with the one cell changed
    assert granted(mine(viewer, pid, task)) == {"is_view", "is_execute"}
    r = pm.call("PUT", "/v1/job/role-permission", json={"job_id": task, "role_id": "8", "permission_name": "is_view",
                                                        "permission_value": False})
    assert r.status_code == 200, r.text
    assert granted(mine(viewer, pid, task)) == {"is_execute"}
    r = pm.call("PUT", "/v1/job/role-permission", json={"job_id": task, "role_id": "8", "permission_name": "is_copy"})
    assert r.status_code == 200, r.text  # permission_value defaults to true
    assert granted(mine(viewer, pid, task)) == {"is_execute", "is_copy"}
    for bad, field in (({"permission_name": "is_everything"}, "permission_name"),
                       ({"role_id": "x"}, "role_id"), ({"role_id": "99"}, "role_id"),
                       ({"permission_value": "no"}, "permission_value")):
        r = pm.call("PUT", "/v1/job/role-permission", json={**body, **bad})
        assert (r.status_code, r.json()["error_code"]) == (400, "CB.00060200"), (bad, r.text)
        assert field in r.json()["error_msg"]
    r = viewer.call("PUT", "/v1/job/role-permission", json=body)
    assert (r.status_code, r.json()["error_code"]) == (403, "CB.00060200")
    assert granted(mine(viewer, pid, task)) == {"is_execute", "is_copy"}


def test_another_account_learns_nothing(world):
    pid, pm, stranger = world["pid"], world["pm"], world["stranger"]
    task, unknown = job(), job()
    batch(pm, pid, [task], [])
    for job_id in (task, unknown):
        err = sdk_error(lambda: matrix(stranger, job_id))
        assert (err.status_code, err.error_code) == (400, "CB.00060201")
        assert err.error_msg.replace(job_id, "<id>") == sdk_error(
            lambda: matrix(stranger, unknown)).error_msg.replace(unknown, "<id>")
    err = sdk_error(lambda: mine(stranger, pid, task))
    assert (err.status_code, err.error_code) == (404, "CB.00060214")
    err = sdk_error(lambda: batch(stranger, pid, [task], []))
    assert (err.status_code, err.error_code) == (404, "CB.00060214")
    r = stranger.call("PUT", "/v1/job/role-permission", json={
        "job_id": task, "role_id": "8", "permission_name": "is_view", "permission_value": False})
    assert (r.status_code, r.json()["error_code"]) == (400, "CB.00060201")
    # a task of one project is unknown in another, even of the same account
    owner = world["owner"]
    r = owner.call("POST", "/v4/project", json={"project_name": f"second-{secrets.token_hex(3)}",
                                                "project_type": "scrum"})
    second = r.json()["project_id"]
    err = sdk_error(lambda: mine(owner, second, task))
    assert (err.status_code, err.error_code) == (400, "CB.00060201")
    err = sdk_error(lambda: batch(owner, second, [task], []))
    assert (err.status_code, err.error_code) == (400, "CB.00060201")
    assert granted(mine(world["viewer"], pid, task)) == {"is_view"}


def test_deleting_the_project_or_a_role_takes_the_task_rows_along(world):
    cast, owner = world["cast"], world["owner"]
    r = owner.call("POST", "/v4/project", json={"project_name": f"gone-{secrets.token_hex(3)}", "project_type": "scrum"})
    pid = r.json()["project_id"]
    r = owner.call("POST", f"/devuc/v1/projects/{pid}/roles", json={"name": "Temp"})
    role = r.json()
    task = job()
    batch(owner, pid, [task], [JobRolePermission(role_id=role["build_role_id"], is_view=True)])
    assert [r.role_id for r in matrix(owner, task).result][-1] == 500
    r = owner.call("DELETE", f"/devuc/v1/projects/{pid}/roles/{role['role_id']}")
    assert r.status_code == 204, r.text
    assert 500 not in [r.role_id for r in matrix(owner, task).result]
    r = owner.call("DELETE", f"/v4/projects/{pid}")
    assert r.status_code == 204, r.text
    err = sdk_error(lambda: matrix(owner, task))
    assert (err.status_code, err.error_code) == (400, "CB.00060201")
    # the id is free again: another project may make it known
    batch(cast.pm, world["pid"], [task], [])
    assert mine(cast.pm, world["pid"], task).role_id == -3
