"""The way in for the routes marked ``http.lean`` (the calls a permission service answers most).

`LeanFront` does, in one call, what the middleware stack does for every other request:
the request id and its two answer headers, the body limit, the rate limit when it is on, the
refusal record of authorization, the audit record, metrics and the access log (``observe``); and
between them it finds the endpoint by one dictionary lookup on (method, path) and renders its
errors as the framework's handlers would. One coroutine and no wrapped ``send`` or ``receive``
instead of four nested layers: the layers' own cost was a fifth of a signed permission check's
time in-process (bench/README.md, "What devuc's request layers cost").
"""

from __future__ import annotations

import logging
from time import perf_counter

from fastapi import Request
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from . import audit, authz
from .errors import ApiError
from .http import (
    LeanHandler, content_length, error_response, id_headers, limited_receive, start_request,
    too_large,
)
from .metrics import CLIENT_CLOSED, LEAN_ROUTE_KEY, Observer
from .ratelimit import Throttle
from .runtime import Runtime

log = logging.getLogger("devuc")


class LeanFront:
    """Answers the lean routes. ``routes``: (method, path) -> endpoint; ``throttle``: the shared
    rate limit, None when it is off; ``observe``: as for http.RequestContext."""

    def __init__(self, routes: dict[tuple[str, str], LeanHandler], runtime: Runtime, *,
                 max_body_bytes: int, observe: Observer | None, throttle: Throttle | None) -> None:
        self.routes = routes
        self.runtime = runtime
        self.max_body_bytes = max_body_bytes
        self.observe = observe
        self.throttle = throttle

    async def serve(self, handler: LeanHandler, scope: Scope, receive: Receive, send: Send) -> None:
        started_at = perf_counter()
        rid = start_request(scope)
        path = scope["path"]
        scope[LEAN_ROUTE_KEY] = path  # the route template, for metrics and logs
        status = CLIENT_CLOSED  # until the answer starts
        refusals = None
        try:
            length = content_length(scope)
            response = None  # a refusal before the endpoint, if any: not recorded by the audit trail
            if length is not None and length > self.max_body_bytes:
                response = error_response(too_large(), path, rid)
            elif self.throttle is not None:
                response = await self.throttle.refusal(scope)
            if response is None:
                refusals = authz.begin_request(self.runtime.settings.enforcement, scope)
                request = Request(scope, limited_receive(receive, length, self.max_body_bytes))
                try:
                    response = await handler(request)
                except ApiError as exc:
                    response = error_response(exc, path, rid)
                except ClientDisconnect:
                    return  # the client hung up: nobody to answer
                except Exception as exc:  # a 500 in the family's shape
                    # Only the exception type and the request id are logged: never bodies or headers.
                    log.error("unexpected %s on %s %s (request %s)", type(exc).__name__,
                              scope["method"], path, rid)
                    response = error_response(ApiError(handler.lean_internal_error), path, rid)  # type: ignore[attr-defined]
            response.raw_headers += id_headers(rid)
            status = response.status_code
            await response(scope, receive, send)
        finally:
            if refusals is not None and audit.wanted(scope, status, refusals):
                await audit.record(self.runtime, scope, status, refusals)
            if self.observe is not None:
                self.observe(scope, status, perf_counter() - started_at)

