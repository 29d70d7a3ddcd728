"""OpenStack Keystone as the comparison: installed from PyPI into its own virtualenv
(bench/.keystone-venv), configured on SQLite with Fernet tokens, bootstrapped with an admin and
served by gunicorn with one worker per core on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import procs
from loadgen import Req

HERE = Path(__file__).resolve().parent
VENV = HERE / ".keystone-venv"
PACKAGES = ("keystone", "gunicorn")
ADMIN_PASSWORD = "Bench-Adm1n-Passw0rd"

CONFIG = """\
[DEFAULT]
use_stderr = true

[database]
connection = sqlite:///{dir}/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = {dir}/fernet-keys

[fernet_receipts]
key_repository = {dir}/fernet-receipts

[credential]
key_repository = {dir}/credential-keys
"""

# Keystone's own cache (dogpile, in each worker's memory): off by Keystone's default; deployments
# usually turn it on with memcached.
CACHE = """
[cache]
enabled = true
backend = dogpile.cache.memory
"""

# gunicorn's command line would be read by oslo.config as Keystone's own: hide it.
WSGI_MODULE = """\
import sys
sys.argv = sys.argv[:1]
from keystone.server import wsgi
application = wsgi.initialize_public_application()
"""


class KeystoneUnavailable(Exception):
    """Keystone could not be installed or started; the message says exactly what failed."""


def _bin(name: str) -> Path:
    return VENV / "bin" / name


def install(log) -> dict:
    """Create the virtualenv and install Keystone and gunicorn from the registry (once)."""
    if not _bin("keystone-manage").exists() or not _bin("gunicorn").exists():
        log(f"  installing {', '.join(PACKAGES)} into {VENV.relative_to(HERE.parent)} (once)")
        steps = []
        if not _bin("python").exists():
            # From the base interpreter: a venv made from devuc's venv would still be a plain one,
            # but this says what is meant.
            steps.append([str(Path(sys.base_prefix) / "bin" / "python3"), "-m", "venv", str(VENV)])
        steps.append([str(_bin("python")), "-m", "pip", "install", "-q", "--upgrade", "pip"])
        steps.append([str(_bin("python")), "-m", "pip", "install", "-q", *PACKAGES])
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                raise KeystoneUnavailable(
                    f"`{' '.join(argv)}` failed ({done.returncode}):\n{(done.stderr or done.stdout)[-3000:]}"
                )
    versions = subprocess.run(
        [str(_bin("python")), "-c",
         "import json, importlib.metadata as m; "
         "print(json.dumps({p: m.version(p) for p in ('keystone', 'gunicorn', 'SQLAlchemy', 'bcrypt')}))"],
        capture_output=True, text=True, check=True,
    )
    return json.loads(versions.stdout)


@dataclass
class Keystone:
    server: procs.Server
    token: str
    password_hash: str


def start(workdir: Path, workers: int, log, *, cache: bool = False) -> Keystone:
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "keystone.conf"
    conf.write_text(CONFIG.format(dir=workdir) + (CACHE if cache else ""))
    (workdir / "ks_wsgi.py").write_text(WSGI_MODULE)
    port = procs.free_port()
    url = f"http://{procs.HOST}:{port}/v3/"
    manage = [str(_bin("keystone-manage")), "--config-file", str(conf)]
    for step in (
        ["db_sync"],
        ["fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
        ["credential_setup", "--keystone-user", "root", "--keystone-group", "root"],
        ["bootstrap", "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-admin-url", url,
         "--bootstrap-public-url", url, "--bootstrap-internal-url", url,
         "--bootstrap-region-id", "RegionOne"],
    ):
        done = subprocess.run(manage + step, capture_output=True, text=True)
        if done.returncode != 0:
            raise KeystoneUnavailable(f"keystone-manage {step[0]} failed:\n{done.stderr[-3000:]}")
    log(f"  keystone configured in {workdir} (SQLite, Fernet tokens, admin bootstrapped, "
        f"cache {'on (in-process dogpile)' if cache else 'off (Keystone default)'})")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "DEVUC_"))}
    env["OS_KEYSTONE_CONFIG_FILES"] = str(conf)
    server = procs.Server(
        "keystone",
        [str(_bin("gunicorn")), "--no-control-socket", "--chdir", str(workdir), "--workers", str(workers),
         "--bind", f"{procs.HOST}:{port}", "--log-level", "warning", "ks_wsgi:application"],
        port, workdir / "gunicorn.log", env=env,
    ).start("/v3")
    status, headers, _ = _login(port)
    if status != 201:
        raise KeystoneUnavailable(f"keystone answered the admin login with {status}:\n{server.log_tail()}")
    return Keystone(server, headers["x-subject-token"], _hash_algorithm(workdir))


def _hash_algorithm(workdir: Path) -> str:
    """Keystone's password hashing as configured (the defaults here)."""
    done = subprocess.run(
        [str(_bin("python")), "-c",
         "import sys; sys.argv = sys.argv[:1]; import keystone.conf; c = keystone.conf.CONF; "
         "keystone.conf.configure(c); "
         f"c(args=[], project='keystone', default_config_files=[{str(workdir / 'keystone.conf')!r}]); "
         "print(c.identity.password_hash_algorithm, c.identity.password_hash_rounds or 'default')"],
        capture_output=True, text=True,
    )
    algorithm, _, rounds = done.stdout.strip().rpartition("\n")[2].partition(" ")
    if not algorithm:
        return "unknown"
    return f"{algorithm}, rounds {rounds}" + (" (bcrypt's 12)" if rounds == "default" and algorithm == "bcrypt" else "")


def login_body() -> str:
    return json.dumps({
        "auth": {
            "identity": {"methods": ["password"], "password": {
                "user": {"name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    })


def _login(port: int) -> tuple[int, dict, bytes]:
    import http.client

    conn = http.client.HTTPConnection(procs.HOST, port, timeout=60)
    try:
        conn.request("POST", "/v3/auth/tokens?nocatalog=true", body=login_body(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def validation_requests(token: str) -> list[Req]:
    return [Req("GET", "/v3/auth/tokens", {"X-Auth-Token": token, "X-Subject-Token": token})]


def login_requests() -> list[Req]:
    return [Req("POST", "/v3/auth/tokens?nocatalog=true", {"Content-Type": "application/json"},
                login_body())]
