"""Two `devuc serve` processes on one PostgreSQL database adding VPC endpoints at the same moment
never exceed the per-account, per-region quota (spec/codearts-uc.md §4.3; design.md scale-out)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import postgres_pair
from vpcep_helpers import OTHER_REGION, REGION, add, listed_ids, token, vpce

QUOTA = 7


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with postgres_pair(tmp_path_factory.mktemp, {"DEVUC_VPCEP_QUOTA": str(QUOTA)}) as nodes:
        yield nodes


def race(servers, tok: str, batches: list[list[str]], region: str) -> list:
    """Send every batch at once (after a barrier), alternating between the servers."""
    barrier = threading.Barrier(len(batches))

    def send(i: int):
        srv = servers[i % len(servers)]
        with srv.client() as c:
            c.get("/health")  # connect first, so the requests leave together
            barrier.wait()
            return add(c, tok, batches[i], region=region)

    with ThreadPoolExecutor(len(batches)) as pool:
        return list(pool.map(send, range(len(batches))))


@pytest.mark.postgres
def test_concurrent_adds_never_exceed_the_quota(pair):
    first, second = pair
    acct = first.bootstrap()
    tok = token(first, acct)

    results = race(pair, tok, [[vpce()] for _ in range(24)], REGION)
    added = [r for r in results if r.status_code == 200]
    refused = [r for r in results if r.status_code != 200]
    assert len(added) == QUOTA and all(r.json() == {"status": "ok", "total": 1} for r in added)
    assert all(r.status_code == 400 and r.json()["error_code"] == "UC.00011036" for r in refused)
    for srv in pair:
        with srv.client() as c:
            assert len(listed_ids(c, tok, acct)) == QUOTA

    # batches of three: whatever wins, the list never passes the quota and matches the answers
    other = token(second, acct, project=OTHER_REGION)
    results = race(pair, other, [[vpce() for _ in range(3)] for _ in range(12)], OTHER_REGION)
    totals = [r.json()["total"] for r in results if r.status_code == 200]
    assert totals == [3, 3]  # two batches fit in 7, a third never
    with first.client() as c:
        assert len(listed_ids(c, other, acct, region=OTHER_REGION)) == 6


@pytest.mark.postgres
def test_a_change_on_one_node_holds_on_the_next_request_to_the_other(pair):
    """Each node caches the lists; a write on either node is seen by the very next request on
    the other (spec/codearts-uc.md §6, contract 8)."""
    first, second = pair
    acct = first.bootstrap()
    tok = token(first, acct)
    one = vpce()
    with first.client() as a, second.client() as b:
        for _ in range(3):  # warm both nodes' caches
            assert b.get("/v3/auth/projects", headers={"X-Auth-Token": tok}).status_code == 200
        assert add(a, tok, [one]).status_code == 200
        assert b.get("/v3/auth/projects", headers={"X-Auth-Token": tok}).status_code == 403
        assert a.get("/v3/auth/projects", headers={"X-Auth-Token": tok}).status_code == 403
        r = b.request("DELETE", "/v2/vpceps", headers={"X-Auth-Token": tok, "region": REGION},
                      json={"vpceps": [{"vpcep_id": one}]})
        assert r.json() == {"status": "ok", "total": 1}
        assert a.get("/v3/auth/projects", headers={"X-Auth-Token": tok}).status_code == 200
