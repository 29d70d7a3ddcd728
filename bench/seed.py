"""Seed a realistic devuc store, fast, with devuc's own code in-process.

Accounts are made by ``devuc.iam.service.create_account`` (owner, built-in admin group, one region
project per region, an access key). Everything else is bulk-inserted with SQLAlchemy Core into the
tables of ``devuc.store.tables``: users, user groups and their members, access keys, and (when
their tables exist) CodeArts users, projects, members with their roles, a few changed permission
matrix cells, and VPC endpoint allow-lists.

Every seeded user has the same password and the same argon2id hash: one real hash, computed once
by ``devuc.iam.passwords.hash_password`` and reused (hashing 100,000 passwords would take hours).

The default shape, multiplied by ``scale`` (the per-account shape stays the same):
100 accounts, 10,000 users (100 per account: the owner and 99 others), 2,000 CodeArts projects
(20 per account), 100,000 project memberships (50 members per project).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import inspect, insert, select, update

from devuc.config import Settings
from devuc.iam import identity, passwords
from devuc.iam import service as iam_service
from devuc.runtime import Runtime
from devuc.store import tables as t
from devuc.store.db import now_us
from devuc.store.migrate import upgrade

PASSWORD = "Bench-Passw0rd!"
OWNER = "owner"
REGION = "cn-north-4"

BASE = {"accounts": 100, "users": 10_000, "codearts_projects": 2_000, "memberships": 100_000}
EXTRA_GROUPS = ("developers", "testers", "operations", "auditors")
ADMINS_PER_ACCOUNT = 2  # besides the owner: members of the built-in admin group
ACCESS_KEY_EVERY = 5  # one user in five has a permanent access key
PRIVATE_ACCESS_SHARE = 0.1  # accounts with a VPC endpoint allow-list in REGION
VPCEPS_PER_ACCOUNT = 10
CHANGED_MATRIX_SHARE = 0.1  # projects whose role matrix differs from the defaults
BATCH = 20_000

# Tables the CodeArts part needs, looked up by name: they may not exist yet in this checkout.
CODEARTS_TABLES = ("codearts_users", "codearts_projects", "codearts_members", "codearts_member_roles",
                   "codearts_sequences")
OPTIONAL_TABLES = ("codearts_role_permissions", "vpcep_records")

# How often each system role is held by a member who is not the project's creator.
ROLE_MIX = (("developer", 50), ("tester", 15), ("viewer", 12), ("participant", 10),
            ("project_manager", 5), ("test_manager", 4), ("product_manager", 4))


@dataclass(frozen=True)
class Member:
    """A user, a CodeArts project they are a member of, and what a client of theirs holds."""

    user_id: str
    user_name: str
    account_id: str
    account_name: str
    region_project_id: str
    project_id: str | None  # CodeArts project (None when CodeArts tables are absent)
    access: str | None
    secret: str | None
    token: str = ""


@dataclass
class Seeded:
    counts: dict[str, int]
    seconds: float
    hash_seconds: float
    tables_missing: list[str]
    codearts: bool
    private_access: bool
    members: list[Member] = field(default_factory=list)  # permission-check and signing principals
    owners: list[Member] = field(default_factory=list)  # owners of accounts with VPC endpoint lists
    logins: list[Member] = field(default_factory=list)  # users the password-login scenario uses

    def summary(self) -> dict:
        return {
            "counts": self.counts,
            "seconds": round(self.seconds, 1),
            "shared_password_hash_seconds": round(self.hash_seconds, 3),
            "codearts_tables": self.codearts,
            "private_access_tables": self.private_access,
            "tables_missing": self.tables_missing,
            "principals": {"members": len(self.members), "owners": len(self.owners),
                           "logins": len(self.logins)},
        }


def shape(scale: float) -> dict[str, int]:
    accounts = max(1, round(BASE["accounts"] * scale))
    return {
        "accounts": accounts,
        "users_per_account": max(2, round(BASE["users"] / BASE["accounts"])),
        "projects_per_account": max(1, round(BASE["codearts_projects"] / BASE["accounts"])),
        "members_per_project": max(1, round(BASE["memberships"] / BASE["codearts_projects"])),
    }


def _role_ids() -> dict[str, str]:
    """System role keys to devuc role ids, from the role catalogue."""
    from devuc.codearts import roles as R

    return {role.key: role.role_id for role in R.SYSTEM_ROLES}


class _Writer:
    """Collects rows per table and inserts them in large batches."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.pending: dict[str, list[dict]] = {}
        self.counts: dict[str, int] = {}

    async def add(self, table_name: str, rows: list[dict]) -> None:
        self.pending.setdefault(table_name, []).extend(rows)
        if len(self.pending[table_name]) >= BATCH:
            await self.flush(table_name)

    async def flush(self, table_name: str | None = None) -> None:
        # Parents before children (foreign keys are enforced).
        names = [table_name] if table_name else [tb.name for tb in t.metadata.sorted_tables]
        for name in names:
            rows = self.pending.pop(name, [])
            if not rows:
                continue
            if table_name is not None:
                await self._flush_parents(name)
            async with self.rt.store.write() as conn:
                for start in range(0, len(rows), BATCH):
                    await conn.execute(insert(t.metadata.tables[name]), rows[start:start + BATCH])
            self.counts[name] = self.counts.get(name, 0) + len(rows)

    async def _flush_parents(self, name: str) -> None:
        table = t.metadata.tables[name]
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            if parent != name and self.pending.get(parent):
                await self.flush(parent)


def seed(settings: Settings, scale: float, *, principals: int = 1000, seed_value: int = 7,
         log=print) -> Seeded:
    """Migrate the (empty) database, seed it and return the principals the benchmark uses."""
    started = time.perf_counter()
    upgrade(settings.effective_database_url)  # runs its own event loop
    seeded = asyncio.run(_seed(settings, scale, principals, seed_value, log, started))
    _checkpoint_sqlite(settings.effective_database_url)
    seeded.seconds = time.perf_counter() - started
    return seeded


async def _seed(settings: Settings, scale: float, principals: int, seed_value: int, log,
                started: float) -> Seeded:
    rng = random.Random(seed_value)
    dims = shape(scale)
    rt = Runtime.open(settings)
    try:
        async with rt.store.read() as conn:
            present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        wanted = CODEARTS_TABLES + OPTIONAL_TABLES
        usable = {n for n in wanted if n in present and n in t.metadata.tables}
        codearts = all(n in usable for n in CODEARTS_TABLES)
        private_access = "vpcep_records" in usable
        missing = [n for n in wanted if n not in usable]

        hash_started = time.perf_counter()
        shared_hash = await passwords.hash_password(PASSWORD)
        hash_seconds = time.perf_counter() - hash_started

        async def reuse_hash(_password: str) -> str:
            return shared_hash

        # create_account hashes its owner's password: give it the one shared hash instead.
        original_hash = iam_service.hash_password
        iam_service.hash_password = reuse_hash
        try:
            accounts = []
            for i in range(dims["accounts"]):
                accounts.append(
                    await iam_service.create_account(rt, f"bench{i:05d}", OWNER, PASSWORD)
                )
        finally:
            iam_service.hash_password = original_hash
        log(f"  {len(accounts)} accounts created with create_account "
            f"({time.perf_counter() - started:.1f} s)")

        async with rt.store.read() as conn:
            admin_groups = dict((await conn.execute(
                select(t.groups.c.account_id, t.groups.c.id).where(t.groups.c.builtin.is_(True))
            )).all())

        w = _Writer(rt)
        now = now_us()
        role_ids = _role_ids() if codearts else {}
        mix_keys = [k for k, _ in ROLE_MIX if k in role_ids]
        mix_weights = [wt for k, wt in ROLE_MIX if k in role_ids]
        permission_keys = _permission_keys() if "codearts_role_permissions" in usable else ()
        private_accounts = set(range(max(1, round(dims["accounts"] * PRIVATE_ACCESS_SHARE)))) \
            if private_access else set()
        next_user_num, next_project_num = 5001, 1_000_001
        candidates: list[Member] = []
        owners: list[Member] = []
        login_pool: list[Member] = []

        for index, account in enumerate(accounts):
            region_project = account.projects[REGION] if REGION in account.projects \
                else next(iter(account.projects.values()))
            # users: the owner exists already
            users = [(account.user_id, OWNER)]
            rows = []
            for j in range(1, dims["users_per_account"]):
                uid, name = identity.new_id(), f"user{j:04d}"
                users.append((uid, name))
                rows.append({
                    "id": uid, "account_id": account.account_id, "name": name,
                    "password_hash": shared_hash, "email": f"{name}@{account.account_name}.example.com",
                    "created_us": now, "pwd_created_us": now, "tokens_valid_after_us": 0,
                    "locked_until_us": 0,
                })
            await w.add("users", rows)

            # user groups: four more per account; everyone in one or two, a few tenant admins
            groups = [identity.new_id() for _ in EXTRA_GROUPS]
            await w.add("groups", [
                {"id": gid, "account_id": account.account_id, "name": name,
                 "description": f"{name} of {account.account_name}", "builtin": False, "created_us": now}
                for gid, name in zip(groups, EXTRA_GROUPS)
            ])
            memberships = []
            for j, (uid, _) in enumerate(users[1:], start=1):
                memberships.append({"group_id": groups[j % len(groups)], "user_id": uid})
                if j % 3 == 0:
                    memberships.append({"group_id": groups[(j + 1) % len(groups)], "user_id": uid})
                if j <= ADMINS_PER_ACCOUNT:
                    memberships.append({"group_id": admin_groups[account.account_id], "user_id": uid})
            await w.add("group_members", memberships)

            # access keys: one user in five (the owner has one from create_account)
            secrets_by_user: dict[str, tuple[str, str]] = {account.user_id: (account.access, account.secret)}
            key_rows = []
            for j, (uid, _) in enumerate(users[1:], start=1):
                if j % ACCESS_KEY_EVERY == 0:
                    ak, sk = identity.new_access_key(), identity.new_secret_key()
                    secrets_by_user[uid] = (ak, sk)
                    key_rows.append({
                        "access": ak, "user_id": uid, "account_id": account.account_id,
                        "secret_enc": rt.vault.seal(sk), "status": "active", "description": "bench",
                        "created_us": now, "failed_signatures": 0, "locked_until_us": 0,
                        "temporary": False,
                    })
            await w.add("access_keys", key_rows)

            def member(uid: str, name: str, project_id: str | None) -> Member:
                ak, sk = secrets_by_user.get(uid, (None, None))
                return Member(uid, name, account.account_id, account.account_name, region_project,
                              project_id, ak, sk)

            in_private_account = index in private_accounts
            if in_private_account:
                owners.append(member(account.user_id, OWNER, None))
                await w.add("vpcep_records", [
                    {"account_id": account.account_id, "region": REGION, "vpcep_id": str(uuid.UUID(
                        int=rng.getrandbits(128), version=4)), "description": f"endpoint {k}",
                     "created_us": now}
                    for k in range(VPCEPS_PER_ACCOUNT)
                ])
            else:
                login_pool.extend(member(uid, name, None) for uid, name in rng.sample(users, 3))

            if not codearts:
                if not in_private_account:
                    candidates.extend(member(uid, name, None) for uid, name in users
                                      if uid in secrets_by_user)
                continue

            # CodeArts: every user has their numeric id; projects with members and roles
            await w.add("codearts_users", [
                {"user_id": uid, "num_id": next_user_num + k, "nick_name": None,
                 "created_us": now, "updated_us": now}
                for k, (uid, _) in enumerate(users)
            ])
            next_user_num += len(users)
            for p in range(dims["projects_per_account"]):
                pid = identity.new_id()
                team = rng.sample(users, min(dims["members_per_project"], len(users)))
                creator = team[0]
                await w.add("codearts_projects", [{
                    "id": pid, "num_id": next_project_num, "account_id": account.account_id,
                    "region": REGION, "name": f"project-{p:03d}", "description": "seeded by bench",
                    "project_type": "scrum", "source": "", "enterprise_id": "0", "template_id": None,
                    "creator_id": creator[0], "archived": False, "next_role_num": 500,
                    "created_us": now, "updated_us": now,
                }])
                next_project_num += 1
                roles = [role_ids["project_admin"]] + [
                    role_ids[k] for k in rng.choices(mix_keys, mix_weights, k=len(team) - 1)
                ]
                await w.add("codearts_members", [
                    {"project_id": pid, "user_id": uid, "joined_us": now} for uid, _ in team
                ])
                await w.add("codearts_member_roles", [
                    {"project_id": pid, "user_id": uid, "role_id": role}
                    for (uid, _), role in zip(team, roles)
                ])
                if permission_keys and rng.random() < CHANGED_MATRIX_SHARE:
                    await w.add("codearts_role_permissions", [
                        {"project_id": pid, "role_id": role_ids["developer"], "permission": key,
                         "granted": granted}
                        for key, granted in (("build.delete", False), ("build.manager", True))
                        if key in permission_keys
                    ])
                if not in_private_account:
                    candidates.extend(member(uid, name, pid) for uid, name in team
                                      if uid in secrets_by_user)

        await w.flush()
        if codearts:
            await _set_sequences(rt, {"project_num_id": next_project_num, "user_num_id": next_user_num})
        await _settle(rt)

        counts = {
            "accounts": len(accounts),
            "users": len(accounts) + w.counts.get("users", 0),
            "groups": len(accounts) + w.counts.get("groups", 0),
            "group_memberships": len(accounts) + w.counts.get("group_members", 0),
            "access_keys": len(accounts) + w.counts.get("access_keys", 0),
            "codearts_projects": w.counts.get("codearts_projects", 0),
            "memberships": w.counts.get("codearts_members", 0),
            "member_roles": w.counts.get("codearts_member_roles", 0),
            "changed_matrix_cells": w.counts.get("codearts_role_permissions", 0),
            "vpcep_records": w.counts.get("vpcep_records", 0),
        }
        members = rng.sample(candidates, min(principals, len(candidates)))
        logins = rng.sample(login_pool, min(256, len(login_pool)))
        members = [await _with_token(rt, m) for m in members]
        owners = [await _with_token(rt, m) for m in owners[:50]]
        return Seeded(counts, time.perf_counter() - started, hash_seconds, missing, codearts,
                      private_access, members, owners, logins)
    finally:
        await rt.close()


async def _set_sequences(rt: Runtime, values: dict[str, int]) -> None:
    """Move the CodeArts number counters past the numbers the seeded rows use."""
    seq = t.metadata.tables["codearts_sequences"]
    async with rt.store.write() as conn:
        for name, value in values.items():
            done = await conn.execute(update(seq).where(seq.c.name == name).values(next_value=value))
            if done.rowcount == 0:
                await conn.execute(insert(seq).values(name=name, next_value=value))


def _permission_keys() -> tuple[str, ...]:
    from devuc.codearts import roles as R

    return tuple(R.PERMISSION_KEYS)


async def _with_token(rt: Runtime, m: Member) -> Member:
    """A project-scoped token for the member, issued by devuc's own key ring (the same Fernet keys
    the server reads from the database), as a password login would issue it."""
    from dataclasses import replace

    from devuc.iam.tokens import new_payload

    payload = new_payload(m.user_id, m.account_id, m.region_project_id, rt.settings.token_ttl_seconds)
    return replace(m, token=await rt.keyring.issue(payload))


async def _settle(rt: Runtime) -> None:
    """Leave a PostgreSQL database as a running service would find it: statistics gathered."""
    if not rt.store.is_sqlite:
        async with rt.store.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()


def _checkpoint_sqlite(url: str) -> None:
    """Fold SQLite's write-ahead log into the main file, as after a quiet period."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
