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
        while self._pending:  # what was set during a flush is written by the next round
            await asyncio.sleep(self.delay)
            await self.flush()
        self._task = None

    async def flush(self) -> None:
        """Write what is pending. Entries leave the queue only once written (or refused by the
        database: then they are logged and dropped), so a flush cut short keeps them."""
        if not self._pending:
            return
        batch = dict(self._pending)
        statements: dict[Update, list[dict[str, Any]]] = {}
        for (statement, _), params in batch.items():
            statements.setdefault(statement, []).append(params)
        try:
            async with self.store.write(affects_auth=False) as conn:
                for statement, rows in statements.items():
                    await conn.execute(statement, rows)
        except Exception as exc:  # bookkeeping only: never let it take a request down
            log.warning("deferred bookkeeping writes failed (%s); %d dropped", type(exc).__name__, len(batch))
        for key, params in batch.items():
            if self._pending.get(key) is params:  # not replaced by a newer value meanwhile
                del self._pending[key]

    async def close(self) -> None:
        """Write what is pending now."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()
