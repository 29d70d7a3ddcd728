"""Shared fixtures: real `devuc serve` processes on SQLite and on PostgreSQL, and accounts made
with `devuc bootstrap`, exactly as a user would make them."""

from __future__ import annotations


import os

import pytest

# pytest-xdist's worker processes run with COLUMNS=80 and LINES=24 in their environment. Rich
# fixes a console's width from COLUMNS when the console is made (at import), so every CLI table
# printed in a worker would be cut to 80 columns; the CLI tests choose their own width.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

from support import Server, new_postgres_database, require_postgres, start_server

BACKENDS = ["sqlite", "postgres"]


def database_url(backend: str, tmp_path_factory) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'devuc.db'}"
    require_postgres()
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
