"""OpenAPI models of the identity API (spec/iam.md §3): what requests carry and responses hold."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field



# --- shared ---------------------------------------------------------------------------------


class Links(BaseModel):
    self: str
    previous: str | None = None
    next: str | None = None


class LinksSelf(BaseModel):
    self: str


class NameId(BaseModel):
    id: str
    name: str


# --- tokens ---------------------------------------------------------------------------------


class DomainRef(BaseModel):
    name: str | None = Field(None, max_length=64)
    id: str | None = Field(None, max_length=64)


class PasswordUser(BaseModel):
    """The user by name within its account (``domain``); a user ``id`` is accepted too."""

    name: str = Field(min_length=1, max_length=64)
    id: str | None = None
    password: str = Field(min_length=1, max_length=32)
    domain: DomainRef


class PasswordMethod(BaseModel):
    user: PasswordUser


class PasswordIdentity(BaseModel):
    methods: list[Literal["password"]] = Field(min_length=1, max_length=1)
    password: PasswordMethod


class ProjectScope(BaseModel):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None


class Scope(BaseModel):
    project: ProjectScope | None = None
    domain: DomainRef | None = None


class PasswordAuth(BaseModel):
    identity: PasswordIdentity
    scope: Scope | None = None


class PasswordTokenRequest(BaseModel):
    auth: PasswordAuth


class TokenUser(BaseModel):
    id: str
    name: str
    password_expires_at: str
    domain: NameId


class TokenProject(BaseModel):
    id: str
    name: str
    domain: NameId


class CatalogEndpoint(BaseModel):
    id: str
    interface: str
    region: str
    region_id: str
    url: str


class CatalogEntry(BaseModel):
    type: str
    id: str
    name: str
    endpoints: list[CatalogEndpoint]


class TokenBody(BaseModel):
    methods: list[str]
    issued_at: str
    expires_at: str
    user: TokenUser
    roles: list[NameId]
    catalog: list[CatalogEntry]
    project: TokenProject | None = None
    domain: NameId | None = None


class TokenResponse(BaseModel):
    token: TokenBody


# --- projects and domains -------------------------------------------------------------------


class Project(BaseModel):
    id: str
    name: str
    domain_id: str
    parent_id: str
    enabled: bool
    is_domain: bool
    description: str
    links: Links


class ProjectList(BaseModel):
    links: Links
    projects: list[Project]


class AuthProjectList(BaseModel):
    links: LinksSelf
    projects: list[Project]


class Domain(BaseModel):
    id: str
    name: str
    enabled: bool
    description: str
    links: LinksSelf


class DomainList(BaseModel):
    domains: list[Domain]
    links: LinksSelf


# --- users ----------------------------------------------------------------------------------


class UserOption(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    domain_id: str | None = None
    password: str | None = Field(None, max_length=32)
    email: str | None = Field(None, max_length=255)
    areacode: str | None = Field(None, max_length=16)
    phone: str | None = Field(None, max_length=32)
    enabled: bool | None = None
    pwd_status: bool | None = None
    access_mode: Literal["default", "programmatic", "console"] | None = None
    description: str | None = Field(None, max_length=255)
    xuser_type: str | None = None
    xuser_id: str | None = Field(None, max_length=128)


class CreateUserRequest(BaseModel):
    user: UserOption


class UpdateUserRequest(BaseModel):
    user: UserOption


class UserResult(BaseModel):
    id: str
    name: str
    domain_id: str
    enabled: bool
    email: str
    areacode: str
    phone: str
    description: str
    pwd_status: bool
    access_mode: str
    is_domain_owner: bool
    xuser_id: str
    xuser_type: str
    xdomain_id: str
    xdomain_type: str
    status: str | None
    create_time: str
    password_expires_at: str | None
    default_project_id: str | None


class UserResponse(BaseModel):
    user: UserResult


class UserDetail(BaseModel):
    id: str
    name: str
    domain_id: str
    enabled: bool
    email: str
    areacode: str
    phone: str
    description: str
    pwd_status: bool
    access_mode: str
    is_domain_owner: bool
    xuser_id: str
    xuser_type: str
    pwd_strength: str
    create_time: str | None
    update_time: str | None
    last_login_time: str | None
    last_pwd_auth_time: str | None
    pwd_create_time: str | None
    modify_pwd_time: str | None
    links: Links


class UserDetailResponse(BaseModel):
    user: UserDetail


class UserListItem(BaseModel):
    id: str
    name: str
    domain_id: str
    enabled: bool
    description: str
    password_expires_at: str | None
    pwd_status: bool
    pwd_strength: str
    last_project_id: str | None
    access_mode: str
    links: Links


class UserList(BaseModel):
    links: Links
    users: list[UserListItem]


class PasswordChange(BaseModel):
    password: str = Field(min_length=1, max_length=32)
    original_password: str = Field(min_length=1, max_length=32)


class PasswordChangeRequest(BaseModel):
    user: PasswordChange


# --- groups ---------------------------------------------------------------------------------


class GroupOption(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = Field(None, max_length=255)
    domain_id: str | None = None


class GroupRequest(BaseModel):
    group: GroupOption


class Group(BaseModel):
    id: str
    name: str
    domain_id: str
    description: str
    create_time: int
    links: LinksSelf


class GroupResponse(BaseModel):
    group: Group


class GroupList(BaseModel):
    groups: list[Group]
    links: Links


# --- access keys ----------------------------------------------------------------------------


class CredentialOption(BaseModel):
    user_id: str
    description: str | None = Field(None, max_length=255)


class CreateCredentialRequest(BaseModel):
    credential: CredentialOption


class CredentialUpdate(BaseModel):
    status: Literal["active", "inactive"] | None = None
    description: str | None = Field(None, max_length=255)


class UpdateCredentialRequest(BaseModel):
    credential: CredentialUpdate


class Credential(BaseModel):
    user_id: str
    access: str
    status: str
    create_time: str
    description: str


class CreatedCredential(Credential):
    secret: str


class CreatedCredentialResponse(BaseModel):
    credential: CreatedCredential


class CredentialResponse(BaseModel):
    credential: Credential


class CredentialDetail(Credential):
    last_use_time: str


class CredentialDetailResponse(BaseModel):
    credential: CredentialDetail


class CredentialList(BaseModel):
    credentials: list[Credential]


class TemporaryToken(BaseModel):
    id: str | None = None
    duration_seconds: int | None = Field(None, ge=900, le=86400)


class TemporaryIdentity(BaseModel):
    methods: list[Literal["token"]] = Field(min_length=1, max_length=1)
    token: TemporaryToken | None = None
    policy: dict | None = None


class TemporaryAuth(BaseModel):
    identity: TemporaryIdentity


class TemporaryKeyRequest(BaseModel):
    auth: TemporaryAuth


class TemporaryCredential(BaseModel):
    access: str
    secret: str
    securitytoken: str
    expires_at: str


class TemporaryCredentialResponse(BaseModel):
    credential: TemporaryCredential
