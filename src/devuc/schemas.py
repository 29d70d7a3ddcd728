"""Shared OpenAPI building blocks: the three error shapes and the helper that documents a route.

Routes read and validate their bodies themselves (so each field gets its catalogue code); the
models here only describe requests and responses in the OpenAPI document, truthfully, so that
generated clients and schema-driven fuzzers see what the service really does.
"""

from __future__ import annotations

from typing import Any, Union

from pydantic import BaseModel, RootModel

from .http import JSON_MEDIA_TYPE



class Health(BaseModel):
    status: str
    version: str


class GatewayError(BaseModel):
    error_code: str
    error_msg: str
    request_id: str


class KeystoneErrorDetail(BaseModel):
    code: int
    title: str
    message: str
    error_code: str
    error_msg: str


class KeystoneError(BaseModel):
    error: KeystoneErrorDetail


class FlatError(BaseModel):
    error_code: str
    error_msg: str
    request_id: str | None = None


class KeystoneOrGatewayError(RootModel[Union[KeystoneError, GatewayError]]):
    pass


class FlatOrGatewayError(RootModel[Union[FlatError, GatewayError]]):
    pass


ERROR_MODELS = {"keystone": KeystoneOrGatewayError, "flat": FlatOrGatewayError}
# Statuses any route may answer: malformed input, authentication, rights, oversized bodies,
# throttling and the unexpected.
COMMON_ERRORS = (400, 401, 403, 413, 429, 500)

# Models named as request bodies, collected for the OpenAPI document (see app.custom_openapi).
BODY_MODELS: dict[str, type[BaseModel]] = {}


def documented(
    *,
    ok: type[BaseModel] | None = None,
    status: int = 200,
    body: type[BaseModel] | None = None,
    family: str = "keystone",
    errors: tuple[int, ...] = (),
    headers: dict[str, str] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Route decorator arguments that document a request body, the success answer and the
    error answers in the family's shape. ``parameters``: OpenAPI parameter objects, for lean
    routes (http.lean) that read their query and headers themselves."""
    success: dict[str, Any] = {"description": "Success"}
    if ok is not None:
        success["content"] = {JSON_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{ok.__name__}"}}}
        BODY_MODELS.setdefault(ok.__name__, ok)
    if headers:
        success["headers"] = {name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()}
    # Named by reference, as the success model is, rather than as a "model" the framework turns
    # into a validating field per route and status when the route is made (about 0.2 s of the
    # app's import on a slow machine); the document's components carry it (app._openapi).
    error_model = ERROR_MODELS[family]
    BODY_MODELS.setdefault(error_model.__name__, error_model)
    error = {"description": "Error",
             "content": {JSON_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{error_model.__name__}"}}}}
    responses: dict[int | str, Any] = {status: success}
    for code in sorted(set(COMMON_ERRORS + errors)):
        responses[code] = error
    extra: dict[str, Any] = {}
    if parameters:
        extra["parameters"] = parameters
    if body is not None:
        BODY_MODELS.setdefault(body.__name__, body)
        extra["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}},
        }
    return {"status_code": status, "responses": responses, "openapi_extra": extra}


def parameter(name: str, where: str = "query", description: str = "", required: bool = False) -> dict[str, Any]:
    """An optional string parameter, as an OpenAPI parameter object."""
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": {"type": "string"}}
