"""The migrations build exactly the schema the table definitions describe (a table added to
tables.py without its migration, or the other way round, fails here)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from devuc.store import tables as t
from devuc.store.migrate import upgrade


def test_migrations_at_head_match_the_table_definitions(tmp_path):
    path = tmp_path / "schema.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), t.metadata)
    finally:
        engine.dispose()
    assert differences == []
