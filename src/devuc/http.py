"""HTTP plumbing shared by every service folder: the JSON response class, request ids, the body
limit, reading JSON bodies, and the base URL used in ``links``."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any
from urllib.parse import unquote_plus

import orjson

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_body
from .metrics import CLIENT_CLOSED
from .runtime import RECEIVED_KEY, begin_request
from .validation import parse_json

log = logging.getLogger("devuc")

JSON_MEDIA_TYPE = "application/json; charset=utf8"

# Request ids: 32 hex digits, unique without a system call per request (a random prefix per
# process, then a counter). They trace requests; they are not secrets.
_RID_PREFIX = secrets.token_hex(8)
_rid_counter = itertools.count(1)


_JSON_TYPE_HEADER = (b"content-type", JSON_MEDIA_TYPE.encode("latin-1"))


class JSONResponse(Response):
    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        if type(content) is bytes:  # JSON rendered before (a cached answer's)
            return content
        return orjson.dumps(content)

    def init_headers(self, headers=None) -> None:
        # The common answer, without headers of its own: its two headers built directly (the
        # general way lowercases and encodes every name and value, on every answer).
        status = self.status_code
        if headers or self.media_type != JSON_MEDIA_TYPE or status < 200 or status in (204, 304):
            super().init_headers(headers)
            return
        self.raw_headers = [(b"content-length", b"%d" % len(self.body)), _JSON_TYPE_HEADER]


def empty(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)


def request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def error_response(err: ApiError, path: str, rid: str) -> JSONResponse:
    return JSONResponse(error_body(err, path, rid), status_code=err.status, headers=err.headers)


def query_value(request: Request, name: str) -> str | None:
    """The last value of one query parameter (as ``request.query_params.get`` gives it), without
    parsing the whole query string into a multi-dict: for the lean routes."""
    raw = request.scope["query_string"]
    if not raw:
        return None
    value = None
    for pair in raw.decode("latin-1").split("&"):
        key, _, found = pair.partition("=")
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if key == name:
            value = unquote_plus(found) if "%" in found or "+" in found else found
    return value


def base_url(request: Request) -> str:
    public = request.app.state.runtime.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


async def read_json(
    request: Request,
    *,
    invalid: str,
    limit: int | None = None,
    too_big: str = "",
    invalid_field: str | None = None,
) -> Any:
    """The parsed JSON body. ``limit``: a smaller per-family size limit answered with ``too_big``;
    ``invalid_field``: the family's code for a field that holds unstorable text."""
    raw = await request.body()
    if limit is not None and len(raw) > limit:
        raise ApiError(too_big, f"The request body is larger than {limit} bytes.")
    return parse_json(raw, invalid, invalid_field)


LeanHandler = Callable[[Request], Awaitable[Response]]


def lean(internal_error: str = "IAM.0006") -> Callable[[LeanHandler], LeanHandler]:
    """Mark a route endpoint that takes nothing but the Request and does its own parsing and
    authentication: `front.LeanFront` answers it without the framework's route matching and
    dependency machinery (the hot paths). ``internal_error``: the family's code for an unexpected
    failure."""

    def mark(handler: LeanHandler) -> LeanHandler:
        handler.lean_internal_error = internal_error  # type: ignore[attr-defined]
        return handler

    return mark


# Where RequestContext keeps, in the scope, the one-item list holding the answer's status
# (CLIENT_CLOSED until the answer starts): middleware inside it reads it there rather than
# wrapping ``send`` again.
ANSWERED_KEY = "devuc.answered"


class RequestContext:
    """Gives every request an id (``X-Request-Id`` / ``X-IAM-Trace-Id`` on the response) and
    refuses bodies over the size limit before they are read whole (413 ``APIGW.0201``).
    ``observe(scope, status, seconds)``: called once per request when answered (metrics, the
    access log: devuc/metrics.py)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int,
                 observe: Callable[[Scope, int, float], None] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answered = [CLIENT_CLOSED]  # the status, once the answer has started
        started_at = perf_counter()
        try:
            await self._serve(scope, receive, send, answered)
        finally:
            if self.observe is not None:
                self.observe(scope, answered[0], perf_counter() - started_at)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, answered: list[int]) -> None:
        rid = start_request(scope)
        scope[ANSWERED_KEY] = answered
        headers = id_headers(rid)

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
                answered[0] = message["status"]
            await send(message)

        length = content_length(scope)
        if length is not None and length > self.max_body_bytes:
            await error_response(too_large(), scope["path"], rid)(scope, receive, send_with_ids)
            return

        try:
            await self.app(scope, limited_receive(receive, length, self.max_body_bytes), send_with_ids)
        except ClientDisconnect:
            return  # the client hung up: nobody to answer
        except Exception as exc:  # the last line of defence: a 500 in the catalogue's shape
            # Only the exception type and the request id are logged: never bodies or headers.
            log.error("unexpected %s on %s %s (request %s)", type(exc).__name__,
                      scope["method"], scope["path"], rid)
            if answered[0] != CLIENT_CLOSED:  # the answer has begun: too late for another
                raise
            await error_response(ApiError("IAM.0006"), scope["path"], rid)(scope, receive, send_with_ids)


def start_request(scope: Scope) -> str:
    """Give the request now starting its id (kept in ``scope["state"]``) and open its cache
    generation (devuc/runtime.py); returns the id."""
    rid = f"{_RID_PREFIX}{next(_rid_counter):016x}"
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    state["request_id"] = rid
    begin_request(state.get(RECEIVED_KEY))
    return rid


def id_headers(rid: str) -> list[tuple[bytes, bytes]]:
    """The two headers that name the request on its answer."""
    return [(b"x-request-id", rid.encode()), (b"x-iam-trace-id", b"token_null_" + rid.encode())]


def limited_receive(receive: Receive, length: int | None, limit: int) -> Receive:
    """``receive``, refusing a body over ``limit`` bytes as it arrives. A body with a declared
    Content-Length (already checked against the limit) needs no counting: the server delivers no
    more than the length declares."""
    if length is not None:
        return receive
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large()
        return message

    return counted


def too_large() -> ApiError:
    return ApiError("APIGW.0201", "The request body is too large.", status=413)


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
