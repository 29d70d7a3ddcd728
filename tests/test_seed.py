"""`devuc seed FILE` (docs/dev-mode.md): idempotent, updates what changed, errors name the line of
the file, the same rules as the HTTP API, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from devuc.codearts import roles as R
from devuc.codearts import service as codearts
from devuc.codearts.privateaccess import service as private_access
from devuc.config import Settings
from devuc.dev.seed import SeedError, apply_text, parse_seed
from devuc.iam.passwords import verify_password
from devuc.runtime import Runtime
from devuc.store import tables as t
from devuc.store.migrate import upgrade
from support import devuc, drop_postgres_database, new_postgres_database, require_postgres

PROJECT_ID = "0123456789abcdef0123456789abcdef"
BOB_SECRET = "acmeBobSecret000000000000000000000000001"

SEED = """\
version: 1
accounts:
  - name: acme
    owner:
      name: acme-owner
      password: Owner-Pass-1
      access_keys:
        - access: ACMEOWNER00000000001
          secret: acmeOwnerSecret0000000000000000000000001
    groups:
      - name: builders
        description: Build people
    project_creation: selected
    project_creators: [alice]
    users:
      - name: alice
        password: Alice-Pass-1
        groups: [builders]
      - name: bob
        password: Bob-Pass-12
        groups: [builders, admin]
        access_keys:
          - access: ACMEBOB0000000000001
            secret: acmeBobSecret000000000000000000000000001
    projects:
      - name: web
        id: 0123456789abcdef0123456789abcdef
        creator: alice
        description: The web shop
        roles:
          - name: Release manager
            permissions:
              build: {view: true, execute: true}
        members:
          - user: bob
            roles: [developer, Release manager]
    vpceps:
      - region: cn-north-4
        vpcep_id: vpcep-0001
        description: office
    private_access:
      cn-north-4: off
"""


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, regions=[{"id": "cn-north-4"}, {"id": "ap-southeast-3"}])


def run(tmp_path: Path, work):
    s = settings(tmp_path)
    upgrade(s.effective_database_url)

    async def main():
        rt = Runtime.open(s)
        try:
            await rt.keyring.fernet()
            return await work(rt)
        finally:
            await rt.close()

    return asyncio.run(main())


async def apply(rt, text: str):
    before = await rt.store.generation()
    report = await apply_text(rt, text)
    return report, (await rt.store.generation()) - before


async def looks(rt) -> dict:
    """What the seed should have made, read back through the store and the services."""
    u, k = t.users, t.access_keys
    async with rt.store.read() as conn:
        users = {r.name: r for r in (await conn.execute(select(u))).all()}
        keys = {r.access: r for r in (await conn.execute(select(k))).all()}
        bob_roles = await codearts.member_roles(conn, PROJECT_ID, users["bob"].id)
        project = (await conn.execute(select(t.codearts_projects))).one()
    records = await private_access.all_records(rt, users["bob"].account_id)
    return {
        "users": users, "keys": keys, "bob_roles": bob_roles, "project": project,
        "records": {(region, r.vpcep_id): r.description for region, r in records},
        "switches": await private_access.switches(rt, users["bob"].account_id),
    }


def test_applying_twice_changes_nothing(tmp_path):
    async def work(rt):
        first, moved = await apply(rt, SEED)
        assert first.changed and moved > 0
        second, moved_again = await apply(rt, SEED)
        assert second.changes == [] and moved_again == 0  # not even the store generation moved
        return await looks(rt)

    got = run(tmp_path, work)
    users, keys = got["users"], got["keys"]
    assert set(users) == {"acme-owner", "alice", "bob"}
    # The key generated with the account is gone: the owner has exactly the declared one.
    assert sorted(a for a, r in keys.items() if r.user_id == users["acme-owner"].id) == ["ACMEOWNER00000000001"]
    assert keys["ACMEBOB0000000000001"].user_id == users["bob"].id
    assert got["project"].id == PROJECT_ID and got["project"].creator_id == users["alice"].id
    custom = [r for r in got["bob_roles"] if not R.is_system(r)]
    assert R.DEVELOPER.role_id in got["bob_roles"] and len(custom) == 1
    assert got["records"] == {("cn-north-4", "vpcep-0001"): "office"}
    assert got["switches"] == {"cn-north-4": False}


def test_a_changed_file_updates_what_changed(tmp_path):
    changed = (
        SEED.replace("password: Alice-Pass-1", "password: Alice-Pass-2")
        .replace(BOB_SECRET, "acmeBobSecret000000000000000000000000002")
        .replace("build: {view: true, execute: true}", "build: {view: true, execute: false}")
        .replace("roles: [developer, Release manager]", "roles: [viewer]")
        .replace("description: office", "description: office 2")
    )

    async def work(rt):
        await apply(rt, SEED)
        report, _ = await apply(rt, changed)
        again, _ = await apply(rt, changed)
        got = await looks(rt)
        got["alice_ok"] = await verify_password(got["users"]["alice"].password_hash, "Alice-Pass-2")
        got["secret"] = rt.vault.open(got["keys"]["ACMEBOB0000000000001"].secret_enc)
        return report, again, got

    report, again, got = run(tmp_path, work)
    assert again.changes == []
    assert len(report.changes) == 5, report.changes
    assert any("alice" in c and "password" in c for c in report.changes)
    assert any("ACMEBOB0000000000001" in c for c in report.changes)
    assert any("build.execute" in c for c in report.changes)
    assert got["alice_ok"] and got["secret"] == "acmeBobSecret000000000000000000000000002"
    assert got["bob_roles"] == {R.VIEWER.role_id}
    assert got["records"] == {("cn-north-4", "vpcep-0001"): "office 2"}


BAD_FILES = [
    ("version: 1\naccounts:\n  - name: [oops\n", 4, "not valid YAML"),
    ("accounts: []\n", 1, "'version' is missing"),
    ("version: 2\n", 1, "version must be 1"),
    (SEED.replace("    groups:\n      - name: builders", "    grups:\n      - name: builders"), 11, "unknown key 'grups'"),
    (SEED.replace("access: ACMEBOB0000000000001", "access: acmebob0000000000001"), 23, "20 upper-case"),
    (SEED.replace(BOB_SECRET, "short"), 24, "40 letters and digits"),
    (SEED.replace("password: Bob-Pass-12", "password: bob"), 20, "password"),
    (SEED.replace("roles: [developer, Release manager]", "roles: [developer, wizard]"), 36, "unknown role 'wizard'"),
    (SEED.replace("groups: [builders, admin]", "groups: [builders, nobody]"), 21, "group 'nobody' is not declared"),
    (SEED.replace("enabled", "x").replace("      - name: alice\n", "      - name: alice\n        enabled: maybe\n"), 17, "true or false"),
    (SEED.replace("region: cn-north-4\n        vpcep_id", "region: mars-1\n        vpcep_id"), 38, "not a configured region"),
    (SEED.replace("vpcep_id: vpcep-0001", "vpcep_id: VPCEP_1"), 39, "vpcep_id"),
    (SEED.replace("      - name: bob\n", "      - name: alice\n"), 19, "user 'alice' is declared twice"),
    (SEED.replace("id: 0123456789abcdef0123456789abcdef", "id: not-hex"), 27, "32 lower-case hexadecimal"),
    (SEED.replace("          - user: bob\n", "          - user: carol\n"), 35, "'carol' is not a user declared"),
    (SEED.replace("execute: true}", "execute: true, fly: true}"), 33, "unknown key 'fly'"),
]


@pytest.mark.parametrize("text,line,words", BAD_FILES)
def test_errors_name_the_line(text, line, words):
    with pytest.raises(SeedError) as caught:
        parse_seed(text, settings(Path(".")))
    assert (caught.value.line, words in caught.value.message) == (line, True), caught.value.message
    assert "Pass" not in caught.value.message  # no password in an error


def test_service_refusals_name_the_line(tmp_path):
    """The rules are the API's: a user who may not create projects cannot be a creator."""
    text = SEED.replace("    project_creators: [alice]\n", "    project_creators: []\n")

    async def work(rt):
        with pytest.raises(SeedError) as caught:
            await apply_text(rt, text)
        return caught.value

    error = run(tmp_path, work)
    assert error.line == 26 and "create" in error.message, error.message


def test_cli_exit_codes(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(SEED)
    bad.write_text(SEED.replace("roles: [developer, Release manager]", "roles: [developer, wizard]"))
    data = ["--data-dir", str(tmp_path / "data")]
    first = devuc("seed", str(good), *data)
    assert first.returncode == 0 and "applied" in first.stdout
    again = devuc("seed", str(good), *data)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    wrong = devuc("seed", str(bad), *data, check=False)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith(f"{bad}:36: ") and "wizard" in wrong.stderr
    missing = devuc("seed", str(tmp_path / "none.yaml"), *data, check=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    down = devuc("seed", str(good), "--database-url", "postgresql+asyncpg://postgres@127.0.0.1:1/x",
                 *data, check=False)
    assert down.returncode == 1 and "not applied" in down.stderr


def test_postgresql(tmp_path):
    require_postgres()
    url = new_postgres_database()
    try:
        path = tmp_path / "seed.yaml"
        path.write_text(SEED)
        store = ["--database-url", url, "--data-dir", str(tmp_path)]
        first = devuc("seed", str(path), "--json", *store)
        assert first.returncode == 0 and '"changed": true' in first.stdout
        again = devuc("seed", str(path), "--json", *store)
        assert again.stdout.strip() == '{"changed": false, "changes": []}'
    finally:
        drop_postgres_database(url)


def test_groups_exact_when_given_left_alone_when_not(tmp_path):
    omitted = SEED.replace("        groups: [builders, admin]\n", "")
    emptied = SEED.replace("groups: [builders, admin]", "groups: []")

    async def groups_of_bob(rt) -> set[str]:
        g, gm, u = t.groups, t.group_members, t.users
        async with rt.store.read() as conn:
            rows = await conn.execute(
                select(g.c.name).join(gm, gm.c.group_id == g.c.id).join(u, u.c.id == gm.c.user_id)
                .where(u.c.name == "bob")
            )
            return {r.name for r in rows}

    async def work(rt):
        await apply_text(rt, SEED)
        report = await apply_text(rt, omitted)
        left = await groups_of_bob(rt)
        report_emptied = await apply_text(rt, emptied)
        return report.changes, left, report_emptied.changes, await groups_of_bob(rt)

    unchanged, left, emptied_changes, after = run(tmp_path, work)
    assert unchanged == [] and left == {"builders", "admin"}
    assert len(emptied_changes) == 2 and after == set()


def test_the_documented_example_applies(tmp_path):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "dev-mode.md").read_text()
    example = docs.split("### Format\n\n```yaml\n", 1)[1].split("```", 1)[0]

    async def work(rt):
        first = await apply_text(rt, example)
        again = await apply_text(rt, example)
        return first.changes, again.changes

    first, again = run(tmp_path, work)
    assert first and again == []


JOB = "0123456789abcdef0123456789abcdef"
TASKS = """\
        build_tasks:
          - id: 0123456789abcdef0123456789abcdef
            creator: alice
            permissions:
              developer: {is_manager: true, is_delete: false}
              Release manager: {is_copy: true}
"""
TASK_SEED = SEED.replace("    vpceps:\n", TASKS + "    vpceps:\n")


def test_build_tasks_are_made_known_with_their_rows_and_kept(tmp_path):
    from devuc.codearts import tasks

    async def rows(rt):
        async with rt.store.read() as conn:
            loaded = await tasks.load(conn, JOB)
        return loaded.job.creator_id, loaded.task.follows_project, loaded.task.rows

    async def work(rt):
        first, _ = await apply(rt, TASK_SEED)
        again, moved = await apply(rt, TASK_SEED)
        made = await rows(rt)
        switched, _ = await apply(rt, TASK_SEED.replace("            permissions:\n              developer: "
                                                         "{is_manager: true, is_delete: false}\n"
                                                         "              Release manager: {is_copy: true}\n",
                                                         "            follows_project: true\n"))
        follows = await rows(rt)
        back, _ = await apply(rt, TASK_SEED)
        return first, again, moved, made, switched, follows, back, await looks(rt), await rows(rt)

    first, again, moved, made, switched, follows, back, got, final = run(tmp_path, work)
    assert any(JOB in c and "made build task" in c for c in first.changes)
    assert any(JOB in c and "set the matrix" in c for c in first.changes)
    assert again.changes == [] and moved == 0
    creator, follows_project, own = made
    assert creator == got["users"]["alice"].id and follows_project is False
    assert own[R.DEVELOPER.role_id]["manager"] is True and own[R.DEVELOPER.role_id]["delete"] is False
    custom = next(r for r in got["bob_roles"] if not R.is_system(r))
    assert own[custom] == {"modify": False, "delete": False, "view": True, "execute": True, "copy": True,
                           "forbidden": False, "manager": False}
    assert [c for c in switched.changes if JOB in c] and all("to follow the project" in c
                                                              for c in switched.changes if JOB in c)
    assert follows[1] is True and follows[2] == {}
    assert any("switched" in c for c in back.changes) and final[2][R.DEVELOPER.role_id]["manager"] is True


BAD_TASK_FILES = [
    (TASK_SEED.replace("developer: {is_manager", "wizard: {is_manager"), 41, "unknown role 'wizard'"),
    (TASK_SEED.replace("developer: {is_manager", "project_admin: {is_manager"), 41, "locked"),
    (TASK_SEED.replace("creator: alice\n            permissions", "creator: carol\n            permissions"), 39,
     "'carol' is not a member"),
    (TASK_SEED.replace("creator: alice\n            permissions:", "creator: alice\n            follows_project: true\n"
                       "            permissions:"), 42, "follows the project"),
    (TASK_SEED.replace("{is_copy: true}", "{is_copy: yes please}"), 42, "true or false"),
    (TASK_SEED.replace("{is_copy: true}", "{is_flying: true}"), 42, "unknown key 'is_flying'"),
    (TASK_SEED.replace("- id: 0123456789abcdef0123456789abcdef\n            creator", "- id: short\n            creator"),
     38, "32 letters and digits"),
]


@pytest.mark.parametrize("text,line,words", BAD_TASK_FILES)
def test_build_task_errors_name_the_line(text, line, words):
    with pytest.raises(SeedError) as caught:
        parse_seed(text, settings(Path(".")))
    assert (caught.value.line, words in caught.value.message) == (line, True), caught.value.message
