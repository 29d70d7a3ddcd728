"""Prometheus metrics, kept cheap enough for the hot path (docs/observability.md).

Each process counts in plain dicts (no locks: one event loop per process); the text exposition
(format 0.0.4) is produced only when ``/metrics`` is scraped. Recording a request costs one tuple,
one dict lookup, one bisect and two list updates.

Several workers (``devuc serve --workers N``): every worker writes a snapshot of its counters to
``<data_dir>/metrics/<pid>-<nonce>.json`` once a second (when they changed; atomic rename, owner
only), and ``/metrics`` adds the other workers' snapshots to its own live numbers. ``devuc serve``
empties the folder when it starts; the files of workers that died stay, so their counts are not
lost (counters only go up).

The series carry counts only: no ids, names, addresses or paths beyond route templates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from bisect import bisect_left
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from . import __version__

log = logging.getLogger("devuc")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FOLDER = "metrics"
SNAPSHOT_SECONDS = 1.0

# Upper bounds of the latency buckets, in seconds (0.5 ms to 5 s); a last slot holds the rest.
BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOTS = len(BUCKETS) + 1  # bucket counts, then the sum of the observed durations

# Methods outside this set are counted as "OTHER": a client may send any token as a method, and
# label values must stay a small, fixed set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# The scope key through which front.LeanFront names the (exact) route of the requests it answers.
LEAN_ROUTE_KEY = "devuc.route"
# A request whose client went away before any answer started.
CLIENT_CLOSED = 499

# What is called once per answered request: (scope, status, seconds) (request_observer).
Observer = Callable[[dict, int, float], None]

# (method, route template, status) -> [count per bucket..., sum of seconds]
_requests: dict[tuple[str, str, int], list] = {}

# Authentication failures by reason. The reasons are a fixed set (see AUTH_REASONS).
AUTH_REASONS: tuple[str, ...] = (
    "missing_credentials",
    "token_invalid",
    "token_expired",
    "token_revoked",
    "token_not_project_scoped",
    "unknown_key",
    "inactive_key",
    "key_locked",
    "security_token_expired",
    "security_token_invalid",
    "console_only_key",
    "bad_signature",
    "signature_skew",
    "signature_malformed",
    "signature_unsupported_algorithm",
    "signature_missing_header",
    "signature_scope",
    "signature_payload_hash",
    "scope_forbidden",
)
_auth_failures: dict[str, int] = dict.fromkeys(AUTH_REASONS, 0)

# SignatureError.reason (iam/signing.py) -> failure reason.
SIGNATURE_REASONS: dict[str, str] = {
    "missing": "missing_credentials",
    "malformed": "signature_malformed",
    "unsupported_algorithm": "signature_unsupported_algorithm",
    "unknown_access_key": "unknown_key",
    "inactive_access_key": "inactive_key",
    "missing_signed_header": "signature_missing_header",
    "expired": "signature_skew",
    "security_token": "security_token_invalid",
    "credential_scope": "signature_scope",
    "payload_hash": "signature_payload_hash",
    "mismatch": "bad_signature",
}

# Permission decisions: (check, decision). "build": the Build user-permission answer (allowed when
# the caller holds at least one Build permission in the project); "authorization": refusals
# decided by devuc/authz.py (denied, or let_through in the ``log`` enforcement mode).
DECISIONS: tuple[tuple[str, str], ...] = (
    ("build", "allowed"),
    ("build", "denied"),
    ("authorization", "denied"),
    ("authorization", "let_through"),
)
_decisions: dict[tuple[str, str], int] = dict.fromkeys(DECISIONS, 0)


# --------------------------------------------------------------------------- recording


def route_label(scope: dict) -> str:
    """The route template that answered (the router's, or a lean route's exact path), never the
    raw path: label values stay bounded."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", None) or UNMATCHED
    return scope.get(LEAN_ROUTE_KEY, UNMATCHED)


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


def observe(scope: dict, status: int, seconds: float) -> None:
    """Count one answered request (called for every request: see request_observer)."""
    key = (method_label(scope["method"]), route_label(scope), status)
    cell = _requests.get(key)
    if cell is None:
        cell = _requests[key] = [0] * _SLOTS + [0.0]
    cell[bisect_left(BUCKETS, seconds)] += 1
    cell[_SLOTS] += seconds


def auth_failure(reason: str) -> None:
    """Count an authentication failure; ``reason`` one of AUTH_REASONS."""
    _auth_failures[reason] += 1


def signature_failure(reason: str) -> None:
    """Count a refused signature by its SignatureError reason."""
    _auth_failures[SIGNATURE_REASONS.get(reason, "bad_signature")] += 1


def decision(check: str, outcome: str) -> None:
    _decisions[(check, outcome)] += 1


def request_observer(settings: Any) -> Observer | None:
    """What http.RequestContext and front.LeanFront call once per request: metrics, the access
    log, both or none."""
    from . import accesslog

    log_on = accesslog.enabled(settings)
    if log_on:
        accesslog.install()
    if settings.metrics and not log_on:
        return observe
    if log_on and not settings.metrics:
        return accesslog.write

    def both(scope: dict, status: int, seconds: float) -> None:
        observe(scope, status, seconds)
        accesslog.write(scope, status, seconds)

    return both if log_on else None


# --------------------------------------------------------------------------- snapshots


def snapshot() -> dict:
    return {
        "requests": [[m, r, s, cell] for (m, r, s), cell in _requests.items()],
        "auth_failures": {k: v for k, v in _auth_failures.items() if v},
        "decisions": [[c, d, n] for (c, d), n in _decisions.items() if n],
    }


def _changes() -> tuple:
    """Something that moves whenever a counter does (cheap: no copy of the series)."""
    return (len(_requests), sum(cell[_SLOTS] for cell in _requests.values()),
            sum(_auth_failures.values()), sum(_decisions.values()))


class Snapshots:
    """Writes this process's counters to its file in ``folder`` every second while they change."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"{os.getpid()}-{secrets.token_hex(4)}.json"
        self._task: asyncio.Task | None = None
        self._last: tuple | None = None

    def write(self) -> None:
        changes = _changes()
        if changes == self._last:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.folder / self.name
        temporary = self.folder / f".{self.name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(snapshot()))
        os.replace(temporary, target)
        self._last = changes

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_SECONDS)
            try:
                self.write()
            except OSError as exc:  # a full disk must not stop serving; the next second retries
                log.warning("metrics snapshot not written: %s", type(exc).__name__)

    def start(self) -> None:
        try:
            self.write()
        except OSError as exc:
            log.warning("metrics snapshot not written: %s", type(exc).__name__)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(OSError):
            self.write()


def folder_of(settings: Any) -> Path:
    return Path(settings.data_dir) / FOLDER


def clear(folder: Path) -> None:
    """Forget the snapshots of an earlier run (``devuc serve`` at start)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.suffix in (".json", ".tmp") and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


# --------------------------------------------------------------------------- exposition


def _merge(into: dict, snap: dict) -> None:
    requests = into["requests"]
    for method, route, status, cell in snap.get("requests", ()):
        key = (str(method), str(route), int(status))
        mine = requests.get(key)
        if mine is None:
            requests[key] = list(cell)
        else:
            for i, value in enumerate(cell):
                mine[i] += value
    for reason, count in snap.get("auth_failures", {}).items():
        into["auth_failures"][reason] = into["auth_failures"].get(reason, 0) + count
    for check, outcome, count in snap.get("decisions", ()):
        key = (check, outcome)
        into["decisions"][key] = into["decisions"].get(key, 0) + count


def collect(folder: Path | None, own: str | None) -> dict:
    """This process's live counters plus the snapshots of the other workers in ``folder``
    (``own``: this process's file name, skipped)."""
    totals: dict = {"requests": {}, "auth_failures": dict.fromkeys(AUTH_REASONS, 0),
                    "decisions": dict.fromkeys(DECISIONS, 0)}
    _merge(totals, snapshot())
    if folder is not None and folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            if path.name == own:
                continue
            try:
                _merge(totals, orjson.loads(path.read_bytes()))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("metrics snapshot %s unreadable: %s", path.name, type(exc).__name__)
    return totals


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def render(totals: dict) -> str:
    """The text exposition format (version 0.0.4)."""
    lines = [
        "# HELP devuc_build_info The devuc version answering.",
        "# TYPE devuc_build_info gauge",
        f'devuc_build_info{{version="{_label(__version__)}"}} 1',
        "# HELP devuc_http_requests_total HTTP requests answered, by method, route template and status.",
        "# TYPE devuc_http_requests_total counter",
    ]
    requests = sorted(totals["requests"].items())
    by_route: dict[tuple[str, str], list] = {}
    for (method, route, status), cell in requests:
        labels = f'method="{_label(method)}",route="{_label(route)}",status="{status}"'
        lines.append(f"devuc_http_requests_total{{{labels}}} {sum(cell[:_SLOTS])}")
        merged = by_route.get((method, route))
        if merged is None:
            by_route[(method, route)] = list(cell)
        else:
            for i, value in enumerate(cell):
                merged[i] += value
    lines += [
        "# HELP devuc_http_request_duration_seconds Time to answer an HTTP request, by method and route template.",
        "# TYPE devuc_http_request_duration_seconds histogram",
    ]
    for (method, route), cell in sorted(by_route.items()):
        labels = f'method="{_label(method)}",route="{_label(route)}"'
        cumulative = 0
        for bound, count in zip(BUCKETS, cell):
            cumulative += count
            lines.append(f'devuc_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {cumulative}')
        cumulative += cell[_SLOTS - 1]
        lines.append(f'devuc_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {cumulative}')
        lines.append(f"devuc_http_request_duration_seconds_sum{{{labels}}} {_number(cell[_SLOTS])}")
        lines.append(f"devuc_http_request_duration_seconds_count{{{labels}}} {cumulative}")
    lines += [
        "# HELP devuc_auth_failures_total Refused authentications, by reason.",
        "# TYPE devuc_auth_failures_total counter",
    ]
    for reason, count in sorted(totals["auth_failures"].items()):
        lines.append(f'devuc_auth_failures_total{{reason="{_label(reason)}"}} {count}')
    lines += [
        "# HELP devuc_permission_decisions_total Permission decisions: Build permission answers and "
        "authorization refusals.",
        "# TYPE devuc_permission_decisions_total counter",
    ]
    for (check, outcome), count in sorted(totals["decisions"].items()):
        lines.append(f'devuc_permission_decisions_total{{check="{_label(check)}",decision="{_label(outcome)}"}} '
                     f"{count}")
    return "\n".join(lines) + "\n"

