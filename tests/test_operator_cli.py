"""The operator verbs (`devuc account|user|group|key|project|member|role|vpcep`) on the local
store: every verb round trip, `--json` documents, the exit statuses of docs/cli.md, error lines,
and secrets kept out of errors. In-process (Typer's CliRunner) against one SQLite store for the
module; one smoke run on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from devuc.cli import app
from support import drop_postgres_database, new_postgres_database, require_postgres

HEX32 = re.compile(r"^[0-9a-f]{32}$")
ERROR_LINE = re.compile(r"^error: (\S+): (.+)$")
DEVELOPER, VIEWER = "eb344656dbab466b91a787262c44e5e5", "009eff1be3684187a634a375ce533ebb"
ADMIN_ROLE = "35dfe4e18bc84f239d540afe381761cb"


class Store:
    """Runs `devuc ...` in-process against one store."""

    def __init__(self, data_dir, database_url: str | None = None) -> None:
        self.args = ["--data-dir", str(data_dir)] + (["--database-url", database_url] if database_url else [])
        self.runner = CliRunner()

    def run(self, *args: str, input: str | None = None, code: int = 0):
        result = self.runner.invoke(app, [*args, *self.args], input=input, env={"COLUMNS": "200", "NO_COLOR": "1"})
        assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr, result.exception)
        if code:
            assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
        return result

    def json(self, *args: str, input: str | None = None, code: int = 0):
        """The one JSON document a --json run prints (the error document when it fails)."""
        result = self.run(*args, "--json", input=input, code=code)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, result.stdout
        return json.loads(lines[0])

    def fails(self, code: int, *args: str, error: str, input: str | None = None) -> str:
        """Run, expect exit ``code`` and an error line with catalogue/CLI code ``error``: the
        one stderr line, and with --json the error document on stdout. Returns the message."""
        result = self.run(*args, input=input, code=code)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        match = ERROR_LINE.match(lines[0])
        assert match and match.group(1) == error, (lines, error)
        assert result.stdout == ""
        document = self.json(*args, input=input, code=code)
        assert document == {"error": {"code": error, "message": match.group(2), "exit_code": code}}
        return match.group(2)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("operator-cli"))


@pytest.fixture(scope="module")
def acme(store: Store) -> dict:
    created = store.run("account", "create", "acme", "--owner", "alice", "--json")
    assert created.stderr == ""
    return json.loads(created.stdout)["account"]


def login_works(store: Store, account: dict, user: str, password: str) -> bool:
    """Whether the password is the user's: through the same verifier a token request uses."""
    from devuc.config import Settings
    from devuc.iam import service
    from devuc.runtime import Runtime

    settings = Settings.load(None, data_dir=store.args[1])

    async def check():
        rt = Runtime.open(settings)
        try:
            login = service.parse_password_login({"auth": {"identity": {"methods": ["password"], "password": {
                "user": {"name": user, "password": password, "domain": {"name": account["account_name"]}}}}}})
            await service.issue_password_token(rt, login)
            return True
        except Exception:  # noqa: BLE001 - a refused login
            return False
        finally:
            await rt.close()

    return asyncio.run(check())


# ---------------------------------------------------------------------------------------------
# round trips


def test_accounts(store: Store, acme: dict):
    assert HEX32.match(acme["account_id"]) and acme["user_name"] == "alice"
    assert re.fullmatch(r"[A-Z0-9]{20}", acme["access"]) and re.fullmatch(r"[A-Za-z0-9]{40}", acme["secret"])
    listed = store.json("account", "list")
    mine = next(a for a in listed["accounts"] if a["name"] == "acme")
    assert mine | {"created": None} == {
        "id": acme["account_id"], "name": "acme", "enabled": True, "description": "", "created": None,
        "owner_id": acme["user_id"], "owner_name": "alice", "users": 1, "groups": 1, "codearts_projects": 0,
    }
    for ref in ("acme", acme["account_id"]):
        shown = store.json("account", "show", ref)["account"]
        assert shown["id"] == acme["account_id"] and shown["region_projects"] == acme["projects"]
    assert "acme" in store.run("account", "list").stdout
    # a given password, read from stdin, never echoed
    other = store.run("account", "create", "beta", "--owner", "root", "--password-stdin", "--json",
                      input="Beta-Passw0rd\n")
    assert json.loads(other.stdout)["account"]["password"] == "Beta-Passw0rd"
    assert login_works(store, {"account_name": "beta"}, "root", "Beta-Passw0rd")


def test_users(store: Store, acme: dict):
    a = ("--account", "acme")
    made = store.json("user", "create", "bob", *a, "--email", "bob@example.com", "--description", "first")["user"]
    assert HEX32.match(made["id"]) and made["email"] == "bob@example.com" and made["pwd_status"] is False
    assert "password" not in made
    listed = store.json("user", "list", *a)
    assert [u["name"] for u in listed["users"]] == ["alice", "bob"] and listed["total"] == 2
    assert [u["name"] for u in store.json("user", "list", *a, "--enabled")["users"]] == ["alice", "bob"]
    for ref in ("bob", made["id"]):
        shown = store.json("user", "show", ref, *a)["user"]
        assert shown["id"] == made["id"] and shown["description"] == "first" and shown["groups"] == []
    updated = store.json("user", "update", "bob", *a, "--name", "robert", "--disable", "--access-mode", "programmatic")
    assert updated["user"] | {} == updated["user"] and updated["user"]["name"] == "robert"
    assert (updated["user"]["enabled"], updated["user"]["access_mode"]) == (False, "programmatic")
    assert store.json("user", "list", *a, "--disabled")["users"][0]["name"] == "robert"
    store.run("user", "update", "robert", *a, "--enable", "--access-mode", "default")

    set_pw = store.run("user", "set-password", "robert", *a, "--password-stdin", input="Robert-Passw0rd\n")
    assert "password of user robert" in set_pw.stdout and "Robert-Passw0rd" not in set_pw.stdout + set_pw.stderr
    assert login_works(store, acme, "robert", "Robert-Passw0rd")
    generated = store.json("user", "set-password", "robert", *a, "--generate")["user"]
    assert login_works(store, acme, "robert", generated["password"])
    assert not login_works(store, acme, "robert", "Robert-Passw0rd")
    prompted = store.run("user", "set-password", "robert", *a, input="Prompt-Passw0rd\nPrompt-Passw0rd\n")
    assert "Prompt-Passw0rd" not in prompted.stdout
    assert login_works(store, acme, "robert", "Prompt-Passw0rd")

    temp = store.json("user", "create", "temp", *a, "--generate-password")["user"]
    assert login_works(store, acme, "temp", temp["password"])
    assert store.json("user", "delete", "temp", *a) == {"deleted": {"user_id": temp["id"]}}
    store.fails(1, "user", "show", temp["id"], *a, error="IAM.0004")


def test_groups(store: Store, acme: dict):
    a = ("--account", "acme")
    store.run("user", "create", "carol", *a)
    made = store.json("group", "create", "devs", *a, "--description", "developers")["group"]
    assert made["name"] == "devs" and made["description"] == "developers" and HEX32.match(made["id"])
    assert [g["name"] for g in store.json("group", "list", *a)["groups"]] == ["admin", "devs"]
    added = store.json("group", "add-user", "devs", "carol", *a)
    assert added["added"]["group_id"] == made["id"]
    store.run("group", "add-user", made["id"], "carol", *a)  # again: nothing changes
    assert [u["name"] for u in store.json("group", "show", "devs", *a)["group"]["users"]] == ["carol"]
    assert store.json("user", "show", "carol", *a)["user"]["groups"] == ["devs"]
    renamed = store.json("group", "update", "devs", *a, "--name", "builders")["group"]
    assert (renamed["id"], renamed["name"], renamed["description"]) == (made["id"], "builders", "developers")
    store.run("group", "remove-user", "builders", "carol", *a)
    store.fails(1, "group", "remove-user", "builders", "carol", *a, error="IAM.0004")
    assert store.json("group", "show", "builders", *a)["group"]["users"] == []
    # the admin group makes a Tenant Administrator
    store.run("group", "add-user", "admin", "carol", *a)
    assert "carol" in store.run("group", "show", "admin", *a).stdout
    store.run("group", "remove-user", "admin", "carol", *a)
    assert store.json("group", "delete", "builders", *a) == {"deleted": {"group_id": made["id"]}}
    store.fails(1, "group", "show", "builders", *a, error="IAM.0004")


def test_access_keys(store: Store, acme: dict):
    a = ("--account", "acme")
    store.run("user", "create", "dave", *a)
    made = store.run("key", "create", *a, "--user", "dave", "--description", "ci", "--json")
    key = json.loads(made.stdout)["credential"]
    assert re.fullmatch(r"[A-Z0-9]{20}", key["access"]) and re.fullmatch(r"[A-Za-z0-9]{40}", key["secret"])
    assert (key["status"], key["description"]) == ("active", "ci")
    listed = store.run("key", "list", *a, "--user", "dave", "--json")
    assert key["secret"] not in listed.stdout
    assert [k["access"] for k in json.loads(listed.stdout)["credentials"]] == [key["access"]]
    shown = store.run("key", "show", key["access"], *a, "--json")
    assert key["secret"] not in shown.stdout and json.loads(shown.stdout)["credential"]["user_id"] == key["user_id"]
    table = store.run("key", "list", *a, "--user", "dave").stdout
    assert key["access"] in table and key["secret"] not in table
    updated = store.json("key", "update", key["access"], *a, "--status", "inactive", "--description", "paused")
    assert (updated["credential"]["status"], updated["credential"]["description"]) == ("inactive", "paused")
    second = store.json("key", "create", *a, "--user", "dave")["credential"]
    message = store.fails(3, "key", "create", *a, "--user", "dave", error="IAM.1102")
    assert "akSkNumExceed" in message
    for access in (key["access"], second["access"]):
        assert store.json("key", "delete", access, *a) == {"deleted": {"access": access}}
    assert store.json("key", "list", *a, "--user", "dave") == {"credentials": [], "total": 0}
    store.fails(1, "key", "delete", key["access"], *a, error="IAM.0004")


def test_a_narrow_terminal_shows_identifiers_whole(store: Store, acme: dict):
    """In a listing the identifier column is never wrapped: an access key copied from an
    80-column (or narrower) terminal is the whole key. Run as a process, as a user runs it."""
    store.run("user", "create", "nia", "--account", "acme")
    key = store.json("key", "create", "--account", "acme", "--user", "nia")["credential"]
    shown = subprocess.run(
        [sys.executable, "-m", "devuc.cli", "key", "list", "--account", "acme", "--user", "nia",
         *store.args], capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "60", "NO_COLOR": "1"}, check=True).stdout
    assert key["access"] in shown, shown
    assert max(map(len, shown.splitlines())) <= 60


def test_projects_members_and_roles(store: Store, acme: dict):
    a = ("--account", "acme")
    erin = store.json("user", "create", "erin", *a)["user"]
    made = store.json("project", "create", "shop", *a, "--type", "scrum", "--description", "demo")["project"]
    pid = made["project_id"]
    assert made["project_name"] == "shop" and made["project_type"] == "scrum" and HEX32.match(pid)
    listed = store.json("project", "list", *a)
    assert [(p["project_id"], p["creator"]["user_name"]) for p in listed["projects"]] == [(pid, "alice")]
    assert store.json("project", "list", *a, "--type", "ipd") == {"projects": [], "total": 0}
    for ref, extra in ((pid, ()), ("shop", a)):
        assert store.json("project", "show", ref, *extra)["project"]["project_id"] == pid
    # erin may create projects only once the tenant's creator setting selects her
    store.fails(4, "project", "create", "erins", *a, "--creator", "erin", error="PM.02174103")
    store.json("codearts", "creators", acme["account_id"], "--user", erin["id"])
    made_by = store.json("project", "create", "erins", *a, "--creator", "erin")["project"]
    erins = store.json("member", "list", made_by["project_id"])["members"]
    assert [(m["user_name"], m["role_id"]) for m in erins] == [("erin", -1)]

    # members
    held = store.json("member", "add", pid, "erin", "--role", "developer")
    assert [r["role_id"] for r in held["roles"]] == [DEVELOPER] and held["user_id"] == erin["id"]
    members = store.json("member", "list", "shop", *a)
    assert [(m["user_name"], m["role_id"]) for m in members["members"]] == [("alice", -1), ("erin", 4)]
    assert members["total"] == 2
    assert store.json("member", "show", pid, "erin", *a)["roles"][0]["name_en"] == "Developer"
    both = store.json("member", "set-role", pid, "erin", "viewer", "6", *a)
    assert [r["projectman_role_id"] for r in both["roles"]] == [6, 8]

    # roles: system catalogue, the project's roles and matrix, a custom role's life
    catalogue = store.json("role", "catalogue")["roles"]
    assert {r["role_id"] for r in catalogue} >= {DEVELOPER, VIEWER, ADMIN_ROLE}
    roles = store.json("role", "list", pid)["roles"]
    assert [r["role_id"] for r in roles] == [r["role_id"] for r in catalogue]
    assert store.json("role", "matrix", pid)["roles"] == roles
    matrix = store.run("role", "matrix", pid).stdout
    assert "Developer" in matrix and "build.execute" in matrix
    assert store.json("role", "show", pid, "Viewer")["roles"] == [r for r in roles if r["role_id"] == VIEWER]
    custom = store.json("role", "create", pid, "Night shift", "--copy-role", "viewer")["roles"][0]
    assert (custom["type"], custom["projectman_role_id"]) == ("custom", 500)
    assert custom["permissions"]["build"]["view"] is True
    changed = store.json("role", "set", pid, "Night shift", "build.execute=on", "build.view=false")["roles"][0]
    assert (changed["permissions"]["build"]["execute"], changed["permissions"]["build"]["view"]) == (True, False)
    renamed = store.json("role", "rename", pid, "500", "Late shift")["roles"][0]
    assert (renamed["role_id"], renamed["name"]) == (custom["role_id"], "Late shift")
    assert "Late shift" in store.run("codearts", "roles", "list", pid).stdout  # one implementation, two names
    store.json("member", "set-role", pid, erin["id"], "Late shift")
    store.fails(3, "role", "delete", pid, "Late shift", error="UC.00011004")  # held by erin
    store.json("member", "set-role", pid, "erin", "tester")
    assert store.json("role", "delete", pid, "Late shift") == {"deleted": {"role_id": custom["role_id"]}}
    store.fails(1, "role", "show", pid, "Late shift", error="UC.00011189")

    # removing, updating, deleting
    assert store.json("member", "remove", pid, "erin") == {"removed": {"user_ids": [erin["id"]]}}
    store.fails(1, "member", "show", pid, "erin", error="UC.00011059")
    updated = store.json("project", "update", "shop", *a, "--name", "shop2", "--description", "renamed")["project"]
    assert (updated["project_id"], updated["name"]) == (pid, "shop2")
    for project in (pid, made_by["project_id"]):
        assert store.json("project", "delete", project) == {"deleted": {"project_id": project}}
    store.fails(1, "project", "show", pid, error="PM.02152005")


def test_vpcep_speaks_the_same_language(store: Store, acme: dict):
    a = ("--account", "acme", "--region", "cn-north-4")
    assert store.json("vpcep", "add", "vpce-one", "vpce-two", *a, "--description", "lab") == {
        "region": "cn-north-4", "added": 2}
    listed = store.json("vpcep", "list", "--account", "acme")
    assert [v["vpcep_id"] for v in listed["regions"][0]["vpceps"]] == ["vpce-one", "vpce-two"]
    assert store.json("vpcep", "private-access", "off", *a) == {"region": "cn-north-4", "private_access": "off"}
    assert store.json("vpcep", "remove", "vpce-one", *a) == {"region": "cn-north-4", "removed": 1}
    quota = store.json("vpcep", "quota", "--account", "acme", "--region", "cn-north-4")
    assert quota["regions"] == [{"region": "cn-north-4", "used": 1, "remaining": quota["quota"] - 1}]
    store.fails(1, "vpcep", "remove", "vpce-one", *a, error="UC.00011005")
    store.fails(1, "vpcep", "list", "--account", "nobody", error="IAM.0004")
    store.fails(2, "vpcep", "add", "UPPER", *a, error="UC.00011002")
    store.json("vpcep", "remove", "vpce-two", *a)


# ---------------------------------------------------------------------------------------------
# exit statuses and error reports


def test_not_found_is_1(store: Store, acme: dict):
    a = ("--account", "acme")
    store.fails(1, "account", "show", "nobody", error="IAM.0004")
    store.fails(1, "user", "list", "--account", "nobody", error="IAM.0004")
    store.fails(1, "user", "show", "nobody", *a, error="IAM.0004")
    store.fails(1, "user", "update", "nobody", *a, "--description", "x", error="IAM.0004")
    store.fails(1, "group", "delete", "nobody", *a, error="IAM.0004")
    store.fails(1, "key", "update", "AAAAAAAAAAAAAAAAAAAA", *a, "--status", "active", error="IAM.0004")
    store.fails(1, "project", "show", "0" * 32, error="PM.02152005")
    store.fails(1, "project", "show", "no-such-name", *a, error="PM.02152005")
    store.fails(1, "role", "list", "0" * 32, error="PM.02152005")
    # a user of account acme is no user of account beta
    store.fails(1, "user", "show", "alice", "--account", "beta", error="IAM.0004")


def test_bad_input_is_2(store: Store, acme: dict):
    a = ("--account", "acme")
    message = store.fails(2, "user", "create", "9 starts with a digit", *a, error="1101")
    assert "user.name" in message
    store.fails(2, "user", "create", "mail", *a, "--email", "not-an-email", error="1102")
    store.fails(2, "user", "update", "alice", *a, error="INVALID")  # nothing to change
    store.fails(2, "account", "create", "1bad", error="INVALID")
    store.fails(2, "group", "create", "   ", *a, error="IAM.0073")
    store.fails(2, "key", "update", "AAAAAAAAAAAAAAAAAAAA", *a, error="INVALID")
    made = store.json("project", "create", "inputs", *a)["project"]
    store.fails(2, "role", "set", made["project_id"], "viewer", "build.execute", error="INVALID")
    store.fails(2, "role", "set", made["project_id"], "viewer", "build.fly=true", error="UC.00011002")
    store.fails(2, "role", "create", made["project_id"], "x" * 31, error="UC.00011180")
    store.fails(2, "project", "create", "x" * 129, *a, error="PM.00000001")
    store.json("project", "delete", made["project_id"])
    # Typer's own usage errors are 2 as well: a missing option, an unknown choice
    assert store.run("user", "list", code=2).stdout == ""
    store.run("key", "update", "AAAAAAAAAAAAAAAAAAAA", *a, "--status", "paused", code=2)


def test_conflict_is_3(store: Store, acme: dict):
    a = ("--account", "acme")
    store.fails(3, "account", "create", "acme", "--owner", "someone", error="IAM.0005")
    store.run("user", "create", "frank", *a)
    store.fails(3, "user", "create", "frank", *a, error="1109")
    store.fails(3, "user", "update", "frank", *a, "--name", "alice", error="1109")
    store.run("group", "create", "ops", *a)
    store.fails(3, "group", "create", "ops", *a, error="IAM.0005")
    made = store.json("project", "create", "clash", *a)["project"]
    store.fails(3, "project", "create", "clash", *a, error="PM.00000001")
    store.json("project", "create", "clash2", *a)
    store.fails(3, "project", "update", "clash2", *a, "--name", "clash", error="PM.00000001")
    store.json("member", "add", made["project_id"], "frank")
    store.fails(3, "member", "add", made["project_id"], "frank", error="UC.00011033")
    store.json("role", "create", made["project_id"], "Twice")
    store.fails(3, "role", "create", made["project_id"], "Twice", error="UC.00011009")
    for project in ("clash", "clash2"):
        store.json("project", "delete", project, *a)
    store.json("group", "delete", "ops", *a)


def test_refused_by_a_rule_is_4(store: Store, acme: dict):
    a = ("--account", "acme")
    store.fails(4, "user", "delete", "alice", *a, error="IAM.0002")
    store.fails(4, "user", "update", "alice", *a, "--disable", error="IAM.0002")
    store.fails(4, "group", "delete", "admin", *a, error="IAM.0002")
    store.fails(4, "group", "update", "admin", *a, "--name", "root", error="IAM.0002")
    store.run("user", "create", "console-only", *a, "--access-mode", "console")
    store.fails(4, "key", "create", *a, "--user", "console-only", error="IAM.0081")
    made = store.json("project", "create", "rules", *a)["project"]
    pid = made["project_id"]
    store.fails(4, "member", "remove", pid, "alice", error="PM.02150301")  # the creator stays
    store.fails(4, "member", "set-role", pid, "alice", "developer", error="UC.00011071")
    store.fails(4, "role", "set", pid, ADMIN_ROLE, "build.view=false", error="UC.00011043")
    store.fails(4, "role", "delete", pid, "developer", error="UC.00011043")
    store.json("project", "delete", pid)


def test_secrets_never_in_errors(store: Store, acme: dict):
    a = ("--account", "acme")
    store.run("user", "create", "grace", *a)
    weak = "q" + secrets.token_hex(2)  # five characters: refused by the password policy
    for args, error in (
        (("user", "set-password", "grace", *a, "--password-stdin"), "1103"),
        (("user", "create", "heidi", *a, "--password-stdin"), "1103"),
        (("account", "create", "gamma", "--owner", "grace", "--password-stdin"), "INVALID"),
    ):
        for extra in ((), ("--json",)):
            result = store.run(*args, *extra, input=weak + "\n", code=2)
            assert ERROR_LINE.match(result.stderr.strip()).group(1) == error
            assert weak not in result.stderr + result.stdout
    secret = "S3cret-" + secrets.token_hex(4)
    result = store.run("user", "set-password", "grace", *a, "--password-stdin", input=secret + "\n")
    assert secret not in result.stdout + result.stderr
    # an unreachable database: exit 5, the failure's kind only (never the URL's password)
    url = f"postgresql+asyncpg://devuc:{secret}@127.0.0.1:1/nothing"
    result = CliRunner().invoke(app, ["account", "list", "--database-url", url, "--json"])
    assert result.exit_code == 5, (result.stdout, result.stderr)
    assert secret not in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "INTERNAL"
    assert ERROR_LINE.match(result.stderr.strip()).group(1) == "INTERNAL"


def test_config_errors_and_help(store: Store, tmp_path):
    result = CliRunner().invoke(app, ["account", "list", "--config", str(tmp_path / "absent.toml"), "--json"])
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["code"] == "CONFIG"
    shown = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    flat = " ".join(shown.stdout.split())
    assert "Exit status of the operator verbs: 0 success; 1 not found" in flat
    for command in ("account", "user", "group", "key", "project", "member", "role", "vpcep"):
        assert re.search(rf"│ {command} ", shown.stdout), command


# ---------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.mark.postgres
def test_postgres_smoke(tmp_path):
    require_postgres()
    url = new_postgres_database()
    try:
        pg = Store(tmp_path, url)
        account = pg.json("account", "create", "pgacct", "--owner", "owner")["account"]
        a = ("--account", "pgacct")
        user = pg.json("user", "create", "ivan", *a, "--generate-password")["user"]
        pg.json("group", "add-user", "admin", "ivan", *a)
        key = pg.json("key", "create", *a, "--user", "ivan")["credential"]
        project = pg.json("project", "create", "pgshop", *a, "--creator", "ivan")["project"]
        pg.json("member", "add", project["project_id"], "owner", "--role", "developer")
        members = pg.json("member", "list", "pgshop", *a)["members"]
        assert [(m["user_name"], m["role_id"]) for m in members] == [("ivan", -1), ("owner", 4)]
        pg.json("role", "create", project["project_id"], "On call", "--copy-role", "developer")
        pg.fails(3, "user", "create", "ivan", *a, error="1109")
        pg.fails(1, "key", "delete", "B" * 20, *a, error="IAM.0004")
        pg.json("key", "delete", key["access"], *a)
        pg.json("project", "delete", project["project_id"])
        pg.json("user", "delete", user["id"], *a)
        assert pg.json("account", "show", account["account_id"])["account"]["users"] == 1
    finally:
        drop_postgres_database(url)
