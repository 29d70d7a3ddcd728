"""Region projects and the caller's account through a real server: GET /v3/projects (filters,
paging), GET /v3/auth/projects, GET /v3/auth/domains, and the official SDK's discovery calls
(spec/iam.md §1.2, §2.8, §3.7-3.9; the default region catalogue of spec/codearts-uc.md §2)."""

from __future__ import annotations

import json

import pytest

from support import Server, error_code, get_token

# spec/codearts-uc.md §2: the international and the Chinese mainland tables
REGIONS = {
    "af-north-1", "af-south-1", "ap-southeast-3", "la-north-2", "la-south-2", "me-east-1",
    "sa-brazil-1", "tr-west-1",
    "cn-south-1", "cn-east-2", "cn-east-3", "cn-south-2", "cn-southwest-2", "cn-north-4", "cn-north-1",
}
PROJECT_FIELDS = {"id", "name", "domain_id", "parent_id", "enabled", "is_domain", "description", "links"}
PASSWORD = "Xy7!kPq2w"


def auth(token: str) -> dict:
    return {"X-Auth-Token": token}


@pytest.fixture(scope="module")
def acct(server: Server) -> dict:
    """A new account (read-only here), its owner's project and domain tokens, and the token of a
    user outside the admin group."""
    data = server.bootstrap()
    with server.client() as c:
        data["token"] = get_token(c, data)
        data["domain_token"] = get_token(c, data, project=None)
        r = c.post("/v3.0/OS-USER/users", headers=auth(data["token"]), json={"user": {
            "name": "reader", "domain_id": data["account_id"], "password": PASSWORD}})
        assert r.status_code == 201, r.text
        data["reader_token"] = get_token(c, data, user="reader", password=PASSWORD)
    return data


def other_account(server: Server) -> dict:
    """The account `devuc serve` made on its first start: a real account that is not ours."""
    return json.loads((server.data_dir / "credentials.json").read_text())


def list_projects(c, token: str, query: str = "") -> list[dict]:
    r = c.get("/v3/projects" + query, headers=auth(token))
    assert r.status_code == 200, (query, r.text)
    return r.json()["projects"]


def test_default_region_catalogue_is_a_project_per_region(server: Server, acct):
    assert set(acct["projects"]) == REGIONS
    with server.client() as c:
        projects = list_projects(c, acct["token"])
        assert len(projects) == len(REGIONS)
        assert {p["name"]: p["id"] for p in projects} == acct["projects"]
        # SDK discovery asks ?name=<region> and fails unless exactly one project comes back
        for region in sorted(REGIONS):
            found = list_projects(c, acct["token"], f"?name={region}")
            assert [p["id"] for p in found] == [acct["projects"][region]], region
        assert list_projects(c, acct["token"], "?name=cn-north-9") == []
        assert list_projects(c, acct["token"], "?name=CN-NORTH-4") == []
        # another account's projects are different and never listed here
        theirs = set(other_account(server)["projects"].values())
        assert not theirs & {p["id"] for p in projects}


def test_project_items_and_links(server: Server, acct):
    with server.client() as c:
        for token in (acct["token"], acct["domain_token"]):
            r = c.get("/v3/projects", headers=auth(token))
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json; charset=utf8"
            body = r.json()
            assert set(body) == {"links", "projects"}
            assert body["links"] == {"self": server.base_url + "/v3/projects", "previous": None, "next": None}
            for p in body["projects"]:
                assert set(p) == PROJECT_FIELDS, p
                assert p["domain_id"] == acct["account_id"] and p["parent_id"] == acct["account_id"]
                assert p["enabled"] is True and p["is_domain"] is False and p["description"] == ""
                assert p["links"] == {"self": f"{server.base_url}/v3/projects/{p['id']}",
                                      "previous": None, "next": None}
        r = c.get("/v3/projects?name=cn-north-4", headers=auth(acct["token"]))
        assert r.json()["links"]["self"] == server.base_url + "/v3/projects?name=cn-north-4"


def test_project_filters(server: Server, acct):
    token = acct["token"]
    everything = set(acct["projects"].values())
    other = other_account(server)
    with server.client() as c:
        def ids(query: str) -> set[str]:
            return {p["id"] for p in list_projects(c, token, query)}

        assert ids("?enabled=true") == everything
        assert ids("?enabled=True") == everything
        assert ids("?enabled=false") == set()
        assert ids(f"?parent_id={acct['account_id']}") == everything
        assert ids(f"?parent_id={acct['projects']['cn-north-4']}") == set()  # no sub-projects
        assert ids("?parent_id=" + "0" * 32) == set()
        assert ids(f"?domain_id={acct['account_id']}") == everything
        assert ids(f"?domain_id={other['account_id']}") == set()
        assert ids(f"?domain_id={other['account_id']}&name=cn-north-4") == set()
        assert ids(f"?parent_id={other['account_id']}") == set()
        assert ids("?domain_id=" + "0" * 32) == set()
        assert ids(f"?name=cn-east-3&enabled=true&domain_id={acct['account_id']}") == {
            acct["projects"]["cn-east-3"]}
        assert ids("?is_domain=false") == everything  # documented as "leave empty": ignored
        # a caller outside the admin group sees the same projects
        assert {p["id"] for p in list_projects(c, acct["reader_token"])} == everything
        assert list_projects(c, acct["reader_token"], f"?domain_id={other['account_id']}") == []


def test_paging(server: Server, acct):
    with server.client() as c:
        everything = list_projects(c, acct["token"])
        seen: list[str] = []
        for page in (1, 2, 3):
            chunk = list_projects(c, acct["token"], f"?page={page}&per_page=5")
            assert len(chunk) == 5, page
            seen += [p["id"] for p in chunk]
        assert len(seen) == len(set(seen)) == 15
        assert set(seen) == {p["id"] for p in everything}
        assert [p["id"] for p in list_projects(c, acct["token"], "?page=1&per_page=15")] == [
            p["id"] for p in everything]
        assert len(list_projects(c, acct["token"], "?page=2&per_page=10")) == 5
        assert list_projects(c, acct["token"], "?page=4&per_page=5") == []
        assert len(list_projects(c, acct["token"], "?page=1&per_page=5000")) == 15
        assert len(list_projects(c, acct["token"], "?page=1&per_page=1")) == 1
        r = c.get("/v3/projects?page=2&per_page=5", headers=auth(acct["token"]))
        assert set(r.json()["links"]) == {"self", "previous", "next"}


@pytest.mark.parametrize("query, names", [
    ("?page=1", "per_page"),
    ("?per_page=5", "page"),
    ("?page=1&per_page=0", "per_page"),
    ("?page=1&per_page=5001", "per_page"),
    ("?page=0&per_page=5", "page"),
    ("?page=-1&per_page=5", "page"),
    ("?page=abc&per_page=5", "page"),
    ("?page=1&per_page=1.5", "per_page"),
    ("?page=1&per_page=", "per_page"),
    ("?enabled=yes", "enabled"),
    ("?enabled=1", "enabled"),
    ("?is_domain=maybe", "is_domain"),
])
def test_bad_project_queries_are_400(server: Server, acct, query, names):
    with server.client() as c:
        r = c.get("/v3/projects" + query, headers=auth(acct["token"]))
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == 400 and error_code(r) == "IAM.0007"
        assert names in r.json()["error"]["message"]


def test_auth_projects(server: Server, acct):
    with server.client() as c:
        for token in (acct["token"], acct["domain_token"], acct["reader_token"]):
            r = c.get("/v3/auth/projects", headers=auth(token))
            assert r.status_code == 200, r.text
            body = r.json()
            assert set(body) == {"links", "projects"}
            assert body["links"] == {"self": server.base_url + "/v3/auth/projects"}
            assert {p["name"]: p["id"] for p in body["projects"]} == acct["projects"]
            for p in body["projects"]:
                assert set(p) == PROJECT_FIELDS
                assert p["links"] == {"self": f"{server.base_url}/v3/projects/{p['id']}"}
                assert (p["domain_id"], p["parent_id"]) == (acct["account_id"], acct["account_id"])
                assert p["enabled"] is True and p["is_domain"] is False


def test_auth_domains(server: Server, acct):
    with server.client() as c:
        for token in (acct["token"], acct["domain_token"], acct["reader_token"]):
            r = c.get("/v3/auth/domains", headers=auth(token))
            assert r.status_code == 200, r.text
            assert r.json() == {
                "domains": [{
                    "id": acct["account_id"], "name": acct["account_name"], "enabled": True,
                    "description": "",
                    "links": {"self": f"{server.base_url}/v3/domains/{acct['account_id']}"},
                }],
                "links": {"self": server.base_url + "/v3/auth/domains"},
            }


def test_unauthenticated_listing_is_refused(server: Server):
    with server.client() as c:
        for path in ("/v3/projects", "/v3/projects?name=cn-north-4", "/v3/auth/projects", "/v3/auth/domains"):
            r = c.get(path)
            assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301", path
            assert "projects" not in r.json() and "domains" not in r.json()


def test_official_sdk_discovers_project_and_domain_ids(server: Server, acct):
    """The SDK, given only AK/SK, a region and the IAM endpoint, signs GET /v3/projects?name=<region>
    and GET /v3/auth/domains and takes the first (and only) id (spec/iam.md §1.2)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
    from huaweicloudsdkcore.region.region import Region
    from huaweicloudsdkiam.v3 import IamClient, KeystoneListAuthDomainsRequest, KeystoneListProjectsRequest

    region = Region("ap-southeast-3", server.base_url)
    basic = BasicCredentials(acct["access"], acct["secret"]).with_iam_endpoint(server.base_url)
    client = IamClient.new_builder().with_credentials(basic).with_region(region).build()
    assert basic.project_id == acct["projects"]["ap-southeast-3"]
    response = client.keystone_list_projects(KeystoneListProjectsRequest(name="cn-north-4"))
    assert [p.id for p in response.projects] == [acct["projects"]["cn-north-4"]]

    glob = GlobalCredentials(acct["access"], acct["secret"]).with_iam_endpoint(server.base_url)
    client = IamClient.new_builder().with_credentials(glob).with_region(region).build()
    assert glob.domain_id == acct["account_id"]
    domains = client.keystone_list_auth_domains(KeystoneListAuthDomainsRequest()).domains
    assert [(d.id, d.name) for d in domains] == [(acct["account_id"], acct["account_name"])]
