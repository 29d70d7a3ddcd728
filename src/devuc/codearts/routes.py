"""CodeArts HTTP routes: ProjectMan v4 (``/v4/...``), the CodeArts Build permission APIs
(``/v1/...``) and the devuc extensions (``/devuc/v1/...``). Parse, call a service function, shape
the answer; nothing else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from .. import metrics
from ..errors import ApiError
from ..http import JSONResponse, empty, lean, query_value, read_json, request_id
from ..iam.identity import Principal
from ..iam.principal import principal, runtime
from ..schemas import documented, parameter
from . import explain, role_admin, service, tasks, templates
from . import schemas as S

log = logging.getLogger("devuc.codearts")

EXTENSION_TAG = "devuc extensions"
_INTERNAL = (("/v4/", "PM.02175000"), ("/v1/ipdprojectservice/", "PM.02175000"), ("/v1/", "CB.00060101"),
             ("/devuc/", "UC.00010005"))


class CodeArtsRoute(APIRoute):
    """Answers an unexpected failure with the family's internal-error code (spec/projectman.md
    §2.3) instead of the generic one; logs only the exception type and the request id."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()
        code = next((c for prefix, c in _INTERNAL if self.path.startswith(prefix)), "PM.02175000")

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except (ApiError, StarletteHTTPException, RequestValidationError, ClientDisconnect):
                raise  # a client that hung up gets no answer, and is no error of ours
            except Exception as exc:
                log.error("unexpected %s on %s %s (request %s)", type(exc).__name__,
                          request.method, request.url.path, request_id(request))
                raise ApiError(code) from exc

        return guarded


router = APIRouter(route_class=CodeArtsRoute)
Caller = Annotated[Principal, Depends(principal)]


async def build_principal(request: Request) -> Principal:
    """CodeArts Build accepts only region-level tokens scoped to a project (signed requests
    carry their region project in X-Project-Id)."""
    who = await principal(request)
    if who.method == "token" and who.project_id is None:
        metrics.auth_failure("token_not_project_scoped")
        raise ApiError(
            "APIGW.0301",
            "Incorrect IAM authentication information: CodeArts Build accepts only a region-level "
            "token scoped to a project, not a global token.",
        )
    return who


BuildCaller = Annotated[Principal, Depends(build_principal)]


def doc(tag: str, *, ok=None, status: int = 200, body=None, extension: bool = False,
        errors: tuple[int, ...] = (), parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    kw = documented(ok=ok, status=status, body=body, family="flat", errors=(404, *errors),
                    parameters=parameters)
    kw["tags"] = [EXTENSION_TAG if extension else tag]
    if extension:
        kw["openapi_extra"] = {**kw.get("openapi_extra", {}), "x-devuc-extension": True}
    return kw


async def _body(request: Request, code: str) -> Any:
    return await read_json(request, invalid=code)


async def _uc_body(request: Request) -> dict:
    """Extension bodies: empty, not JSON or not an object is a bad request (``UC.00011001``), as
    on the private-access routes."""
    body = await read_json(request, invalid=UC_BAD_REQUEST, invalid_field="UC.00011002")
    if not isinstance(body, dict):
        raise ApiError(UC_BAD_REQUEST, "The request body must be a JSON object.")
    return body


PM_TAG = "CodeArts ProjectMan v4"
CB_TAG = "CodeArts Build permissions"
PM_BAD = service.PM_BAD
UC_BAD_REQUEST = "UC.00011001"

# --- ProjectMan v4: projects ------------------------------------------------------------------


@router.post("/v4/project", summary="Create a project (CreateProjectV4)",
             **doc(PM_TAG, ok=S.CreateProjectV4Response, body=S.CreateProjectV4RequestBody))
async def create_project(request: Request, caller: Caller):
    answer = await service.create_project(runtime(request), caller, await _body(request, PM_BAD))
    return JSONResponse(answer)


@router.get("/v4/projects", summary="List projects (ListProjectsV4)", **doc(PM_TAG, ok=S.ListProjectsV4Response))
async def list_projects(
    request: Request,
    caller: Caller,
    offset: str | None = None,
    limit: str | None = None,
    search: str | None = None,
    project_type: str | None = None,
    sort: str | None = None,
    archive: str | None = None,
    query_type: str | None = None,
):
    query = service.ProjectQuery(offset, limit, search, project_type, sort, archive, query_type)
    return JSONResponse(await service.list_projects(runtime(request), caller, query))


@router.post("/v4/projects/check-name", summary="Is a project name used (CheckProjectNameV4)",
             **doc(PM_TAG, ok=S.CheckProjectNameV4Response, body=S.CheckProjectNameV4RequestBody))
async def check_project_name(request: Request, caller: Caller):
    answer = await service.check_project_name(runtime(request), caller, await _body(request, PM_BAD))
    return JSONResponse(answer)


@router.get("/v4/projects/domain/not-added",
            summary="Projects of the account the caller is not in (ListDomainNotAddedProjectsV4)",
            **doc(PM_TAG, ok=S.ListProjectsV4Response))
async def list_not_added(request: Request, caller: Caller, offset: str | None = None, limit: str | None = None):
    return JSONResponse(await service.list_not_added(runtime(request), caller, offset, limit))


@router.get("/v4/projects/{project_id}", summary="Show a project (ShowProjectInfoV4)",
            **doc(PM_TAG, ok=S.ShowProjectInfoV4Response))
async def show_project(request: Request, caller: Caller, project_id: str):
    return JSONResponse(await service.show_project(runtime(request), caller, project_id))


@router.put("/v4/projects/{project_id}", summary="Update a project (UpdateProjectV4)",
            **doc(PM_TAG, status=204, body=S.UpdateProjectRequestV4))
async def update_project(request: Request, caller: Caller, project_id: str):
    await service.update_project(runtime(request), caller, project_id, await _body(request, PM_BAD))
    return empty()


@router.delete("/v4/projects/{project_id}", summary="Delete a project (DeleteProjectV4)", **doc(PM_TAG, status=204))
async def delete_project(request: Request, caller: Caller, project_id: str):
    await service.delete_project(runtime(request), caller, project_id)
    return empty()


# --- ProjectMan v4: members -------------------------------------------------------------------


@router.post("/v4/projects/{project_id}/member", summary="Add one member (AddMemberV4)",
             **doc(PM_TAG, status=204, body=S.AddMemberRequestV4))
async def add_member(request: Request, caller: Caller, project_id: str):
    await service.add_member(runtime(request), caller, project_id, await _body(request, PM_BAD))
    return empty()


@router.post("/v4/projects/{project_id}/members", summary="Add members in batch (BatchAddMembersV4)",
             **doc(PM_TAG, status=204, body=S.BatchAddMembersV4RequestBody))
async def batch_add_members(request: Request, caller: Caller, project_id: str):
    await service.batch_add_members(runtime(request), caller, project_id, await _body(request, PM_BAD))
    return empty()


@router.get("/v4/projects/{project_id}/members", summary="List members (ListProjectMembersV4)",
            **doc(PM_TAG, ok=S.ListProjectMembersV4Response))
async def list_members(
    request: Request, caller: Caller, project_id: str, offset: str | None = None, limit: str | None = None
):
    return JSONResponse(await service.list_members(runtime(request), caller, project_id, offset, limit))


@router.delete("/v4/projects/{project_id}/members", summary="Delete members in batch (BatchDeleteMembersV4)",
               **doc(PM_TAG, status=204, body=S.BatchDeleteMembersV4RequestBody))
async def batch_delete_members(request: Request, caller: Caller, project_id: str):
    await service.batch_delete_members(runtime(request), caller, project_id, await _body(request, PM_BAD))
    return empty()


@router.post("/v4/projects/{project_id}/members/role", summary="Change members' role (UpdateMembesRoleV4)",
             **doc(PM_TAG, status=204, body=S.UpdateMembersRoleV4RequestBody))
async def update_members_role(request: Request, caller: Caller, project_id: str):
    await service.update_members_role(runtime(request), caller, project_id, await _body(request, PM_BAD))
    return empty()


@router.get("/v4/projects/{project_id}/members/agc-join",
            summary="AppGallery Connect join (AddApplyJoinProjectForAgc): not offered", **doc(PM_TAG, status=204))
async def agc_join(request: Request, caller: Caller, project_id: str):
    raise ApiError("PM.02152010", "Joining through AppGallery Connect is not offered by this service.")


@router.get("/v4/projects/{project_id}/user-role", summary="The caller's role (ShowCurUserRole)",
            **doc(PM_TAG, ok=S.ShowCurUserRoleResponse))
async def show_user_role(request: Request, caller: Caller, project_id: str):
    return JSONResponse(await service.show_user_role(runtime(request), caller, project_id))


@router.delete("/v4/projects/{project_id}/quit", summary="Leave a project (RemoveProject)", **doc(PM_TAG, status=204))
async def quit_project(request: Request, caller: Caller, project_id: str):
    await service.quit_project(runtime(request), caller, project_id)
    return empty()


@router.get("/v1/ipdprojectservice/projects/{project_id}/users",
            summary="Members with all of their roles (ListProjectUsers)", **doc(PM_TAG, ok=S.ListProjectUsersResponse))
async def list_project_users(request: Request, caller: Caller, project_id: str):
    return JSONResponse(await service.list_project_users(runtime(request), caller, project_id))


# --- ProjectMan v4: users ---------------------------------------------------------------------


@router.get("/v4/user", summary="The current user (ShowCurUserInfo)", **doc(PM_TAG, ok=S.ShowCurUserInfoResponse))
async def show_current_user(request: Request, caller: Caller):
    return JSONResponse(await service.show_current_user(runtime(request), caller))


@router.put("/v4/user", summary="Change the caller's nickname (UpdateNickNameV4)",
            **doc(PM_TAG, status=204, body=S.UpdateUserNickNameRequestV4))
async def update_nick_name(request: Request, caller: Caller):
    await service.update_nick_name(runtime(request), caller, await _body(request, PM_BAD))
    return empty()


@router.put("/v4/domain/child-users", summary="Set users' nicknames (BatchUpdateChildNickNames)",
            **doc(PM_TAG, status=204, body=S.BatchUpdateChildNickNamesRequestBody))
async def update_child_nick_names(request: Request, caller: Caller):
    await service.update_child_nick_names(runtime(request), caller, await _body(request, PM_BAD))
    return empty()


# --- CodeArts Build ---------------------------------------------------------------------------


@router.get("/v1/domain/user-permission", summary="The caller's Build permissions (ShowProjectPermission)",
            **doc(CB_TAG, ok=S.ShowProjectPermissionResponse,
                  parameters=[parameter("project_id", description="The CodeArts project (32 hex digits).")]))
@lean(internal_error="CB.00060101")
async def show_project_permission(request: Request):
    caller = await build_principal(request)
    project_id = query_value(request, "project_id")
    return JSONResponse(await service.show_project_permission(runtime(request), caller, project_id))


@router.get("/v1/job/project/default-permission",
            summary="The project's Build role matrix (ShowDefaultProjectPermission)",
            **doc(CB_TAG, ok=S.ShowDefaultProjectPermissionResponse))
async def show_default_project_permission(
    request: Request, caller: BuildCaller, project_id: str | None = None, job_id: str | None = None
):
    answer = await service.show_default_project_permission(runtime(request), caller, project_id, job_id)
    return JSONResponse(answer)


@router.get("/v1/job/permission/internal",
            summary="Whether the tenant's private access is in force (CheckJobInternal)",
            **doc(CB_TAG, ok=S.CheckJobInternalResponse))
async def check_job_internal(request: Request, caller: BuildCaller):
    return JSONResponse(await service.check_job_internal(runtime(request), caller))


@router.get("/v1/job/permission/role", summary="A build task's role matrix (ShowJobRolePermission)",
            **doc(CB_TAG, ok=S.ShowJobRolePermissionResponse))
async def show_job_role_permission(request: Request, caller: BuildCaller, job_id: str | None = None):
    return JSONResponse(await tasks.show_job_role_permission(runtime(request), caller, job_id))


@router.get("/v1/job/permission", summary="The caller's permissions on a build task (ShowProjectJobPermission)",
            **doc(CB_TAG, ok=S.ShowProjectJobPermissionResponse))
async def show_project_job_permission(
    request: Request, caller: BuildCaller, project_id: str | None = None, job_id: str | None = None
):
    answer = await tasks.show_project_job_permission(runtime(request), caller, project_id, job_id)
    return JSONResponse(answer)


@router.post("/v1/job/permissions/batch",
             summary="Change the role matrix of build tasks (BatchUpdateJobRolePermission)",
             **doc(CB_TAG, ok=S.BuildWriteResponse, body=S.RolePermissionsRequestBody, errors=(403,)))
async def batch_update_job_role_permission(request: Request, caller: BuildCaller):
    body = await _body(request, service.CB_BAD)
    return JSONResponse(await tasks.batch_update_job_role_permission(runtime(request), caller, body))


@router.put("/v1/job/role-permission",
            summary="Change one cell of a build task's role matrix (UpdateSimpleJobRolePermission)",
            **doc(CB_TAG, ok=S.BuildWriteResponse, body=S.UpdateSimpleJobRolePermissionBody, errors=(403,)))
async def update_simple_job_role_permission(request: Request, caller: BuildCaller):
    body = await _body(request, service.CB_BAD)
    return JSONResponse(await tasks.update_simple_job_role_permission(runtime(request), caller, body))


@router.post("/v1/job/project/permission",
             summary="Whether a build task follows the project's matrix (ApplyProjectPermission)",
             **doc(CB_TAG, ok=S.BuildWriteResponse, body=S.ProjectPermissionRequestBody, errors=(403,)))
async def apply_project_permission(request: Request, caller: BuildCaller):
    body = await _body(request, service.CB_BAD)
    return JSONResponse(await tasks.apply_project_permission(runtime(request), caller, body))


# --- devuc extensions -------------------------------------------------------------------------


@router.get("/devuc/v1/roles", summary="The system roles with their ids in every scheme",
            **doc("", ok=S.RoleCatalogue, extension=True))
async def role_catalogue(caller: Caller):
    return JSONResponse(role_admin.catalogue())


@router.get("/devuc/v1/projects/{project_id}/roles", summary="A project's roles and their permission matrix",
            **doc("", ok=S.RoleList, extension=True))
async def list_roles(request: Request, caller: Caller, project_id: str):
    return JSONResponse(await role_admin.list_roles(runtime(request), caller, project_id))


@router.post("/devuc/v1/projects/{project_id}/roles", summary="Create a custom role (optionally a copy)",
             **doc("", ok=S.Role, status=201, body=S.CreateRoleBody, extension=True, errors=(409,)))
async def create_role(request: Request, caller: Caller, project_id: str):
    answer = await role_admin.create_role(runtime(request), caller, project_id, await _uc_body(request))
    return JSONResponse(answer, status_code=201)


@router.patch("/devuc/v1/projects/{project_id}/permissions", summary="Change the permission matrix",
              **doc("", ok=S.RoleList, body=S.MatrixUpdateBody, extension=True))
async def update_matrix(request: Request, caller: Caller, project_id: str):
    answer = await role_admin.update_matrix(runtime(request), caller, project_id, await _uc_body(request))
    return JSONResponse(answer)


@router.get("/devuc/v1/projects/{project_id}/roles/{role_id}", summary="One role",
            **doc("", ok=S.Role, extension=True))
async def show_role(request: Request, caller: Caller, project_id: str, role_id: str):
    return JSONResponse(await role_admin.show_role(runtime(request), caller, project_id, role_id))


@router.put("/devuc/v1/projects/{project_id}/roles/{role_id}", summary="Rename a custom role",
            **doc("", ok=S.Role, body=S.RenameRoleBody, extension=True, errors=(409,)))
async def rename_role(request: Request, caller: Caller, project_id: str, role_id: str):
    body = await _uc_body(request)
    return JSONResponse(await role_admin.rename_role(runtime(request), caller, project_id, role_id, body))


@router.delete("/devuc/v1/projects/{project_id}/roles/{role_id}", summary="Delete a custom role nobody holds",
               **doc("", status=204, extension=True))
async def delete_role(request: Request, caller: Caller, project_id: str, role_id: str):
    await role_admin.delete_role(runtime(request), caller, project_id, role_id)
    return empty()


@router.patch("/devuc/v1/projects/{project_id}/roles/{role_id}/permissions",
              summary="Change one role's permissions", **doc("", ok=S.Role, body=S.RolePermissionsBody, extension=True))
async def update_role_matrix(request: Request, caller: Caller, project_id: str, role_id: str):
    body = await _uc_body(request)
    return JSONResponse(await role_admin.update_role_matrix(runtime(request), caller, project_id, role_id, body))


@router.get("/devuc/v1/projects/{project_id}/members/{user_id}/roles", summary="A member's roles",
            **doc("", ok=S.MemberRoles, extension=True))
async def member_roles(request: Request, caller: Caller, project_id: str, user_id: str):
    return JSONResponse(await role_admin.member_roles(runtime(request), caller, project_id, user_id))


@router.put("/devuc/v1/projects/{project_id}/members/{user_id}/roles", summary="Give a member one or more roles",
            **doc("", ok=S.MemberRoles, body=S.MemberRolesBody, extension=True))
async def set_member_roles(request: Request, caller: Caller, project_id: str, user_id: str):
    body = await _uc_body(request)
    return JSONResponse(await role_admin.set_member_roles(runtime(request), caller, project_id, user_id, body))


@router.get("/devuc/v1/projects/{project_id}/explain",
            summary="Why a user may or may not do each thing in a project",
            **doc("", ok=explain.ExplainAnswer, extension=True))
async def explain_permissions(request: Request, caller: Caller, project_id: str, user_id: str | None = None,
                              job_id: str | None = None):
    answer = await explain.explain_permissions(runtime(request), caller, project_id, user_id, job_id)
    return JSONResponse(answer)


@router.post("/devuc/v1/permission-templates", summary="Make a permission template from a project",
             **doc("", ok=S.Template, status=201, body=S.CreateTemplateBody, extension=True))
async def create_template(request: Request, caller: Caller):
    answer = await templates.create_template(runtime(request), caller, await _uc_body(request))
    return JSONResponse(answer, status_code=201)


@router.get("/devuc/v1/permission-templates", summary="The account's permission templates",
            **doc("", ok=S.TemplateList, extension=True))
async def list_templates(request: Request, caller: Caller, project_type: str | None = None):
    return JSONResponse(await templates.list_templates(runtime(request), caller, project_type))


@router.get("/devuc/v1/permission-templates/{template_id}", summary="One permission template with its roles",
            **doc("", ok=S.Template, extension=True))
async def show_template(request: Request, caller: Caller, template_id: str):
    return JSONResponse(await templates.show_template(runtime(request), caller, template_id))


@router.put("/devuc/v1/permission-templates/{template_id}", summary="Rename a permission template",
            **doc("", ok=S.Template, body=S.UpdateTemplateBody, extension=True))
async def update_template(request: Request, caller: Caller, template_id: str):
    body = await _uc_body(request)
    return JSONResponse(await templates.update_template(runtime(request), caller, template_id, body))


@router.delete("/devuc/v1/permission-templates/{template_id}", summary="Delete a permission template",
               **doc("", status=204, extension=True))
async def delete_template(request: Request, caller: Caller, template_id: str):
    await templates.delete_template(runtime(request), caller, template_id)
    return empty()


@router.patch("/devuc/v1/permission-templates/{template_id}/roles/{role_id}/permissions",
              summary="Change one role's permissions in a template",
              **doc("", ok=S.TemplateRole, body=S.RolePermissionsBody, extension=True))
async def update_template_role(request: Request, caller: Caller, template_id: str, role_id: str):
    body = await _uc_body(request)
    return JSONResponse(await templates.update_template_role(runtime(request), caller, template_id, role_id, body))


@router.post("/devuc/v1/projects/{project_id}/permission-template",
             summary="Give a project a template's roles and permissions",
             **doc("", ok=S.AppliedTemplate, body=S.ApplyTemplateBody, extension=True))
async def apply_template(request: Request, caller: Caller, project_id: str):
    body = await _uc_body(request)
    return JSONResponse(await templates.apply_template(runtime(request), caller, project_id, body))


@router.get("/devuc/v1/domains/{domain_id}/project-creators", summary="Who may create projects",
            **doc("", ok=S.ProjectCreators, extension=True))
async def show_creators(request: Request, caller: Caller, domain_id: str):
    return JSONResponse(await role_admin.show_creators(runtime(request), caller, domain_id))


@router.put("/devuc/v1/domains/{domain_id}/project-creators", summary="Set who may create projects",
            **doc("", ok=S.ProjectCreators, body=S.ProjectCreatorsBody, extension=True))
async def update_creators(request: Request, caller: Caller, domain_id: str):
    body = await _uc_body(request)
    return JSONResponse(await role_admin.update_creators(runtime(request), caller, domain_id, body))
