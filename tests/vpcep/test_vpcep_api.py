"""The VPCEP access-control APIs through a real server (spec/codearts-uc.md §3, §4): list, add
(devuc extension), delete on both paths; paging and sort; the quota; every validation rule; who
may call; other accounts; signed requests."""

from __future__ import annotations

import json

import pytest

from support import Server
from vpcep_helpers import (
    NO_PERMISSION,
    OTHER_REGION,
    PATH,
    PREFIXED,
    REGION,
    add,
    hdrs,
    listed_ids,
    listing,
    new_user,
    remove,
    signed,
    token,
    vpce,
)


def invalid(field: str, problem: str) -> dict:
    return {"error_code": "UC.00011002", "error_msg": f"Invalid parameter '{field}': {problem}."}


def missing(field: str) -> dict:
    return {"error_code": "UC.00011002", "error_msg": f"Missing parameter '{field}'."}


def gateway(r, code: str, msg: str) -> None:
    assert r.json() == {"error_code": code, "error_msg": msg, "request_id": r.headers["x-request-id"]}


@pytest.fixture
def owner(server: Server, account) -> str:
    return token(server, account)


@pytest.fixture(scope="module")
def tenant(server: Server) -> tuple[dict, str]:
    """One account (and its owner's token) shared by the validation tests, which change nothing."""
    acct = server.bootstrap()
    return acct, token(server, acct)


@pytest.mark.parametrize("path", [PATH, PREFIXED])
def test_add_list_delete(server: Server, account, owner, path):
    a, b, c_ = sorted(vpce() for _ in range(3))
    with server.client() as c:
        r = listing(c, owner, account, path=path)
        assert r.status_code == 200
        assert r.json() == {"status": "ok", "data": {"enterprise_id": account["account_id"], "vpceps": []},
                            "limit": 10, "offset": 0, "total": 0}

        r = add(c, owner, [{"vpcep_id": a, "description": "office VPN (Shanghai) 上海 [a]-_~.&;"}, b], path=path,
                enterprise_id=account["account_id"])
        assert (r.status_code, r.json()) == (200, {"status": "ok", "total": 2})
        assert r.headers["content-type"] == "application/json; charset=utf8"
        # adding again is idempotent: not counted, description updated only when given
        r = add(c, owner, [a, {"vpcep_id": b, "description": "b now"}, c_], path=path)
        assert r.json() == {"status": "ok", "total": 1}

        r = listing(c, owner, account, path=path)
        assert r.json() == {
            "status": "ok",
            "data": {"enterprise_id": account["account_id"], "vpceps": [
                {"vpcep_id": a, "description": "office VPN (Shanghai) 上海 [a]-_~.&;"},
                {"vpcep_id": b, "description": "b now"},
                {"vpcep_id": c_, "description": ""},
            ]},
            "limit": 10, "offset": 0, "total": 3,
        }
        # the other path sees the same records
        other_path = PREFIXED if path == PATH else PATH
        assert listed_ids(c, owner, account) == [a, b, c_]
        assert listing(c, owner, account, path=other_path).json()["total"] == 3

        # delete: the ones that exist go, the unknown is skipped, a repeated ID counts once
        r = remove(c, owner, [a, a, vpce()], path=path, enterprise_id=account["account_id"])
        assert (r.status_code, r.json()) == (200, {"status": "ok", "total": 1})
        # description is ignored when deleting
        r = c.request("DELETE", path, headers=hdrs(owner),
                      json={"vpceps": [{"vpcep_id": b, "description": "anything"}]})
        assert r.json() == {"status": "ok", "total": 1}
        # nothing of the request is listed: 404, and nothing changed
        r = remove(c, owner, [a, vpce()], path=path)
        assert (r.status_code, r.json()) == (404, {
            "error_code": "UC.00011005",
            "error_msg": f"Not found. None of the VPC endpoints is on the account's list in region {REGION}.",
        })
        assert listed_ids(c, owner, account) == [c_]


def test_records_are_per_region(server: Server, account, owner):
    one = vpce()
    with server.client() as c:
        assert add(c, owner, [one]).json()["total"] == 1
        other = token(server, account, project=OTHER_REGION)
        assert listed_ids(c, other, account, region=OTHER_REGION) == []
        assert remove(c, other, [one], region=OTHER_REGION).status_code == 404
        assert listed_ids(c, owner, account) == [one]


def test_paging_and_sort(server: Server, account, owner):
    ids = sorted(vpce() for _ in range(25))
    ids[0] = "0" + ids[0][1:]
    ids[-1] = "z-" + ids[-1][2:]
    ids.sort()
    with server.client() as c:
        assert add(c, owner, ids).json()["total"] == 25

        def page(**q):
            r = listing(c, owner, account, **q)
            assert r.status_code == 200, r.text
            body = r.json()
            return [v["vpcep_id"] for v in body["data"]["vpceps"]], body["limit"], body["offset"], body["total"]

        assert page() == (ids[:10], 10, 0, 25)
        assert page(offset=10) == (ids[10:20], 10, 10, 25)
        assert page(offset=20, limit=100) == (ids[20:], 100, 20, 25)
        assert page(offset=9999) == ([], 10, 9999, 25)
        assert page(limit=1) == (ids[:1], 1, 0, 25)
        for asc in ("asc", "ASC"):
            assert page(sort=asc, limit=100)[0] == ids
        for desc in ("desc", "DESC"):
            assert page(sort=desc, limit=100)[0] == ids[::-1]
        assert page(sort="desc", limit=3, offset=1)[0] == ids[::-1][1:4]
        # filter: the intersection; unknown IDs are simply absent; empty segments ignored
        wanted = [ids[3], ids[7], vpce()]
        got, _, _, total = page(vpcep_ids=",".join(wanted) + ",")
        assert (got, total) == (sorted(wanted[:2]), 2)
        got, _, _, total = page(vpcep_ids=f"{ids[5]},{ids[1]}", sort="desc", limit=1, offset=1)
        assert (got, total) == ([ids[1]], 2)


def test_quota(server: Server, account, owner):
    """100 per account and region by default; beyond it UC.00011036 and nothing added."""
    first = [vpce() for _ in range(60)]
    with server.client() as c:
        assert add(c, owner, first).json()["total"] == 60
        over = [vpce() for _ in range(41)]
        r = add(c, owner, over + first[:5])
        assert (r.status_code, r.json()) == (400, {
            "error_code": "UC.00011036",
            "error_msg": f"Your VPCEP quota has been used up. Region {REGION} allows 100 VPC endpoints "
                         "per account: 60 in use, 41 more requested.",
        })
        assert len(listed_ids(c, owner, account)) == 60
        # re-adding listed ones within a full quota works; exactly reaching it works
        assert add(c, owner, over[:40] + first[:10]).json() == {"status": "ok", "total": 40}
        assert listing(c, owner, account).json()["total"] == 100
        r = add(c, owner, [vpce()])
        assert r.status_code == 400 and r.json()["error_code"] == "UC.00011036"
        assert add(c, owner, first[:3]).json()["total"] == 0
        # another region has its own quota
        other = token(server, account, project=OTHER_REGION)
        assert add(c, other, [vpce()], region=OTHER_REGION).json()["total"] == 1
        # the CLI reports it
        shown = server.cli("vpcep", "quota", "--account", account["account_name"], "--json")
        assert json.loads(shown.stdout) == {
            "account_id": account["account_id"], "quota": 100,
            "regions": [{"region": REGION, "used": 100, "remaining": 0},
                        {"region": OTHER_REGION, "used": 1, "remaining": 99}],
        }


BAD_BODIES = [
    ({"vpceps": []}, invalid("vpceps", "must hold 1 to 1000 items")),
    ({}, missing("vpceps")),
    ({"vpceps": None}, missing("vpceps")),
    ({"vpceps": {"vpcep_id": "a"}}, invalid("vpceps", "must be an array")),
    ({"vpceps": [{"vpcep_id": "a"}] * 1001}, invalid("vpceps", "must hold 1 to 1000 items")),
    ({"vpceps": ["abc"]}, invalid("vpceps[0]", "must be an object")),
    ({"vpceps": [{"description": "x"}]}, missing("vpceps[0].vpcep_id")),
    ({"vpceps": [{"vpcep_id": 12}]}, invalid("vpceps[0].vpcep_id", "must be a string")),
    ({"vpceps": [{"vpcep_id": ""}]},
     invalid("vpceps[0].vpcep_id", "must be 1 to 40 characters: digits, lower-case letters and '-'")),
    ({"vpceps": [{"vpcep_id": "a" * 41}]},
     invalid("vpceps[0].vpcep_id", "must be 1 to 40 characters: digits, lower-case letters and '-'")),
    ({"vpceps": [{"vpcep_id": "ok"}, {"vpcep_id": "Upper"}]},
     invalid("vpceps[1].vpcep_id", "must be 1 to 40 characters: digits, lower-case letters and '-'")),
    ({"vpceps": [{"vpcep_id": "under_score"}]},
     invalid("vpceps[0].vpcep_id", "must be 1 to 40 characters: digits, lower-case letters and '-'")),
    ({"vpceps": [{"vpcep_id": "a", "description": "x" * 129}]},
     invalid("vpceps[0].description", "must be 0 to 128 characters: Chinese and English letters, "
             "digits, spaces and ()[]-_~.&;")),
    ({"vpceps": [{"vpcep_id": "a", "description": "semi;colon <b>"}]},
     invalid("vpceps[0].description", "must be 0 to 128 characters: Chinese and English letters, "
             "digits, spaces and ()[]-_~.&;")),
    ({"vpceps": [{"vpcep_id": "a", "description": "tab\there"}]},
     invalid("vpceps[0].description", "must be 0 to 128 characters: Chinese and English letters, "
             "digits, spaces and ()[]-_~.&;")),
    ({"vpceps": [{"vpcep_id": "a", "description": 5}]}, invalid("vpceps[0].description", "must be a string")),
    ({"vpceps": [{"vpcep_id": "a"}], "enterprise_id": ""},
     invalid("enterprise_id", "must be 1 to 40 characters: digits, letters, '-' and '_'")),
    ({"vpceps": [{"vpcep_id": "a"}], "enterprise_id": "x" * 41},
     invalid("enterprise_id", "must be 1 to 40 characters: digits, letters, '-' and '_'")),
    ({"vpceps": [{"vpcep_id": "a"}], "enterprise_id": "bad.id"},
     invalid("enterprise_id", "must be 1 to 40 characters: digits, letters, '-' and '_'")),
    ({"vpceps": [{"vpcep_id": "a"}], "enterprise_id": 7}, invalid("enterprise_id", "must be a string")),
    ([{"vpcep_id": "a"}], {"error_code": "UC.00011001", "error_msg": "The request body must be a JSON object."}),
]


@pytest.mark.parametrize("body,expected", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_bodies(server: Server, tenant, body, expected):
    account, owner = tenant
    with server.client() as c:
        if not listed_ids(c, owner, account):
            assert add(c, owner, ["a", "keep"]).status_code == 200
        for method in ("POST", "DELETE"):
            r = c.request(method, PATH, headers=hdrs(owner), json=body)
            assert (r.status_code, r.json()) == (400, expected), method
        assert listed_ids(c, owner, account) == ["a", "keep"]


def test_bodies_that_are_not_json(server: Server, account, owner):
    with server.client() as c:
        for method in ("POST", "DELETE"):
            r = c.request(method, PATH, headers=hdrs(owner), content=b"{not json")
            assert (r.status_code, r.json()) == (400, {
                "error_code": "UC.00011001", "error_msg": "The request body is not valid JSON."})
            r = c.request(method, PATH, headers=hdrs(owner))
            assert (r.status_code, r.json()) == (400, {
                "error_code": "UC.00011001", "error_msg": "The request body is empty."})
            r = c.request(method, PATH, headers=hdrs(owner), content=b"\xff\xfe")
            assert r.status_code == 400 and r.json()["error_code"] == "UC.00011001"
        # unknown members are ignored; null counts as absent
        r = c.post(PATH, headers=hdrs(owner), json={"vpceps": [{"vpcep_id": "z1", "extra": 1, "description": None}],
                                                    "enterprise_id": None, "other": True})
        assert r.json() == {"status": "ok", "total": 1}


BAD_QUERIES = [
    ({"enterprise_id": None}, missing("enterprise_id")),
    ({"enterprise_id": ""}, invalid("enterprise_id", "must be 1 to 40 characters: digits, letters, '-' and '_'")),
    ({"enterprise_id": "a b"}, invalid("enterprise_id", "must be 1 to 40 characters: digits, letters, '-' and '_'")),
    ({"vpcep_ids": ""}, invalid("vpcep_ids", "must be 1 to 1229 characters: digits, lower-case letters, '-' and ','")),
    ({"vpcep_ids": "ABC"}, invalid("vpcep_ids", "must be 1 to 1229 characters: digits, lower-case letters, '-' and ','")),
    ({"vpcep_ids": "a" * 1230}, invalid("vpcep_ids", "must be 1 to 1229 characters: digits, lower-case letters, '-' and ','")),
    ({"vpcep_ids": ",,"}, invalid("vpcep_ids", "must name at least one VPC endpoint ID")),
    ({"vpcep_ids": "a," + "b" * 41}, invalid("vpcep_ids", "each ID must be 1 to 40 characters: digits, lower-case letters and '-'")),
    ({"offset": "-1"}, invalid("offset", "must be an integer from 0 to 9999")),
    ({"offset": "10000"}, invalid("offset", "must be an integer from 0 to 9999")),
    ({"offset": "1.5"}, invalid("offset", "must be an integer from 0 to 9999")),
    ({"offset": ""}, invalid("offset", "must be an integer from 0 to 9999")),
    ({"offset": "٣"}, invalid("offset", "must be an integer from 0 to 9999")),
    ({"limit": "0"}, invalid("limit", "must be an integer from 1 to 100")),
    ({"limit": "101"}, invalid("limit", "must be an integer from 1 to 100")),
    ({"limit": "ten"}, invalid("limit", "must be an integer from 1 to 100")),
    ({"sort": "Asc"}, invalid("sort", "must be asc, ASC, desc or DESC")),
    ({"sort": ""}, invalid("sort", "must be asc, ASC, desc or DESC")),
]


@pytest.mark.parametrize("query,expected", BAD_QUERIES, ids=range(len(BAD_QUERIES)))
def test_bad_queries(server: Server, tenant, query, expected):
    account, owner = tenant
    params = {"enterprise_id": account["account_id"], **query}
    params = {k: v for k, v in params.items() if v is not None}
    with server.client() as c:
        r = c.get(PATH, headers=hdrs(owner), params=params)
        assert (r.status_code, r.json()) == (400, expected)


def test_repeated_query_parameter(server: Server, tenant):
    account, owner = tenant
    with server.client() as c:
        r = c.get(PATH, headers=hdrs(owner), params=[("enterprise_id", account["account_id"]), ("limit", "1"), ("limit", "2")])
        assert (r.status_code, r.json()) == (400, invalid("limit", "must be given at most once"))


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_region_header(server: Server, tenant, method):
    account, owner = tenant
    with server.client() as c:
        before = listed_ids(c, owner, account)
    body = {"vpceps": [{"vpcep_id": "r1"}]}
    cases = [
        (None, missing("region")),
        ("", missing("region")),
        ("ap_southeast_3", invalid("region", "must be 1 to 40 characters: digits, letters and '-'")),
        ("a" * 41, invalid("region", "must be 1 to 40 characters: digits, letters and '-'")),
        ("mars-north-1", invalid("region", "'mars-north-1' is not a region of this service")),
        (OTHER_REGION, invalid("region", f"'{OTHER_REGION}' is not the region of the caller's project ({REGION})")),
    ]
    with server.client() as c:
        for region, expected in cases:
            headers = hdrs(owner, region)
            r = c.request(method, PATH, headers=headers, params={"enterprise_id": account["account_id"]},
                          json=None if method == "GET" else body)
            assert (r.status_code, r.json()) == (400, expected), region
        assert listed_ids(c, owner, account) == before


def test_who_may_call(server: Server, account, owner):
    one = vpce()
    with server.client() as c:
        # (users first: once the account lists a VPC endpoint, private access is on and the IAM
        # calls below would be refused from this address)
        plain = new_user(c, token(server, account, project=None), account, admin=False)
        plain_token = token(server, account, user=plain["user_name"], password=plain["password"])
        admin = new_user(c, token(server, account, project=None), account, admin=True)
        admin_token = token(server, account, user=admin["user_name"], password=admin["password"])
        revoked = token(server, account, user=admin["user_name"], password=admin["password"])
        r = c.request("DELETE", "/v3/auth/tokens", headers={"X-Auth-Token": revoked, "X-Subject-Token": revoked})
        assert r.status_code == 204, r.text
        assert add(c, owner, [one]).status_code == 200
        # a domain-scoped (global) token is refused
        global_token = token(server, account, project=None)
        scoped = {"error_code": "UC.00011003", "error_msg": "No permission. A global (domain-scoped) token is "
                  "not accepted: use a token scoped to a region project."}
        for method, path in (("GET", PATH), ("POST", PATH), ("DELETE", PREFIXED)):
            r = c.request(method, path, headers=hdrs(global_token), params={"enterprise_id": account["account_id"]},
                          json=None if method == "GET" else {"vpceps": [{"vpcep_id": one}]})
            assert (r.status_code, r.json()) == (401, scoped)

        # an IAM user without Tenant Administrator: 401 UC.00011003, whatever the request
        r = listing(c, plain_token, account)
        assert (r.status_code, r.json()) == (401, NO_PERMISSION)
        r = remove(c, plain_token, [one])
        assert (r.status_code, r.json()) == (401, NO_PERMISSION)
        r = add(c, plain_token, [vpce()])
        assert (r.status_code, r.json()) == (401, NO_PERMISSION)
        r = c.get(PATH, headers=hdrs(plain_token), params={"limit": "oops"})
        assert (r.status_code, r.json()) == (401, NO_PERMISSION)

        # a Tenant Administrator may
        assert listed_ids(c, admin_token, account) == [one]
        assert add(c, admin_token, [vpce()]).json()["total"] == 1

        # no credentials, a bad token: the gateway's answers
        r = c.get(PATH, headers={"region": REGION}, params={"enterprise_id": account["account_id"]})
        assert r.status_code == 401
        gateway(r, "APIGW.0301", "Incorrect IAM authentication information: x-auth-token not found")
        r = c.get(PATH, headers=hdrs("not-a-token"), params={"enterprise_id": account["account_id"]})
        assert r.status_code == 401
        gateway(r, "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail")
        r = listing(c, revoked, account)
        assert r.status_code == 401
        gateway(r, "APIGW.0307", "The token must be updated.")
        assert len(listed_ids(c, owner, account)) == 2


def test_other_accounts(server: Server, account, owner):
    mine, theirs = vpce(), vpce()
    other = server.bootstrap()
    other_token = token(server, other)
    with server.client() as c:
        assert add(c, owner, [mine]).status_code == 200
        assert add(c, other_token, [theirs]).status_code == 200
        # naming the other tenant is refused like a missing right, whether or not it has records
        for enterprise_id in (other["account_id"], "0" * 32):
            r = c.get(PATH, headers=hdrs(owner), params={"enterprise_id": enterprise_id})
            assert (r.status_code, r.json()) == (401, NO_PERMISSION)
            r = remove(c, owner, [theirs], enterprise_id=enterprise_id)
            assert (r.status_code, r.json()) == (401, NO_PERMISSION)
            r = add(c, owner, [vpce()], enterprise_id=enterprise_id)
            assert (r.status_code, r.json()) == (401, NO_PERMISSION)
        # deleting by the other tenant's ID within my own list finds nothing
        assert remove(c, owner, [theirs]).status_code == 404
        assert listed_ids(c, other_token, other) == [theirs]
        assert listed_ids(c, owner, account) == [mine]
        # a token of another account's project is not mine
        r = c.get(PATH, headers=hdrs(other_token), params={"enterprise_id": account["account_id"]})
        assert (r.status_code, r.json()) == (401, NO_PERMISSION)


def test_signed_requests(server: Server, account):
    """AK/SK requests signed by the official SDK's signer: with X-Project-Id (its region must be
    the region header's) and without."""
    ak, sk = account["access"], account["secret"]
    one = vpce()
    project = {"X-Project-Id": account["projects"][REGION]}
    with server.client() as c:
        url, headers, raw = signed(server, ak, sk, "POST", PATH, body={"vpceps": [{"vpcep_id": one}]},
                                   headers={"region": REGION, **project})
        r = c.post(url, headers=headers, content=raw)
        assert (r.status_code, r.json()) == (200, {"status": "ok", "total": 1})

        query = [("enterprise_id", account["account_id"]), ("limit", 5), ("sort", "desc")]
        url, headers, _ = signed(server, ak, sk, "GET", PREFIXED, query=query, headers={"region": REGION})
        r = c.get(url, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["vpceps"] == [{"vpcep_id": one, "description": ""}]
        assert r.json()["limit"] == 5

        url, headers, _ = signed(server, ak, sk, "GET", PATH, query=query[:1],
                                 headers={"region": OTHER_REGION, **project})
        r = c.get(url, headers=headers)
        assert (r.status_code, r.json()) == (400, invalid(
            "region", f"'{OTHER_REGION}' is not the region of the caller's project ({REGION})"))

        # the body changed after signing: the gateway refuses it
        url, headers, raw = signed(server, ak, sk, "DELETE", PATH, body={"vpceps": [{"vpcep_id": one}]},
                                   headers={"region": REGION})
        r = c.request("DELETE", url, headers=headers, content=raw.replace(b"vpceps", b"vpcepz"))
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
        r = c.request("DELETE", url, headers=headers, content=raw)
        assert (r.status_code, r.json()) == (200, {"status": "ok", "total": 1})


def test_openapi_document(server: Server):
    with server.client() as c:
        doc = c.get("/openapi.json").json()
    for path in (PATH, PREFIXED):
        item = doc["paths"][path]
        assert set(item) >= {"get", "post", "delete"}
        post = item["post"]
        assert "devuc extensions" in post["tags"] and post["x-devuc-extension"] is True
        for method in ("get", "delete"):
            assert "devuc extensions" not in item[method]["tags"]
            assert "x-devuc-extension" not in item[method]
        names = {p["name"]: p for p in item["get"]["parameters"]}
        assert names["region"]["required"] is True and names["enterprise_id"]["required"] is True
        assert names["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100}
        assert item["delete"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/VpcepRecordsRequest")
    assert "/v1/vpcep-authorization" in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert schemas["VpcepRequestInfo"]["properties"]["vpcep_id"]["pattern"] == "^[0-9a-z-]{1,40}$"
