"""Per-client rate limiting: 429 APIGW.0308 with Retry-After once a client's bucket is empty;
/health is never throttled; the bucket refills."""

from __future__ import annotations

import time

from support import postgres_pair, start_server


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}"
    server = start_server(tmp_path, url, env={"DEVUC_RATE_LIMIT_PER_SECOND": "2",
                                              "DEVUC_RATE_LIMIT_BURST": "5"})
    try:
        with server.client() as c:
            statuses = [c.get("/v3/auth/projects").status_code for _ in range(12)]
            assert statuses[:5] == [401] * 5  # the burst passes (unauthenticated: 401)
            assert 429 in statuses
            throttled = c.get("/v3/auth/projects")
            assert throttled.status_code == 429
            assert throttled.json()["error_code"] == "APIGW.0308"
            assert int(throttled.headers["Retry-After"]) >= 1
            assert all(c.get("/health").status_code == 200 for _ in range(20))
            time.sleep(int(throttled.headers["Retry-After"]))
            assert c.get("/v3/auth/projects").status_code == 401
    finally:
        server.stop()
    assert "rate limit: refusing requests from 127.0.0.1" in (tmp_path / "serve.log").read_text()


def test_rate_limit_is_shared_between_nodes_on_postgresql(tmp_path_factory):
    with postgres_pair(tmp_path_factory.mktemp, {"DEVUC_RATE_LIMIT_PER_SECOND": "3"}) as (first, second):
        with first.client() as a, second.client() as b:
            # wait for the start of a second so the burst below falls in one or two windows
            time.sleep(1 - time.time() % 1)
            started = time.time()
            statuses = [(a if i % 2 else b).get("/v3/auth/projects").status_code for i in range(12)]
            windows = int(time.time()) - int(started) + 1
    admitted = sum(1 for s in statuses if s != 429)
    assert 429 in statuses
    # 3 per second for both nodes together (each alone would admit 3 more)
    assert admitted <= 3 * windows, (statuses, windows)
