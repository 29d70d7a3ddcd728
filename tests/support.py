"""Helpers for tests that drive a real `devuc serve` process over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import contextmanager
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL_TEMPLATE = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
SHARED_DIR = Path(os.environ.get("DEVUC_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _pg(statement: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def require_postgres() -> None:
    """Skip locally without PostgreSQL; in CI its absence is a failure."""
    import pytest

    if postgres_available():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL must be reachable on 127.0.0.1:5432 in CI")
    pytest.skip("no PostgreSQL server on 127.0.0.1:5432")


@contextmanager
def postgres_pair(make_dir, env: dict | None = None):
    """Two `devuc serve` nodes on one fresh PostgreSQL database, sharing a master key as a
    deployment does. ``make_dir(name)`` gives each its data folder."""
    require_postgres()
    url = new_postgres_database()
    env = {"DEVUC_SECRET_KEY": secrets.token_urlsafe(32), **(env or {})}
    first = start_server(make_dir("node-a"), url, env)
    try:
        second = start_server(make_dir("node-b"), url, env)
        try:
            yield first, second
        finally:
            second.process.terminate()
            second.process.wait(timeout=15)
    finally:
        first.stop()  # also drops the database


def new_postgres_database() -> str:
    name = f"devuc_t_{secrets.token_hex(6)}"
    _pg(f'CREATE DATABASE "{name}"')
    return PG_URL_TEMPLATE.format(db=name)


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def devuc(*args: str, env: dict | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the devuc CLI as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "devuc.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=check,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class Server:
    base_url: str
    data_dir: Path
    database_url: str
    process: subprocess.Popen
    env: dict = field(default_factory=dict)
    startup_seconds: float = 0.0

    @property
    def store_args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), "--database-url", self.database_url]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return devuc(*args, *self.store_args, env=self.env, check=check)

    def bootstrap(self, account: str | None = None, user: str | None = None, password: str | None = None) -> dict:
        account = account or f"acct{secrets.token_hex(4)}"
        args = ["bootstrap", "--account", account, "--user", user or f"owner-{account}", "--json"]
        if password:
            args += ["--password", password]
        return json.loads(self.cli(*args).stdout)

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kw)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.database_url.startswith("postgresql"):
            drop_postgres_database(self.database_url)


def start_server(data_dir: Path, database_url: str, env: dict | None = None, port: int | None = None,
                 args: tuple[str, ...] = ()) -> Server:
    """``args``: more `devuc serve` options (e.g. ``("--dev",)``)."""
    port = port or free_port()
    env = dict(env or {})
    log = open(data_dir / "serve.log", "ab")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "devuc.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
         "--database-url", database_url, *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    server = Server(f"http://127.0.0.1:{port}", data_dir, database_url, process, env)
    deadline = started + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"devuc serve exited: {(data_dir / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                server.startup_seconds = time.monotonic() - started
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("devuc serve did not answer /health within 60 s")


def password_body(user: str, password: str, domain: str, scope: dict | None = None) -> dict:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
            }
        }
    }
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def get_token(client: httpx.Client, acct: dict, *, user: str | None = None, password: str | None = None,
              project: str | None = "cn-north-4") -> str:
    scope = {"project": {"name": project}} if project else {"domain": {"name": acct["account_name"]}}
    response = client.post(
        "/v3/auth/tokens?nocatalog=true",
        json=password_body(user or acct["user_name"], password or acct["password"], acct["account_name"], scope),
    )
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def error_code(response: httpx.Response) -> str:
    body = response.json()
    if "error" in body:
        return body["error"]["error_code"]
    return body["error_code"]
