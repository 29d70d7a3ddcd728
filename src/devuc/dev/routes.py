"""``/_devuc/``: reset the store, take a snapshot of it, import one (docs/dev-mode.md).

Served to anyone in dev mode (``devuc serve --dev``, loopback only). Otherwise only to an
operator: a token of a member of the admin group of the operator account (setting
``operator_account``); anyone else gets the gateway's 404 for unknown routes, so the routes stay
invisible. They are not in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..errors import ApiError
from ..http import JSONResponse
from ..iam.principal import from_token, runtime
from ..runtime import Runtime
from ..validation import parse_json
from . import state

router = APIRouter(prefix="/_devuc", include_in_schema=False)

RESET_TARGETS = ("empty", "seed")
LOOPBACK = frozenset({"127.0.0.1", "::1"})


async def _operator(request: Request) -> Runtime:
    """The runtime, once the caller may use these routes; the 404 of an unknown route if not."""
    rt = runtime(request)
    if rt.settings.dev and request.client is not None and request.client.host in LOOPBACK:
        return rt  # `devuc serve --dev` binds to loopback only; under another server, check here too
    hidden = ApiError("APIGW.0101")
    if rt.settings.operator_account is None:
        raise hidden
    token = request.headers.get("x-auth-token")
    if not token:
        raise hidden
    try:
        who = await from_token(rt, token)
    except ApiError:
        raise hidden from None
    if who.account_name != rt.settings.operator_account or not who.is_admin:
        raise hidden
    return rt


async def _body(request: Request):
    return parse_json(await request.body(), "APIGW.0201")


@router.post("/reset")
async def reset(request: Request):
    rt = await _operator(request)
    body = await _body(request)
    target = body.get("to") if isinstance(body, dict) else None
    if target not in RESET_TARGETS:
        raise ApiError("APIGW.0201", "Invalid parameter 'to': must be \"empty\" or \"seed\".", status=400)
    if target == "empty":
        await state.reset_empty(rt)
    else:
        await state.reset_to_seed(rt)
    return JSONResponse({"status": "ok", "to": target})


@router.get("/snapshot")
async def snapshot(request: Request):
    rt = await _operator(request)
    return JSONResponse(await state.export_snapshot(rt))


@router.post("/snapshot")
async def import_snapshot(request: Request):
    rt = await _operator(request)
    body = await _body(request)
    await state.import_snapshot(rt, body)
    rows = sum(len(v["rows"]) for v in body["tables"].values())
    return JSONResponse({"status": "ok", "rows": rows})
