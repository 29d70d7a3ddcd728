"""Shared fixtures: real `devuc serve` processes on SQLite and on PostgreSQL, and accounts made
with `devuc bootstrap`, exactly as a user would make them."""

from __future__ import annotations

import os

import pytest

from support import Server, new_postgres_database, postgres_available, start_server

BACKENDS = ["sqlite", "postgres"]


def _postgres_or_skip() -> None:
    if postgres_available():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL must be reachable on 127.0.0.1:5432 in CI")
    pytest.skip("no PostgreSQL server on 127.0.0.1:5432")


def database_url(backend: str, tmp_path_factory) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'devuc.db'}"
    _postgres_or_skip()
    return new_postgres_database()


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, tmp_path_factory) -> Server:
    """One running server per backend for the whole session."""
    url = database_url(request.param, tmp_path_factory)
    srv = start_server(tmp_path_factory.mktemp(f"data-{request.param}"), url)
    request.addfinalizer(srv.stop)
    return srv


@pytest.fixture
def account(server: Server):
    """A fresh account (owner, admin group, region projects, access key) on the server."""
    return server.bootstrap()
