"""Identity HTTP routes (spec/iam.md §3): parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from ..errors import ApiError
from ..http import JSONResponse, base_url, empty, lean, query_value, read_json
from ..schemas import documented, parameter
from ..validation import query_bool, query_int
from . import keys, service
from . import schemas as s
from .identity import Principal
from .principal import admitted, authenticated, note_caller, principal, runtime

router = APIRouter()
Caller = Annotated[Principal, Depends(principal)]
IAM_BAD_BODY = "IAM.0011"


async def _iam_body(request: Request, invalid: str = IAM_BAD_BODY):
    rt = runtime(request)
    return await read_json(
        request, invalid=invalid, limit=rt.settings.iam_max_body_bytes, too_big="IAM.1101"
    )


def _links(request: Request, *, self_only: bool = False) -> dict:
    url = base_url(request) + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return {"self": url} if self_only else {"self": url, "previous": None, "next": None}


# --- tokens -----------------------------------------------------------------------------------


@router.post(
    "/v3/auth/tokens",
    tags=["tokens"],
    summary="Get a token by password",
    **documented(ok=s.TokenResponse, status=201, body=s.PasswordTokenRequest, headers={"X-Subject-Token": "the new token"},
                 parameters=[parameter("nocatalog", description="Any value: leave out the catalogue.")]),
)
@lean()
async def create_token(request: Request):
    rt = runtime(request)
    login = service.parse_password_login(await _iam_body(request))
    token, state = await service.issue_password_token(rt, login)
    note_caller(request, state.principal)
    body = service.token_body(state, bool(query_value(request, "nocatalog")), base_url(request), rt.region_ids)
    return JSONResponse({"token": body}, status_code=201, headers={"X-Subject-Token": token})


async def _subject(request: Request, caller: Principal, subject: str | None):
    if not subject or not subject.strip():
        raise ApiError("IAM.0009", "Missing parameter 'X-Subject-Token'.")
    state = await service.read_token(runtime(request), subject.strip())
    if state is None or state.status != "valid":
        raise ApiError("IAM.0004", "The token does not exist or has expired.")
    service.check_subject_access(caller, state)
    return state


@router.get(
    "/v3/auth/tokens",
    tags=["tokens"],
    summary="Validate a token",
    **documented(ok=s.TokenResponse, errors=(404,), headers={"X-Subject-Token": "the checked token"},
                 parameters=[parameter("X-Subject-Token", "header", "The token to validate."),
                             parameter("nocatalog", description="Any value: leave out the catalogue.")]),
)
@lean()
async def validate_token(request: Request):
    rt = runtime(request)
    caller = await principal(request)
    subject = request.headers.get("x-subject-token")
    state = await _subject(request, caller, subject)
    body = service.token_body(state, bool(query_value(request, "nocatalog")), base_url(request), rt.region_ids)
    return JSONResponse({"token": body}, headers={"X-Subject-Token": subject.strip()})


@router.head(
    "/v3/auth/tokens",
    tags=["tokens"],
    summary="Check a token",
    **documented(errors=(404,), headers={"X-Subject-Token": "the checked token"}),
)
async def check_token(
    request: Request, caller: Caller, x_subject_token: Annotated[str | None, Header()] = None
):
    await _subject(request, caller, x_subject_token)
    return Response(status_code=200, headers={"X-Subject-Token": x_subject_token.strip()})


@router.delete(
    "/v3/auth/tokens",
    tags=["tokens"],
    summary="Revoke a token",
    **documented(status=204, errors=(404,)),
)
async def delete_token(
    request: Request, caller: Caller, x_subject_token: Annotated[str | None, Header()] = None
):
    if not x_subject_token or not x_subject_token.strip():
        raise ApiError("IAM.0009", "Missing parameter 'X-Subject-Token'.")
    await service.revoke_token(runtime(request), caller, x_subject_token.strip())
    return empty()


# --- projects and domains ---------------------------------------------------------------------


@router.get(
    "/v3/projects",
    tags=["projects"],
    summary="Query region projects",
    **documented(ok=s.ProjectList),
)
async def list_projects(
    request: Request,
    caller: Caller,
    domain_id: str | None = None,
    name: str | None = None,
    parent_id: str | None = None,
    enabled: str | None = None,
    is_domain: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
):
    query_bool(is_domain, "is_domain", "IAM.0007")
    page_n = query_int(page, "page", "IAM.0007", 1, 10**9)
    per_page_n = query_int(per_page, "per_page", "IAM.0007", 1, 5000)
    if (page_n is None) != (per_page_n is None):
        raise ApiError("IAM.0007", "Parameters 'page' and 'per_page' must be given together.")
    rows = await service.list_projects(
        runtime(request),
        caller,
        domain_id=domain_id,
        name=name,
        parent_id=parent_id,
        enabled=query_bool(enabled, "enabled", "IAM.0007"),
        page=page_n,
        per_page=per_page_n,
    )
    url = base_url(request)
    return JSONResponse(
        {"links": _links(request), "projects": [service.project_json(r, url) for r in rows]}
    )


@router.get(
    "/v3/auth/projects",
    tags=["projects"],
    summary="Projects the caller may use",
    **documented(ok=s.AuthProjectList),
)
async def list_auth_projects(request: Request, caller: Caller):
    rows = await service.list_projects(runtime(request), caller, enabled=True)
    url = base_url(request)
    return JSONResponse(
        {
            "links": _links(request, self_only=True),
            "projects": [service.project_json(r, url, self_only=True) for r in rows],
        }
    )


@router.get(
    "/v3/auth/domains",
    tags=["projects"],
    summary="The caller's account",
    **documented(ok=s.DomainList),
)
async def list_auth_domains(request: Request, caller: Caller):
    row = await service.account_row(runtime(request), caller.account_id)
    domain = {
        "id": row.id,
        "name": row.name,
        "enabled": bool(row.enabled),
        "description": row.description,
        "links": {"self": f"{base_url(request)}/v3/domains/{row.id}"},
    }
    return JSONResponse({"domains": [domain], "links": _links(request, self_only=True)})


# --- users ------------------------------------------------------------------------------------


@router.post(
    "/v3.0/OS-USER/users",
    tags=["users"],
    summary="Create an IAM user",
    **documented(ok=s.UserResponse, status=201, body=s.CreateUserRequest, family="flat"),
)
async def create_user(request: Request, caller: Caller):
    body = await _iam_body(request)
    if not isinstance(body, dict):
        raise ApiError(IAM_BAD_BODY, "The request body must be a JSON object.")
    row = await service.create_user(runtime(request), caller, body.get("user"))
    return JSONResponse({"user": service.user_json(row, for_create=True)}, status_code=201)


@router.get(
    "/v3/users",
    tags=["users"],
    summary="List IAM users",
    **documented(ok=s.UserList),
)
async def list_users(
    request: Request,
    caller: Caller,
    domain_id: str | None = None,
    enabled: str | None = None,
    name: str | None = None,
    password_expires_at: str | None = None,
):
    rows = await service.list_users(
        runtime(request),
        caller,
        domain_id=domain_id,
        enabled=query_bool(enabled, "enabled", "IAM.0007"),
        name=name,
        password_expires_at=password_expires_at,
    )
    url = base_url(request)
    return JSONResponse(
        {"links": _links(request), "users": [service.user_list_json(r, url) for r in rows]}
    )


@router.get(
    "/v3.0/OS-USER/users/{user_id}",
    tags=["users"],
    summary="Show an IAM user",
    **documented(ok=s.UserDetailResponse, family="flat", errors=(404,)),
)
async def show_user(request: Request, caller: Caller, user_id: str):
    row = await service.show_user(runtime(request), caller, user_id)
    return JSONResponse({"user": service.user_detail_json(row, base_url(request))})


@router.put(
    "/v3.0/OS-USER/users/{user_id}",
    tags=["users"],
    summary="Update an IAM user",
    **documented(ok=s.UserResponse, body=s.UpdateUserRequest, family="flat", errors=(404,)),
)
async def update_user(request: Request, caller: Caller, user_id: str):
    body = await _iam_body(request)
    if not isinstance(body, dict):
        raise ApiError(IAM_BAD_BODY, "The request body must be a JSON object.")
    row = await service.update_user(runtime(request), caller, user_id, body.get("user"))
    return JSONResponse({"user": service.user_json(row, for_create=True)})


@router.post(
    "/v3/users/{user_id}/password",
    tags=["users"],
    summary="Change own password",
    **documented(status=204, body=s.PasswordChangeRequest, errors=(404,)),
)
async def change_password(request: Request, caller: Caller, user_id: str):
    await service.change_own_password(runtime(request), caller, user_id, await _iam_body(request))
    return empty()


@router.delete(
    "/v3/users/{user_id}",
    tags=["users"],
    summary="Delete an IAM user",
    **documented(status=204, errors=(404,)),
)
async def delete_user(request: Request, caller: Caller, user_id: str):
    await service.delete_user(runtime(request), caller, user_id)
    return empty()


# --- user groups ------------------------------------------------------------------------------


@router.get(
    "/v3/groups",
    tags=["groups"],
    summary="List user groups",
    **documented(ok=s.GroupList),
)
async def list_groups(
    request: Request, caller: Caller, domain_id: str | None = None, name: str | None = None
):
    rows = await service.list_groups(runtime(request), caller, domain_id=domain_id, name=name)
    url = base_url(request)
    return JSONResponse({"groups": [service.group_json(r, url) for r in rows], "links": _links(request)})


@router.post(
    "/v3/groups",
    tags=["groups"],
    summary="Create a user group",
    **documented(ok=s.GroupResponse, status=201, body=s.GroupRequest, errors=(409,)),
)
async def create_group(request: Request, caller: Caller):
    row = await service.create_group(runtime(request), caller, await _iam_body(request))
    return JSONResponse({"group": service.group_json(row, base_url(request))}, status_code=201)


@router.get(
    "/v3/groups/{group_id}",
    tags=["groups"],
    summary="Show a user group",
    **documented(ok=s.GroupResponse, errors=(404,)),
)
async def show_group(request: Request, caller: Caller, group_id: str):
    row = await service.show_group(runtime(request), caller, group_id)
    return JSONResponse({"group": service.group_json(row, base_url(request))})


@router.patch(
    "/v3/groups/{group_id}",
    tags=["groups"],
    summary="Update a user group",
    **documented(ok=s.GroupResponse, body=s.GroupRequest, errors=(404, 409)),
)
async def update_group(request: Request, caller: Caller, group_id: str):
    row = await service.update_group(runtime(request), caller, group_id, await _iam_body(request))
    return JSONResponse({"group": service.group_json(row, base_url(request))})


@router.delete(
    "/v3/groups/{group_id}",
    tags=["groups"],
    summary="Delete a user group",
    **documented(status=204, errors=(404,)),
)
async def delete_group(request: Request, caller: Caller, group_id: str):
    await service.delete_group(runtime(request), caller, group_id)
    return empty()


@router.get(
    "/v3/groups/{group_id}/users",
    tags=["groups"],
    summary="List a group's members",
    **documented(ok=s.UserList, errors=(404,)),
)
async def list_group_members(request: Request, caller: Caller, group_id: str):
    rows = await service.list_group_members(runtime(request), caller, group_id)
    url = base_url(request)
    return JSONResponse({"users": [service.user_list_json(r, url) for r in rows], "links": _links(request)})


@router.put(
    "/v3/groups/{group_id}/users/{user_id}",
    tags=["groups"],
    summary="Add a member",
    **documented(status=204, errors=(404,)),
)
async def add_group_member(request: Request, caller: Caller, group_id: str, user_id: str):
    await service.add_group_member(runtime(request), caller, group_id, user_id)
    return empty()


@router.head(
    "/v3/groups/{group_id}/users/{user_id}",
    tags=["groups"],
    summary="Is a member",
    **documented(status=204, errors=(404,)),
)
async def check_group_member(request: Request, caller: Caller, group_id: str, user_id: str):
    await service.check_group_member(runtime(request), caller, group_id, user_id)
    return empty()


@router.delete(
    "/v3/groups/{group_id}/users/{user_id}",
    tags=["groups"],
    summary="Remove a member",
    **documented(status=204, errors=(404,)),
)
async def remove_group_member(request: Request, caller: Caller, group_id: str, user_id: str):
    await service.remove_group_member(runtime(request), caller, group_id, user_id)
    return empty()


# --- access keys ------------------------------------------------------------------------------


@router.post(
    "/v3.0/OS-CREDENTIAL/credentials",
    tags=["access keys"],
    summary="Create a permanent access key",
    **documented(ok=s.CreatedCredentialResponse, status=201, body=s.CreateCredentialRequest, errors=(404,)),
)
async def create_permanent_access_key(request: Request, caller: Caller):
    credential, secret = await keys.create_permanent(runtime(request), caller, await _iam_body(request))
    return JSONResponse({"credential": {**credential, "secret": secret}}, status_code=201)


@router.get(
    "/v3.0/OS-CREDENTIAL/credentials",
    tags=["access keys"],
    summary="List permanent access keys",
    **documented(ok=s.CredentialList, errors=(404,)),
)
async def list_permanent_access_keys(request: Request, caller: Caller, user_id: str | None = None):
    rows = await keys.list_permanent(runtime(request), caller, user_id)
    return JSONResponse({"credentials": [keys.key_json(r) for r in rows]})


@router.get(
    "/v3.0/OS-CREDENTIAL/credentials/{access_key}",
    tags=["access keys"],
    summary="Show a permanent access key",
    **documented(ok=s.CredentialDetailResponse, errors=(404,)),
)
async def show_permanent_access_key(request: Request, caller: Caller, access_key: str):
    row = await keys.show_permanent(runtime(request), caller, access_key)
    return JSONResponse({"credential": keys.key_json(row, with_last_use=True)})


@router.put(
    "/v3.0/OS-CREDENTIAL/credentials/{access_key}",
    tags=["access keys"],
    summary="Enable, disable or describe a permanent access key",
    **documented(ok=s.CredentialResponse, body=s.UpdateCredentialRequest, errors=(404,)),
)
async def update_permanent_access_key(request: Request, caller: Caller, access_key: str):
    row = await keys.update_permanent(runtime(request), caller, access_key, await _iam_body(request))
    return JSONResponse({"credential": keys.key_json(row)})


@router.delete(
    "/v3.0/OS-CREDENTIAL/credentials/{access_key}",
    tags=["access keys"],
    summary="Delete a permanent access key",
    **documented(status=204, errors=(404,)),
)
async def delete_permanent_access_key(request: Request, caller: Caller, access_key: str):
    await keys.delete_permanent(runtime(request), caller, access_key)
    return empty()


@router.post(
    "/v3.0/OS-CREDENTIAL/securitytokens",
    tags=["access keys"],
    summary="Create a temporary access key from a token",
    **documented(ok=s.TemporaryCredentialResponse, status=201, body=s.TemporaryKeyRequest),
)
async def create_temporary_access_key(request: Request):
    rt = runtime(request)
    duration, body_token = keys.parse_temporary_request(
        await read_json(request, invalid="IAM.1102", limit=rt.settings.iam_max_body_bytes, too_big="IAM.1101")
    )
    caller = await admitted(request, await authenticated(request, body_token))
    credential = await keys.create_temporary(rt, caller, duration)
    return JSONResponse({"credential": credential}, status_code=201)
