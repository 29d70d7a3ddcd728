"""The JSON access log: one object per line on stderr per request (docs/observability.md).

On with ``access_log`` (``devuc serve --access-log``; in dev mode unless turned off). Written
through the ``devuc.access`` logger. A line holds the time, request id, method, route template,
path without its query string, status, duration, client address and, for an authenticated
caller, the account and user ids: never a header, token, body or query string.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from .metrics import method_label, route_label

LOGGER = "devuc.access"
log = logging.getLogger(LOGGER)


def enabled(settings: Any) -> bool:
    return settings.dev if settings.access_log is None else settings.access_log


class JsonFormatter(logging.Formatter):
    """The record's ``access`` fields as one JSON line (other records: time, level, message)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "access", None)
        if fields is None:
            fields = {"time": _iso(record.created), "level": record.levelname, "message": record.getMessage()}
        return orjson.dumps(fields).decode()


class StderrHandler(logging.Handler):
    """Writes to the current ``sys.stderr`` (looked up per line, so a replaced stream is followed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never break serving
            self.handleError(record)


def install() -> None:
    """Give ``devuc.access`` its JSON handler (once per process); it does not propagate, so
    the lines are written once."""
    if any(isinstance(h, StderrHandler) for h in log.handlers):
        return
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fields(scope: dict, status: int, seconds: float) -> dict:
    state = scope.get("state", {})
    client = scope.get("client")
    who = state.get("principal")
    return {
        "time": _iso(datetime.now(UTC).timestamp()),
        "request_id": state.get("request_id", ""),
        "method": method_label(scope["method"]),
        "route": route_label(scope),
        "path": scope["path"],  # the ASGI path never holds the query string
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client": client[0] if client else None,
        "account_id": who.account_id if who is not None else None,
        "user_id": who.user_id if who is not None else None,
    }


def write(scope: dict, status: int, seconds: float) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info("access", extra={"access": fields(scope, status, seconds)})
