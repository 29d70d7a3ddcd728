"""OpenAPI models of the CodeArts APIs: what requests carry and answers hold.

The routes read and check bodies themselves (devuc.codearts.inputs), so every field error gets
its catalogue code; these models only describe the wire format in the OpenAPI document.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ProjectType = Literal["scrum", "normal", "xboard", "basic", "phoenix", "ipd"]

# --- ProjectMan v4 (spec/projectman.md §3) ------------------------------------------------------


class CreateProjectV4RequestBody(BaseModel):
    project_name: str = Field(min_length=1, max_length=128)
    project_type: ProjectType
    description: str | None = Field(None, max_length=1000)
    source: str | None = Field(None, max_length=64)
    enterprise_id: str | None = Field(None, max_length=64)
    template_id: Literal[10001, 10002, 10003] | None = Field(
        None, description="required when project_type is ipd; ignored otherwise"
    )


class CreateProjectV4Response(BaseModel):
    project_num_id: int
    project_id: str
    project_name: str
    description: str
    project_type: str
    user_num_id: int


class Creator(BaseModel):
    user_num_id: int | None
    user_id: str
    user_name: str | None
    domain_id: str
    domain_name: str | None
    nick_name: str | None


class ProjectItem(BaseModel):
    project_num_id: int
    project_id: str
    project_name: str
    description: str
    created_time: int = Field(description="epoch milliseconds")
    updated_time: int = Field(description="epoch milliseconds")
    project_type: str
    creator: Creator


class ListProjectsV4Response(BaseModel):
    projects: list[ProjectItem]
    total: int


class ProjectInfo(BaseModel):
    project_num_id: int
    project_id: str
    name: str
    created_on: int
    updated_on: int
    project_type: str
    archive: Literal[0, 1] = Field(description="1 active, 0 archived")
    enterprise_id: str
    project_code: str | None
    creator: Creator


class ShowProjectInfoV4Response(BaseModel):
    project: ProjectInfo


class UpdateProjectRequestV4(BaseModel):
    project_name: str = Field(min_length=1, max_length=128)
    description: str | None = Field(None, max_length=1000, description="absent: keep; empty: clear")


class CheckProjectNameV4RequestBody(BaseModel):
    project_name: str = Field(min_length=1, max_length=128)


class CheckProjectNameV4Response(BaseModel):
    exist: bool


class AddMemberRequestV4(BaseModel):
    user_id: str = Field(pattern=r"^[0-9a-z]{32}$")
    domain_id: str = Field(min_length=32, max_length=32)
    domain_name: str | None = Field(None, description="required for a user of another account")
    role_id: int | None = Field(None, description="3-11 or a custom role of the project; default 7")


class BatchAddMemberRequestV4(BaseModel):
    user_id: str
    role_id: int | None = None


class BatchAddMembersV4RequestBody(BaseModel):
    users: list[BatchAddMemberRequestV4] = Field(min_length=1, max_length=50)


class Member(BaseModel):
    domain_id: str
    domain_name: str
    user_id: str
    user_name: str
    user_num_id: int | None
    role_id: int | None
    role_name: str | None
    nick_name: str
    user_type: Literal["User", "Federation"]
    forbidden: Literal[0, 1]


class ListProjectMembersV4Response(BaseModel):
    members: list[Member]
    total: int


class BatchDeleteMembersV4RequestBody(BaseModel):
    user_ids: list[str] = Field(min_length=1, max_length=50)


class UpdateMembersRoleV4RequestBody(BaseModel):
    role_id: int
    user_ids: list[str] = Field(min_length=1, max_length=50)


class ShowCurUserRoleResponse(BaseModel):
    user_role: int | None


class ShowCurUserInfoResponse(BaseModel):
    domain_id: str
    domain_name: str
    user_num_id: int
    user_id: str
    user_name: str
    nick_name: str
    created_time: int
    updated_time: int
    user_type: Literal["User", "Federation"]


class UpdateUserNickNameRequestV4(BaseModel):
    nick_name: str = Field(min_length=1, max_length=128)


class ChildNickName(BaseModel):
    user_id: str
    nick_name: str = Field(min_length=1, max_length=128)


class BatchUpdateChildNickNamesRequestBody(BaseModel):
    users: list[ChildNickName] = Field(min_length=1, max_length=100)


class UserVO(BaseModel):
    user_id: str
    user_num_id: int | None
    user_name: str
    domain_id: str
    domain_name: str
    nick_name: str
    role_id: str = Field(description="The member's role ids (32 characters each), comma-separated")
    role_name: str = Field(description="Their names, comma-separated")
    role_code: str = Field(description="Their codes (a system role's key, custom_<number>), comma-separated")


class ListProjectUsersResponse(BaseModel):
    status: Literal["success", "error"]
    message: str | None
    result: list[UserVO]


# --- CodeArts Build (spec/projectman.md §4) -----------------------------------------------------


class UserProjectPermission(BaseModel):
    project_id: str
    create_permission: bool
    modify_permission: bool
    group_permission: bool
    delete_permission: bool
    view_permission: bool
    execute_permission: bool
    copy_permission: bool
    forbidden_permission: bool
    manager_permission: bool
    role_id: str | None = Field(description="Build role id, in decimal; null for a non-member")
    role_name: str | None
    role_ids: list[str]
    role_names: list[str]


class ShowProjectPermissionResponse(BaseModel):
    result: UserProjectPermission
    error: str | None
    status: Literal["success", "fail"]


class TaskFlags(BaseModel):
    """The seven task permissions of a Build matrix row."""

    is_modify: bool
    is_delete: bool
    is_view: bool
    is_execute: bool
    is_copy: bool
    is_forbidden: bool
    is_manager: bool


class DefaultPermissionRow(TaskFlags):
    role_id: int
    role_name: str | None


class ShowDefaultProjectPermissionResponse(BaseModel):
    result: list[DefaultPermissionRow]
    error: str | None
    status: Literal["success", "fail"]


class CheckJobInternalResponse(BaseModel):
    result: bool = Field(description="Private access is in force for the caller's tenant in the request's region.")
    error: str | None
    status: Literal["success", "fail"]


class JobRolePermissionRow(TaskFlags):
    id: int = Field(description="The row's id in the store; 0 for a row the task does not keep "
                                "(the locked rows, and every row while the task follows the project)")
    role_id: int = Field(description="Build role id; -3 is the task's creator")
    role_name: str | None
    job_id: str
    create_time: str
    last_update_time: str
    count: int


class ShowJobRolePermissionResponse(BaseModel):
    result: list[JobRolePermissionRow]
    error: str | None
    status: Literal["success", "fail"]


class JobPermission(TaskFlags):
    role_id: int | None = Field(description="The role the answer rests on (-1 project administrator, "
                                            "-3 the task's creator); null for a non-member")
    job_id: str
    create_time: str
    last_update_time: str
    count: int


class ShowProjectJobPermissionResponse(BaseModel):
    result: JobPermission
    error: str | None
    status: Literal["success", "fail"]


class JobRolePermission(BaseModel):
    id: int | None = None
    role_id: int | None = Field(None, description="Build role id: the row is matched by it")
    devuc_role_id: str | None = Field(None, description="User Center role id (32 characters, or 36 with dashes)")
    role_name: str | None = None
    is_modify: bool | None = None
    is_delete: bool | None = None
    is_view: bool | None = None
    is_execute: bool | None = None
    is_copy: bool | None = None
    is_forbidden: bool | None = None
    is_manager: bool | None = None
    count: int | None = None


class RolePermissionsRequestBody(BaseModel):
    project_id: str
    job_ids: list[str] = Field(min_length=1, max_length=100)
    project_switch: bool | None = Field(None, description="true: the tasks follow the project's matrix "
                                                          "(permissions are then not needed)")
    permissions: list[JobRolePermission] | None = None


class UpdateSimpleJobRolePermissionBody(BaseModel):
    job_id: str
    role_id: str = Field(description="Build role id, in decimal")
    permission_name: Literal["is_modify", "is_delete", "is_view", "is_execute", "is_copy", "is_forbidden", "is_manager"]
    permission_value: bool = True


class ProjectPermissionRequestBody(BaseModel):
    job_id: str
    project_id: str
    project_switch: bool = Field(description="true: the task follows the project's matrix; "
                                             "false: it keeps one of its own")


class BuildWriteResponse(BaseModel):
    status: Literal["success", "fail"]
    error: str | None
    result: str | None


# --- devuc extensions: roles, matrices, member roles, project creators --------------------------


class BuildPermissions(BaseModel):
    create: bool | None = None
    modify: bool | None = None
    group: bool | None = None
    delete: bool | None = None
    view: bool | None = None
    execute: bool | None = None
    copy_: bool | None = Field(None, alias="copy")
    forbidden: bool | None = None
    manager: bool | None = None


class GeneralPermissions(BaseModel):
    project_edit: bool | None = None
    member_manage: bool | None = None
    role_manage: bool | None = None


class Permissions(BaseModel):
    build: BuildPermissions | None = None
    devuc: GeneralPermissions | None = None


class Role(BaseModel):
    role_id: str = Field(description="32-character devuc role id")
    name: str
    name_en: str | None
    type: Literal["system", "custom"]
    projectman_role_id: int | None
    build_role_id: int
    rank: int
    locked: list[Literal["build", "devuc"]]
    permissions: Permissions


class RoleList(BaseModel):
    roles: list[Role]


class CatalogueRole(BaseModel):
    role_id: str
    name: str
    name_en: str
    build_role_name: str
    projectman_role_id: int | None
    build_role_id: int
    rank: int
    locked: list[Literal["build", "devuc"]]
    default_permissions: Permissions


class RoleCatalogue(BaseModel):
    roles: list[CatalogueRole]


class CopyFrom(BaseModel):
    project_id: str
    role_id: str


class CreateRoleBody(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    copy_from: CopyFrom | None = Field(None, description="a role of a project of the same type")


class RenameRoleBody(BaseModel):
    name: str = Field(min_length=1, max_length=30)


class RolePermissionsBody(BaseModel):
    permissions: Permissions


class MatrixRow(BaseModel):
    role_id: str
    permissions: Permissions


class MatrixUpdateBody(BaseModel):
    roles: list[MatrixRow] = Field(min_length=1)


class MemberRoles(BaseModel):
    user_id: str
    roles: list[Role]


class MemberRolesBody(BaseModel):
    role_ids: list[str] = Field(min_length=1, max_length=20)


class ProjectCreators(BaseModel):
    domain_id: str
    project_creation: Literal["all", "selected"]
    project_creators: list[str]


class ProjectCreatorsBody(BaseModel):
    project_creation: Literal["all", "selected"] | None = None
    project_creators: list[str] | None = None


# --- devuc extensions: permission templates (codearts-uc.md §5.5) ------------------------------


class TemplateRole(BaseModel):
    role_id: str = Field(description="A system role's devuc id, or the template's own id for a custom role")
    name: str
    type: Literal["system", "custom"]
    locked: list[Literal["build", "devuc"]]
    permissions: Permissions


class TemplateSummary(BaseModel):
    template_id: str
    name: str
    description: str
    project_type: str
    region: str
    domain_id: str
    source_project_id: str | None = Field(description="The project it was made from (null once that is deleted)")
    created_by: str
    created_time: int
    updated_time: int


class Template(TemplateSummary):
    roles: list[TemplateRole]


class TemplateList(BaseModel):
    templates: list[TemplateSummary]
    total: int


class CreateTemplateBody(BaseModel):
    name: str = Field(min_length=1, max_length=64, description="Letters and digits; unique in the account")
    description: str | None = Field(None, max_length=256)
    project_id: str = Field(description="The project whose roles and matrix the template copies")


class UpdateTemplateBody(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = Field(None, max_length=256)


class ApplyTemplateBody(BaseModel):
    template_id: str


class AppliedTemplate(BaseModel):
    template_id: str
    roles: list[Role]
