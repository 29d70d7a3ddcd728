"""The `devuc` command as an operator uses it, against the same store as a running server:
bootstrap (output, generated and given passwords, duplicates, bad input), db upgrade, --help."""

from __future__ import annotations

import json
import re
import string

from alembic.script import ScriptDirectory
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from support import Server, devuc, get_token, password_body

REGIONS = {
    "af-north-1", "af-south-1", "ap-southeast-3", "la-north-2", "la-south-2", "me-east-1",
    "sa-brazil-1", "tr-west-1",
    "cn-south-1", "cn-east-2", "cn-east-3", "cn-south-2", "cn-southwest-2", "cn-north-4", "cn-north-1",
}
KEYS = {"account_id", "account_name", "user_id", "user_name", "password", "access", "secret", "projects"}
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def unique(prefix: str) -> str:
    import secrets

    return f"{prefix}{secrets.token_hex(4)}"


def satisfies_policy(password: str, user_name: str) -> bool:
    """spec/iam.md §4.2 defaults: 8-32 printable ASCII characters, at least two of four
    character classes, not the user name or its reverse."""
    classes = sum((
        any(ch.islower() for ch in password),
        any(ch.isupper() for ch in password),
        any(ch.isdigit() for ch in password),
        any(ch in string.punctuation or ch == " " for ch in password),
    ))
    return (8 <= len(password) <= 32 and all(32 <= ord(ch) <= 126 for ch in password) and classes >= 2
            and password.lower() not in (user_name.lower(), user_name.lower()[::-1]))


def signed_get(c, server: Server, access: str, secret: str, path: str):
    request = SdkRequest(method="GET", schema="http", host=server.base_url.split("//", 1)[1],
                         resource_path=path, query_params=[], header_params={}, body="")
    Signer(BasicCredentials(access, secret)).sign(request)
    return c.get(path, headers=request.header_params)


def test_bootstrap_prints_one_json_object_and_the_account_works_at_once(server: Server):
    name, user = unique("cli"), unique("owner-")
    result = server.cli("bootstrap", "--account", name, "--user", user, "--json")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict) and set(data) == KEYS
    assert (data["account_name"], data["user_name"]) == (name, user)
    assert HEX32.match(data["account_id"]) and HEX32.match(data["user_id"])
    assert data["account_id"] != data["user_id"]
    assert re.fullmatch(r"[A-Z0-9]{20}", data["access"]) and re.fullmatch(r"[A-Za-z0-9]{40}", data["secret"])
    assert set(data["projects"]) == REGIONS
    assert all(HEX32.match(pid) for pid in data["projects"].values())
    assert len(set(data["projects"].values())) == len(REGIONS)
    assert satisfies_policy(data["password"], user), data["password"]
    assert data["password"] not in result.stderr

    # the server that was running all along serves the new account immediately
    with server.client() as c:
        r = c.post("/v3/auth/tokens?nocatalog=1", json=password_body(
            user, data["password"], name, {"project": {"name": "cn-north-4"}}))
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        assert token["user"]["id"] == data["user_id"]
        assert token["project"]["id"] == data["projects"]["cn-north-4"]
        assert [role["name"] for role in token["roles"]] == ["te_admin"]
        subject = r.headers["X-Subject-Token"]
        r = c.get("/v3/auth/projects", headers={"X-Auth-Token": subject})
        assert {p["name"]: p["id"] for p in r.json()["projects"]} == data["projects"]
        # and so does its access key
        r = signed_get(c, server, data["access"], data["secret"], "/v3/auth/domains")
        assert r.status_code == 200, r.text
        assert [d["id"] for d in r.json()["domains"]] == [data["account_id"]]


def test_bootstrap_with_a_given_password(server: Server):
    name, user, password = unique("given"), "root-user", "Given-Passw0rd"
    result = server.cli("bootstrap", "--account", name, "--user", user, "--password", password, "--json")
    data = json.loads(result.stdout)
    assert data["password"] == password
    with server.client() as c:
        get_token(c, data)
        r = c.post("/v3/auth/tokens", json=password_body(user, "Other-Passw0rd", name))
        assert r.status_code == 401


def test_bootstrap_of_an_existing_account_name_changes_nothing(server: Server, account):
    with server.client() as c:
        token = get_token(c, account)

        def snapshot() -> dict:
            return {path: c.get(path, headers={"X-Auth-Token": token}).json()
                    for path in ("/v3/auth/domains", "/v3/users", "/v3/projects", "/v3/groups")}

        before = snapshot()
        result = server.cli("bootstrap", "--account", account["account_name"], "--user", "usurper",
                            "--password", "Usurp3r-pass", "--json", check=False)
        assert result.returncode == 2
        assert result.stdout.strip() == ""
        assert account["account_name"] in result.stderr and "exists" in result.stderr
        assert "Traceback" not in result.stderr

        assert snapshot() == before
        assert [d["id"] for d in before["/v3/auth/domains"]["domains"]] == [account["account_id"]]
        assert [u["name"] for u in before["/v3/users"]["users"]] == [account["user_name"]]
        # the owner still logs in with the original password; the would-be owner does not
        get_token(c, account, project=None)
        r = c.post("/v3/auth/tokens", json=password_body("usurper", "Usurp3r-pass", account["account_name"]))
        assert r.status_code == 401
        r = signed_get(c, server, account["access"], account["secret"], "/v3/auth/domains")
        assert [d["id"] for d in r.json()["domains"]] == [account["account_id"]]


def test_bootstrap_rejects_bad_input_with_status_2(server: Server):
    cases = [
        (["--account", "1starts-with-digit", "--user", "owner"], "account name"),
        (["--account", unique("weak"), "--user", "owner", "--password", "weakweak"], "password"),
    ]
    for args, words in cases:
        result = server.cli("bootstrap", *args, "--json", check=False)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stdout.strip() == ""
        flat = " ".join(result.stderr.split())
        assert "error" in flat and words in flat, (args, result.stderr)
        assert "Traceback" not in result.stderr
    # nothing was created: the refused account does not answer a login with the refused password
    with server.client() as c:
        weak = cases[1][0]
        r = c.post("/v3/auth/tokens", json=password_body("owner", weak[5], weak[1]))
        assert r.status_code == 401


def test_db_upgrade_prints_the_revision(server: Server):
    from devuc.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(server.database_url)).get_current_head()
    result = server.cli("db", "upgrade")
    assert result.returncode == 0
    assert head and head in result.stdout, result.stdout


def test_help_lists_the_commands():
    result = devuc("--help", env={"COLUMNS": "120", "NO_COLOR": "1"})
    assert result.returncode == 0
    commands = set(re.findall(r"^\W*(\w+)\s{2,}", result.stdout, re.MULTILINE))
    assert {"serve", "bootstrap", "db", "keys", "dev"} <= commands, result.stdout
