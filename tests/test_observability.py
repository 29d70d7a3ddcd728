"""Observability (docs/observability.md): Prometheus metrics by route template, authentication
failures by reason and permission decisions; the totals of several workers; the JSON access log
(no token, no query string); /ready against the schema revision."""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from datetime import UTC, datetime

import httpx
import pytest

from devuc.app import create_app
from devuc.config import Settings
from devuc.store.migrate import alembic_config, upgrade
from support import devuc, password_body, start_server

PASSWORD = "Xy7!kPq2w"
REGION = "cn-north-4"
MEMBERS = "/v4/projects/{project_id}/members"


def parse(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


def requests_series(route: str, status: int, method: str = "GET") -> str:
    return f'devuc_http_requests_total{{method="{method}",route="{route}",status="{status}"}}'


def auth_series(reason: str) -> str:
    return f'devuc_auth_failures_total{{reason="{reason}"}}'


def decision_series(check: str, decision: str) -> str:
    return f'devuc_permission_decisions_total{{check="{check}",decision="{decision}"}}'


def delta(before: dict, after: dict, series: str) -> float:
    return after.get(series, 0) - before.get(series, 0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("observability")
    url = f"sqlite+aiosqlite:///{folder / 'devuc.db'}"
    account = json.loads(devuc(
        "bootstrap", "--account", "obs", "--user", "owner", "--password", PASSWORD, "--json",
        "--data-dir", str(folder), "--database-url", url,
    ).stdout)
    return folder, url, account


@pytest.fixture(scope="module")
def app(store):
    folder, url, _ = store
    return create_app(Settings(data_dir=folder, database_url=url))


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://devuc")


async def scrape(c: httpx.AsyncClient) -> dict[str, float]:
    r = await c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(r.text)


async def token(c: httpx.AsyncClient, user: str = "owner", password: str = PASSWORD) -> str:
    r = await c.post("/v3/auth/tokens?nocatalog=true",
                     json=password_body(user, password, "obs", {"project": {"name": REGION}}))
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


async def test_route_label_is_the_template_and_unknown_paths_are_unmatched(app):
    async with client(app) as c:
        owner = await token(c)
        before = await scrape(c)
        first, second = secrets.token_hex(16), secrets.token_hex(16)
        statuses = {(await c.get(f"/v4/projects/{pid}/members", headers={"X-Auth-Token": owner})).status_code
                    for pid in (first, second)}
        assert len(statuses) == 1
        status = statuses.pop()
        assert (await c.get(f"/no/such/{first}")).status_code == 404
        assert (await c.request("BREW", "/health")).status_code in (404, 405)
        r = await c.get("/metrics")
        after = parse(r.text)
    assert delta(before, after, requests_series(MEMBERS, status)) == 2
    labels = f'method="GET",route="{MEMBERS}"'
    assert delta(before, after, f"devuc_http_request_duration_seconds_count{{{labels}}}") == 2
    assert delta(before, after, f'devuc_http_request_duration_seconds_bucket{{{labels},le="+Inf"}}') == 2
    assert delta(before, after, requests_series("unmatched", 404)) == 1
    assert any(key.startswith('devuc_http_requests_total{method="OTHER"') for key in after)
    assert first not in r.text and second not in r.text and "BREW" not in r.text
    # the lean routes are labelled with their exact path
    assert after.get(requests_series("/v3/auth/tokens", 201, "POST"), 0) >= 1


async def test_authentication_failures_are_counted_by_reason(app, store):
    account = store[2]
    now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    def signed(access: str, date: str) -> dict:
        return {"Authorization": f"SDK-HMAC-SHA256 Access={access}, SignedHeaders=host;x-sdk-date, "
                                 f"Signature={'ab' * 32}", "X-Sdk-Date": date}

    async with client(app) as c:
        revoked = await token(c)
        r = await c.request("DELETE", "/v3/auth/tokens", headers={"X-Auth-Token": revoked, "X-Subject-Token": revoked})
        assert r.status_code == 204, r.text
        before = await scrape(c)
        cases = {
            "missing_credentials": {},
            "token_invalid": {"X-Auth-Token": "not-a-token"},
            "token_revoked": {"X-Auth-Token": revoked},
            "unknown_key": signed("UNKNOWNACCESSKEY0000", now),
            "bad_signature": signed(account["access"], now),
            "signature_skew": signed(account["access"], "20000101T000000Z"),
        }
        for reason, headers in cases.items():
            r = await c.get("/v4/projects", headers=headers)
            assert r.status_code == 401, (reason, r.text)
        after = await scrape(c)
    for reason in cases:
        assert delta(before, after, auth_series(reason)) == 1, reason
    assert delta(before, after, requests_series("/v4/projects", 401)) == len(cases)


async def test_permission_decisions_are_counted(app, store):
    async with client(app) as c:
        owner = await token(c)
        r = await c.post("/v4/project", headers={"X-Auth-Token": owner},
                         json={"project_name": f"p-{secrets.token_hex(4)}", "project_type": "scrum"})
        assert r.status_code == 200, r.text
        pid = r.json()["project_id"]
        name = f"u-{secrets.token_hex(3)}"
        r = await c.post("/v3.0/OS-USER/users", headers={"X-Auth-Token": owner},
                         json={"user": {"name": name, "domain_id": store[2]["account_id"], "password": PASSWORD}})
        assert r.status_code == 201, r.text
        stranger = await token(c, name)
        before = await scrape(c)
        for _ in range(2):
            r = await c.get("/v1/domain/user-permission", params={"project_id": pid}, headers={"X-Auth-Token": owner})
            assert r.status_code == 200 and r.json()["result"]["execute_permission"] is True, r.text
        r = await c.get("/v1/domain/user-permission", params={"project_id": pid}, headers={"X-Auth-Token": stranger})
        assert r.status_code == 200 and not any(
            v for k, v in r.json()["result"].items() if k.endswith("_permission")), r.text
        r = await c.post("/v3.0/OS-USER/users", headers={"X-Auth-Token": stranger},
                         json={"user": {"name": "nobody-here", "domain_id": store[2]["account_id"],
                                        "password": PASSWORD}})
        assert r.status_code == 403, r.text
        after = await scrape(c)
    assert delta(before, after, decision_series("build", "allowed")) == 2  # the cached answer counts too
    assert delta(before, after, decision_series("build", "denied")) == 1
    assert delta(before, after, decision_series("authorization", "denied")) >= 1


async def test_metrics_and_ready_stay_out_of_the_openapi_document(app):
    async with client(app) as c:
        paths = (await c.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths and "/ready" not in paths and "/health" in paths


async def test_metrics_can_be_turned_off(store):
    folder, url, _ = store
    off = create_app(Settings(data_dir=folder, database_url=url, metrics=False))
    async with client(off) as c:
        assert (await c.get("/metrics")).status_code == 404


async def test_access_log_lines_are_json_without_tokens_or_queries(store, capsys):
    folder, url, account = store
    logged = create_app(Settings(data_dir=folder, database_url=url, access_log=True))
    secret_query, secret_header = "qs-secret-4711", f"hdr-secret-{secrets.token_hex(8)}"
    async with client(logged) as c:
        capsys.readouterr()
        r = await c.get(f"/v4/projects?token={secret_query}", headers={"X-Auth-Token": secret_header})
        assert r.status_code == 401
        owner = await token(c)
        r = await c.get("/v4/projects?limit=1", headers={"X-Auth-Token": owner})
        assert r.status_code == 200, r.text
    err = capsys.readouterr().err
    assert secret_query not in err and secret_header not in err and owner not in err and PASSWORD not in err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [(x["method"], x["route"], x["status"]) for x in lines] == [
        ("GET", "/v4/projects", 401), ("POST", "/v3/auth/tokens", 201), ("GET", "/v4/projects", 200)]
    fields = {"time", "request_id", "method", "route", "path", "status", "duration_ms", "client",
              "account_id", "user_id"}
    assert all(set(x) == fields for x in lines)
    assert lines[0]["path"] == "/v4/projects" and lines[0]["account_id"] is None
    assert lines[2]["account_id"] == account["account_id"] and lines[2]["user_id"] == account["user_id"]
    assert len(lines[2]["request_id"]) == 32 and lines[2]["duration_ms"] > 0


async def test_ready_needs_the_newest_schema(tmp_path):
    from alembic import command

    url = f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}"
    settings = Settings(data_dir=tmp_path, database_url=url)
    fresh = create_app(settings)  # no migration applied yet
    async with client(fresh) as c:
        r = await c.get("/ready")
        assert r.status_code == 503 and r.json()["schema"] == "empty", r.text
    await _in_thread(upgrade, url)
    async with client(create_app(settings)) as c:
        r = await c.get("/ready")
        assert r.status_code == 200 and r.json()["status"] == "ready", r.text
    await _in_thread(command.downgrade, alembic_config(url), "-1")
    async with client(create_app(settings)) as c:
        r = await c.get("/ready")
        body = r.json()
        assert r.status_code == 503 and body["schema"] == "behind", r.text
        assert body["schema_revision"] != body["expected_revision"]
        await _in_thread(upgrade, url)
        assert (await c.get("/ready")).status_code == 200  # a refusal is not remembered


async def _in_thread(function, *args):
    import asyncio

    return await asyncio.to_thread(function, *args)


def test_several_workers_add_up_and_log_json(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}"
    stale = tmp_path / "metrics"
    stale.mkdir()
    (stale / "999999-dead.json").write_text(json.dumps({"requests": [["GET", "/stale", 200, [5] * 15]]}))
    server = start_server(tmp_path, url, args=("--workers", "2", "--access-log"))
    secret = f"tok-{secrets.token_hex(8)}"
    try:
        assert not (stale / "999999-dead.json").exists()  # cleared at start
        prefixes: set[str] = set()
        sent = 0
        route = f"/v4/projects/{secrets.token_hex(16)}/members"
        # fresh connections until both workers have answered some (at least 20 requests)
        while (sent < 20 or len(prefixes) < 2) and sent < 300:
            r = httpx.get(server.base_url + route + "?token=qs-secret", headers={"X-Auth-Token": secret},
                          timeout=10)
            assert r.status_code == 401
            prefixes.add(r.headers["x-request-id"][:16])
            sent += 1
        assert len(prefixes) == 2, "one worker answered every request"
        deadline = time.monotonic() + 4
        while True:
            values = parse(httpx.get(server.base_url + "/metrics", timeout=10).text)
            if values.get(requests_series(MEMBERS, 401), 0) == sent or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert values.get(requests_series(MEMBERS, 401)) == sent
        assert values.get(auth_series("token_invalid")) == sent
        assert requests_series("/stale", 200) not in values
        files = list(stale.glob("*.json"))
        assert len(files) == 2
        assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    finally:
        server.stop()
    log = (tmp_path / "serve.log").read_text()
    assert secret not in log and "qs-secret" not in log
    access = [json.loads(line) for line in log.splitlines() if line.startswith('{"time"')]
    answered = [x for x in access if x["route"] == MEMBERS]
    assert len(answered) == sent and {x["request_id"][:16] for x in answered} == prefixes
    assert all(x["path"] == route and x["status"] == 401 for x in answered)
    # uvicorn's own access log stays off: one line per request
    assert '"GET ' + route not in log
