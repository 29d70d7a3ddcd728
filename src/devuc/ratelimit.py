"""Per-client rate limiting, answered 429 ``APIGW.0308`` with ``Retry-After``. Off unless
``rate_limit_per_second`` is set. The client is the source address.

On SQLite (one machine) each worker keeps a token bucket per client (``rate_limit_burst`` deep).
On PostgreSQL the count is shared by every node: requests per client are counted in one-second
windows in the database (one upsert per request while limiting is on), and a window admits
``rate_limit_per_second`` requests whichever nodes they reach.

Throttled requests are not written to the audit trail one by one (that would turn a flood into a
flood of writes); a log line names each throttled client, and one a minute says how many.
"""

from __future__ import annotations

import logging
import math
import time

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError
from .http import error_response
from .store import tables as t
from .store.db import Store

log = logging.getLogger("devuc.ratelimit")

EXEMPT_PATHS = frozenset({"/health", "/ready", "/metrics"})
MAX_CLIENTS = 100_000
REPORT_SECONDS = 60.0


class TokenBuckets:
    """Per-process buckets."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    async def wait(self, client: str) -> float:
        return self.take(client, time.monotonic())

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


class SharedWindows:
    """Counts in the database, shared by every node on it."""

    CLEANUP_EVERY = 1000

    def __init__(self, store: Store, rate: float) -> None:
        self.store = store
        self.limit = max(1, math.floor(rate))
        self._calls = 0

    async def wait(self, client: str) -> float:
        now = time.time()
        window = int(now)
        w = t.rate_windows
        upsert = pg_insert(w).values(client=client[:64], window=window, count=1)
        upsert = upsert.on_conflict_do_update(
            index_elements=[w.c.client, w.c.window], set_={"count": w.c.count + 1}
        ).returning(w.c.count)
        async with self.store.write(affects_auth=False) as conn:
            count = (await conn.execute(upsert)).scalar_one()
            self._calls += 1
            if self._calls % self.CLEANUP_EVERY == 0:
                await conn.execute(delete(w).where(w.c.window < window - 60))
        return 0.0 if count <= self.limit else window + 1 - now


class Throttle:
    """The limit itself, shared by the limiting layer and front.LeanFront (one count per client
    whichever way its requests take)."""

    def __init__(self, rate: float, burst: int, store: Store) -> None:
        self.limiter = TokenBuckets(rate, burst) if store.is_sqlite else SharedWindows(store, rate)
        self._refused: dict[str, int] = {}
        self._reported_at = time.monotonic()

    async def refusal(self, scope: Scope) -> Response | None:
        """The 429 answer when this request must wait, else None."""
        if scope["path"] in EXEMPT_PATHS:
            return None
        client = (scope.get("client") or ("-",))[0]
        wait = await self.limiter.wait(client)
        if not wait:
            return None
        self._note_refusal(client, time.monotonic())
        retry_after = str(max(1, math.ceil(wait)))
        err = ApiError("APIGW.0308", headers={"Retry-After": retry_after})
        return error_response(err, scope["path"], scope.get("state", {}).get("request_id", ""))

    def _note_refusal(self, client: str, now: float) -> None:
        if client not in self._refused:
            log.warning("rate limit: refusing requests from %s", client)
        self._refused[client] = self._refused.get(client, 0) + 1
        if now - self._reported_at >= REPORT_SECONDS:
            for who, count in self._refused.items():
                log.warning("rate limit: refused %d request(s) from %s in the last minute", count, who)
            self._refused.clear()
            self._reported_at = now


class RateLimit:
    """The limiting layer; added only when rate limiting is on (app.create_app)."""

    def __init__(self, app: ASGIApp, throttle: Throttle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = await self.throttle.refusal(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
