"""IAM users through a real server: create (every validation rule), list, show, update, own
password change, delete, and the per-account user quota (spec/iam.md §3.10-3.12, §4.2, §4.3)."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from support import Server, error_code, get_token

HEX32 = re.compile(r"^[0-9a-f]{32}$")
SHOW_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d$")
PASSWORD = "Xy7!kPq2w"

CREATE_FIELDS = {
    "id", "name", "domain_id", "enabled", "email", "areacode", "phone", "description",
    "pwd_status", "access_mode", "is_domain_owner", "xuser_id", "xuser_type", "xdomain_id",
    "xdomain_type", "status", "create_time", "password_expires_at", "default_project_id",
}
LIST_FIELDS = {
    "id", "name", "domain_id", "enabled", "password_expires_at", "links", "description",
    "pwd_status", "pwd_strength", "last_project_id", "access_mode",
}
SHOW_FIELDS = {
    "id", "name", "domain_id", "enabled", "links", "is_domain_owner", "access_mode", "description",
    "email", "areacode", "phone", "pwd_status", "pwd_strength", "xuser_id", "xuser_type",
    "create_time", "update_time", "last_login_time", "last_pwd_auth_time", "pwd_create_time",
    "modify_pwd_time",
}
FLAT_ERROR = {"error_code", "error_msg", "request_id"}


def auth(token: str) -> dict:
    return {"X-Auth-Token": token}


def create_user(c, token: str, domain_id: str, name: str, **fields):
    return c.post("/v3.0/OS-USER/users", headers=auth(token),
                  json={"user": {"name": name, "domain_id": domain_id, **fields}})


def new_user(c, token: str, acct: dict, name: str, **fields) -> dict:
    r = create_user(c, token, acct["account_id"], name, **fields)
    assert r.status_code == 201, r.text
    return r.json()["user"]


def user_names(c, token: str) -> set[str]:
    r = c.get("/v3/users", headers=auth(token))
    assert r.status_code == 200, r.text
    return {u["name"] for u in r.json()["users"]}


def message(r) -> str:
    body = r.json()
    return body["error"]["message"] if "error" in body else body["error_msg"]


def assert_flat_error(r, status: int, code: str, names: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == FLAT_ERROR, body
    assert body["error_code"] == code, body
    assert body["request_id"] == r.headers["x-request-id"]
    if names:
        assert names in body["error_msg"], body


def assert_revoked(c, token: str) -> None:
    r = c.get("/v3/auth/projects", headers=auth(token))
    assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0307", r.text


def first_account(server: Server) -> dict:
    """The account `devuc serve` made on its first start: a real account that is not ours."""
    return json.loads((server.data_dir / "credentials.json").read_text())


# --------------------------------------------------------------------------- shared fixtures


@pytest.fixture(scope="module")
def acct(server: Server) -> dict:
    """One account for the read-only and failing-request tests of this module, with an owner
    token, a user holding taken contacts and a non-admin user's token."""
    data = server.bootstrap()
    with server.client() as c:
        data["token"] = get_token(c, data)
        new_user(c, data["token"], data, "taken", email="taken@example.com", areacode="86",
                 phone="13800000001")
        data["plain_id"] = new_user(c, data["token"], data, "plain", password=PASSWORD)["id"]
        data["plain_token"] = get_token(c, data, user="plain", password=PASSWORD)
    return data


# --------------------------------------------------------------------------- create


def test_create_user_answers_201_with_the_documented_fields(server: Server, acct):
    account = acct
    with server.client() as c:
        token = acct["token"]
        names_before = user_names(c, token)
        before = datetime.now(UTC).replace(tzinfo=None)
        r = create_user(
            c, token, account["account_id"], "bob.smith_1",
            password=PASSWORD, email="bob@example.com", areacode="86", phone="13900000000",
            description="Build engineer", enabled=True, pwd_status=False, access_mode="programmatic",
            xuser_type="TenantIdp", xuser_id="idp-bob",
        )
        assert r.status_code == 201, r.text
        assert r.headers["content-type"] == "application/json; charset=utf8"
        user = r.json()["user"]
        assert set(r.json()) == {"user"}
        assert set(user) == CREATE_FIELDS
        assert HEX32.match(user["id"]) and user["id"] not in (account["user_id"], account["account_id"])
        assert {k: user[k] for k in CREATE_FIELDS - {"id", "create_time"}} == {
            "name": "bob.smith_1", "domain_id": account["account_id"], "enabled": True,
            "email": "bob@example.com", "areacode": "86", "phone": "13900000000",
            "description": "Build engineer", "pwd_status": False, "access_mode": "programmatic",
            "is_domain_owner": False, "xuser_id": "idp-bob", "xuser_type": "TenantIdp",
            "xdomain_id": "", "xdomain_type": "", "status": None, "password_expires_at": None,
            "default_project_id": None,
        }
        created = datetime.strptime(user["create_time"], "%Y-%m-%dT%H:%M:%S.%f")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", user["create_time"])
        assert before - timedelta(seconds=5) <= created <= datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=5)
        assert "password" not in user and PASSWORD not in r.text

        # defaults: no password -> pwd_status false; empty strings, enabled, access_mode default
        r = create_user(c, token, account["account_id"], "minimal")
        assert r.status_code == 201, r.text
        m = r.json()["user"]
        assert set(m) == CREATE_FIELDS
        assert (m["enabled"], m["pwd_status"], m["access_mode"]) == (True, False, "default")
        assert (m["email"], m["areacode"], m["phone"], m["description"]) == ("", "", "", "")
        assert (m["xuser_id"], m["xuser_type"], m["is_domain_owner"]) == ("", "", False)
        # a password and no pwd_status -> must change it at first login
        r = create_user(c, token, account["account_id"], "with-pass", password=PASSWORD)
        assert r.status_code == 201 and r.json()["user"]["pwd_status"] is True
        assert PASSWORD not in r.text

        # the created users are real: they log in (the one with a password) and are listed
        get_token(c, account, user="bob.smith_1", password=PASSWORD)
        assert user_names(c, token) == names_before | {"bob.smith_1", "minimal", "with-pass"}
        # a user without a password cannot log in with any password
        r = c.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "minimal", "password": "", "domain": {"name": account["account_name"]}}}}}})
        assert r.status_code == 401


@pytest.mark.parametrize("fields", [
    {"name": "n" * 64},
    {"name": "Bob Smith"},
    {"name": "_svc.account-1"},
    {"name": "-dash"},
    {"name": "pw8", "password": "Abcdefg1"},
    {"name": "pw32", "password": "Ab1!" + "x" * 28},
    {"name": "pw-two-classes", "password": "lowercase-only"},
    {"name": "desc255", "description": "Team: build/release (v2)! " + "d" * 229},
    {"name": "phone32", "areacode": "0086", "phone": "1" * 32},
    {"name": "mail", "email": "first.last+tag@sub.example.co"},
], ids=["name-64", "name-space", "name-underscore-dot", "name-dash", "password-8", "password-32",
        "password-two-classes", "description-255", "phone-32", "email-plus"])
def test_create_user_accepts_boundary_values(server: Server, acct, fields):
    with server.client() as c:
        r = create_user(c, acct["token"], acct["account_id"], **fields)
        assert r.status_code == 201, r.text
        user = r.json()["user"]
        for key, value in fields.items():
            if key != "password":
                assert user[key] == value
        assert fields["name"] in user_names(c, acct["token"])


# (case id, user members to set (None deletes the member), status, code, field named in message)
CREATE_CASES = [
    ("missing-name", {"name": None}, 400, "1100", "user.name"),
    ("missing-domain", {"domain_id": None}, 400, "1100", "user.domain_id"),
    ("name-starts-with-digit", {"name": "1abc"}, 400, "1101", "user.name"),
    ("name-starts-with-space", {"name": " abc"}, 400, "1101", "user.name"),
    ("name-65-chars", {"name": "a" * 65}, 400, "1101", "user.name"),
    ("name-slash", {"name": "bad/name"}, 400, "1101", "user.name"),
    ("name-at", {"name": "bad@name"}, 400, "1101", "user.name"),
    ("name-non-ascii", {"name": "bénédicte"}, 400, "1101", "user.name"),
    ("name-tab", {"name": "tab\tname"}, 400, "1101", "user.name"),
    ("name-trailing-newline", {"name": "newline\n"}, 400, "1101", "user.name"),
    ("name-empty", {"name": ""}, 400, "1101", "user.name"),
    ("name-number", {"name": 42}, 400, "1101", "user.name"),
    ("name-list", {"name": ["bob"]}, 400, "1101", "user.name"),
    ("email-no-at", {"email": "not-an-email"}, 400, "1102", "user.email"),
    ("email-no-tld", {"email": "a@b"}, 400, "1102", "user.email"),
    ("email-space", {"email": "a b@example.com"}, 400, "1102", "user.email"),
    ("email-trailing-newline", {"email": "ok@example.com\n"}, 400, "1102", "user.email"),
    ("email-too-long", {"email": "x" * 250 + "@example.com"}, 400, "1102", "user.email"),
    ("email-number", {"email": 5}, 400, "1102", "user.email"),
    ("password-7-chars", {"password": "Ab1!xyz"}, 400, "1103", "user.password"),
    ("password-33-chars", {"password": "Ab1!" + "x" * 29}, 400, "1103", "user.password"),
    ("password-one-class", {"password": "alllowercase"}, 400, "1103", "user.password"),
    ("password-digits-only", {"password": "1234567890"}, 400, "1103", "user.password"),
    ("password-equals-name", {"name": "Robert_2024", "password": "robert_2024"}, 400, "1103",
     "user.password"),
    ("password-name-reversed", {"name": "Robert_2024", "password": "4202_TREBOR"}, 400, "1103",
     "user.password"),
    ("password-contains-email", {"email": "bob@example.com", "password": "Xbob@example.com1"}, 400,
     "1103", "user.password"),
    ("password-contains-phone", {"areacode": "86", "phone": "13812345678", "password": "Ab13812345678"},
     400, "1103", "user.password"),
    ("password-non-ascii", {"password": "Pässwort123"}, 400, "1103", "user.password"),
    ("password-number", {"password": 12345678}, 400, "1103", "user.password"),
    ("password-common", {"password": "Passw0rd"}, 400, "1118", "user.password"),
    ("password-common-other-case", {"password": "ADMIN@123"}, 400, "1118", "user.password"),
    ("password-keyboard-walk", {"password": "1qaz@WSX"}, 400, "1118", "user.password"),
    ("phone-letters", {"areacode": "86", "phone": "12ab"}, 400, "1104", "user.phone"),
    ("phone-33-digits", {"areacode": "86", "phone": "1" * 33}, 400, "1104", "user.phone"),
    ("phone-number", {"areacode": "86", "phone": 13800000000}, 400, "1104", "user.phone"),
    ("areacode-letters", {"areacode": "abc", "phone": "13800000000"}, 400, "1104", "user.areacode"),
    ("areacode-without-phone", {"areacode": "86"}, 400, "1106", "user.phone"),
    ("phone-without-areacode", {"phone": "13800000000"}, 400, "1106", "user.areacode"),
    ("duplicate-name", {"name": "taken"}, 400, "1109", "user.name"),
    ("duplicate-email", {"email": "taken@example.com"}, 400, "1110", "user.email"),
    ("duplicate-phone", {"areacode": "86", "phone": "13800000001"}, 400, "1111", "user.phone"),
    *[
        (f"description-char-{i}", {"description": f"a{ch}b"}, 400, "1117", "user.description")
        for i, ch in enumerate("@#%&<>\\$^*")
    ],
    ("description-256-chars", {"description": "d" * 256}, 400, "1117", "user.description"),
    ("description-number", {"description": 7}, 400, "1117", "user.description"),
    ("access-mode-unknown", {"access_mode": "admin"}, 400, "1120", "user.access_mode"),
    ("access-mode-empty", {"access_mode": ""}, 400, "1120", "user.access_mode"),
    ("access-mode-list", {"access_mode": ["default"]}, 400, "1120", "user.access_mode"),
    ("enabled-string", {"enabled": "true"}, 400, None, "user.enabled"),
    ("pwd-status-number", {"pwd_status": 1}, 400, None, "user.pwd_status"),
    ("xuser-type-without-id", {"xuser_type": "TenantIdp"}, 400, "1100", "user.xuser_id"),
    ("xuser-type-unknown", {"xuser_type": "Other", "xuser_id": "x"}, 400, None, "user.xuser_type"),
    ("domain-id-number", {"domain_id": 5}, 400, None, "user.domain_id"),
    ("domain-id-object", {"domain_id": {"id": "x"}}, 400, None, "user.domain_id"),
]


@pytest.mark.parametrize("changes, status, code, names", [c[1:] for c in CREATE_CASES],
                         ids=[c[0] for c in CREATE_CASES])
def test_create_user_validation(server: Server, acct, changes, status, code, names):
    user = {"name": "newcomer", "domain_id": acct["account_id"], "password": PASSWORD}
    for key, value in changes.items():
        if value is None:
            user.pop(key)
        else:
            user[key] = value
    with server.client() as c:
        before = user_names(c, acct["token"])
        r = c.post("/v3.0/OS-USER/users", headers=auth(acct["token"]), json={"user": user})
        assert_flat_error(r, status, code or r.json().get("error_code"), names)
        assert PASSWORD not in r.text
        assert user_names(c, acct["token"]) == before  # a failed request creates nothing


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b'"user"', b"null", b'{"user": "bob"}', b'{"user": []}', b"{}", b'{"user": {}}',
    b'{"user": null}',
], ids=["empty", "truncated", "list", "string", "null", "user-string", "user-list", "no-user",
        "user-empty", "user-null"])
def test_create_user_malformed_bodies_are_400(server: Server, acct, body):
    with server.client() as c:
        before = user_names(c, acct["token"])
        r = c.post("/v3.0/OS-USER/users", content=body,
                   headers={**auth(acct["token"]), "content-type": "application/json"})
        assert r.status_code == 400, r.text
        assert set(r.json()) == FLAT_ERROR
        assert user_names(c, acct["token"]) == before


def test_create_user_in_another_domain_or_as_non_admin_is_forbidden(server: Server, acct):
    other = first_account(server)
    with server.client() as c:
        before = user_names(c, acct["token"])
        for domain_id in (other["account_id"], "0" * 32):
            r = create_user(c, acct["token"], domain_id, "intruder", password=PASSWORD)
            assert_flat_error(r, 403, "IAM.0002")
        # a user who is not in the admin group may not create users, even in its own domain
        r = create_user(c, acct["plain_token"], acct["account_id"], "by-plain", password=PASSWORD)
        assert_flat_error(r, 403, "IAM.0002")
        assert user_names(c, acct["token"]) == before


# --------------------------------------------------------------------------- list


def test_list_users_items_and_filters(server: Server, account):
    with server.client() as c:
        token = get_token(c, account)
        a = new_user(c, token, account, "alpha", description="first", access_mode="programmatic")
        b = new_user(c, token, account, "beta", enabled=False)
        r = c.get("/v3/users", headers=auth(token))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"users", "links"}
        assert body["links"] == {"self": server.base_url + "/v3/users", "previous": None, "next": None}
        users = {u["name"]: u for u in body["users"]}
        assert set(users) == {account["user_name"], "alpha", "beta"}
        for u in users.values():
            assert set(u) == LIST_FIELDS, u
            assert u["domain_id"] == account["account_id"]
            assert u["password_expires_at"] is None
            assert u["links"] == {"self": f"{server.base_url}/v3/users/{u['id']}", "previous": None,
                                  "next": None}
            assert u["pwd_strength"] in ("high", "mid", "low")
            assert "password" not in u and "password_hash" not in json.dumps(u)
        assert users["alpha"]["id"] == a["id"] and users["alpha"]["description"] == "first"
        assert users["alpha"]["access_mode"] == "programmatic" and users["alpha"]["enabled"] is True
        assert users["beta"]["id"] == b["id"] and users["beta"]["enabled"] is False
        assert users[account["user_name"]]["id"] == account["user_id"]

        def names(query: str) -> set[str]:
            resp = c.get("/v3/users" + query, headers=auth(token))
            assert resp.status_code == 200, resp.text
            assert resp.json()["links"]["self"] == server.base_url + "/v3/users" + query
            return {u["name"] for u in resp.json()["users"]}

        assert names("?name=alpha") == {"alpha"}
        assert names("?name=ALPHA") == set()
        assert names("?name=nobody") == set()
        assert names("?enabled=false") == {"beta"}
        assert names("?enabled=true") == {account["user_name"], "alpha"}
        assert names("?enabled=true&name=beta") == set()
        assert names(f"?domain_id={account['account_id']}") == {account["user_name"], "alpha", "beta"}
        assert names(f"?domain_id={first_account(server)['account_id']}") == set()
        assert names("?domain_id=" + "f" * 32) == set()
        r = c.get("/v3/users?enabled=yes", headers=auth(token))
        assert r.status_code == 400 and error_code(r) == "IAM.0007" and "enabled" in message(r)


@pytest.mark.parametrize("value, ok", [
    ("lt:2016-12-08T22:02:00Z", True),
    ("lte:2030-01-01T00:00:00Z", True),
    ("gt:2016-12-08T22:02:00Z", True),
    ("gte:2016-12-08T22:02:00Z", True),
    ("eq:2016-12-08T22:02:00Z", True),
    ("neq:2016-12-08T22:02:00Z", True),
    ("2016-12-08T22:02:00Z", False),
    ("lt:2016-12-08", False),
    ("lt:2016-12-08T22:02:00", False),
    ("lt:2016-12-08 22:02:00Z", False),
    ("le:2016-12-08T22:02:00Z", False),
    ("lt:2016-13-45T25:61:61Z", False),
    ("lt:2016-12-08T22:02:00.000Z", False),
    ("", False),
])
def test_list_users_password_expires_at_filter(server: Server, acct, value, ok):
    with server.client() as c:
        r = c.get("/v3/users", params={"password_expires_at": value}, headers=auth(acct["token"]))
        if ok:
            assert r.status_code == 200, r.text
            # passwords never expire here: no user has a password expiry to compare with
            assert r.json()["users"] == []
        else:
            assert r.status_code == 400, r.text
            assert set(r.json()) == {"error"} and r.json()["error"]["code"] == 400
            assert error_code(r) == "IAM.0007" and "password_expires_at" in message(r)


def test_list_users_needs_an_admin(server: Server, acct):
    with server.client() as c:
        r = c.get("/v3/users", headers=auth(acct["plain_token"]))
        assert r.status_code == 403 and error_code(r) == "IAM.0002"
        assert "taken" not in r.text


# --------------------------------------------------------------------------- show


def test_show_user(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        carol = new_user(c, token, acct, "carol", password=PASSWORD, email="carol@example.com",
                         areacode="86", phone="13700000000", description="qa")
        dave = new_user(c, token, acct, "dave")
        carol_token = get_token(c, acct, user="carol", password=PASSWORD)

        r = c.get(f"/v3.0/OS-USER/users/{carol['id']}", headers=auth(token))
        assert r.status_code == 200, r.text
        user = r.json()["user"]
        assert set(user) == SHOW_FIELDS
        assert {k: user[k] for k in ("id", "name", "domain_id", "enabled", "is_domain_owner",
                                     "access_mode", "description", "email", "areacode", "phone",
                                     "xuser_id", "xuser_type")} == {
            "id": carol["id"], "name": "carol", "domain_id": acct["account_id"], "enabled": True,
            "is_domain_owner": False, "access_mode": "default", "description": "qa",
            "email": "carol@example.com", "areacode": "86", "phone": "13700000000",
            "xuser_id": "", "xuser_type": "",
        }
        assert user["links"] == {"self": f"{server.base_url}/v3.0/OS-USER/users/{carol['id']}",
                                 "previous": None, "next": None}
        assert user["pwd_strength"] in ("Low", "Middle", "High", "None")
        assert user["pwd_status"] is True
        for key in ("create_time", "last_login_time", "last_pwd_auth_time", "pwd_create_time"):
            assert SHOW_TIME.match(user[key]), (key, user[key])  # carol has logged in
        assert user["update_time"] is None or SHOW_TIME.match(user["update_time"])
        assert PASSWORD not in r.text

        # dave never logged in and has no password
        r = c.get(f"/v3.0/OS-USER/users/{dave['id']}", headers=auth(token))
        assert r.status_code == 200
        d = r.json()["user"]
        assert d["last_login_time"] is None and d["last_pwd_auth_time"] is None
        assert d["pwd_strength"] == "None"

        # the owner
        r = c.get(f"/v3.0/OS-USER/users/{acct['user_id']}", headers=auth(token))
        assert r.status_code == 200 and r.json()["user"]["is_domain_owner"] is True

        # a user may read itself but not another user
        r = c.get(f"/v3.0/OS-USER/users/{carol['id']}", headers=auth(carol_token))
        assert r.status_code == 200 and r.json()["user"]["name"] == "carol"
        for other in (dave["id"], acct["user_id"]):
            r = c.get(f"/v3.0/OS-USER/users/{other}", headers=auth(carol_token))
            assert_flat_error(r, 403, "IAM.0002")
            assert other not in r.text

        # unknown ids: 404 IAM.0004 in the flat shape
        for unknown in ("0" * 32, "not-a-user-id", first_account(server)["user_id"]):
            r = c.get(f"/v3.0/OS-USER/users/{unknown}", headers=auth(token))
            assert_flat_error(r, 404, "IAM.0004")


# --------------------------------------------------------------------------- update


def test_update_user_fields_and_validation(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        erin = new_user(c, token, acct, "erin", email="erin@example.com")
        new_user(c, token, acct, "frank", email="frank@example.com", areacode="86",
                 phone="13600000000")
        url = f"/v3.0/OS-USER/users/{erin['id']}"

        changes = {"name": "erin2", "email": "erin2@example.com", "areacode": "44",
                   "phone": "7700900000", "description": "moved", "pwd_status": False,
                   "access_mode": "programmatic"}
        r = c.put(url, headers=auth(token), json={"user": changes})
        assert r.status_code == 200, r.text
        user = r.json()["user"]
        assert set(user) == CREATE_FIELDS
        assert {k: user[k] for k in changes} == changes
        assert user["id"] == erin["id"] and user["create_time"] == erin["create_time"]
        shown = c.get(url, headers=auth(token)).json()["user"]
        assert {k: shown[k] for k in changes} == changes
        assert SHOW_TIME.match(shown["update_time"])
        names_now = user_names(c, token)
        assert {"erin2", "frank"} <= names_now and "erin" not in names_now

        # a failing update changes nothing
        for body, code, names in [
            ({"name": "frank"}, "1109", "user.name"),
            ({"email": "frank@example.com"}, "1110", "user.email"),
            ({"name": "9lives"}, "1101", "user.name"),
            ({"email": "nope"}, "1102", "user.email"),
            ({"password": "short"}, "1103", "user.password"),
            ({"password": "erin2"}, "1103", "user.password"),
            # the password must not contain the user's current email, even when only it changes
            ({"password": "Xerin2@example.com"}, "1103", "user.password"),
            ({"phone": "12x"}, "1104", "user.phone"),
            ({"areacode": "", "phone": "13500000000"}, "1106", "user.areacode"),
            ({"description": "<script>"}, "1117", "user.description"),
            ({"access_mode": "web"}, "1120", "user.access_mode"),
            ({"enabled": "no"}, None, "user.enabled"),
        ]:
            # a valid change beside the invalid one must not be applied either
            extra = {} if "description" in body else {"description": "never"}
            r = c.put(url, headers=auth(token), json={"user": {**body, **extra}})
            assert_flat_error(r, 400, code or r.json()["error_code"], names)
            assert c.get(url, headers=auth(token)).json()["user"] == shown, body
        for bad in ({}, {"user": {}}, {"user": "x"}, []):
            r = c.put(url, headers=auth(token), json=bad)
            assert r.status_code == 400, (bad, r.text)

        # unknown user; the owner can be neither disabled nor made console-only
        r = c.put("/v3.0/OS-USER/users/" + "0" * 32, headers=auth(token), json={"user": {"description": "x"}})
        assert_flat_error(r, 404, "IAM.0004")
        for body in ({"enabled": False}, {"access_mode": "console"}):
            r = c.put(f"/v3.0/OS-USER/users/{acct['user_id']}", headers=auth(token), json={"user": body})
            assert_flat_error(r, 403, "IAM.0002")
        owner = c.get(f"/v3.0/OS-USER/users/{acct['user_id']}", headers=auth(token)).json()["user"]
        assert owner["enabled"] is True and owner["access_mode"] == "default"


def test_password_change_by_admin_revokes_the_users_tokens(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        gina = new_user(c, token, acct, "gina", password=PASSWORD)
        old = get_token(c, acct, user="gina", password=PASSWORD)
        assert c.get("/v3/auth/projects", headers=auth(old)).status_code == 200

        # the policy keeps one password of history: the current one again is 400 1108, and the
        # user's tokens live on
        r = c.put(f"/v3.0/OS-USER/users/{gina['id']}", headers=auth(token),
                  json={"user": {"password": PASSWORD}})
        assert_flat_error(r, 400, "1108", "user.password")
        assert PASSWORD not in r.text
        assert c.get("/v3/auth/projects", headers=auth(old)).status_code == 200

        r = c.put(f"/v3.0/OS-USER/users/{gina['id']}", headers=auth(token),
                  json={"user": {"password": "N3w-secret!"}})
        assert r.status_code == 200, r.text
        assert "N3w-secret!" not in r.text
        assert_revoked(c, old)
        r = c.get("/v3/auth/tokens", headers={**auth(token), "X-Subject-Token": old})
        assert r.status_code == 404
        r = c.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "gina", "password": PASSWORD, "domain": {"name": acct["account_name"]}}}}}})
        assert r.status_code == 401 and error_code(r) == "IAM.0001"
        fresh = get_token(c, acct, user="gina", password="N3w-secret!")
        assert c.get("/v3/auth/projects", headers=auth(fresh)).status_code == 200
        # the admin's own token is untouched
        assert c.get("/v3/auth/projects", headers=auth(token)).status_code == 200

        # a change of anything but the password or enabled keeps tokens valid
        r = c.put(f"/v3.0/OS-USER/users/{gina['id']}", headers=auth(token),
                  json={"user": {"description": "still here"}})
        assert r.status_code == 200
        assert c.get("/v3/auth/projects", headers=auth(fresh)).status_code == 200


def test_disabling_a_user_revokes_tokens_and_blocks_login(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        hal = new_user(c, token, acct, "hal", password=PASSWORD)
        old = get_token(c, acct, user="hal", password=PASSWORD)
        url = f"/v3.0/OS-USER/users/{hal['id']}"
        r = c.put(url, headers=auth(token), json={"user": {"enabled": False}})
        assert r.status_code == 200 and r.json()["user"]["enabled"] is False
        assert_revoked(c, old)
        login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "hal", "password": PASSWORD, "domain": {"name": acct["account_name"]}}}}},
            "scope": {"project": {"name": "cn-north-4"}}}
        r = c.post("/v3/auth/tokens", json=login)
        assert r.status_code == 403 and error_code(r) == "IAM.0082", r.text
        assert "X-Subject-Token" not in r.headers
        # a wrong password for a disabled user still answers like any wrong password
        login["auth"]["identity"]["password"]["user"]["password"] = "Wrong-passw0rd"
        r = c.post("/v3/auth/tokens", json=login)
        assert r.status_code == 401 and error_code(r) == "IAM.0001"

        r = c.put(url, headers=auth(token), json={"user": {"enabled": True}})
        assert r.status_code == 200
        fresh = get_token(c, acct, user="hal", password=PASSWORD)
        assert c.get("/v3/auth/projects", headers=auth(fresh)).status_code == 200
        assert_revoked(c, old)  # re-enabling does not bring old tokens back


def test_console_only_user_gets_no_api_token(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        ivy = new_user(c, token, acct, "ivy", password=PASSWORD, access_mode="console")
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "ivy", "password": PASSWORD, "domain": {"name": acct["account_name"]}}}}}}
        r = c.post("/v3/auth/tokens", json=body)
        assert r.status_code == 403 and error_code(r) == "IAM.0081", r.text
        r = c.put(f"/v3.0/OS-USER/users/{ivy['id']}", headers=auth(token),
                  json={"user": {"access_mode": "default"}})
        assert r.status_code == 200
        assert c.post("/v3/auth/tokens", json=body).status_code == 201
        r = c.put(f"/v3.0/OS-USER/users/{ivy['id']}", headers=auth(token),
                  json={"user": {"access_mode": "console"}})
        assert r.status_code == 200
        r = c.post("/v3/auth/tokens", json=body)
        assert r.status_code == 403 and error_code(r) == "IAM.0081"


def test_update_user_needs_an_admin(server: Server, acct):
    with server.client() as c:
        token = acct["token"]
        kim = new_user(c, token, acct, "kim")
        plain_token = acct["plain_token"]  # not in the admin group
        for target in (kim["id"], acct["user_id"], acct["plain_id"]):
            r = c.put(f"/v3.0/OS-USER/users/{target}", headers=auth(plain_token),
                      json={"user": {"description": "hijacked"}})
            assert_flat_error(r, 403, "IAM.0002")
        # nor take over the owner by setting its password
        r = c.put(f"/v3.0/OS-USER/users/{acct['user_id']}", headers=auth(plain_token),
                  json={"user": {"password": "Take0ver!now"}})
        assert_flat_error(r, 403, "IAM.0002")
        for target in (kim["id"], acct["user_id"], acct["plain_id"]):
            r = c.get(f"/v3.0/OS-USER/users/{target}", headers=auth(token))
            assert r.json()["user"]["description"] == ""
        # the owner's password is unchanged: a password change would have revoked this token
        assert c.get("/v3/auth/projects", headers=auth(token)).status_code == 200


# --------------------------------------------------------------------------- own password


def test_change_own_password(server: Server, acct):
    with server.client() as c:
        admin = acct["token"]
        lee = new_user(c, admin, acct, "lee", password=PASSWORD)
        first = get_token(c, acct, user="lee", password=PASSWORD)
        second = get_token(c, acct, user="lee", password=PASSWORD, project=None)
        url = f"/v3/users/{lee['id']}/password"

        # wrong original password: 401, nothing changes
        r = c.post(url, headers=auth(first),
                   json={"user": {"original_password": "Wrong-passw0rd", "password": "Brand-n3w!"}})
        assert r.status_code == 401, r.text
        assert c.get("/v3/auth/projects", headers=auth(first)).status_code == 200
        # a new password that breaks the policy: 400 naming the field, nothing changes
        for weak in ("short", "lee", "alllowercase", "P@ssw0rd"):
            r = c.post(url, headers=auth(first), json={"user": {"original_password": PASSWORD, "password": weak}})
            assert r.status_code == 400 and error_code(r) == "IAM.0073" and "password" in message(r), r.text
        # the current password again (one password of history): 400 1108, nothing changes
        r = c.post(url, headers=auth(first), json={"user": {"original_password": PASSWORD, "password": PASSWORD}})
        assert r.status_code == 400 and error_code(r) == "1108" and "user.password" in message(r), r.text
        assert c.get("/v3/auth/projects", headers=auth(first)).status_code == 200
        for bad in ({}, {"user": {"password": "Brand-n3w!"}}, {"user": {"original_password": PASSWORD}},
                    {"user": {"original_password": PASSWORD, "password": 12345678}}, []):
            r = c.post(url, headers=auth(first), json=bad)
            assert r.status_code == 400, (bad, r.text)
        # another user's password cannot be changed this way, not even by an admin
        r = c.post(f"/v3/users/{lee['id']}/password", headers=auth(admin),
                   json={"user": {"original_password": PASSWORD, "password": "Brand-n3w!"}})
        assert r.status_code == 403 and error_code(r) == "IAM.0002"
        r = c.post(f"/v3/users/{acct['user_id']}/password", headers=auth(first),
                   json={"user": {"original_password": acct["password"], "password": "Brand-n3w!"}})
        assert r.status_code == 403 and error_code(r) == "IAM.0002"
        assert c.get("/v3/auth/projects", headers=auth(first)).status_code == 200

        r = c.post(url, headers=auth(first), json={"user": {"original_password": PASSWORD, "password": "Brand-n3w!"}})
        assert r.status_code == 204, r.text
        assert r.content == b""
        assert_revoked(c, first)
        assert_revoked(c, second)
        r = c.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "lee", "password": PASSWORD, "domain": {"name": acct["account_name"]}}}}}})
        assert r.status_code == 401
        fresh = get_token(c, acct, user="lee", password="Brand-n3w!")
        assert c.get("/v3/auth/projects", headers=auth(fresh)).status_code == 200
        # the change clears "must change password at first login"
        shown = c.get(f"/v3.0/OS-USER/users/{lee['id']}", headers=auth(fresh)).json()["user"]
        assert shown["pwd_status"] is False
        assert c.get("/v3/auth/projects", headers=auth(admin)).status_code == 200


# --------------------------------------------------------------------------- delete


def test_delete_user(server: Server, acct):
    with server.client() as c:
        admin = acct["token"]
        max_ = new_user(c, admin, acct, "max", password=PASSWORD)
        max_token = get_token(c, acct, user="max", password=PASSWORD)
        plain_token = acct["plain_token"]  # not in the admin group
        group = c.post("/v3/groups", headers=auth(admin), json={"group": {"name": "crew"}}).json()["group"]
        assert c.put(f"/v3/groups/{group['id']}/users/{max_['id']}", headers=auth(admin)).status_code == 204
        before = user_names(c, admin)

        # a non-admin may delete nobody, not even itself
        for target in (max_["id"], acct["plain_id"], acct["user_id"]):
            r = c.delete(f"/v3/users/{target}", headers=auth(plain_token))
            assert r.status_code == 403 and error_code(r) == "IAM.0002", r.text
        # the owner cannot be deleted
        r = c.delete(f"/v3/users/{acct['user_id']}", headers=auth(admin))
        assert r.status_code == 403 and error_code(r) == "IAM.0002"
        assert user_names(c, admin) == before

        r = c.delete(f"/v3/users/{max_['id']}", headers=auth(admin))
        assert r.status_code == 204 and r.content == b""
        assert_revoked(c, max_token)
        assert user_names(c, admin) == before - {"max"}
        r = c.get(f"/v3.0/OS-USER/users/{max_['id']}", headers=auth(admin))
        assert_flat_error(r, 404, "IAM.0004")
        r = c.delete(f"/v3/users/{max_['id']}", headers=auth(admin))
        assert r.status_code == 404 and error_code(r) == "IAM.0004"
        members = c.get(f"/v3/groups/{group['id']}/users", headers=auth(admin)).json()["users"]
        assert members == []
        r = c.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "max", "password": PASSWORD, "domain": {"name": acct["account_name"]}}}}}})
        assert r.status_code == 401
        # the name is free again, and the new user is a different user whom old tokens do not reach
        again = new_user(c, admin, acct, "max")
        assert again["id"] != max_["id"]
        assert_revoked(c, max_token)
        for token in (plain_token, admin):
            assert c.get("/v3/auth/projects", headers=auth(token)).status_code == 200


# --------------------------------------------------------------------------- quota


def test_user_quota_per_account(server: Server, account):
    """50 users per account by default (spec/iam.md §4.3), the owner included; the limit holds
    under concurrent creation too."""
    limit = 50
    with server.client() as c:
        admin = get_token(c, account)
        for i in range(limit - 6):  # owner + 44 = 45 users
            r = create_user(c, admin, account["account_id"], f"q{i:02d}")
            assert r.status_code == 201, r.text

    def attempt(i: int) -> int:
        with server.client() as cc:
            resp = create_user(cc, admin, account["account_id"], f"race{i:02d}")
            assert resp.status_code in (201, 400), resp.text
            if resp.status_code == 400:
                assert resp.json()["error_code"] == "1115", resp.text
            return resp.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(attempt, range(12)))
    assert statuses.count(201) == 5, statuses

    with server.client() as c:
        assert len(user_names(c, admin)) == limit
        r = create_user(c, admin, account["account_id"], "one-too-many")
        assert_flat_error(r, 400, "1115")
        assert len(user_names(c, admin)) == limit
        victim = c.get("/v3/users?name=q00", headers=auth(admin)).json()["users"][0]
        assert c.delete(f"/v3/users/{victim['id']}", headers=auth(admin)).status_code == 204
        assert create_user(c, admin, account["account_id"], "fits-again").status_code == 201
        assert_flat_error(create_user(c, admin, account["account_id"], "over-again"), 400, "1115")
