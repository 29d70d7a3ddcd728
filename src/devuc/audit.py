"""The audit trail: every mutating call and every denied request, recorded after it is answered.

A request that authorization refused (or, in the ``log`` enforcement mode, would have refused)
is recorded whatever its method and status, with the reasons (devuc/authz.py): outcome
``denied``, or ``let_through`` when the mode let it pass.

A record says when, which request, which account and user (when known), the action (method and
route), the target (the concrete path), the source address, the VPC endpoint and how it ended. It
never holds a body, a header value or a secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from starlette.types import ASGIApp, Receive, Scope, Send

from . import authz
from .http import ANSWERED_KEY
from .metrics import CLIENT_CLOSED
from .runtime import Runtime
from .store import tables as t
from .store.db import now_us

log = logging.getLogger("devuc.audit")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DENIED = frozenset({401, 403, 429})
OUTCOMES = ("ok", "denied", "failed", "let_through")


def outcome(status: int, refusals: authz.RequestRefusals | None = None) -> str:
    if status in DENIED or (refusals is not None and refusals.enforced and status >= 400):
        return "denied"
    if status < 400 and refusals is not None and refusals.let_through:
        return "let_through"
    return "ok" if status < 400 else "failed"


_RECORD = insert(t.audit_events)  # built once; each record binds its values


def wanted(scope: Scope, status: int, refusals: authz.RequestRefusals) -> bool:
    """Whether the trail keeps this answered request (not one whose client went away first)."""
    return status != CLIENT_CLOSED and (
        scope["method"] in MUTATING or status in DENIED or bool(refusals.refusals)
    )


async def record(runtime: Runtime, scope: Scope, status: int, refusals: authz.RequestRefusals) -> None:
    """Write the request's record. Never raises: the answer is out, and losing a record must not
    break serving (the failure is logged)."""
    state = scope.get("state", {})
    who = state.get("principal")
    route = scope.get("route")
    client = scope.get("client")
    try:
        async with runtime.store.write(affects_auth=False, small=True) as conn:
            await conn.execute(
                _RECORD,
                dict(
                    at_us=now_us(),
                    request_id=state.get("request_id", ""),
                    account_id=who.account_id if who else None,
                    user_id=who.user_id if who else None,
                    action=f"{scope['method']} {getattr(route, 'path', scope['path'])}"[:160],
                    target=scope["path"][:512],
                    source=(client[0] if client else "")[:64],
                    vpc_endpoint=(who.vpc_endpoint if who else None),
                    status=status,
                    outcome=outcome(status, refusals),
                    reason=refusals.summary() or None,
                ),
            )
    except Exception as exc:
        log.error("audit record not written: %s (request %s)", type(exc).__name__,
                  state.get("request_id", ""))


class AuditTrail:
    """ASGI middleware that records what the trail is for, once the answer has left (the routes
    marked ``http.lean`` are recorded by front.LeanFront, which answers them)."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusals = authz.begin_request(self.runtime.settings.enforcement, scope)
        answered = scope[ANSWERED_KEY]  # RequestContext, outside this, notes the status there
        try:
            await self.app(scope, receive, send)
        finally:
            if wanted(scope, answered[0], refusals):
                await record(self.runtime, scope, answered[0], refusals)


@dataclass(frozen=True)
class AuditFilter:
    account_id: str | None = None
    user_id: str | None = None
    action: str | None = None  # substring of "METHOD /route"
    outcome: str | None = None
    since_us: int | None = None
    limit: int = 50


async def list_events(rt: Runtime, query: AuditFilter) -> list:
    e = t.audit_events
    statement = select(e).order_by(e.c.id.desc()).limit(query.limit)
    if query.account_id:
        statement = statement.where(e.c.account_id == query.account_id)
    if query.user_id:
        statement = statement.where(e.c.user_id == query.user_id)
    if query.action:
        statement = statement.where(e.c.action.contains(query.action, autoescape=True))
    if query.outcome:
        statement = statement.where(e.c.outcome == query.outcome)
    if query.since_us is not None:
        statement = statement.where(e.c.at_us >= query.since_us)
    async with rt.store.read() as conn:
        return (await conn.execute(statement)).all()


def event_json(row) -> dict:
    return {
        "time": datetime.fromtimestamp(row.at_us / 1e6, tz=UTC).isoformat(timespec="milliseconds"),
        "request_id": row.request_id,
        "account_id": row.account_id,
        "user_id": row.user_id,
        "action": row.action,
        "target": row.target,
        "source": row.source,
        "vpc_endpoint": row.vpc_endpoint,
        "status": row.status,
        "outcome": row.outcome,
        "reason": row.reason,
    }
