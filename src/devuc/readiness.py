"""``GET /ready``: may this node take traffic? (docs/observability.md)

Ready when the database answers and its schema is at the newest migration shipped with this
devuc (the head of store/migrations, read at the first probe: parsing the migrations takes
about 0.1 s, which a worker's start-up need not pay). A positive answer is
kept for a second, so a load balancer probing often costs at most one query a second; a negative
one is checked again on every probe.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import text

from .store.db import Store

log = logging.getLogger("devuc")

POSITIVE_SECONDS = 1.0


def shipped_heads(url: str) -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this devuc."""
    from alembic.script import ScriptDirectory

    from .store.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config(url)).get_heads())


@dataclass
class Verdict:
    ready: bool
    body: dict


class Readiness:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._heads: frozenset[str] | None = None
        self._ready_until = 0.0

    @property
    def heads(self) -> frozenset[str]:
        if self._heads is None:
            self._heads = shipped_heads(self.store.url)
        return self._heads

    async def check(self) -> Verdict:
        now = time.monotonic()
        if now < self._ready_until:
            return Verdict(True, self._ready_body())
        try:
            async with self.store.read() as conn:
                revisions = {row[0] for row in await conn.execute(text("SELECT version_num FROM alembic_version"))}
        except Exception as exc:  # noqa: BLE001 - no table, or no database at all
            return Verdict(False, await self._why_not(exc))
        if revisions != set(self.heads):
            return Verdict(False, {
                "status": "not ready",
                "database": "ok",
                "schema": "behind" if revisions else "empty",
                "schema_revision": sorted(revisions),
                "expected_revision": sorted(self.heads),
            })
        self._ready_until = time.monotonic() + POSITIVE_SECONDS
        return Verdict(True, self._ready_body())

    def _ready_body(self) -> dict:
        return {"status": "ready", "database": "ok", "schema": "current",
                "schema_revision": sorted(self.heads)}

    async def _why_not(self, exc: Exception) -> dict:
        try:
            async with self.store.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as down:  # noqa: BLE001
            log.warning("not ready: the database does not answer (%s)", type(down).__name__)
            return {"status": "not ready", "database": "unavailable", "schema": "unknown"}
        log.warning("not ready: no schema revision recorded (%s)", type(exc).__name__)
        return {"status": "not ready", "database": "ok", "schema": "empty", "schema_revision": [],
                "expected_revision": sorted(self.heads)}
