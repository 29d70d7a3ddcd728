"""Helpers for the CodeArts tests: tenants with extra IAM users, SDK clients pointed at a real
`devuc serve`, and plain HTTP calls with tokens."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from support import Server, get_token

REGION = "cn-north-4"
PASSWORD = "Xy7!kPq2w"

# ProjectMan v4 / Build / devuc ids of the system roles used in the tests (spec/projectman.md §5).
PM_IDS = {"admin": -1, "pm": 3, "dev": 4, "tm": 5, "tester": 6, "participant": 7, "viewer": 8, "om": 9}
DEVUC_IDS = {
    "admin": "35dfe4e18bc84f239d540afe381761cb",
    "pm": "f7cac73b54404f8ca5d0818c23e1df21",
    "dev": "eb344656dbab466b91a787262c44e5e5",
    "tm": "64fed7539b584f6795e30dbb66fbe3ae",
    "tester": "07390899d9f5493dbbf306ae50fe57bb",
    "participant": "9df2e034bbba437e8b26819155f2697d",
    "viewer": "009eff1be3684187a634a375ce533ebb",
    "om": "1fdd3f2159d94a4cada35b1da5054104",
    "committer": "06eb0fae667911eea4f3fa163ef85d33",
}


@dataclass
class Actor:
    """An IAM user with a password and a permanent access key."""

    server: Server
    account: dict
    user_id: str
    user_name: str
    access: str
    secret: str
    password: str = PASSWORD
    _token: str | None = field(default=None, repr=False)

    @property
    def account_id(self) -> str:
        return self.account["account_id"]

    def token(self, project: str | None = REGION) -> str:
        if project != REGION:
            with self.server.client() as c:
                return get_token(c, self.account, user=self.user_name, password=self.password, project=project)
        if self._token is None:
            with self.server.client() as c:
                self._token = get_token(c, self.account, user=self.user_name, password=self.password)
        return self._token

    def call(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {"X-Auth-Token": self.token(), **kw.pop("headers", {})}
        with self.server.client() as c:
            return c.request(method, path, headers=headers, **kw)

    def projectman(self):
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.region.region import Region
        from huaweicloudsdkprojectman.v4 import ProjectManClient

        os.environ["HUAWEICLOUD_SDK_IAM_ENDPOINT"] = self.server.base_url
        return (
            ProjectManClient.new_builder()
            .with_credentials(BasicCredentials(self.access, self.secret))
            .with_region(Region(REGION, self.server.base_url))
            .build()
        )

    def build(self):
        from huaweicloudsdkcodeartsbuild.v3 import CodeArtsBuildClient
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkcore.region.region import Region

        os.environ["HUAWEICLOUD_SDK_IAM_ENDPOINT"] = self.server.base_url
        return (
            CodeArtsBuildClient.new_builder()
            .with_credentials(BasicCredentials(self.access, self.secret))
            .with_region(Region(REGION, self.server.base_url))
            .build()
        )


class Tenant:
    """An account made with `devuc bootstrap`, its owner, and users added through the IAM API."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.account = server.bootstrap(password=PASSWORD)
        self.owner = Actor(
            server, self.account, self.account["user_id"], self.account["user_name"],
            self.account["access"], self.account["secret"],
        )

    @property
    def account_id(self) -> str:
        return self.account["account_id"]

    @property
    def account_name(self) -> str:
        return self.account["account_name"]

    def user(self, prefix: str = "u", *, admin: bool = False, enabled: bool = True) -> Actor:
        name = f"{prefix}-{secrets.token_hex(3)}"
        r = self.owner.call("POST", "/v3.0/OS-USER/users", json={
            "user": {"name": name, "domain_id": self.account_id, "password": PASSWORD}
        })
        assert r.status_code == 201, r.text
        user_id = r.json()["user"]["id"]
        r = self.owner.call("POST", "/v3.0/OS-CREDENTIAL/credentials", json={"credential": {"user_id": user_id}})
        assert r.status_code == 201, r.text
        key = r.json()["credential"]
        if admin:
            r = self.owner.call("GET", "/v3/groups", params={"name": "admin"})
            group_id = r.json()["groups"][0]["id"]
            r = self.owner.call("PUT", f"/v3/groups/{group_id}/users/{user_id}")
            assert r.status_code == 204, r.text
        actor = Actor(self.server, self.account, user_id, name, key["access"], key["secret"])
        if not enabled:
            actor.token()  # a token first, so the test can show it stops mattering
            r = self.owner.call("PUT", f"/v3.0/OS-USER/users/{user_id}", json={"user": {"enabled": False}})
            assert r.status_code == 200, r.text
        return actor


def error_of(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json().get("error_code")


def new_project(actor: Actor, name: str | None = None, project_type: str = "scrum", **extra) -> dict:
    body = {"project_name": name or f"p-{secrets.token_hex(4)}", "project_type": project_type, **extra}
    r = actor.call("POST", "/v4/project", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def add(actor: Actor, project_id: str, member: Actor, role_id: int | None = None) -> httpx.Response:
    body = {"user_id": member.user_id, "domain_id": member.account_id}
    if role_id is not None:
        body["role_id"] = role_id
    return actor.call("POST", f"/v4/projects/{project_id}/member", json=body)


def codearts_cli(server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The CodeArts sub-app of the CLI, run as its own module (the same Typer app the main
    `devuc` command mounts as `devuc codearts`), in a terminal wide enough for whole cells."""
    return subprocess.run(
        [sys.executable, "-m", "devuc.codearts.cli", *args, *server.store_args],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200", **server.env}, check=check, timeout=120,
        stdin=subprocess.DEVNULL,
    )


class Cast:
    """The people most tests need, made once per server (users are slow to make: passwords are
    hashed with argon2). Tests create their own projects and never change these users."""

    def __init__(self, server: Server) -> None:
        with ThreadPoolExecutor(4) as pool:
            self.tenant, self.other = pool.map(lambda _: Tenant(server), range(2))
            t = self.tenant
            t.owner.token()
            made = pool.map(lambda args: (t if args[0] != "foreign" else self.other).user(*args[:1], **args[1]), [
                ("pm", {}), ("tm", {}), ("dev", {}), ("viewer", {}), ("tester", {}), ("extra", {}),
                ("plain", {}), ("teadmin", {"admin": True}), ("off", {"enabled": False}), ("foreign", {}),
            ])
            (self.pm, self.tm, self.dev, self.viewer, self.tester, self.extra, self.plain, self.admin,
             self.disabled, self.foreign) = made
        self.owner = t.owner


_CASTS: dict[str, Cast] = {}


def cast_for(server: Server) -> Cast:
    if server.base_url not in _CASTS:
        _CASTS[server.base_url] = Cast(server)
    return _CASTS[server.base_url]
