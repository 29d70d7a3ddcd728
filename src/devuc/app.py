"""create_app(settings): routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import gc
import logging
import math
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import __version__, metrics
from .audit import AuditTrail
from .front import LeanFront
from .ratelimit import RateLimit, Throttle
from .config import Settings, served_settings
from .errors import ApiError
from .http import JSONResponse, RequestContext, error_response, lean, request_id
from .codearts.routes import router as codearts_router
from .codearts.privateaccess.routes import router as private_access_router
from .dev.routes import router as dev_state_router
from .iam.routes import router as iam_router
from .readiness import Readiness
from .runtime import Runtime
from .schemas import BODY_MODELS, Health, documented

log = logging.getLogger("devuc")

class DevucApp(FastAPI):
    """FastAPI, except that requests for the routes marked ``http.lean`` are answered by
    ``front.LeanFront``, which does devuc's middleware's work for them in one call. The
    framework's outer layers (its 500 page, its telemetry hooks, its body-size limit) do nothing
    for them: devuc answers its own 500s and limits bodies itself, and telemetry is off.
    Everything else takes the framework's whole stack. Mounted under a root path, every route
    takes the whole stack (the lean lookup is by the bare path)."""

    lean_front: LeanFront | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.lean_front
        if front is not None and scope["type"] == "http" and not self.root_path:
            handler = front.routes.get((scope["method"], scope["path"]))
            if handler is not None:
                scope["app"] = self
                await front.serve(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, freeze_at_start: bool = False) -> FastAPI:
    """``freeze_at_start``: for a process that serves this one app (a `devuc serve` worker), move
    everything that exists once it has started out of the cyclic garbage collector's sight."""
    runtime = Runtime.open(settings)
    readiness = Readiness(runtime.store)
    # This worker's metrics snapshot, which /metrics of the other workers adds (devuc/metrics.py).
    snapshots = metrics.Snapshots(metrics.folder_of(settings)) if settings.metrics else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if snapshots is not None:
            snapshots.start()
        if freeze_at_start:
            # The modules, the app and its tables are some 130,000 objects that live as long as
            # the process. Left to the collector, each full collection walked them all and held
            # the event loop for 50-85 ms (a p99 of 25-50 ms at 32 connections on PostgreSQL);
            # frozen, they are never walked again. Their own garbage is collected first.
            gc.collect()
            gc.freeze()
        yield
        if snapshots is not None:
            await snapshots.stop()
        await runtime.close()

    app = DevucApp(
        title="devuc",
        version=__version__,
        description="Self-hosted IAM and CodeArts User Center compatible API.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        # SDK clients do not follow redirects (spec/aksk-signing.md §8.1): never send one.
        redirect_slashes=False,
        # devuc has its own metrics (/metrics); FastAPI's OpenTelemetry hooks would otherwise ask
        # on every request whether a provider has been configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc, request.url.path, request_id(request))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": ("request",), "msg": "invalid"}
        name = ".".join(str(p) for p in first["loc"][1:]) or str(first["loc"][0])
        err = ApiError("IAM.0007", f"Invalid parameter '{name}': {first['msg']}.")
        return error_response(err, request.url.path, request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code in (404, 405):
            err = ApiError("APIGW.0101")
        else:
            err = ApiError("APIGW.0201", str(exc.detail), status=exc.status_code)
        return error_response(err, request.url.path, request_id(request))

    @app.get(
        "/health",
        tags=["service"],
        summary="Liveness and database check",
        **documented(ok=Health, family="flat"),
    )
    @lean()
    async def health(request: Request):
        await runtime.fresh_generation()  # the database answers
        return JSONResponse({"status": "ok", "version": __version__})

    # docs/observability.md: readiness (database and schema) and the Prometheus metrics.
    @app.get("/ready", include_in_schema=False)
    @lean()
    async def ready(request: Request):
        verdict = await readiness.check()
        return JSONResponse(verdict.body, status_code=200 if verdict.ready else 503)

    if settings.metrics:
        @app.get("/metrics", include_in_schema=False)
        @lean()
        async def metrics_text(request: Request):
            totals = metrics.collect(snapshots.folder, snapshots.name)
            return Response(metrics.render(totals), media_type=metrics.CONTENT_TYPE)

    app.include_router(iam_router)
    app.include_router(codearts_router)
    app.include_router(private_access_router)
    app.include_router(dev_state_router)  # /_devuc/: dev mode, or operators only (docs/dev-mode.md)
    app.openapi = lambda: _openapi(app)
    # The calls a permission service answers most skip the framework's routing (see http.lean).
    routers = (app.router, iam_router, codearts_router, private_access_router)
    throttle = None
    if settings.rate_limit_per_second > 0:  # off by default: then no limiting layer at all
        burst = settings.rate_limit_burst or max(1, math.ceil(2 * settings.rate_limit_per_second))
        throttle = Throttle(settings.rate_limit_per_second, burst, runtime.store)
    observe = metrics.request_observer(settings)
    app.lean_front = LeanFront(_lean_routes(routers), runtime, max_body_bytes=settings.max_body_bytes,
                               observe=observe, throttle=throttle)
    app.add_middleware(AuditTrail, runtime=runtime)  # inside RequestContext: sees the request id
    if throttle is not None:
        app.add_middleware(RateLimit, throttle=throttle)
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes, observe=observe)
    return app


def _lean_routes(routers) -> dict:
    """(method, path) -> endpoint for every route marked ``http.lean`` (the routers are included
    without a prefix)."""
    return {
        (method, route.path): route.endpoint
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and hasattr(route.endpoint, "lean_internal_error")
        for method in route.methods
    }


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, plus the request and response models routes name through
    ``schemas.documented``; the 422 FastAPI adds never happens here (bad input is a 400)."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, defs = models_json_schema(
        [(model, "validation") for model in BODY_MODELS.values()],
        ref_template="#/components/schemas/{model}",
    )
    document.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    for schemas_name in ("HTTPValidationError", "ValidationError"):
        document["components"]["schemas"].pop(schemas_name, None)
    for path_item in document["paths"].values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for response in responses.values():
                for media in response.get("content", {}).values():
                    if "$ref" in media.get("schema", {}):
                        media["schema"] = {"$ref": media["schema"]["$ref"]}
    app.openapi_schema = document
    return document


def app_from_env() -> FastAPI:
    """Factory used by `devuc serve` workers: settings arrive resolved through the environment."""
    return create_app(served_settings(), freeze_at_start=True)
