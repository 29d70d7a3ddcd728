"""The official huaweicloudsdkiam client against a real server, nothing changed but endpoints
(spec/aksk-signing.md §8): discovery of project and domain ids, the identity and access-key calls,
temporary keys, every SDK signing algorithm, and the documented refusals."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkiam.v3 import IamClient
from huaweicloudsdkiam.v3 import model as m

from support import Server

REGION = "cn-north-4"


@pytest.fixture(autouse=True)
def iam_endpoint(server: Server, monkeypatch):
    # Where the SDK looks up project and domain ids (it ignores the service endpoint for that).
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", server.base_url)


def iam_client(server: Server, credentials, algorithm: SigningAlgorithm | None = None) -> IamClient:
    config = HttpConfig.get_default_config()
    if algorithm is not None:
        config.signing_algorithm = algorithm
    return (
        IamClient.new_builder()
        .with_credentials(credentials)
        .with_region(Region(REGION, server.base_url))
        .with_http_config(config)
        .build()
    )


def password_token_request(acct: dict) -> m.KeystoneCreateUserTokenByPasswordRequest:
    user = m.PwdPasswordUser(
        domain=m.PwdPasswordUserDomain(name=acct["account_name"]),
        name=acct["user_name"],
        password=acct["password"],
    )
    auth = m.PwdAuth(
        identity=m.PwdIdentity(methods=["password"], password=m.PwdPassword(user=user)),
        scope=m.AuthScope(project=m.AuthScopeProject(name=REGION)),
    )
    return m.KeystoneCreateUserTokenByPasswordRequest(
        body=m.KeystoneCreateUserTokenByPasswordRequestBody(auth=auth)
    )


def refused(call) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as info:
        call()
    return info.value


def test_sdk_identity_and_access_key_flow(server: Server, account):
    basic = iam_client(server, BasicCredentials(account["access"], account["secret"]))
    # BasicCredentials without a project id: the SDK found it with GET /v3/projects?name=<region>
    assert basic.get_credentials().project_id == account["projects"][REGION]
    projects = basic.keystone_list_projects(m.KeystoneListProjectsRequest(name=REGION, enabled=True))
    assert [p.id for p in projects.projects] == [account["projects"][REGION]]

    glob = iam_client(server, GlobalCredentials(account["access"], account["secret"]))
    # GlobalCredentials without a domain id: discovered with GET /v3/auth/domains
    assert glob.get_credentials().domain_id == account["account_id"]
    domains = glob.keystone_list_auth_domains(m.KeystoneListAuthDomainsRequest())
    assert [d.name for d in domains.domains] == [account["account_name"]]

    issued = glob.keystone_create_user_token_by_password(password_token_request(account))
    token = issued.x_subject_token
    assert token and issued.token.project.id == account["projects"][REGION]
    checked = glob.keystone_validate_token(m.KeystoneValidateTokenRequest(x_subject_token=token))
    assert checked.token.user.id == account["user_id"]
    assert [r.name for r in checked.token.roles] == ["te_admin"]

    created = glob.create_user(m.CreateUserRequest(body=m.CreateUserRequestBody(
        user=m.CreateUserOption(domain_id=account["account_id"], name="sdk-user", password="Sdk-passw0rd"))))
    user_id = created.user.id
    assert created.user.name == "sdk-user" and created.user.domain_id == account["account_id"]

    groups = glob.keystone_list_groups(m.KeystoneListGroupsRequest(name="admin")).groups
    assert [g.name for g in groups] == ["admin"]
    glob.keystone_add_user_to_group(m.KeystoneAddUserToGroupRequest(group_id=groups[0].id, user_id=user_id))

    key = glob.create_permanent_access_key(m.CreatePermanentAccessKeyRequest(
        body=m.CreatePermanentAccessKeyRequestBody(
            credential=m.CreateCredentialOption(user_id=user_id, description="ci"))))
    assert len(key.credential.access) == 20 and len(key.credential.secret) == 40
    assert key.credential.status == "active"
    listed = glob.list_permanent_access_keys(m.ListPermanentAccessKeysRequest(user_id=user_id))
    assert [c.access for c in listed.credentials] == [key.credential.access]

    # the new user's own key works, and the admin group gave it te_admin
    user_client = iam_client(server, GlobalCredentials(key.credential.access, key.credential.secret))
    users = user_client.keystone_list_users(m.KeystoneListUsersRequest(name="sdk-user")).users
    assert [u.id for u in users] == [user_id]

    updated = glob.update_permanent_access_key(m.UpdatePermanentAccessKeyRequest(
        access_key=key.credential.access,
        body=m.UpdatePermanentAccessKeyRequestBody(credential=m.UpdateCredentialOption(status="inactive"))))
    assert updated.credential.status == "inactive"
    inactive = refused(lambda: user_client.keystone_list_auth_domains(m.KeystoneListAuthDomainsRequest()))
    assert (inactive.status_code, inactive.error_code) == (401, "APIGW.0301")
    assert "inactive" in inactive.error_msg and key.credential.access not in inactive.error_msg

    glob.delete_permanent_access_key(m.DeletePermanentAccessKeyRequest(access_key=key.credential.access))
    listed = glob.list_permanent_access_keys(m.ListPermanentAccessKeysRequest(user_id=user_id))
    assert listed.credentials == []
    gone = refused(lambda: user_client.keystone_list_auth_domains(m.KeystoneListAuthDomainsRequest()))
    assert (gone.status_code, gone.error_code) == (401, "APIGW.0301") and "ak not exist" in gone.error_msg

    temp = glob.create_temporary_access_key_by_token(m.CreateTemporaryAccessKeyByTokenRequest(
        body=m.CreateTemporaryAccessKeyByTokenRequestBody(auth=m.TokenAuth(identity=m.TokenAuthIdentity(
            methods=["token"], token=m.IdentityToken(duration_seconds=900))))))
    cred = temp.credential
    expires = datetime.strptime(cred.expires_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(seconds=890) < expires - datetime.now(UTC) <= timedelta(seconds=900)
    temp_client = iam_client(
        server, BasicCredentials(cred.access, cred.secret).with_security_token(cred.securitytoken)
    )
    assert temp_client.get_credentials().project_id == account["projects"][REGION]
    auth_projects = temp_client.keystone_list_auth_projects(m.KeystoneListAuthProjectsRequest())
    assert REGION in [p.name for p in auth_projects.projects]


@pytest.mark.parametrize(
    "algorithm",
    [SigningAlgorithm.HMAC_SHA256, SigningAlgorithm.HMAC_SM3,
     SigningAlgorithm.ECDSA_P256_SHA256, SigningAlgorithm.SM2_SM3],
    ids=lambda a: a.name,
)
def test_every_sdk_signing_algorithm(server: Server, account, algorithm):
    client = iam_client(server, BasicCredentials(account["access"], account["secret"]), algorithm)
    projects = client.keystone_list_auth_projects(m.KeystoneListAuthProjectsRequest())
    assert len(projects.projects) == 15


def _sign(server: Server, ak: str, sk: str, *, method="GET", path="/v3/auth/projects", body=b"",
          headers=None, security_token=None) -> dict:
    request = SdkRequest(method=method, schema="http", host=server.base_url.split("://")[1],
                         resource_path=path, query_params=[], header_params=dict(headers or {}),
                         body=body)
    if security_token:
        request.header_params["X-Security-Token"] = security_token
    return dict(Signer(BasicCredentials(ak, sk)).sign(request).header_params)


def test_refusals(server: Server, account):
    ak, sk = account["access"], account["secret"]

    def code(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error_code"]

    with server.client() as c:
        ok = c.get("/v3/auth/projects", headers=_sign(server, ak, sk))
        assert ok.status_code == 200
        # wrong secret
        r = c.get("/v3/auth/projects", headers=_sign(server, ak, "x" * 40))
        assert code(r) == (401, "APIGW.0301") and "verify aksk signature fail" in r.json()["error_msg"]
        assert sk not in r.text
        # body changed after signing
        body = b'{"group": {"name": "signed-name"}}'
        headers = _sign(server, ak, sk, method="POST", path="/v3/groups", body=body,
                        headers={"Content-Type": "application/json"})
        r = c.post("/v3/groups", content=body.replace(b"signed", b"forged"), headers=headers)
        assert code(r) == (401, "APIGW.0301")
        r = c.get("/v3/groups?name=forged-name", headers=_sign(server, ak, sk))
        # (the query changed after signing, so this is refused too)
        assert code(r) == (401, "APIGW.0301")
        # a date 16 minutes old
        old = (datetime.now(UTC) - timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
        r = c.get("/v3/auth/projects", headers=_sign(server, ak, sk, headers={"X-Sdk-Date": old}))
        assert code(r) == (401, "APIGW.0301") and "signature expired" in r.json()["error_msg"]
        # an unknown AK
        r = c.get("/v3/auth/projects", headers=_sign(server, "UNKNOWNAKUNKNOWNAK00", sk))
        assert code(r) == (401, "APIGW.0301") and "ak not exist" in r.json()["error_msg"]
        # a security token sent with a permanent key
        r = c.get("/v3/auth/projects", headers=_sign(server, ak, sk, security_token="bogus-token"))
        assert code(r) == (401, "APIGW.0301") and "security token" in r.json()["error_msg"]
        # X-Project-Id of another account
        other = server.bootstrap()
        headers = _sign(server, ak, sk, headers={"X-Project-Id": other["projects"][REGION]})
        assert code(c.get("/v3/auth/projects", headers=headers)) == (403, "APIGW.0302")
        # nothing above locked the key: fewer than six consecutive failures, then a success
        assert c.get("/v3/auth/projects", headers=_sign(server, ak, sk)).status_code == 200


def test_expired_temporary_key_is_refused(server: Server, account):
    client = iam_client(server, GlobalCredentials(account["access"], account["secret"]))
    cred = client.create_temporary_access_key_by_token(m.CreateTemporaryAccessKeyByTokenRequest(
        body=m.CreateTemporaryAccessKeyByTokenRequestBody(auth=m.TokenAuth(identity=m.TokenAuthIdentity(
            methods=["token"], token=m.IdentityToken(duration_seconds=900)))))).credential
    with server.client() as c:
        signed = _sign(server, cred.access, cred.secret, security_token=cred.securitytoken)
        assert c.get("/v3/auth/projects", headers=signed).status_code == 200
        missing = _sign(server, cred.access, cred.secret)
        r = c.get("/v3/auth/projects", headers=missing)
        assert r.status_code == 401 and "security token" in r.json()["error_msg"]
        expire_now(server, cred.access)
        r = c.get("/v3/auth/projects", headers=_sign(server, cred.access, cred.secret,
                                                      security_token=cred.securitytoken))
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"
        assert "security token expired" in r.json()["error_msg"]


def expire_now(server: Server, access: str) -> None:
    """Move a temporary key's expiry into the past, as the passing of time would."""
    from sqlalchemy import update

    from devuc.store import tables as t
    from devuc.store.db import Store

    async def run() -> None:
        store = Store(server.database_url)
        try:
            async with store.write() as conn:
                await conn.execute(update(t.access_keys).where(t.access_keys.c.access == access)
                                   .values(expires_us=int((time.time() - 1) * 1_000_000)))
        finally:
            await store.close()

    asyncio.run(run())


def test_ak_locks_after_repeated_bad_signatures(server: Server):
    acct = server.bootstrap()
    ak, sk = acct["access"], acct["secret"]
    with server.client() as c:
        for _ in range(6):
            r = c.get("/v3/auth/projects", headers=_sign(server, ak, "y" * 40))
            assert r.status_code == 401
        r = c.get("/v3/auth/projects", headers=_sign(server, ak, sk))
        assert r.status_code == 401 and "reach the limit" in r.json()["error_msg"]


@pytest.mark.parametrize("field, value", [("duration_seconds", 899), ("duration_seconds", 86401),
                                          ("duration_seconds", "900")])
def test_temporary_key_duration_limits(server: Server, account, field, value):
    body = {"auth": {"identity": {"methods": ["token"], "token": {field: value}}}}
    with server.client() as c:
        r = c.post("/v3.0/OS-CREDENTIAL/securitytokens", json=body,
                   headers=_sign(server, account["access"], account["secret"], method="POST",
                                 path="/v3.0/OS-CREDENTIAL/securitytokens",
                                 body=httpx.Request("POST", "http://x", json=body).content,
                                 headers={"Content-Type": "application/json"}))
        assert r.status_code == 400 and r.json()["error"]["error_code"] == "IAM.1102"
        assert "duration_seconds" in r.json()["error"]["message"]


def test_third_permanent_key_is_refused(server: Server, account):
    client = iam_client(server, GlobalCredentials(account["access"], account["secret"]))
    request = m.CreatePermanentAccessKeyRequest(body=m.CreatePermanentAccessKeyRequestBody(
        credential=m.CreateCredentialOption(user_id=account["user_id"])))
    client.create_permanent_access_key(request)  # the owner had one from bootstrap
    exc = refused(lambda: client.create_permanent_access_key(request))
    assert exc.status_code == 400 and exc.error_msg == "akSkNumExceed"


def test_with_endpoints_and_explicit_ids(server: Server, account):
    """`with_endpoints([...])` and no region: no discovery, the ids come with the credentials."""
    creds = GlobalCredentials(account["access"], account["secret"], account["account_id"])
    client = IamClient.new_builder().with_credentials(creds).with_endpoints([server.base_url]).build()
    users = client.keystone_list_users(m.KeystoneListUsersRequest()).users
    assert [u.id for u in users] == [account["user_id"]]
    basic = BasicCredentials(account["access"], account["secret"], account["projects"]["ap-southeast-3"])
    client = IamClient.new_builder().with_credentials(basic).with_endpoints([server.base_url]).build()
    assert client.keystone_list_auth_domains(m.KeystoneListAuthDomainsRequest()).domains[0].id == \
        account["account_id"]


def test_password_token_call_ignores_any_signature(server: Server, account):
    """SDK users of the password API may hold dummy keys (spec/iam.md §2.2)."""
    creds = GlobalCredentials("DUMMYDUMMYDUMMYDUMMY", "d" * 40, account["account_id"])
    client = IamClient.new_builder().with_credentials(creds).with_endpoints([server.base_url]).build()
    issued = client.keystone_create_user_token_by_password(password_token_request(account))
    assert issued.x_subject_token


def test_check_signing_command_over_the_shared_vectors():
    from support import SHARED_DIR, devuc

    vectors = SHARED_DIR / "testdata" / "signing-vectors.json"
    if not vectors.is_file():
        pytest.skip(f"{vectors} not found")
    result = devuc("dev", "check-signing", str(vectors), check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "122 passed, 0 failed"


def test_temporary_key_with_the_token_in_the_body(server: Server, account):
    """The deprecated form: no header credentials, the token travels in the body."""
    from support import get_token

    with server.client() as c:
        token = get_token(c, account)
        body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
        r = c.post("/v3.0/OS-CREDENTIAL/securitytokens", json=body)
        assert r.status_code == 201, r.text
        assert set(r.json()["credential"]) == {"access", "secret", "securitytoken", "expires_at"}
        body["auth"]["identity"]["token"]["id"] = "MIInot-a-token"
        r = c.post("/v3.0/OS-CREDENTIAL/securitytokens", json=body)
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301"


def test_a_good_signature_ends_a_run_of_bad_ones(server: Server):
    acct = server.bootstrap()
    ak, sk = acct["access"], acct["secret"]
    with server.client() as c:
        for _ in range(3):  # five bad ones are one short of the lock, each time
            for _ in range(5):
                assert c.get("/v3/auth/projects", headers=_sign(server, ak, "y" * 40)).status_code == 401
            assert c.get("/v3/auth/projects", headers=_sign(server, ak, sk)).status_code == 200


def test_a_signed_call_shows_in_the_keys_last_use_time(server: Server):
    from support import get_token

    acct = server.bootstrap()
    ak, sk = acct["access"], acct["secret"]
    with server.client() as c:
        headers = {"X-Auth-Token": get_token(c, acct)}

        def last_use() -> datetime:
            r = c.get(f"/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=headers)
            assert r.status_code == 200
            return datetime.strptime(r.json()["credential"]["last_use_time"], "%Y-%m-%dT%H:%M:%S.%fZ")

        before = last_use()
        called_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        assert c.get("/v3/auth/projects", headers=_sign(server, ak, sk)).status_code == 200
        deadline = time.monotonic() + 10  # written shortly after the answer, batched
        while (seen := last_use()) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert seen > before and seen >= called_at


def test_a_console_only_users_key_is_refused_in_the_flat_shape(server: Server, account):
    """spec/iam.md §5.2: 403 IAM.0081, shape H ({error_code, error_msg, request_id}) on every path,
    /v3 included; the SDK reads it as such."""
    from support import get_token

    with server.client() as c:
        admin = {"X-Auth-Token": get_token(c, account)}
        r = c.post("/v3.0/OS-USER/users", headers=admin, json={"user": {
            "name": "carol", "domain_id": account["account_id"], "password": "Carol-passw0rd"}})
        assert r.status_code == 201, r.text
        carol = r.json()["user"]["id"]
        r = c.post("/v3.0/OS-CREDENTIAL/credentials", headers=admin,
                   json={"credential": {"user_id": carol, "description": "console test"}})
        assert r.status_code == 201, r.text
        key = r.json()["credential"]
        assert c.get("/v3/auth/projects", headers=_sign(server, key["access"], key["secret"])).status_code == 200

        r = c.put(f"/v3.0/OS-USER/users/{carol}", headers=admin, json={"user": {"access_mode": "console"}})
        assert r.status_code == 200, r.text
        for path in ("/v3/auth/projects", "/v3.0/OS-USER/users/" + carol):
            r = c.get(path, headers=_sign(server, key["access"], key["secret"], path=path))
            assert r.status_code == 403, r.text
            assert r.json() == {"error_code": "IAM.0081", "error_msg": r.json()["error_msg"],
                                "request_id": r.headers["x-request-id"]}
            assert "console" in r.json()["error_msg"] and key["secret"] not in r.text

    client = iam_client(server, GlobalCredentials(key["access"], key["secret"], account["account_id"]))
    with pytest.raises(ClientRequestException) as refused:
        client.keystone_list_auth_projects(m.KeystoneListAuthProjectsRequest())
    assert refused.value.status_code == 403 and refused.value.error_code == "IAM.0081"
