"""Bookkeeping writes that no authorisation decision depends on (an access key's last use),
applied a moment after the answer in one transaction, instead of on the request path.

A write deferred here is lost only if the process dies within ``delay`` seconds of it; on a clean
shutdown `flush` applies what is pending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import Any

from sqlalchemy import Update

from .db import Store

log = logging.getLogger("devuc.store")


class DeferredUpdates:
    def __init__(self, store: Store, delay: float = 1.0) -> None:
        self.store = store
        self.delay = delay
        self._pending: dict[tuple[Update, Hashable], dict[str, Any]] = {}
        self._task: asyncio.Task | None = None

    def set(self, statement: Update, key: Hashable, params: dict[str, Any]) -> None:
        """Run ``statement`` (an UPDATE with bound parameters) with ``params`` soon; a later
        ``set`` with the same statement and key replaces an earlier one still pending."""
        self._pending[(statement, key)] = params
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self.delay)
            await self.flush()
        finally:
            self._task = None

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        batches: dict[Update, list[dict[str, Any]]] = {}
        for (statement, _), params in pending.items():
            batches.setdefault(statement, []).append(params)
        try:
            async with self.store.write(affects_auth=False) as conn:
                for statement, rows in batches.items():
                    await conn.execute(statement, rows)
        except Exception as exc:  # bookkeeping only: never let it take a request down
            log.warning("deferred bookkeeping writes failed (%s); %d dropped",
                        type(exc).__name__, len(pending))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()
