"""The way in for the hot routes (front.LeanFront): it does for them what the middleware stack does
for every other route. These tests pin what differs in how it is built: one rate-limit count per
client whichever way its requests go, a 500 in the family's shape with the request's id, and a
client that hangs up mid-body gets no answer, no audit record and a 499 in the metrics."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from devuc import metrics
from devuc.app import create_app
from devuc.config import Settings
from support import devuc

PASSWORD = "Xy7!kPq2w"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("front")
    url = f"sqlite+aiosqlite:///{folder / 'devuc.db'}"
    devuc("bootstrap", "--account", "front", "--user", "owner", "--password", PASSWORD, "--json",
          "--data-dir", str(folder), "--database-url", url)
    return folder, url


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://devuc")


async def test_lean_and_other_routes_draw_on_one_rate_limit_count(store):
    folder, url = store
    app = create_app(Settings(data_dir=folder, database_url=url,
                              rate_limit_per_second=0.01, rate_limit_burst=4))
    lean, other = "/v1/domain/user-permission", "/v3/auth/projects"
    assert ("GET", lean) in app.lean_front.routes and ("GET", other) not in app.lean_front.routes
    async with client(app) as c:
        statuses = [(await c.get(path)).status_code for path in (lean, other, lean, other, lean, other)]
        assert statuses == [401, 401, 401, 401, 429, 429]  # four in all, not four per way in
        refused = await c.get(lean)
        assert refused.status_code == 429 and refused.json()["error_code"] == "APIGW.0308"
        assert int(refused.headers["retry-after"]) >= 1 and len(refused.headers["x-request-id"]) == 32
        assert (await c.get("/health")).status_code == 200  # never throttled


async def test_an_unexpected_failure_on_a_lean_route_is_a_500_with_the_request_id(store, caplog):
    folder, url = store
    app = create_app(Settings(data_dir=folder, database_url=url))

    async def broken() -> None:
        raise RuntimeError("secret-detail-4711")

    app.state.runtime.fresh_generation = broken  # what /health asks of the database
    caplog.set_level(logging.INFO)
    before = metrics.snapshot()["requests"]
    async with client(app) as c:
        r = await c.get("/health")
    assert r.status_code == 500 and r.json()["error_code"] == "IAM.0006"
    rid = r.headers["x-request-id"]
    assert len(rid) == 32 and r.headers["x-iam-trace-id"] == f"token_null_{rid}"
    assert "secret-detail-4711" not in r.text and "secret-detail-4711" not in caplog.text
    assert f"unexpected RuntimeError on GET /health (request {rid})" in caplog.text
    assert _count(metrics.snapshot()["requests"], "/health", 500) == _count(before, "/health", 500) + 1


async def test_a_client_gone_mid_body_gets_no_answer_and_no_record(store):
    folder, url = store
    app = create_app(Settings(data_dir=folder, database_url=url))
    body = json.dumps({"auth": {"identity": {"methods": ["password"]}}}).encode()
    incoming = [{"type": "http.request", "body": body[:10], "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v3/auth/tokens", "raw_path": b"/v3/auth/tokens",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000), "headers": [(b"host", b"devuc"), (b"content-type", b"application/json")],
    }
    before = metrics.snapshot()["requests"]
    async with client(app) as c:
        await app(scope, receive, send)
        assert sent == []
        gone = _count(metrics.snapshot()["requests"], "/v3/auth/tokens", 499, "POST")
        assert gone == _count(before, "/v3/auth/tokens", 499, "POST") + 1
        assert _login_records(store) == 0
        # the same login sent whole is answered, and recorded (a refused login: 400 or 401)
        r = await c.post("/v3/auth/tokens", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 401) and len(r.headers["x-request-id"]) == 32
    assert _login_records(store) == 1


def _login_records(store) -> int:
    folder, url = store
    out = devuc("audit", "--action", "POST /v3/auth/tokens", "--json",
                "--data-dir", str(folder), "--database-url", url).stdout
    return len([line for line in out.splitlines() if line.strip()])


def _count(series: list, route: str, status: int, method: str = "GET") -> int:
    return sum(sum(cell[:len(metrics.BUCKETS) + 1]) for m, r, s, cell in series
               if (m, r, s) == (method, route, status))
