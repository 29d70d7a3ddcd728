"""Private-access HTTP routes (spec/codearts-uc.md §4): the VPCEP access-control records, on both
documented paths, and the decision record of CodeArts Check (§4.4).

These routes depend on ``authenticated``, not ``principal``: private access does not apply to
them, so an administrator can always repair the list (§6, contract 6).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ...http import JSONResponse, lean, read_json
from ...iam.identity import Principal
from ...iam.principal import authenticated, runtime
from ...schemas import documented
from . import schemas as s
from . import service

router = APIRouter()
Caller = Annotated[Principal, Depends(authenticated)]

PATHS = ("/v2/vpceps", "/devuc-accessmgmt/v2/vpceps")
TAG = "VpcepManager"
EXTENSION_TAG = "devuc extensions"

_AUTH_TOKEN = {
    "name": "X-Auth-Token",
    "in": "header",
    "required": False,
    "description": "A token scoped to a region project (a global token is refused); or sign the "
    "request with an access key instead.",
    "schema": {"type": "string"},
}
_REGION = {
    "name": "region",
    "in": "header",
    "required": True,
    "description": "Region of the VPC endpoints; the region of the token's project.",
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9-]{1,40}$"},
}
_LIST_QUERY = [
    {"name": "enterprise_id", "in": "query", "required": True, "description": "The caller's account ID.",
     "schema": {"type": "string", "pattern": s.ENTERPRISE_ID_PATTERN}},
    {"name": "vpcep_ids", "in": "query", "required": False,
     "description": "Comma-separated VPC endpoint IDs to filter on.",
     "schema": {"type": "string", "pattern": r"^[0-9a-z,-]{1,1229}$"}},
    {"name": "offset", "in": "query", "required": False, "description": "Records to skip (default 0).",
     "schema": {"type": "integer", "minimum": 0, "maximum": 9999}},
    {"name": "limit", "in": "query", "required": False, "description": "Page size (default 10).",
     "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "sort", "in": "query", "required": False, "description": "Order by vpcep_id (default asc).",
     "schema": {"type": "string", "enum": ["asc", "ASC", "desc", "DESC"]}},
]


def _doc(*, ok, body=None, errors=(), parameters=(), extension: bool = False) -> dict[str, Any]:
    kwargs = documented(ok=ok, body=body, family="flat", errors=errors)
    kwargs["openapi_extra"]["parameters"] = [_AUTH_TOKEN, *parameters]
    if extension:
        kwargs["openapi_extra"]["x-devuc-extension"] = True
    return kwargs


def _manager(request: Request, caller: Principal) -> str:
    """Checks common to the three VPCEP calls; returns the region they act in."""
    service.require_manager(caller)
    return service.parse_region(request.headers.get("region"), caller, runtime(request).region_ids)


async def _records_body(request: Request):
    return service.parse_records_body(await read_json(request, invalid=service.BAD_REQUEST, invalid_field=service.INVALID))


@router.get(PATHS[0], tags=[TAG], summary="List the tenant's authorised VPC endpoints",
            **_doc(ok=s.VpcepListResponse, parameters=[_REGION, *_LIST_QUERY]))
@router.get(PATHS[1], tags=[TAG], summary="List the tenant's authorised VPC endpoints (gateway path)",
            **_doc(ok=s.VpcepListResponse, parameters=[_REGION, *_LIST_QUERY]))
@lean()
async def list_vpceps(request: Request):
    rt = runtime(request)
    caller = await authenticated(request)
    region = _manager(request, caller)
    params = {key: request.query_params.getlist(key) for key in request.query_params.keys()}
    query = service.parse_list_query(params)
    account_id = service.check_enterprise(caller, query.enterprise_id)
    total, records = await service.list_records(rt, account_id, region, query)
    return JSONResponse({
        "status": "ok",
        "data": {"enterprise_id": account_id, "vpceps": [r.as_dict() for r in records]},
        "limit": query.limit,
        "offset": query.offset,
        "total": total,
    })


@router.delete(PATHS[0], tags=[TAG], summary="Delete VPCEP access-control records",
               **_doc(ok=s.VpcepCountResponse, body=s.VpcepRecordsRequest, errors=(404,), parameters=[_REGION]))
@router.delete(PATHS[1], tags=[TAG], summary="Delete VPCEP access-control records (gateway path)",
               **_doc(ok=s.VpcepCountResponse, body=s.VpcepRecordsRequest, errors=(404,), parameters=[_REGION]))
async def delete_vpceps(request: Request, caller: Caller):
    region = _manager(request, caller)
    enterprise_id, entries = await _records_body(request)
    account_id = service.check_enterprise(caller, enterprise_id)
    removed = await service.delete_records(runtime(request), account_id, region, [e.vpcep_id for e in entries])
    return JSONResponse({"status": "ok", "total": removed})


@router.post(PATHS[0], tags=[TAG, EXTENSION_TAG], summary="Add VPCEP access-control records (devuc extension)",
             **_doc(ok=s.VpcepCountResponse, body=s.VpcepRecordsRequest, parameters=[_REGION], extension=True))
@router.post(PATHS[1], tags=[TAG, EXTENSION_TAG],
             summary="Add VPCEP access-control records (devuc extension, gateway path)",
             **_doc(ok=s.VpcepCountResponse, body=s.VpcepRecordsRequest, parameters=[_REGION], extension=True))
async def add_vpceps(request: Request, caller: Caller):
    region = _manager(request, caller)
    enterprise_id, entries = await _records_body(request)
    account_id = service.check_enterprise(caller, enterprise_id)
    added = await service.add_records(runtime(request), account_id, region, entries)
    return JSONResponse({"status": "ok", "total": added})


@router.get(
    "/v1/vpcep-authorization",
    tags=[TAG],
    summary="Whether private access admits this request (CodeArts Check's decision record)",
    **_doc(ok=s.VpcepAuthorizationResponse, parameters=[
        {"name": "task_id", "in": "query", "required": False,
         "description": "Accepted for CodeArts Check clients; devuc decides for the caller's account.",
         "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,32}$"}},
    ]),
)
async def vpcep_authorization(request: Request, caller: Caller):
    service.parse_task_id(request.query_params.getlist("task_id"))
    decision = await service.authorization(runtime(request), caller)
    return JSONResponse({"status": "ok", "data": decision.as_dict()})
