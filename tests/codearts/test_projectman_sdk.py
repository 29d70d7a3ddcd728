"""The official SDKs (huaweicloudsdkprojectman v4, huaweicloudsdkcodeartsbuild v3), unchanged but
for the endpoint, against a real `devuc serve` on SQLite and on PostgreSQL: BasicCredentials
without a project id and a region whose endpoint is ours, so every client first asks IAM for the
region project (spec/aksk-signing.md §8.2) and then signs its calls."""

from __future__ import annotations

import secrets

import pytest
from huaweicloudsdkcodeartsbuild.v3 import (
    CheckJobInternalRequest,
    ShowDefaultProjectPermissionRequest,
    ShowProjectPermissionRequest,
)
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkprojectman.v4 import (
    AddMemberRequestV4,
    AddMemberV4Request,
    BatchAddMemberRequestV4,
    BatchAddMembersV4Request,
    BatchAddMembersV4RequestBody,
    BatchDeleteMembersV4Request,
    BatchDeleteMembersV4RequestBody,
    CreateProjectV4Request,
    CreateProjectV4RequestBody,
    DeleteProjectV4Request,
    ListProjectMembersV4Request,
    ListProjectUsersRequest,
    ListProjectsV4Request,
    ShowCurUserInfoRequest,
    ShowCurUserRoleRequest,
    ShowProjectInfoV4Request,
    UpdateMembersRoleV4RequestBody,
    UpdateMembesRoleV4Request,
    UpdateNickNameV4Request,
    UpdateProjectRequestV4,
    UpdateProjectV4Request,
    UpdateUserNickNameRequestV4,
)

from codearts_helpers import DEVUC_IDS, REGION, Tenant, cast_for

BUILD_FLAGS = ["create", "modify", "group", "delete", "view", "execute", "copy", "forbidden", "manager"]
DEV_LIKE = {"create", "modify", "group", "delete", "view", "execute", "copy", "forbidden"}


def sdk_error(call) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    return info.value


def test_project_and_member_lifecycle_through_the_projectman_sdk(server):
    cast = cast_for(server)
    tenant, manager, dev, viewer, tester = cast.tenant, cast.pm, cast.dev, cast.viewer, cast.tester
    owner = tenant.owner.projectman()
    name = f"shop-{secrets.token_hex(3)}"

    created = owner.create_project_v4(CreateProjectV4Request(body=CreateProjectV4RequestBody(
        project_name=name, description="demo shop", project_type="scrum")))
    assert created.project_name == name and created.description == "demo shop"
    assert created.project_type == "scrum" and len(created.project_id) == 32
    assert isinstance(created.project_num_id, int) and isinstance(created.user_num_id, int)
    pid = created.project_id

    listed = owner.list_projects_v4(ListProjectsV4Request(limit=10, offset=0, sort="created_on:desc"))
    assert listed.total >= 1
    item = next(p for p in listed.projects if p.project_id == pid)
    assert item.project_name == name and item.project_num_id == created.project_num_id
    assert item.creator.user_id == tenant.owner.user_id and item.creator.domain_id == tenant.account_id
    assert item.creator.domain_name == tenant.account_name and item.creator.user_num_id == created.user_num_id
    assert item.created_time == item.updated_time and item.created_time > 1_600_000_000_000

    shown = owner.show_project_info_v4(ShowProjectInfoV4Request(project_id=pid)).project
    assert (shown.name, shown.archive, shown.enterprise_id, shown.project_type) == (name, 1, "0", "scrum")
    assert shown.creator.user_name == tenant.owner.user_name

    owner.update_project_v4(UpdateProjectV4Request(project_id=pid, body=UpdateProjectRequestV4(
        project_name=name + "-v2", description="second")))
    again = owner.show_project_info_v4(ShowProjectInfoV4Request(project_id=pid)).project
    assert again.name == name + "-v2" and again.updated_on >= again.created_on

    owner.add_member_v4(AddMemberV4Request(project_id=pid, body=AddMemberRequestV4(
        user_id=manager.user_id, domain_id=tenant.account_id, role_id=3)))
    # the project manager adds the others in one batch; an id that is nobody is skipped
    manager.projectman().batch_add_members_v4(BatchAddMembersV4Request(
        project_id=pid, body=BatchAddMembersV4RequestBody(users=[
            BatchAddMemberRequestV4(user_id=dev.user_id, role_id=4),
            BatchAddMemberRequestV4(user_id=viewer.user_id, role_id=8),
            BatchAddMemberRequestV4(user_id=tester.user_id),
            BatchAddMemberRequestV4(user_id="0" * 32, role_id=4),
        ])))

    members = owner.list_project_members_v4(ListProjectMembersV4Request(project_id=pid, limit=10, offset=0))
    assert members.total == 5
    got = {m.user_id: (m.role_id, m.role_name) for m in members.members}
    assert got == {
        tenant.owner.user_id: (-1, "项目创建者"), manager.user_id: (3, "项目经理"),
        dev.user_id: (4, "开发人员"), viewer.user_id: (8, "浏览者"), tester.user_id: (7, "参与者"),
    }
    assert members.members[0].user_id == tenant.owner.user_id  # the creator first
    page = owner.list_project_members_v4(ListProjectMembersV4Request(project_id=pid, limit=2, offset=4))
    assert page.total == 5 and len(page.members) == 1
    first = members.members[1]
    assert first.domain_name == tenant.account_name and first.user_type == "User" and first.forbidden == 0

    manager.projectman().update_membes_role_v4(UpdateMembesRoleV4Request(
        project_id=pid, body=UpdateMembersRoleV4RequestBody(role_id=6, user_ids=[tester.user_id, viewer.user_id])))
    assert tester.projectman().show_cur_user_role(ShowCurUserRoleRequest(project_id=pid)).user_role == 6
    assert viewer.projectman().show_cur_user_role(ShowCurUserRoleRequest(project_id=pid)).user_role == 6
    assert manager.projectman().show_cur_user_role(ShowCurUserRoleRequest(project_id=pid)).user_role == 3
    assert owner.show_cur_user_role(ShowCurUserRoleRequest(project_id=pid)).user_role == -1

    # a developer may not manage members; the project manager may not touch the creator
    err = sdk_error(lambda: dev.projectman().batch_delete_members_v4(BatchDeleteMembersV4Request(
        project_id=pid, body=BatchDeleteMembersV4RequestBody(user_ids=[tester.user_id]))))
    assert (err.status_code, err.error_code) == (400, "PM.02174103")
    err = sdk_error(lambda: manager.projectman().batch_delete_members_v4(BatchDeleteMembersV4Request(
        project_id=pid, body=BatchDeleteMembersV4RequestBody(user_ids=[tenant.owner.user_id]))))
    assert (err.status_code, err.error_code) == (400, "PM.02150301")
    err = sdk_error(lambda: manager.projectman().update_membes_role_v4(UpdateMembesRoleV4Request(
        project_id=pid, body=UpdateMembersRoleV4RequestBody(role_id=-1, user_ids=[dev.user_id]))))
    assert err.error_code == "PM.02150302"

    manager.projectman().batch_delete_members_v4(BatchDeleteMembersV4Request(
        project_id=pid, body=BatchDeleteMembersV4RequestBody(user_ids=[tester.user_id, viewer.user_id])))
    left = owner.list_project_members_v4(ListProjectMembersV4Request(project_id=pid))
    assert {m.user_id for m in left.members} == {tenant.owner.user_id, manager.user_id, dev.user_id}
    err = sdk_error(lambda: tester.projectman().show_cur_user_role(ShowCurUserRoleRequest(project_id=pid)))
    assert err.error_code == "PM.02150010"

    me = dev.projectman()
    nick = f"Dev {secrets.token_hex(2)}"
    me.update_nick_name_v4(UpdateNickNameV4Request(body=UpdateUserNickNameRequestV4(nick_name=nick)))
    info = me.show_cur_user_info(ShowCurUserInfoRequest())
    assert (info.user_id, info.nick_name, info.domain_id) == (dev.user_id, nick, tenant.account_id)
    listed_dev = next(m for m in owner.list_project_members_v4(ListProjectMembersV4Request(project_id=pid)).members
                      if m.user_id == dev.user_id)
    assert listed_dev.nick_name == nick and listed_dev.user_num_id == info.user_num_id

    err = sdk_error(lambda: manager.projectman().delete_project_v4(DeleteProjectV4Request(project_id=pid)))
    assert err.error_code == "PM.02174103"
    owner.delete_project_v4(DeleteProjectV4Request(project_id=pid))
    err = sdk_error(lambda: owner.show_project_info_v4(ShowProjectInfoV4Request(project_id=pid)))
    assert (err.status_code, err.error_code) == (400, "PM.02152005")
    assert err.request_id and len(err.request_id) == 32
    err = sdk_error(lambda: owner.delete_project_v4(DeleteProjectV4Request(project_id=pid)))
    assert err.error_code == "PM.02152005"


@pytest.fixture(scope="module")
def permission_world(server):
    """One project with a member of every kind the Build permission API must answer for."""
    cast = cast_for(server)
    tenant, other = cast.tenant, cast.other
    users = {"pm": cast.pm, "dev": cast.dev, "viewer": cast.viewer, "custom": cast.tester,
             "two": cast.extra, "outsider": cast.plain}
    pid = tenant.owner.projectman().create_project_v4(CreateProjectV4Request(body=CreateProjectV4RequestBody(
        project_name=f"perm-{secrets.token_hex(3)}", project_type="scrum"))).project_id
    owner = tenant.owner
    for key, role in (("pm", 3), ("dev", 4), ("viewer", 8), ("custom", 7), ("two", 5)):
        r = owner.call("POST", f"/v4/projects/{pid}/member", json={
            "user_id": users[key].user_id, "domain_id": tenant.account_id, "role_id": role})
        assert r.status_code == 204, r.text
    r = owner.call("POST", f"/devuc/v1/projects/{pid}/roles", json={"name": "Release runner"})
    assert r.status_code == 201, r.text
    custom = r.json()
    r = owner.call("PATCH", f"/devuc/v1/projects/{pid}/roles/{custom['role_id']}/permissions",
                   json={"permissions": {"build": {"execute": True, "copy": True}}})
    assert r.status_code == 200, r.text
    for key, roles in (("custom", [custom["role_id"]]), ("two", [DEVUC_IDS["tm"], custom["role_id"]])):
        r = owner.call("PUT", f"/devuc/v1/projects/{pid}/members/{users[key].user_id}/roles", json={"role_ids": roles})
        assert r.status_code == 200, r.text
    return {"tenant": tenant, "other": other, "users": users, "pid": pid, "custom": custom}


def build_permission(actor, pid):
    return actor.build().show_project_permission(ShowProjectPermissionRequest(project_id=pid)).result


@pytest.mark.parametrize("who,granted,role_ids,role_names", [
    ("creator", set(BUILD_FLAGS), ["-1"], ["项目管理员"]),
    ("pm", set(BUILD_FLAGS), ["3"], ["项目经理"]),
    ("dev", DEV_LIKE, ["4"], ["开发人员"]),
    ("viewer", {"view"}, ["8"], ["浏览者"]),
    ("custom", {"execute", "copy"}, ["500"], ["Release runner"]),
    ("two", {"view", "execute", "copy"}, ["5", "500"], ["测试经理", "Release runner"]),
    ("outsider", set(), [], []),
])
def test_show_project_permission_through_the_build_sdk(permission_world, who, granted, role_ids, role_names):
    world = permission_world
    actor = world["tenant"].owner if who == "creator" else world["users"][who]
    result = build_permission(actor, world["pid"])
    assert result.project_id == world["pid"]
    assert {f for f in BUILD_FLAGS if getattr(result, f"{f}_permission")} == granted
    assert all(isinstance(getattr(result, f"{f}_permission"), bool) for f in BUILD_FLAGS)
    assert result.role_ids == role_ids and result.role_names == role_names
    assert result.role_id == (role_ids[0] if role_ids else None)
    assert result.role_name == (role_names[0] if role_names else None)


def test_show_project_permission_refuses_other_accounts_and_unknown_projects(permission_world):
    world = permission_world
    stranger = world["other"].owner.build()
    err = sdk_error(lambda: stranger.show_project_permission(ShowProjectPermissionRequest(project_id=world["pid"])))
    unknown = sdk_error(lambda: stranger.show_project_permission(ShowProjectPermissionRequest(project_id="a" * 32)))
    # the same answer either way: another account learns nothing about the project
    assert (err.status_code, err.error_code) == (unknown.status_code, unknown.error_code) == (404, "CB.00060214")
    assert err.error_msg.replace(world["pid"], "<id>") == unknown.error_msg.replace("a" * 32, "<id>")
    bad = sdk_error(lambda: stranger.show_project_permission(ShowProjectPermissionRequest(project_id="Not-An-Id")))
    assert (bad.status_code, bad.error_code) == (400, "CB.00060200")


def test_build_default_matrix_through_the_sdk(permission_world):
    world = permission_world
    client = world["users"]["dev"].build()
    rows = client.show_default_project_permission(
        ShowDefaultProjectPermissionRequest(project_id=world["pid"], job_id="f" * 32)).result
    by_id = {r.role_id: r for r in rows}
    assert [r.role_id for r in rows][:12] == [-1, 0, 3, 4, 5, 6, 7, 8, 1001, 1002, 1015, 1016]
    assert rows[-1].role_id == 500 and rows[-1].role_name == "Release runner"
    assert by_id[-1].role_name == "项目管理员" and by_id[-1].is_manager and by_id[-1].is_modify
    assert by_id[4].is_execute and not by_id[4].is_manager
    assert by_id[8].is_view and not by_id[8].is_execute
    assert by_id[500].is_execute and by_id[500].is_copy and not by_id[500].is_view
    outsider = world["users"]["outsider"].build()
    assert outsider.show_default_project_permission(
        ShowDefaultProjectPermissionRequest(project_id=world["pid"], job_id="f" * 32)).result == []
    err = sdk_error(lambda: client.show_default_project_permission(
        ShowDefaultProjectPermissionRequest(project_id=world["pid"], job_id="short")))
    assert (err.status_code, err.error_code) == (400, "CB.00060201")


def test_a_permission_change_is_seen_by_the_next_request(permission_world, server):
    world = permission_world
    owner, viewer, pid = world["tenant"].owner, world["users"]["viewer"], world["pid"]
    assert not build_permission(viewer, pid).execute_permission
    r = owner.call("PATCH", f"/devuc/v1/projects/{pid}/roles/{DEVUC_IDS['viewer']}/permissions",
                   json={"permissions": {"build": {"execute": True}}})
    assert r.status_code == 200, r.text
    try:
        assert build_permission(viewer, pid).execute_permission
    finally:
        r = owner.call("PATCH", f"/devuc/v1/projects/{pid}/roles/{DEVUC_IDS['viewer']}/permissions",
                       json={"permissions": {"build": {"execute": False}}})
        assert r.status_code == 200, r.text
    assert not build_permission(viewer, pid).execute_permission


def test_check_job_internal_through_the_build_sdk(server):
    """CheckJobInternal: whether the tenant's private access is in force in the region of the
    request. Not while its list is empty, nor for records in another region, nor once switched
    off; while it is in force, a request from outside the listed endpoints is refused like any
    other (tests/vpcep: the answer through a listed endpoint)."""
    tenant = Tenant(server)  # its own account: the allow-list below would lock the shared cast out
    build = tenant.owner.build()
    internal = lambda: build.check_job_internal(CheckJobInternalRequest())  # noqa: E731
    first = internal()
    assert (first.result, first.status) == (False, "success")
    vpcep = ("--account", tenant.account_name)

    server.cli("vpcep", "add", "vpce-elsewhere", *vpcep, "--region", "sa-brazil-1")
    assert internal().result is False  # not this request's region

    server.cli("vpcep", "add", "vpce-here", *vpcep, "--region", REGION)
    refused = sdk_error(internal)
    assert (refused.status_code, refused.error_code) == (403, "UC.00011065")

    server.cli("vpcep", "private-access", "off", *vpcep, "--region", REGION)
    assert internal().result is False


def test_list_project_users_gives_every_role_of_every_member(permission_world):
    """ListProjectUsers (the IPD member list): all of a member's roles, comma-joined."""
    world = permission_world
    owner, users = world["tenant"].owner, world["users"]
    answer = owner.projectman().list_project_users(ListProjectUsersRequest(project_id=world["pid"]))
    assert (answer.status, answer.message) == ("success", None)
    creator = answer.result[0]
    assert (creator.user_id, creator.role_id, creator.role_name, creator.role_code) == (
        owner.user_id, DEVUC_IDS["admin"], "项目管理员", "project_admin")
    assert creator.domain_name == world["tenant"].account_name and isinstance(creator.user_num_id, int)
    by_id = {u.user_id: u for u in answer.result}
    two = by_id[users["two"].user_id]
    assert two.role_id == f"{DEVUC_IDS['tm']},{world['custom']['role_id']}"
    assert (two.role_name, two.role_code) == ("测试经理,Release runner", "test_manager,custom_500")
    assert by_id[users["dev"].user_id].role_code == "developer"
    assert users["outsider"].user_id not in by_id
    # the same members as ProjectMan's own list
    listed = owner.projectman().list_project_members_v4(
        ListProjectMembersV4Request(project_id=world["pid"], limit=100, offset=0))
    assert [m.user_id for m in listed.members] == [u.user_id for u in answer.result]
    err = sdk_error(lambda: users["outsider"].projectman().list_project_users(
        ListProjectUsersRequest(project_id=world["pid"])))
    assert (err.status_code, err.error_code) == (400, "PM.02174103")
    err = sdk_error(lambda: world["other"].owner.projectman().list_project_users(
        ListProjectUsersRequest(project_id=world["pid"])))
    assert (err.status_code, err.error_code) == (400, "PM.02152005")
