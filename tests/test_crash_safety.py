"""Crash safety: a real `devuc serve` is killed with SIGKILL while writer threads create projects,
members, IAM users, access keys and VPC endpoints as fast as they can; after a restart on the same
data every write the server acknowledged is there, and nothing is half-written."""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
from alembic.script import ScriptDirectory
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from devuc.store.migrate import alembic_config
from support import (
    Server,
    drop_postgres_database,
    error_code,
    get_token,
    new_postgres_database,
    postgres_available,
    start_server,
)

IAM_REGION = "cn-north-4"
VPCEP_REGION = "ap-southeast-3"
PASSWORD = "Xy7!kPq2w"
WRITERS = 4
KILL_AFTER = (40, 100)  # acknowledged writes (cumulative) at which the server is killed
TIMEOUT = 15


def _vpce() -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class Ledger:
    """What the server acknowledged (2xx) and what it returned; what was sent but not answered."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: dict = field(default_factory=dict)  # user_id -> name
    keys: dict = field(default_factory=dict)  # access -> (user_id, secret)
    projects: dict = field(default_factory=dict)  # project_id -> name
    members: list = field(default_factory=list)  # (project_id, user_id, role_id)
    vpceps: list = field(default_factory=list)
    unanswered: list = field(default_factory=list)  # (kind, detail)
    refused: list = field(default_factory=list)  # (kind, status, text): non-2xx answers

    @property
    def acknowledged(self) -> int:
        return len(self.users) + len(self.keys) + len(self.projects) + len(self.members) + len(self.vpceps)


class Writer(threading.Thread):
    """Creates a user, its key, a project, the user's membership and a VPC endpoint, in a loop."""

    def __init__(self, base_url: str, iam_token: str, vpcep_token: str, account: dict, ledger: Ledger,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base_url, self.iam_token, self.vpcep_token = base_url, iam_token, vpcep_token
        self.account, self.ledger, self.stop = account, ledger, stop

    def _post(self, c: httpx.Client, kind: str, path: str, body: dict, token: str, **headers):
        try:
            r = c.post(path, json=body, headers={"X-Auth-Token": token, **headers})
        except httpx.HTTPError as exc:
            with self.ledger.lock:
                self.ledger.unanswered.append((kind, body, type(exc).__name__))
            return None
        if not 200 <= r.status_code < 300:
            with self.ledger.lock:
                self.ledger.refused.append((kind, r.status_code, r.text[:300]))
            return None
        return r.json() if r.content else {}

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by the test, never lost in a thread
            self.error = exc

    error: BaseException | None = None

    def _loop(self) -> None:
        led = self.ledger
        with httpx.Client(base_url=self.base_url, timeout=TIMEOUT) as c:
            while not self.stop.is_set():
                name = f"cu{secrets.token_hex(4)}"
                made = self._post(c, "user", "/v3.0/OS-USER/users", {"user": {
                    "name": name, "domain_id": self.account["account_id"], "password": PASSWORD}}, self.iam_token)
                if made is None:
                    return
                user_id = made["user"]["id"]
                with led.lock:
                    led.users[user_id] = made["user"]["name"]
                if self.stop.is_set():
                    return
                key = self._post(c, "key", "/v3.0/OS-CREDENTIAL/credentials",
                                 {"credential": {"user_id": user_id, "description": "crash"}}, self.iam_token)
                if key is None:
                    return
                with led.lock:
                    led.keys[key["credential"]["access"]] = (user_id, key["credential"]["secret"])
                if self.stop.is_set():
                    return
                project = self._post(c, "project", "/v4/project",
                                     {"project_name": f"cp-{secrets.token_hex(5)}", "project_type": "scrum"},
                                     self.iam_token)
                if project is None:
                    return
                with led.lock:
                    led.projects[project["project_id"]] = project["project_name"]
                if self.stop.is_set():
                    return
                member = self._post(c, "member", f"/v4/projects/{project['project_id']}/member",
                                    {"user_id": user_id, "domain_id": self.account["account_id"], "role_id": 4},
                                    self.iam_token)
                if member is None:
                    return
                with led.lock:
                    led.members.append((project["project_id"], user_id, 4))
                if self.stop.is_set():
                    return
                vpcep = _vpce()
                added = self._post(c, "vpcep", "/v2/vpceps",
                                   {"enterprise_id": self.account["account_id"], "vpceps": [{"vpcep_id": vpcep}]},
                                   self.vpcep_token, region=VPCEP_REGION)
                if added is None:
                    return
                with led.lock:
                    led.vpceps.append(vpcep)


# ------------------------------------------------------------------------------------ the backend


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """(data_dir, database_url) for one backend; the PostgreSQL database is dropped afterwards."""
    if request.param == "sqlite":
        yield tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'devuc.db'}"
        return
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL must be reachable on 127.0.0.1:5432 in CI")
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    url = new_postgres_database()
    try:
        yield tmp_path, url
    finally:
        drop_postgres_database(url)


def _kill(server: Server | None) -> None:
    if server is not None and server.process.poll() is None:
        server.process.kill()
        server.process.wait(timeout=30)


def _signed_get(server: Server, access: str, secret: str, path: str) -> httpx.Response:
    request = SdkRequest(method="GET", schema="http", host=server.base_url.split("://")[1], resource_path=path,
                         query_params=[], header_params={})
    request = Signer(BasicCredentials(access, secret)).sign(request)
    return httpx.get(request.url, headers=dict(request.header_params), timeout=TIMEOUT)


# ------------------------------------------------------------------------------------ the checks


def check_everything(server: Server, account: dict, ledger: Ledger) -> dict:
    """Every acknowledged write is there; nothing is half-written. Returns figures for the log."""
    assert httpx.get(server.base_url + "/health", timeout=TIMEOUT).status_code == 200
    head = ScriptDirectory.from_config(alembic_config(server.database_url)).get_current_head()
    assert server.cli("db", "current").stdout.strip() == head

    with server.client() as c:
        iam = {"X-Auth-Token": get_token(c, account, password=PASSWORD, project=IAM_REGION)}
        vpc = {"X-Auth-Token": get_token(c, account, password=PASSWORD, project=VPCEP_REGION),
               "region": VPCEP_REGION}

        # users: every acknowledged one shows with its name; every listed one can be shown
        listed_users = c.get("/v3/users", headers=iam)
        assert listed_users.status_code == 200, listed_users.text
        listed_ids = {u["id"] for u in listed_users.json()["users"]}
        assert set(ledger.users) <= listed_ids
        for user_id in listed_ids:
            r = c.get(f"/v3.0/OS-USER/users/{user_id}", headers=iam)
            assert r.status_code == 200, r.text
            if user_id in ledger.users:
                assert r.json()["user"]["name"] == ledger.users[user_id]

        # keys: every listed key of every user can be shown; acknowledged keys are there and work
        listed_keys = {}
        for user_id in listed_ids:
            r = c.get("/v3.0/OS-CREDENTIAL/credentials", params={"user_id": user_id}, headers=iam)
            assert r.status_code == 200, r.text
            for item in r.json()["credentials"]:
                assert item["user_id"] == user_id
                listed_keys[item["access"]] = user_id
                shown = c.get(f"/v3.0/OS-CREDENTIAL/credentials/{item['access']}", headers=iam)
                assert shown.status_code == 200, shown.text
                assert shown.json()["credential"]["user_id"] == user_id
        for access, (user_id, secret) in ledger.keys.items():
            assert listed_keys.get(access) == user_id, access
            # The secret survived (decrypted with the kept master key): the signature is accepted. The
            # account has VPC endpoints now, so the call itself is then refused as off the private
            # network; a wrong secret is refused earlier, as unauthenticated.
            r = _signed_get(server, access, secret, f"/v3.0/OS-CREDENTIAL/credentials/{access}")
            assert (r.status_code, error_code(r)) == (403, "UC.00011065"), r.text
            wrong = _signed_get(server, access, secret[::-1], f"/v3.0/OS-CREDENTIAL/credentials/{access}")
            assert wrong.status_code == 401, wrong.text

        # projects: every acknowledged one is there; every listed one has its creator as a member
        r = c.get("/v4/projects", params={"limit": 1000}, headers=iam)
        assert r.status_code == 200, r.text
        projects = {p["project_id"]: p["project_name"] for p in r.json()["projects"]}
        assert r.json()["total"] == len(projects)
        for project_id, name in ledger.projects.items():
            assert projects.get(project_id) == name, project_id
        acked_members = {}
        for project_id, user_id, role in ledger.members:
            acked_members.setdefault(project_id, {})[user_id] = role
        for project_id in projects:
            shown = c.get(f"/v4/projects/{project_id}", headers=iam)
            assert shown.status_code == 200, shown.text
            m = c.get(f"/v4/projects/{project_id}/members", params={"limit": 1000}, headers=iam)
            assert m.status_code == 200, m.text
            roles = {x["user_id"]: x["role_id"] for x in m.json()["members"]}
            assert m.json()["total"] == len(roles)
            assert account["user_id"] in roles, f"project {project_id} lost its creator's membership"
            for user_id in roles:
                assert user_id == account["user_id"] or user_id in listed_ids, "member without a user"
            for user_id, role in acked_members.get(project_id, {}).items():
                assert roles.get(user_id) == role, (project_id, user_id)

        # VPC endpoints: paging adds up to the total, and every acknowledged one is listed
        seen, offset, total = [], 0, None
        while True:
            r = c.get("/v2/vpceps", headers=vpc,
                      params={"enterprise_id": account["account_id"], "limit": 100, "offset": offset})
            assert r.status_code == 200, r.text
            body = r.json()
            total = body["total"] if total is None else total
            assert body["total"] == total
            page = [v["vpcep_id"] for v in body["data"]["vpceps"]]
            seen += page
            offset += len(page)
            if not page or offset >= total:
                break
        assert len(seen) == len(set(seen)) == total
        assert set(ledger.vpceps) <= set(seen)

    # writes in flight at a kill may or may not have landed (either is fine); count which
    user_names = set(ledger.users.values())
    for user_id in listed_ids - set(ledger.users):
        r = httpx.get(f"{server.base_url}/v3.0/OS-USER/users/{user_id}", headers=iam, timeout=TIMEOUT)
        user_names.add(r.json()["user"]["name"])
    landed = {
        "user": lambda b: b["user"]["name"] in user_names,
        "project": lambda b: b["project_name"] in set(projects.values()),
        "vpcep": lambda b: b["vpceps"][0]["vpcep_id"] in set(seen),
        "key": lambda b: len([k for k, u in listed_keys.items() if u == b["credential"]["user_id"]]) > 0,
        "member": None,
    }
    in_flight = {}
    for kind, body, _ in ledger.unanswered:
        check = landed[kind]
        outcome = "?" if check is None else ("landed" if check(body) else "absent")
        in_flight.setdefault(kind, {}).setdefault(outcome, 0)
        in_flight[kind][outcome] += 1
    return {"acknowledged": ledger.acknowledged, "found": ledger.acknowledged,  # asserted above
            "users_listed": len(listed_ids), "keys_listed": len(listed_keys), "projects": len(projects),
            "vpceps": total, "in_flight": in_flight}


# ------------------------------------------------------------------------------------ the test


def test_acknowledged_writes_survive_sigkill(store, capsys):
    data_dir, url = store
    env = {"DEVUC_VPCEP_QUOTA": "5000"}
    ledger = Ledger()
    server = start_server(data_dir, url, env)
    figures = []
    try:
        account = server.bootstrap(password=PASSWORD)
        for kill_after in KILL_AFTER:
            with server.client() as c:
                iam_token = get_token(c, account, password=PASSWORD, project=IAM_REGION)
                vpcep_token = get_token(c, account, password=PASSWORD, project=VPCEP_REGION)
            stop = threading.Event()
            writers = [Writer(server.base_url, iam_token, vpcep_token, account, ledger, stop) for _ in range(WRITERS)]
            for w in writers:
                w.start()
            try:
                deadline = time.monotonic() + 120
                while ledger.acknowledged < kill_after and time.monotonic() < deadline:
                    if not any(w.is_alive() for w in writers):
                        break
                    time.sleep(0.005)
                _kill(server)  # SIGKILL, with requests in flight
            finally:
                stop.set()
                for w in writers:
                    w.join(timeout=2 * TIMEOUT)
            assert not any(w.is_alive() for w in writers)
            assert [w.error for w in writers if w.error] == []
            assert ledger.refused == [], ledger.refused[:3]
            assert ledger.acknowledged >= kill_after, "the writers stopped before the kill point"

            server = start_server(data_dir, url, env)  # the same data dir, database and master key file
            figures.append(check_everything(server, account, ledger))
    finally:
        _kill(server)
    with capsys.disabled():
        print(f"\ncrash safety on {url.split(':', 1)[0]}: {figures}")
