"""Shared fixtures: real `devuc serve` processes on SQLite and on PostgreSQL, and accounts made
with `devuc bootstrap`, exactly as a user would make them."""

from __future__ import annotations


import fcntl
import os
import tempfile
from pathlib import Path

import pytest

# pytest-xdist's worker processes run with COLUMNS=80 and LINES=24 in their environment. Rich
# fixes a console's width from COLUMNS when the console is made (at import), so every CLI table
# printed in a worker would be cut to 80 columns; the CLI tests choose their own width.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

from support import Server, new_postgres_database, require_postgres, start_server

BACKENDS = ["sqlite", "postgres"]

# The longest tests (a minute or more each on a slow machine) go first: started last, one of them
# would keep one of the two test workers busy long after the other had run out of tests.
LONGEST_FIRST = ("tests/test_fuzz_openapi.py", "tests/test_crash_safety.py")


def pytest_collection_modifyitems(items) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))


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


@pytest.fixture(scope="session")
def _locks():
    """The two lock files the xdist workers of this run share (None outside xdist), opened once."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield None
        return
    folder = Path(tempfile.gettempdir()) / f"devuc-tests-{os.environ.get('PYTEST_XDIST_TESTRUNUID', 'run')}"
    folder.mkdir(exist_ok=True)
    with open(folder / "turnstile", "a") as turnstile, open(folder / "room", "a") as room:
        yield turnstile, room


@pytest.fixture(autouse=True)
def _one_alone(request, _locks):
    """Under pytest-xdist, a test marked ``alone`` (a bound on wall-clock time that an issue sets)
    runs while the other worker waits between tests, so it does not share the cores with another
    test. Every test holds a shared lock on one file for its duration and an ``alone`` test an
    exclusive one; a second lock, taken briefly on the way in, keeps a waiting ``alone`` test from
    being overtaken by the other worker's next test."""
    if _locks is None:
        yield
        return
    turnstile, room = _locks
    alone = request.node.get_closest_marker("alone") is not None
    fcntl.flock(turnstile, fcntl.LOCK_EX)
    try:
        fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
    finally:
        fcntl.flock(turnstile, fcntl.LOCK_UN)
    try:
        yield
    finally:
        fcntl.flock(room, fcntl.LOCK_UN)
