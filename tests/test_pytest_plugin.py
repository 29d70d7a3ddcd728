"""The devuc pytest plugin (src/devuc/testing.py, docs/pytest-plugin.md) as its users meet it: test
files of their own, run by a separate `python -m pytest` that finds the plugin through the
``pytest11`` entry point of the installed package, with no conftest.py at all."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from devuc.testing import start_devuc

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


def docs_example() -> str:
    """The first Python block of docs/pytest-plugin.md: the example the README shows."""
    text = (ROOT / "docs" / "pytest-plugin.md").read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


RECORD = '''
import json, os


def test_record_the_server(devuc_server):
    with open(os.environ["DEVUC_PLUGIN_RECORD"], "a") as f:
        f.write(json.dumps({"pid": devuc_server.process.pid, "url": devuc_server.base_url}) + "\\n")
'''

BUILD_TEST = RECORD + '''
import sys

import pytest
from huaweicloudsdkcodeartsbuild.v3 import ShowProjectPermissionRequest
from huaweicloudsdkiam.v3 import model as iam
from devuc.testing import DevucSdkMissing, DevUser


def permission(server, user):
    client = server.codeartsbuild_client(user=user)
    return client.show_project_permission(ShowProjectPermissionRequest(project_id=server.project_id)).result


def test_build_permissions_of_the_dev_roles(devuc_server):
    developer = permission(devuc_server, "dev-developer")
    assert developer.project_id == "dec0de00000000000000000000002001" == devuc_server.project_id
    assert (developer.execute_permission, developer.manager_permission) == (True, False)
    viewer = permission(devuc_server, "dev-viewer")
    assert (viewer.view_permission, viewer.execute_permission, viewer.create_permission) == (True, False, False)
    admin = permission(devuc_server, "dev-project-admin")
    assert admin.manager_permission is True
    # the custom role of the dataset is held besides cicd_engineer
    assert len(permission(devuc_server, "dev-cicd-engineer").role_ids) == 2


def test_a_user_made_in_the_test_is_not_a_member(devuc_clean):
    owner = devuc_clean.iam_client()
    user = owner.create_user(iam.CreateUserRequest(body=iam.CreateUserRequestBody(user=iam.CreateUserOption(
        domain_id=devuc_clean.account_id, name="outsider", password="Outsider-2026")))).user
    key = owner.create_permanent_access_key(iam.CreatePermanentAccessKeyRequest(
        body=iam.CreatePermanentAccessKeyRequestBody(credential=iam.CreateCredentialOption(user_id=user.id)))).credential
    outsider = DevUser("outsider", id=user.id, password="Outsider-2026", access=key.access, secret=key.secret)
    answer = permission(devuc_clean, outsider)  # a non-member: 200, no role, nothing allowed
    assert answer.role_ids == [] and not (answer.view_permission or answer.execute_permission)
    assert devuc_clean.token(outsider, domain_scoped=True)


def test_iam_client_and_the_ids_it_reports(devuc_clean):
    owner = devuc_clean.iam_client()  # dev-owner, GlobalCredentials
    users = owner.keystone_list_users(iam.KeystoneListUsersRequest()).users
    assert {u.name for u in users} == set(devuc_clean.users)
    assert {u.id for u in users} == {u.id for u in devuc_clean.users.values()}
    scoped = devuc_clean.iam_client("dev-tenant-admin", project_scoped=True, region="ap-southeast-3")
    projects = scoped.keystone_list_auth_projects(iam.KeystoneListAuthProjectsRequest()).projects
    assert {p.name: p.id for p in projects} == devuc_clean.region_projects
    assert len(devuc_clean.regions) == 15 and devuc_clean.region == "cn-north-4"


def test_token_is_scoped_to_the_region_project(devuc_server):
    import urllib.request

    token = devuc_server.token("dev-viewer", region="af-south-1")
    request = urllib.request.Request(devuc_server.url("/v3/auth/tokens?nocatalog=true"),
                                     headers={"X-Auth-Token": token, "X-Subject-Token": token})
    with urllib.request.urlopen(request) as answer:
        body = json.load(answer)["token"]
    assert body["project"]["id"] == devuc_server.region_projects["af-south-1"]
    assert body["user"]["id"] == devuc_server.users["dev-viewer"].id
    assert body["user"]["domain"]["name"] == devuc_server.account_name == "devuc-dev"


def test_a_missing_sdk_is_named(devuc_server, monkeypatch):
    monkeypatch.setitem(sys.modules, "huaweicloudsdkprojectman.v4", None)
    with pytest.raises(DevucSdkMissing, match="pip install huaweicloudsdkprojectman"):
        devuc_server.projectman_client()
'''

PROJECTS_TEST = RECORD + '''
from huaweicloudsdkprojectman.v4 import CreateProjectV4Request, CreateProjectV4RequestBody, ListProjectsV4Request


def names(server):
    client = server.projectman_client(user="dev-project-admin")
    return {p.project_name for p in client.list_projects_v4(ListProjectsV4Request(offset=0, limit=100)).projects}


def test_1_create_a_project(devuc_server):
    client = devuc_server.projectman_client(user="dev-project-admin")
    client.create_project_v4(CreateProjectV4Request(body=CreateProjectV4RequestBody(
        project_name="shop", project_type="scrum")))
    assert names(devuc_server) == {"devuc-dev-project", "shop"}


def test_2_without_a_reset_the_project_stays(devuc_server):
    assert names(devuc_server) == {"devuc-dev-project", "shop"}


def test_3_devuc_clean_starts_from_the_dev_dataset(devuc_clean):
    assert names(devuc_clean) == {"devuc-dev-project"}


def test_4_reset_and_snapshot(devuc_server):
    saved = devuc_server.snapshot()
    devuc_server.reset("empty")
    assert devuc_server.snapshot()["tables"]["accounts"]["rows"] == []
    assert devuc_server.restore(saved) > 0
    assert names(devuc_server) == {"devuc-dev-project"}
'''


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _refused(url: str) -> bool:
    host, port = url.rsplit("/", 1)[-1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return False
    except OSError:
        return True


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" in f.read()
    except FileNotFoundError:
        return True


def test_the_entry_point_registers_the_plugin():
    registered = {e.name: e.value for e in entry_points(group="pytest11")}
    assert registered.get("devuc") == "devuc.testing"


def test_importing_the_plugin_loads_nothing_heavy():
    # devuc's own suite (and any project with devuc installed) loads the plugin: it must cost nothing.
    heavy = "yaml fastapi sqlalchemy uvicorn httpx huaweicloudsdkcore devuc.app devuc.config urllib.request".split()
    code = f"import sys, devuc.testing; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_user_tests_run_against_one_session_server(pytester: pytest.Pytester, tmp_path, monkeypatch):
    record = tmp_path / "servers.jsonl"
    monkeypatch.setenv("DEVUC_PLUGIN_RECORD", str(record))
    # The helpers give the SDK its IAM endpoint themselves: a wrong global setting changes nothing.
    monkeypatch.setenv("HUAWEICLOUD_SDK_IAM_ENDPOINT", "http://127.0.0.1:9")
    pytester.makepyfile(test_example=docs_example(), test_build=BUILD_TEST, test_projects=PROJECTS_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", timeout=120)
    result.assert_outcomes(passed=13)
    servers = _records(record)
    assert len(servers) == 2 and len({(s["pid"], s["url"]) for s in servers}) == 1  # one per session
    # Stopped at the end of the session: no process left, nothing listening.
    assert _gone(servers[0]["pid"]) and _refused(servers[0]["url"])


def test_devuc_url_uses_a_running_server(pytester: pytest.Pytester, tmp_path, monkeypatch):
    pytester.makepyfile(test_remote='''
import os
from huaweicloudsdkprojectman.v4 import CreateProjectV4Request, CreateProjectV4RequestBody


def test_remote(devuc_server):
    assert devuc_server.process is None and devuc_server.base_url == os.environ["REMOTE"]
    devuc_server.projectman_client().create_project_v4(CreateProjectV4Request(
        body=CreateProjectV4RequestBody(project_name="made-remotely", project_type="scrum")))
''')
    with start_devuc(tmp_path / "remote") as remote:
        monkeypatch.setenv("REMOTE", remote.base_url)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--devuc-url", remote.base_url + "/",
                                               timeout=120)
        result.assert_outcomes(passed=1)
        from huaweicloudsdkprojectman.v4 import ListProjectsV4Request

        listed = remote.projectman_client().list_projects_v4(ListProjectsV4Request(offset=0, limit=10))
        assert {p.project_name for p in listed.projects} == {"devuc-dev-project", "made-remotely"}
        assert remote.process.poll() is None  # the inner session did not stop a server it did not start
        process = remote.process
    assert process.poll() is not None and _refused(remote.base_url)


def test_a_server_that_cannot_start_is_reported_with_its_log(pytester: pytest.Pytester):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        pytester.makepyfile(test_needs_server="def test_it(devuc_server):\n    pass\n")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--devuc-port", str(port), timeout=120)
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    assert f"devuc serve --dev on port {port} exited with code" in text
    assert "address already in use" in text.lower()  # the server's own words, from its log
    assert "devuc-serve.log" in text


def test_the_plugin_is_inert_when_its_fixtures_are_not_used(pytester: pytest.Pytester):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    pytester.makepyfile(test_plain=f'''
import os, socket, sys


def test_no_server_and_no_child_process():
    assert "devuc.testing" in sys.modules  # loaded through the entry point
    try:
        socket.create_connection(("127.0.0.1", {number}), timeout=1).close()
    except OSError:
        pass
    else:
        raise AssertionError("something listens on the --devuc-port")
    tasks = f"/proc/{{os.getpid()}}/task"
    if os.path.isdir(tasks):
        children = [open(f"{{tasks}}/{{t}}/children").read().split() for t in os.listdir(tasks)]
        assert not any(children), children
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--devuc-port", str(number), timeout=60)
    result.assert_outcomes(passed=1)
