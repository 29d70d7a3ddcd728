"""Per-client rate limiting: a token bucket per source address, answered 429 ``APIGW.0308`` with
``Retry-After`` when empty. Off unless ``rate_limit_per_second`` is set.

The buckets live in each process: with N workers or nodes a client may get up to N times the
rate. Throttled requests are not written to the audit trail one by one (that would turn a flood
into a flood of writes); one log line per client and minute says how many were refused.
"""

from __future__ import annotations

import logging
import math
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError
from .http import error_response

log = logging.getLogger("devuc.ratelimit")

EXEMPT_PATHS = frozenset({"/health"})
MAX_CLIENTS = 100_000
REPORT_SECONDS = 60.0


class TokenBuckets:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str, now: float) -> float:
        """0 when the request may pass, else the seconds until it would."""
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= MAX_CLIENTS and client not in self._buckets:
                self._buckets.clear()
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate


class RateLimit:
    def __init__(self, app: ASGIApp, rate: float, burst: int) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst) if rate > 0 else None
        self._refused: dict[str, int] = {}
        self._reported_at = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("-",))[0]
        now = time.monotonic()
        wait = self.buckets.take(client, now)
        if not wait:
            await self.app(scope, receive, send)
            return
        self._note_refusal(client, now)
        retry_after = str(max(1, math.ceil(wait)))
        err = ApiError("APIGW.0308", headers={"Retry-After": retry_after})
        rid = scope.get("state", {}).get("request_id", "")
        await error_response(err, scope["path"], rid)(scope, receive, send)

    def _note_refusal(self, client: str, now: float) -> None:
        if client not in self._refused:
            log.warning("rate limit: refusing requests from %s", client)
        self._refused[client] = self._refused.get(client, 0) + 1
        if now - self._reported_at >= REPORT_SECONDS:
            for who, count in self._refused.items():
                log.warning("rate limit: refused %d request(s) from %s in the last minute", count, who)
            self._refused.clear()
            self._reported_at = now
