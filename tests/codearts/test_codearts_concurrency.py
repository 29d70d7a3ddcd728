"""Two `devuc serve` processes on one PostgreSQL database, hit at the same moment: a build task
is bound to exactly one project, and the permission-template quota is never exceeded
(design.md scale-out)."""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import get_token, postgres_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with postgres_pair(tmp_path_factory.mktemp) as nodes:
        yield nodes


def race(servers, requests: list[tuple[str, str, dict]], token: str) -> list:
    """Send every request at once (after a barrier), alternating between the servers."""
    barrier = threading.Barrier(len(requests))

    def send(i: int):
        method, path, body = requests[i]
        with servers[i % len(servers)].client() as c:
            c.get("/health")  # connect first, so the requests leave together
            barrier.wait()
            return c.request(method, path, json=body, headers={"X-Auth-Token": token})

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, range(len(requests))))


def new_account_token(server) -> str:
    """The owner of a new account, with a token scoped to cn-north-4."""
    acct = server.bootstrap()
    with server.client() as c:
        return get_token(c, acct)


def projects(server, token: str, count: int) -> list[str]:
    with server.client() as c:
        return [c.post("/v4/project", headers={"X-Auth-Token": token}, json={
            "project_name": f"race-{secrets.token_hex(4)}", "project_type": "scrum"}).json()["project_id"]
            for _ in range(count)]


@pytest.mark.postgres
def test_a_task_named_with_two_projects_at_once_is_bound_to_one(pair):
    first, _ = pair
    token = new_account_token(first)
    a, b = projects(first, token, 2)
    job = secrets.token_hex(16)
    results = race(pair, [
        ("POST", "/v1/job/permissions/batch",
         {"project_id": a if i % 4 < 2 else b, "job_ids": [job], "permissions": [{"role_id": 8, "is_execute": True}]})
        for i in range(12)
    ], token)
    by_project: dict[str, set] = {a: set(), b: set()}
    for i, r in enumerate(results):
        assert r.status_code in (200, 400), r.text
        if r.status_code == 400:
            assert r.json()["error_code"] == "CB.00060201", r.text
        by_project[a if i % 4 < 2 else b].add(r.status_code)
    assert sorted(by_project.values(), key=sorted) == [{200}, {400}]  # one project won every time
    winner = a if by_project[a] == {200} else b
    for server in pair:
        with server.client() as c:
            rows = c.get("/v1/job/permission/role", params={"job_id": job}, headers={"X-Auth-Token": token})
            assert rows.status_code == 200 and len(rows.json()["result"]) == 13
            mine = c.get("/v1/job/permission", params={"project_id": winner, "job_id": job},
                         headers={"X-Auth-Token": token}).json()["result"]
            assert mine["role_id"] == -1 and mine["is_manager"]


@pytest.mark.postgres
def test_concurrent_templates_never_exceed_the_quota(pair):
    first, _ = pair
    token = new_account_token(first)
    sources = projects(first, token, 24)
    results = race(pair, [("POST", "/devuc/v1/permission-templates", {"name": f"T{i}", "project_id": pid})
                          for i, pid in enumerate(sources)], token)
    made = [r for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(made) == 20
    assert all(r.status_code == 400 and r.json()["error_code"] == "UC.00011040" for r in refused), \
        [r.text for r in refused]
    with first.client() as c:
        assert c.get("/devuc/v1/permission-templates", headers={"X-Auth-Token": token}).json()["total"] == 20
