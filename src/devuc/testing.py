"""The devuc pytest plugin: a real `devuc serve --dev` for the tests of code that talks to IAM and
CodeArts (docs/pytest-plugin.md).

Registered through the ``pytest11`` entry point, so installing devuc is enough. It is inert until
a test asks for one of its fixtures: importing this module loads the standard library and pytest
only, and no server starts unless ``devuc_server`` (or ``devuc_clean``) is requested.

Fixtures:

* ``devuc_server`` (session scope unless ``--devuc-scope``): a :class:`DevucServer`, either a
  `devuc serve --dev` process started on a free loopback port with a fresh data folder and
  stopped at the end, or the server named by ``--devuc-url``;
* ``devuc_clean`` (function scope): the same server, put back to the dev dataset before the test.

Options: ``--devuc-url``, ``--devuc-port``, ``--devuc-timeout``, ``--devuc-scope``.

Outside pytest fixtures, :func:`start_devuc` starts and stops a server in a ``with`` block and
:func:`connect_devuc` describes one that is already running.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

LOOPBACK = "127.0.0.1"
DEFAULT_TIMEOUT = 60.0  # seconds to the first answer of /health
STOP_GRACE = 10.0  # seconds between terminate and kill
LOG_NAME = "devuc-serve.log"
SCOPES = ("session", "package", "module", "class", "function")


class DevucError(RuntimeError):
    """devuc could not be started or reached, or refused a call the plugin made for a test."""


class DevucSdkMissing(ImportError):
    """A client helper was asked for an official SDK that is not installed."""


@dataclass(frozen=True)
class DevUser:
    """An IAM user of the dev dataset: name, id, password, and its permanent access key (AK/SK).
    Build one for a user a test made, to get clients and tokens for it."""

    name: str
    id: str | None = None
    password: str | None = None
    access: str | None = None
    secret: str | None = None
    groups: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the secret key and the password stay out of test reports
        return f"DevUser(name={self.name!r}, id={self.id!r}, access={self.access!r})"


@dataclass(frozen=True)
class DevProject:
    """A CodeArts project of the dev dataset, with each member's roles."""

    id: str
    name: str
    region: str
    type: str
    creator: str
    members: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class DevDataset:
    """The account of the dev dataset as the seed file declares it."""

    account_name: str
    account_id: str
    owner: DevUser
    users: Mapping[str, DevUser]  # every user, the owner first
    projects: tuple[DevProject, ...]


def load_dev_dataset() -> DevDataset:
    """Read the dataset `devuc serve --dev` applies (``devuc/dev/dev-seed.yaml``, shipped in the
    package), so the credentials handed to tests are the server's own, never copies."""
    from importlib import resources

    import yaml

    text = resources.files("devuc.dev").joinpath("dev-seed.yaml").read_text(encoding="utf-8")
    account = yaml.safe_load(text)["accounts"][0]

    def user(entry: dict) -> DevUser:
        keys = entry.get("access_keys") or [{}]
        return DevUser(
            name=entry["name"],
            id=entry.get("id"),
            password=entry.get("password"),
            access=keys[0].get("access"),
            secret=keys[0].get("secret"),
            groups=tuple(entry.get("groups") or ()),
        )

    owner = user(account["owner"])
    users = {owner.name: owner}
    users.update((u.name, u) for u in map(user, account.get("users") or ()))
    projects = tuple(
        DevProject(
            id=p["id"],
            name=p["name"],
            region=p.get("region", "cn-north-4"),
            type=p.get("type", "scrum"),
            creator=p.get("creator", owner.name),
            members={m["user"]: tuple(m.get("roles") or ()) for m in p.get("members") or ()},
        )
        for p in account.get("projects") or ()
    )
    return DevDataset(account["name"], account["id"], owner, users, projects)


def _http(method: str, url: str, body: Any = None, headers: dict | None = None,
          timeout: float = 30) -> tuple[int, Mapping[str, str], bytes]:
    """One HTTP call with the standard library (the plugin needs no HTTP client package)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={**(headers or {})})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def _import_sdk(module: str, package: str, helper: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DevucSdkMissing(
            f"devuc.testing: {helper}() needs the official Huawei Cloud SDK package {package!r} "
            f"(module {module!r} cannot be imported): pip install {package}"
        ) from exc


class DevucServer:
    """A running devuc in dev mode and everything a test needs to talk to it.

    ``base_url`` is the root of every API (IAM, CodeArts, Build); ``iam_endpoint`` is the same URL,
    named for the SDK setting it fills. ``users`` are the dev users by name (password, fixed AK/SK),
    ``project`` the dev CodeArts project, ``region`` its region, ``region_projects`` the account's
    region project id per region as the server reports them.
    """

    def __init__(self, base_url: str, dataset: DevDataset, region_projects: Mapping[str, str], *,
                 process: subprocess.Popen | None = None, data_dir: Path | None = None,
                 log_path: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.iam_endpoint = self.base_url
        self.dataset = dataset
        self.account_name = dataset.account_name
        self.account_id = dataset.account_id
        self.owner = dataset.owner
        self.users = dataset.users
        self.projects = dataset.projects
        self.project = dataset.projects[0]
        self.project_id = self.project.id
        self.region = self.project.region
        self.region_projects = dict(region_projects)
        self.regions = sorted(self.region_projects)
        self.process = process
        self.data_dir = data_dir
        self.log_path = log_path

    def __repr__(self) -> str:
        return f"DevucServer({self.base_url!r}, account={self.account_name!r})"

    @property
    def started_here(self) -> bool:
        """Whether this object started the process (and so stops it)."""
        return self.process is not None

    @property
    def region_project_id(self) -> str:
        """The account's region project id in :attr:`region`."""
        return self.region_projects[self.region]

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def user(self, name: str | DevUser) -> DevUser:
        if isinstance(name, DevUser):
            return name
        try:
            return self.users[name]
        except KeyError:
            raise KeyError(f"no dev user {name!r}; the dev users are: {', '.join(self.users)}") from None

    def _region(self, region: str | None) -> str:
        region = region or self.region
        if region not in self.region_projects:
            raise ValueError(f"region {region!r} is not served; the regions are: {', '.join(self.regions)}")
        return region

    # --- state --------------------------------------------------------------------------------

    def _state(self, method: str, path: str, body: Any = None) -> Any:
        status, _, raw = _http(method, self.url(path), body, timeout=60)
        if status == 404:
            raise DevucError(f"{method} {path} answered 404: the server at {self.base_url} is not in dev mode "
                             "(start it with `devuc serve --dev`)")
        if status != 200:
            raise DevucError(f"{method} {path} answered {status}: {raw[:500].decode(errors='replace')}")
        return json.loads(raw)

    def reset(self, to: str = "seed") -> None:
        """Put the whole store back to the dev dataset (``"seed"``) or empty it (``"empty"``)."""
        self._state("POST", "/_devuc/reset", {"to": to})

    def snapshot(self) -> dict:
        """The whole store as JSON (docs/dev-mode.md, snapshot format)."""
        return self._state("GET", "/_devuc/snapshot")

    def restore(self, snapshot: dict) -> int:
        """Replace the whole store with a snapshot taken by :meth:`snapshot`; returns the rows."""
        return self._state("POST", "/_devuc/snapshot", snapshot)["rows"]

    # --- credentials --------------------------------------------------------------------------

    def token(self, user: str | DevUser = "dev-developer", *, region: str | None = None,
              domain_scoped: bool = False) -> str:
        """A token of ``user`` (POST /v3/auth/tokens with its password), scoped to the region
        project of ``region`` (default :attr:`region`), or to the account if ``domain_scoped``."""
        who = self.user(user)
        if not who.password:
            raise ValueError(f"user {who.name!r} has no password to log in with")
        if domain_scoped:
            scope: dict = {"domain": {"name": self.account_name}}
        else:
            scope = {"project": {"name": self._region(region)}}
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": who.name, "password": who.password, "domain": {"name": self.account_name}}}},
            "scope": scope,
        }}
        status, headers, raw = _http("POST", self.url("/v3/auth/tokens?nocatalog=true"), body)
        if status != 201:
            raise DevucError(f"no token for {who.name!r} in {self.account_name!r}: {status} "
                             f"{raw[:300].decode(errors='replace')}")
        return headers["X-Subject-Token"]

    def _keys(self, user: str | DevUser, helper: str) -> DevUser:
        who = self.user(user)
        if not (who.access and who.secret):
            raise ValueError(f"{helper}(): user {who.name!r} has no access key (AK/SK)")
        return who

    # --- official SDK clients -----------------------------------------------------------------

    def _basic(self, who: DevUser, region: str, helper: str):
        creds = _import_sdk("huaweicloudsdkcore.auth.credentials", "huaweicloudsdkcore", helper)
        return creds.BasicCredentials(who.access, who.secret, self.region_projects[region]).with_iam_endpoint(
            self.iam_endpoint
        )

    def _build(self, client_class, credentials, region: str, http_config, helper: str):
        regions = _import_sdk("huaweicloudsdkcore.region.region", "huaweicloudsdkcore", helper)
        builder = (
            client_class.new_builder()
            .with_credentials(credentials)
            .with_region(regions.Region(region, self.base_url))
        )
        if http_config is not None:
            builder = builder.with_http_config(http_config)
        return builder.build()

    def iam_client(self, user: str | DevUser = "dev-owner", *, region: str | None = None,
                   project_scoped: bool = False, http_config=None):
        """An ``huaweicloudsdkiam.v3.IamClient`` signing with ``user``'s AK/SK: GlobalCredentials
        with the account id (the usual choice for IAM), or BasicCredentials with the region
        project id of ``region`` when ``project_scoped``."""
        helper = "iam_client"
        who = self._keys(user, helper)
        region = self._region(region)
        iam = _import_sdk("huaweicloudsdkiam.v3", "huaweicloudsdkiam", helper)
        if project_scoped:
            credentials = self._basic(who, region, helper)
        else:
            creds = _import_sdk("huaweicloudsdkcore.auth.credentials", "huaweicloudsdkcore", helper)
            credentials = creds.GlobalCredentials(who.access, who.secret, self.account_id).with_iam_endpoint(
                self.iam_endpoint
            )
        return self._build(iam.IamClient, credentials, region, http_config, helper)

    def projectman_client(self, user: str | DevUser = "dev-project-admin", *, region: str | None = None,
                          http_config=None):
        """An ``huaweicloudsdkprojectman.v4.ProjectManClient`` signing with ``user``'s AK/SK."""
        return self._signed_client("projectman_client", "huaweicloudsdkprojectman", "v4", "ProjectManClient",
                                   user, region, http_config)

    def codeartsbuild_client(self, user: str | DevUser = "dev-developer", *, region: str | None = None,
                             http_config=None):
        """An ``huaweicloudsdkcodeartsbuild.v3.CodeArtsBuildClient`` signing with ``user``'s AK/SK."""
        return self._signed_client("codeartsbuild_client", "huaweicloudsdkcodeartsbuild", "v3",
                                   "CodeArtsBuildClient", user, region, http_config)

    def _signed_client(self, helper: str, package: str, version: str, class_name: str,
                       user: str | DevUser, region: str | None, http_config):
        """A project-scoped SDK client of ``package`` signing with ``user``'s AK/SK."""
        who = self._keys(user, helper)
        region = self._region(region)
        module = _import_sdk(f"{package}.{version}", package, helper)
        return self._build(getattr(module, class_name), self._basic(who, region, helper), region, http_config, helper)

    # --- the process --------------------------------------------------------------------------

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's output (servers started here only)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop a server started here: terminate, then kill after a grace period. Idempotent;
        does nothing for a server given with ``--devuc-url``."""
        process = self.process
        if process is None:
            return
        _stop_process(process)
        atexit.unregister(self.stop)


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _healthy(base_url: str) -> bool:
    try:
        status, _, _ = _http("GET", base_url + "/health", timeout=2)
    except OSError:  # URLError is an OSError
        return False
    return status == 200


def _region_projects(base_url: str, dataset: DevDataset) -> dict[str, str]:
    """The account's region projects, asked of the server with a token of the owner."""
    owner = dataset.owner
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": owner.name, "password": owner.password, "domain": {"name": dataset.account_name}}}},
        "scope": {"domain": {"name": dataset.account_name}},
    }}
    status, headers, raw = _http("POST", base_url + "/v3/auth/tokens?nocatalog=true", body)
    if status != 201:
        raise DevucError(
            f"{base_url} does not know the dev account {dataset.account_name!r} (token request answered "
            f"{status}: {raw[:300].decode(errors='replace')}); is it `devuc serve --dev`?"
        )
    status, _, raw = _http("GET", base_url + "/v3/auth/projects", headers={"X-Auth-Token": headers["X-Subject-Token"]})
    if status != 200:
        raise DevucError(f"GET /v3/auth/projects answered {status}: {raw[:300].decode(errors='replace')}")
    # Region projects are named after their region; sub-projects ("cn-north-4_x") are not regions.
    return {p["name"]: p["id"] for p in json.loads(raw)["projects"] if "_" not in p["name"]}


def connect_devuc(base_url: str, *, timeout: float = 10.0) -> DevucServer:
    """Describe a `devuc serve --dev` already running at ``base_url`` (waits up to ``timeout``
    seconds for its /health)."""
    base_url = base_url.rstrip("/")
    deadline = time.monotonic() + timeout
    while not _healthy(base_url):
        if time.monotonic() > deadline:
            raise DevucError(f"no devuc answers GET {base_url}/health (waited {timeout:g} s)")
        time.sleep(0.2)
    dataset = load_dev_dataset()
    return DevucServer(base_url, dataset, _region_projects(base_url, dataset))


def _child_environment(env: Mapping[str, str] | None) -> dict[str, str]:
    # DEVUC_* settings of the caller (a database URL, a config file...) must not point the test
    # server at a real store: the server gets only what is passed here.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVUC_")}
    return {**clean, **(env or {})}


def _launch(data_dir: Path, port: int, env: dict[str, str], args: tuple[str, ...],
            timeout: float) -> tuple[subprocess.Popen | None, str]:
    """Start `devuc serve --dev` and wait for /health. Returns the process, or None and the reason
    it did not start (the process is gone then)."""
    log_path = data_dir / LOG_NAME
    base_url = f"http://{LOOPBACK}:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devuc.cli", "serve", "--dev", "--host", LOOPBACK, "--port", str(port),
             "--data-dir", str(data_dir), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + timeout
    try:
        while True:
            code = process.poll()
            if code is not None:
                return None, f"exited with code {code}"
            if _healthy(base_url):
                return process, ""
            if time.monotonic() > deadline:
                _stop_process(process)
                return None, f"did not answer GET {base_url}/health within {timeout:g} s"
            time.sleep(0.05)
    except BaseException:
        _stop_process(process)
        raise


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def launch_devuc(data_dir: str | os.PathLike[str], *, port: int | None = None, timeout: float = DEFAULT_TIMEOUT,
                 env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()) -> DevucServer:
    """Start `devuc serve --dev` (this interpreter's devuc) on ``port`` of 127.0.0.1 (a free one by
    default) with its store in ``data_dir``, wait until /health answers, and describe it. The caller
    stops it (:meth:`DevucServer.stop`; it is also stopped when the interpreter exits).

    ``env``: environment variables for the server (the caller's ``DEVUC_*`` are not passed on);
    ``args``: more `devuc serve` options. Raises :class:`DevucError` with the end of the server's
    output when it does not start."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    child_env = _child_environment(env)
    log_path = data_dir / LOG_NAME
    # A free port can be taken by another process between the check and the bind: try another.
    attempts = 1 if port else 3
    for attempt in range(attempts):
        chosen = port or _free_port()
        process, reason = _launch(data_dir, chosen, child_env, tuple(args), timeout)
        if process is not None:
            break
        tail = _tail(log_path)
        if attempt + 1 < attempts and "address already in use" in tail.lower():
            continue
        raise DevucError(
            f"devuc serve --dev on port {chosen} {reason}; last lines of {log_path}:\n{tail or '(no output)'}"
        )
    base_url = f"http://{LOOPBACK}:{chosen}"
    try:
        dataset = load_dev_dataset()
        server = DevucServer(base_url, dataset, _region_projects(base_url, dataset), process=process,
                             data_dir=data_dir, log_path=log_path)
    except BaseException:
        _stop_process(process)
        raise
    atexit.register(server.stop)  # even if the caller never reaches its own clean-up
    return server


@contextmanager
def start_devuc(data_dir: str | os.PathLike[str], **kwargs: Any) -> Iterator[DevucServer]:
    """:func:`launch_devuc` in a ``with`` block: the server is stopped when the block ends."""
    server = launch_devuc(data_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


# --- the pytest plugin --------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devuc", "devuc test server (fixtures devuc_server, devuc_clean)")
    group.addoption("--devuc-url", dest="devuc_url", default=None, metavar="URL",
                    help="use the `devuc serve --dev` running at URL instead of starting one")
    group.addoption("--devuc-port", dest="devuc_port", type=int, default=None, metavar="PORT",
                    help="port of 127.0.0.1 for the devuc server the tests start (default: a free one)")
    group.addoption("--devuc-timeout", dest="devuc_timeout", type=float, default=DEFAULT_TIMEOUT,
                    metavar="SECONDS", help=f"how long to wait for devuc to start (default {DEFAULT_TIMEOUT:g})")
    group.addoption("--devuc-scope", dest="devuc_scope", default="session", choices=SCOPES,
                    help="how long one devuc server lives (default: session)")


def _devuc_scope(fixture_name: str, config: pytest.Config) -> str:
    return config.getoption("devuc_scope", default="session") or "session"


@pytest.fixture(scope=_devuc_scope)
def devuc_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevucServer]:
    """A devuc in dev mode (the dev dataset, fixed credentials): started for the session on a
    free port of 127.0.0.1 with a fresh store and stopped at the end, or the one ``--devuc-url``
    names."""
    config = request.config
    url = config.getoption("devuc_url")
    if url:
        yield connect_devuc(url, timeout=config.getoption("devuc_timeout"))
        return
    with start_devuc(tmp_path_factory.mktemp("devuc"), port=config.getoption("devuc_port"),
                     timeout=config.getoption("devuc_timeout")) as server:
        yield server


@pytest.fixture
def devuc_clean(devuc_server: DevucServer) -> DevucServer:
    """``devuc_server``, reset to the dev dataset before the test."""
    devuc_server.reset("seed")
    return devuc_server
