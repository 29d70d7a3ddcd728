"""`devuc serve --dev` as a developer runs it: the dev dataset is there from the first answer of
/health, the official SDK works with the documented fixed AK/SK, and every CodeArts system role
is held by a dev user (docs/dev-mode.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from huaweicloudsdkcodeartsbuild.v3 import CodeArtsBuildClient, ShowProjectPermissionRequest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.region.region import Region

from devuc.codearts import roles as R
from devuc.config import Settings
from devuc.dev.cli import dev_seed_text
from devuc.dev.seed import parse_seed
from support import Server, free_port, password_body, start_server

ROOT = Path(__file__).resolve().parents[1]
DEV_PROJECT = "dec0de00000000000000000000002001"
DEV_ACCOUNT = "devuc-dev"
PASSWORD = "Devuc-Dev-2026"


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> Server:
    data = tmp_path_factory.mktemp("dev")
    srv = start_server(data, f"sqlite+aiosqlite:///{data / 'devuc.db'}", args=("--dev",))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def dataset():
    return parse_seed(dev_seed_text(), Settings()).accounts[0]


def _keys(dataset) -> dict[str, tuple[str, str]]:
    return {u.name: (u.keys[0].access, u.keys[0].secret) for u in [dataset.owner, *dataset.users]}


def build_client(server: Server, access: str, secret: str) -> CodeArtsBuildClient:
    os.environ["HUAWEICLOUD_SDK_IAM_ENDPOINT"] = server.base_url
    return (
        CodeArtsBuildClient.new_builder()
        .with_credentials(BasicCredentials(access, secret))
        .with_region(Region("cn-north-4", server.base_url))
        .build()
    )


def test_ready_quickly_with_the_banner(dev: Server):
    # The figure the README quotes is measured with a curl loop (docs/dev-mode.md); here the
    # bound only catches a start-up that got several times slower.
    print(f"devuc serve --dev: first 200 on /health after {dev.startup_seconds:.2f} s")
    assert dev.startup_seconds < 6
    log = (dev.data_dir / "serve.log").read_text()
    assert "DEV MODE" in log
    assert "DEVUCDEVELOPER000000" in log and "devucDevSecretDeveloper00000000000000000" in log
    assert DEV_PROJECT in log


def test_sdk_shows_the_developers_permissions(dev: Server, dataset):
    access, secret = _keys(dataset)["dev-developer"]
    answer = build_client(dev, access, secret).show_project_permission(
        ShowProjectPermissionRequest(project_id=DEV_PROJECT)
    ).result
    assert answer.project_id == DEV_PROJECT
    assert answer.role_ids == [str(R.DEVELOPER.build_id)]
    expected = R.DEVELOPER.defaults
    for name in R.BUILD_PERMISSIONS:
        assert getattr(answer, f"{name}_permission") is expected[f"build.{name}"], name


def test_every_system_role_is_held_by_a_dev_user(dev: Server, dataset):
    project = dataset.projects[0]
    held = {role for member in project.members for role, _ in member.roles}
    assert held >= set(R.BY_KEY)  # every system role of the catalogue
    keys = _keys(dataset)
    custom_num = R.FIRST_CUSTOM_NUM  # the dataset's one custom role
    for member in project.members:
        client = build_client(dev, *keys[member.user])
        answer = client.show_project_permission(ShowProjectPermissionRequest(project_id=DEV_PROJECT)).result
        wanted = [str(R.BY_KEY[r].build_id) if r in R.BY_KEY else str(custom_num) for r, _ in member.roles]
        assert answer.role_ids == wanted, member.user


def test_tenant_administrator_and_passwords(dev: Server):
    with dev.client() as c:
        r = c.post("/v3/auth/tokens?nocatalog=true",
                   json=password_body("dev-tenant-admin", PASSWORD, DEV_ACCOUNT, {"project": {"name": "cn-north-4"}}))
        assert r.status_code == 201, r.text
        token = r.headers["X-Subject-Token"]
        users = c.get("/v3/users", headers={"X-Auth-Token": token})
        assert users.status_code == 200, users.text
        assert len(users.json()["users"]) == 14
        # The allow-list is there, and private access does not lock the dev users out.
        listed = c.get("/v2/vpceps", params={"enterprise_id": "dec0de00000000000000000000000001"},
                       headers={"X-Auth-Token": token, "region": "cn-north-4"})
        assert listed.status_code == 200, listed.text
        assert {v["vpcep_id"] for v in listed.json()["data"]["vpceps"]} == {"vpcep-dev-0001", "vpcep-dev-0002"}
        decision = c.get("/v1/vpcep-authorization", headers={"X-Auth-Token": token})
        assert decision.json()["data"]["result"] == "Allow", decision.text


def test_every_region_is_served(dev: Server):
    with dev.client() as c:
        for region in ("cn-north-4", "ap-southeast-3", "af-south-1"):
            body = password_body("dev-viewer", PASSWORD, DEV_ACCOUNT, {"project": {"name": region}})
            assert c.post("/v3/auth/tokens?nocatalog=true", json=body).status_code == 201, region


def test_docs_publish_the_same_credentials(dataset):
    docs = (ROOT / "docs" / "dev-mode.md").read_text()
    for user in [dataset.owner, *dataset.users]:
        assert user.name in docs
        assert user.keys[0].access in docs and user.keys[0].secret in docs
    assert PASSWORD in docs and DEV_PROJECT in docs


def test_dev_mode_stays_on_loopback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "devuc.cli", "serve", "--dev", "--host", "0.0.0.0", "--port", str(free_port()),
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_without_data_dir_a_fresh_folder(tmp_path):
    """No --data-dir: a new temporary folder, named in the banner (and a dev server starts clean)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVUC_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "devuc.cli", "serve", "--dev", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    folder = None
    try:
        for line in process.stdout:
            if line.strip().startswith("data:"):
                folder = Path(line.split()[1])
            if "listening" in line:
                break
        assert folder is not None and folder.name.startswith("devuc-dev-")
        assert (folder / "devuc.db").exists()
        assert not (tmp_path / "devuc-data").exists()
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("no /health answer")
    finally:
        process.terminate()
        process.wait(timeout=15)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
