"""Alembic environment: runs migrations over the async engine, one migrator at a time."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text

from devuc.store.db import make_engine
from devuc.store.tables import metadata

# Any fixed number: the PostgreSQL advisory lock that serialises concurrent migrators.
MIGRATION_LOCK_ID = 0x64657675


def _run(sync_conn) -> None:
    context.configure(connection=sync_conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if url.startswith("sqlite"):
                conn = await conn.execution_options(sqlite_begin="IMMEDIATE")
            else:
                await conn.execute(text(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
                await conn.commit()
            try:
                await conn.run_sync(_run)
                await conn.commit()
            finally:
                if not url.startswith("sqlite"):
                    await conn.execute(text(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
                    await conn.commit()
    finally:
        await engine.dispose()


url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(url))
