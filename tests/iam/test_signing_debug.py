"""Developer mode: a refused signed request's error carries the server's canonical request and
string to sign, equal to what the official SDK's signer computed when nothing differs, showing
the difference when something does; never a secret, and never outside developer mode."""

from __future__ import annotations

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from support import Server, error_code, get_token, start_server


class RecordingSigner(Signer):
    """The SDK's signer, keeping what it signed."""

    def _process_canonical_request(self, request, signed_headers):
        self.canonical_request = super()._process_canonical_request(request, signed_headers)
        return self.canonical_request

    def _process_string_to_sign(self, canonical_request, time):
        self.string_to_sign = super()._process_string_to_sign(canonical_request, time)
        return self.string_to_sign


def sign(server: Server, ak: str, sk: str, path: str, query=(), headers=None) -> tuple[RecordingSigner, str, dict]:
    request = SdkRequest(method="GET", schema="http", host=server.base_url.split("://")[1],
                         resource_path=path, query_params=list(query), header_params=dict(headers or {}))
    signer = RecordingSigner(BasicCredentials(ak, sk))
    request = signer.sign(request)
    return signer, request.url, dict(request.header_params)


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("dev-signing")
    server = start_server(data, f"sqlite+aiosqlite:///{data / 'devuc.db'}", {"DEVUC_DEV": "true"})
    yield server
    server.stop()


def test_wrong_secret_shows_the_same_canonical_request(dev_server: Server):
    acct = dev_server.bootstrap()
    signer, url, headers = sign(dev_server, acct["access"], "W" * 40, "/v3/auth/projects",
                                query=[("b", "2"), ("a", "x y")])
    with dev_server.client() as c:
        r = c.get(url, headers=headers)
    body = r.json()
    assert (r.status_code, body["error_code"]) == (401, "APIGW.0301")
    # only the secret differs, so the server computed exactly what the client signed
    assert body["canonical_request"] == signer.canonical_request
    assert body["string_to_sign"] == signer.string_to_sign
    assert acct["secret"] not in r.text


def test_a_changed_query_shows_where_it_differs(dev_server: Server):
    acct = dev_server.bootstrap()
    signer, url, headers = sign(dev_server, acct["access"], acct["secret"], "/v3/auth/projects", query=[("a", "1")])
    with dev_server.client() as c:
        r = c.get(url.replace("a=1", "a=2"), headers=headers)
        ok = c.get(url, headers=headers)
    body = r.json()
    assert r.status_code == 401
    ours, theirs = body["canonical_request"].split("\n"), signer.canonical_request.split("\n")
    assert [i for i, (x, y) in enumerate(zip(ours, theirs)) if x != y] == [2]  # the query line
    assert ours[2] == "a=2" and theirs[2] == "a=1"
    assert body["string_to_sign"].split("\n")[:2] == signer.string_to_sign.split("\n")[:2]
    assert body["string_to_sign"] != signer.string_to_sign
    # the success path answers as always
    assert ok.status_code == 200 and "canonical_request" not in ok.text


def test_security_token_is_never_shown(dev_server: Server):
    acct = dev_server.bootstrap()
    with dev_server.client() as c:
        tok = get_token(c, acct)
        r = c.post("/v3.0/OS-CREDENTIAL/securitytokens", headers={"X-Auth-Token": tok},
                   json={"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}})
        assert r.status_code == 201, r.text
        temp = r.json()["credential"]
        signer, url, headers = sign(dev_server, temp["access"], "Z" * 40, "/v3/auth/projects",
                                    headers={"X-Security-Token": temp["securitytoken"]})
        r = c.get(url, headers=headers)
    body = r.json()
    assert r.status_code == 401
    assert "x-security-token:***" in body["canonical_request"]
    assert temp["securitytoken"] not in r.text and temp["secret"] not in r.text
    # the string to sign is the hash of the real canonical request, as the client computed it
    assert body["string_to_sign"] == signer.string_to_sign


def test_absent_outside_developer_mode(server: Server, account):
    _, url, headers = sign(server, account["access"], "W" * 40, "/v3/auth/projects")
    with server.client() as c:
        r = c.get(url, headers=headers)
    assert (r.status_code, error_code(r)) == (401, "APIGW.0301")
    assert "canonical_request" not in r.json() and "string_to_sign" not in r.json()
