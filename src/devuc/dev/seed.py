"""Seed files: a YAML declaration of accounts, users, groups, access keys, CodeArts projects,
members, custom roles and VPC endpoints, applied through the service functions the HTTP API
uses, so the same rules hold.

Applying is idempotent: what already matches the file is left alone, what differs is updated,
what is missing is created; nothing the file does not declare is deleted (except that a user's
groups and a member's roles are set exactly as declared). Every problem found in the file names
the line it comes from (:class:`SeedError`). The format is described in docs/dev-mode.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from ..codearts import role_admin
from ..codearts import roles as R
from ..codearts import service as codearts
from ..codearts import tasks
from ..codearts.privateaccess import service as private_access
from ..errors import ApiError
from ..iam import keys
from ..iam import service as iam
from ..iam.identity import ADMIN_GROUP, Principal
from ..iam.passwords import check_password, verify_password
from ..runtime import Runtime
from ..store import tables as t

SEED_VERSION = 1
ID_RE = re.compile(r"[0-9a-f]{32}")
ID_RULE = "must be 32 lower-case hexadecimal digits"


class SeedError(Exception):
    """A problem with the seed file, at a line of it (0: the file as a whole)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message

    def render(self, source: str) -> str:
        return f"{source}:{self.line}: {self.message}" if self.line else f"{source}: {self.message}"


# ---------------------------------------------------------------------------------------------
# YAML with line numbers


class _Map(dict):
    """A YAML mapping that remembers its line and the line of each value."""

    line: int = 0
    lines: dict


class _Seq(list):
    line: int = 0
    lines: list


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present: faster
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise SeedError(line, f"keys must be text, not {key!r}")
        if key in out:
            raise SeedError(line, f"'{key}' is given twice")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = value_node.start_mark.line + 1
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.lines = node.start_mark.line + 1, [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise SeedError(line, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SeedError(0, f"not valid YAML: {exc}") from None


class _Obj:
    """Reading one mapping of the file: typed members, their lines, and no unknown keys."""

    def __init__(self, data: Any, line: int, where: str) -> None:
        if not isinstance(data, _Map):
            raise SeedError(line, f"{where} must be a mapping")
        self.data, self.line, self.where = data, data.line, where
        self._seen: set[str] = set()

    def line_of(self, key: str) -> int:
        return self.data.lines.get(key, self.line)

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = False, default: Any = None) -> Any:
        self._seen.add(key)
        value = self.data.get(key)
        if value is None:
            if required:
                raise SeedError(self.line, f"{self.where}: '{key}' is missing")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool) or not isinstance(value, kinds):
            names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
            raise SeedError(self.line_of(key), f"{self.where}.{key} must be {names}")
        return value

    def text(self, key: str, *, required: bool = False, pattern: re.Pattern | None = None,
             rule: str = "", default: str | None = None) -> str | None:
        value = self.get(key, str, required=required, default=default)
        if value is not None and pattern is not None and not pattern.fullmatch(value):
            raise SeedError(self.line_of(key), f"{self.where}.{key} {rule}")
        return value

    def items(self, key: str) -> list[tuple[Any, int]]:
        value = self.get(key, list, default=None)
        if value is None:
            return []
        return list(zip(value, value.lines))

    def done(self) -> None:
        for key in self.data:
            if key not in self._seen:
                known = ", ".join(sorted(self._seen))
                raise SeedError(self.data.lines[key], f"{self.where}: unknown key '{key}' (known: {known})")


_KIND_NAMES = {str: "text", bool: "true or false", int: "a whole number", list: "a list", dict: "a mapping",
               _Map: "a mapping"}


# ---------------------------------------------------------------------------------------------
# the declaration


@dataclass
class KeySpec:
    line: int
    access: str
    secret: str
    description: str
    status: str


@dataclass
class UserSpec:
    line: int
    name: str
    id: str | None
    password: str | None
    enabled: bool
    email: str | None
    description: str | None
    access_mode: str | None
    groups: list[tuple[str, int]] | None  # None: not given, the user's groups are left alone
    keys: list[KeySpec]
    owner: bool = False


@dataclass
class GroupSpec:
    line: int
    name: str
    description: str


@dataclass
class RoleSpec:
    line: int
    name: str
    cells: dict[str, bool]


@dataclass
class MemberSpec:
    line: int
    user: str
    roles: list[tuple[str, int]]


@dataclass
class BuildTaskSpec:
    line: int
    id: str
    creator: str
    follows_project: bool
    rows: dict[str, dict[str, bool]]  # role name -> {is_modify: ..., ...}


@dataclass
class ProjectSpec:
    line: int
    name: str
    id: str | None
    type: str
    region: str
    description: str
    creator: str
    roles: list[RoleSpec]
    members: list[MemberSpec]
    build_tasks: list[BuildTaskSpec] = field(default_factory=list)


@dataclass
class VpcepSpec:
    line: int
    region: str
    vpcep_id: str
    description: str


@dataclass
class AccountSpec:
    line: int
    name: str
    id: str | None
    owner: UserSpec
    groups: list[GroupSpec]
    users: list[UserSpec]
    project_creation: str | None
    project_creators: list[tuple[str, int]] | None
    projects: list[ProjectSpec]
    vpceps: list[VpcepSpec]
    private_access: dict[str, tuple[bool, int]]


@dataclass
class Seed:
    accounts: list[AccountSpec]


def parse_seed(text: str, settings) -> Seed:
    """Read and check a seed file (raises :class:`SeedError`)."""
    data = load_yaml(text)
    if data is None:
        raise SeedError(1, "the file is empty")
    top = _Obj(data, 1, "the file")
    version = top.get("version", int, required=True)
    if version != SEED_VERSION:
        raise SeedError(top.line_of("version"), f"version must be {SEED_VERSION}")
    regions = [r.id for r in settings.regions]
    accounts: list[AccountSpec] = []
    names: set[str] = set()
    for i, (item, line) in enumerate(top.items("accounts")):
        account = _parse_account(item, line, f"accounts[{i}]", regions, settings.password_min_length)
        if account.name in names:
            raise SeedError(account.line, f"account '{account.name}' is declared twice")
        names.add(account.name)
        accounts.append(account)
    top.done()
    ids = [(u.id, u.line) for a in accounts for u in [a.owner, *a.users] if u.id]
    ids += [(a.id, a.line) for a in accounts if a.id] + [(p.id, p.line) for a in accounts for p in a.projects if p.id]
    _unique(ids, "id")
    _unique([(k.access, k.line) for a in accounts for u in [a.owner, *a.users] for k in u.keys], "access key")
    return Seed(accounts)


def _unique(values: list[tuple[str, int]], what: str) -> None:
    seen: set[str] = set()
    for value, line in values:
        if value in seen:
            raise SeedError(line, f"{what} '{value}' is declared twice")
        seen.add(value)


def _check_password(user: UserSpec, obj: _Obj, min_length: int) -> None:
    if user.password is None:
        return
    try:
        check_password(user.password, user_name=user.name, min_length=min_length, email=user.email or "")
    except ApiError as exc:
        raise SeedError(obj.line_of("password"), f"{obj.where}.password: {exc.message}") from None


def _parse_user(item: Any, line: int, where: str, min_length: int, *, owner: bool) -> UserSpec:
    obj = _Obj(item, line, where)
    name = obj.text("name", required=True, pattern=iam.USER_NAME_RE,
                    rule="must be 1-64 letters, digits, spaces, '-', '_' and '.'")
    keys_ = []
    for j, (k, kline) in enumerate(obj.items("access_keys")):
        kobj = _Obj(k, kline, f"{where}.access_keys[{j}]")
        access = kobj.text("access", required=True, pattern=keys.ACCESS_KEY_RE,
                           rule="must be 20 upper-case letters and digits")
        secret = kobj.text("secret", required=True, pattern=keys.SECRET_KEY_RE, rule="must be 40 letters and digits")
        description = kobj.text("description", default="")
        if len(description) > 255:
            raise SeedError(kobj.line_of("description"), f"{kobj.where}.description: at most 255 characters")
        status = kobj.text("status", default="active")
        if status not in keys.KEY_STATUSES:
            raise SeedError(kobj.line_of("status"), f"{kobj.where}.status must be active or inactive")
        kobj.done()
        keys_.append(KeySpec(kobj.line, access, secret, description, status))
    if len(keys_) > keys.MAX_PERMANENT_KEYS:
        raise SeedError(obj.line_of("access_keys"), f"{where}: at most {keys.MAX_PERMANENT_KEYS} access keys per user")
    password = obj.text("password", required=owner)
    if owner:
        user = UserSpec(obj.line, name, obj.text("id", pattern=ID_RE, rule=ID_RULE), password, True,
                        None, None, None, [], keys_, owner=True)
    else:
        groups = None if obj.data.get("groups") is None else []
        for j, (g, gline) in enumerate(obj.items("groups")):
            if not isinstance(g, str):
                raise SeedError(gline, f"{where}.groups[{j}] must be a group name")
            groups.append((g, gline))
        mode = obj.text("access_mode")
        if mode is not None and mode not in iam.ACCESS_MODES:
            raise SeedError(obj.line_of("access_mode"), f"{where}.access_mode must be one of {', '.join(iam.ACCESS_MODES)}")
        user = UserSpec(
            obj.line, name, obj.text("id", pattern=ID_RE, rule=ID_RULE), password,
            obj.get("enabled", bool, default=True), obj.text("email"), obj.text("description"), mode, groups, keys_,
        )
        if user.email is not None and user.email and not iam.EMAIL_RE.match(user.email):
            raise SeedError(obj.line_of("email"), f"{where}.email is not a valid email address")
        if user.description is not None and (len(user.description) > 255 or iam.DESCRIPTION_FORBIDDEN & set(user.description)):
            raise SeedError(obj.line_of("description"), f"{where}.description: at most 255 characters, none of @ # % & < > \\ $ ^ *")
    _check_password(user, obj, min_length)
    obj.done()
    return user


def _parse_cells(value: Any, line: int, where: str) -> dict[str, bool]:
    obj = _Obj(value, line, where)
    cells: dict[str, bool] = {}
    for service, names in R.SERVICES.items():
        inner = obj.get(service, _Map)
        if inner is None:
            continue
        iobj = _Obj(inner, obj.line_of(service), f"{where}.{service}")
        for name in names:
            flag = iobj.get(name, bool)
            if flag is not None:
                cells[f"{service}.{name}"] = flag
        iobj.done()
    obj.done()
    return cells


def _parse_project(item: Any, line: int, where: str, owner: str, regions: list[str]) -> ProjectSpec:
    obj = _Obj(item, line, where)
    name = obj.text("name", required=True)
    if not 1 <= len(name.strip()) <= codearts.NAME_MAX:
        raise SeedError(obj.line_of("name"), f"{where}.name must be 1 to {codearts.NAME_MAX} characters")
    ptype = obj.text("type", default="scrum")
    if ptype not in codearts.PROJECT_TYPES or ptype == "ipd":
        raise SeedError(obj.line_of("type"), f"{where}.type must be one of scrum, normal, xboard, basic, phoenix")
    region = obj.text("region", default="cn-north-4" if "cn-north-4" in regions else regions[0])
    if region not in regions:
        raise SeedError(obj.line_of("region"), f"{where}.region '{region}' is not a configured region")
    description = obj.text("description", default="")
    if len(description) > codearts.DESCRIPTION_MAX:
        raise SeedError(obj.line_of("description"), f"{where}.description: at most {codearts.DESCRIPTION_MAX} characters")
    roles: list[RoleSpec] = []
    for j, (r, rline) in enumerate(obj.items("roles")):
        robj = _Obj(r, rline, f"{where}.roles[{j}]")
        rname = robj.text("name", required=True).strip()
        problem = R.role_name_problem(rname)
        if problem:
            raise SeedError(robj.line_of("name"), f"{robj.where}.name {problem}")
        cells = _parse_cells(robj.get("permissions", _Map, default=_empty_map(robj.line)),
                             robj.line_of("permissions"), f"{robj.where}.permissions")
        robj.done()
        roles.append(RoleSpec(robj.line, rname, cells))
    _unique([(r.name, r.line) for r in roles], "role")
    custom = {r.name for r in roles}
    members: list[MemberSpec] = []
    for j, (m, mline) in enumerate(obj.items("members")):
        mobj = _Obj(m, mline, f"{where}.members[{j}]")
        user = mobj.text("user", required=True)
        held = []
        for k, (role, kline) in enumerate(mobj.items("roles")):
            if not isinstance(role, str) or (role not in R.BY_KEY and role not in custom):
                raise SeedError(
                    kline,
                    f"{mobj.where}.roles[{k}]: unknown role {role!r}; a system role ({', '.join(R.BY_KEY)}) "
                    "or a custom role of this project",
                )
            held.append((role, kline))
        if not held:
            raise SeedError(mobj.line, f"{mobj.where}: 'roles' is missing (at least one role)")
        mobj.done()
        members.append(MemberSpec(mobj.line, user, held))
    _unique([(m.user, m.line) for m in members], "member")
    creator = obj.text("creator", default=owner)
    in_project = {creator} | {m.user for m in members}
    build_tasks = [_parse_build_task(item, tline, f"{where}.build_tasks[{j}]", creator, in_project, custom)
                   for j, (item, tline) in enumerate(obj.items("build_tasks"))]
    _unique([(b.id, b.line) for b in build_tasks], "build task")
    spec = ProjectSpec(obj.line, name.strip(), obj.text("id", pattern=ID_RE, rule=ID_RULE), ptype, region,
                       description, creator, roles, members, build_tasks)
    obj.done()
    for member in members:
        names = {r for r, _ in member.roles}
        if R.PROJECT_ADMIN.key in names and (member.user != creator or names != {R.PROJECT_ADMIN.key}):
            raise SeedError(member.line, "project_admin is held by the project's creator alone, and only that role")
        if member.user == creator and names != {R.PROJECT_ADMIN.key}:
            raise SeedError(member.line, f"'{creator}' created the project and holds project_admin only")
    return spec


def _parse_build_task(item: Any, line: int, where: str, project_creator: str, in_project: set[str],
                      custom: set[str]) -> BuildTaskSpec:
    """A build task of a project: its id, who made it known (a member; the project's creator by
    default), and either ``follows_project: true`` or its own rows by role name."""
    obj = _Obj(item, line, where)
    job_id = obj.text("id", required=True, pattern=tasks.JOB_ID_RE, rule="must be 32 letters and digits")
    creator = obj.text("creator", default=project_creator)
    if creator not in in_project:
        raise SeedError(obj.line_of("creator"), f"{where}.creator '{creator}' is not a member of the project")
    follows = obj.get("follows_project", bool, default=False)
    rows: dict[str, dict[str, bool]] = {}
    declared = obj.get("permissions", _Map, default=None)
    if declared and follows:
        raise SeedError(obj.line_of("permissions"), f"{where}: a task that follows the project has no rows of its own")
    if declared:
        pobj = _Obj(declared, obj.line_of("permissions"), f"{where}.permissions")
        for role in list(declared):
            if role not in R.BY_KEY and role not in custom:
                raise SeedError(pobj.line_of(role), f"{pobj.where}: unknown role {role!r}; a system role "
                                f"({', '.join(R.BY_KEY)}) or a custom role of this project")
            if role == R.PROJECT_ADMIN.key:
                raise SeedError(pobj.line_of(role), f"{pobj.where}.{role}: the project administrator's row is locked")
            cobj = _Obj(pobj.get(role, _Map, required=True), pobj.line_of(role), f"{pobj.where}.{role}")
            rows[role] = {flag: value for flag in tasks.FLAG_NAMES if (value := cobj.get(flag, bool)) is not None}
            cobj.done()
        pobj.done()
    obj.done()
    return BuildTaskSpec(obj.line, job_id, creator, follows, rows)


def _empty_map(line: int) -> _Map:
    out = _Map()
    out.line, out.lines = line, {}
    return out


ACCOUNT_KEYS = ("name", "id", "owner", "groups", "users", "project_creation", "project_creators", "projects",
                "vpceps", "private_access")


def _parse_account(item: Any, line: int, where: str, regions: list[str], min_length: int) -> AccountSpec:
    obj = _Obj(item, line, where)
    for key in obj.data:  # before the cross-references, which a misspelt key would confuse
        if key not in ACCOUNT_KEYS:
            raise SeedError(obj.line_of(key), f"{where}: unknown key '{key}' (known: {', '.join(ACCOUNT_KEYS)})")
    name = obj.text("name", required=True)
    try:
        iam.check_account_name(name)
    except ValueError as exc:
        raise SeedError(obj.line_of("name"), f"{where}.name: {exc}") from None
    owner = _parse_user(obj.get("owner", _Map, required=True), obj.line_of("owner"), f"{where}.owner",
                        min_length, owner=True)
    groups = []
    for j, (g, gline) in enumerate(obj.items("groups")):
        gobj = _Obj(g, gline, f"{where}.groups[{j}]")
        gname = gobj.text("name", required=True, pattern=iam.GROUP_NAME_RE, rule="must be 1-64 characters")
        if gname == ADMIN_GROUP:
            raise SeedError(gobj.line_of("name"), f"'{ADMIN_GROUP}' is the built-in group; it exists already")
        gdesc = gobj.text("description", default="")
        if len(gdesc) > 255 or iam.DESCRIPTION_FORBIDDEN & set(gdesc):
            raise SeedError(gobj.line_of("description"), f"{gobj.where}.description: at most 255 characters, none of @ # % & < > \\ $ ^ *")
        gobj.done()
        groups.append(GroupSpec(gobj.line, gname, gdesc))
    _unique([(g.name, g.line) for g in groups], "group")
    users = [_parse_user(u, uline, f"{where}.users[{j}]", min_length, owner=False)
             for j, (u, uline) in enumerate(obj.items("users"))]
    _unique([(u.name, u.line) for u in [owner, *users]], "user")
    known_users = {u.name for u in [owner, *users]}
    known_groups = {g.name for g in groups} | {ADMIN_GROUP}
    for user in users:
        for group, gline in user.groups or []:
            if group not in known_groups:
                raise SeedError(gline, f"group '{group}' is not declared in account '{name}'")
    creation = obj.text("project_creation")
    if creation is not None and creation not in ("all", "selected"):
        raise SeedError(obj.line_of("project_creation"), f"{where}.project_creation must be all or selected")
    creators = None
    if obj.get("project_creators", list) is not None:
        creators = []
        for j, (c, cline) in enumerate(obj.items("project_creators")):
            if c not in known_users:
                raise SeedError(cline, f"{where}.project_creators[{j}]: '{c}' is not a user of this file's account")
            creators.append((c, cline))
    projects = [_parse_project(p, pline, f"{where}.projects[{j}]", owner.name, regions)
                for j, (p, pline) in enumerate(obj.items("projects"))]
    _unique([(p.name, p.line) for p in projects], "project")
    for project in projects:
        if project.creator not in known_users:
            raise SeedError(project.line, f"creator '{project.creator}' is not a user declared in account '{name}'")
        for member in project.members:
            if member.user not in known_users:
                raise SeedError(member.line, f"'{member.user}' is not a user declared in account '{name}'")
    vpceps = []
    for j, (v, vline) in enumerate(obj.items("vpceps")):
        vobj = _Obj(v, vline, f"{where}.vpceps[{j}]")
        region = vobj.text("region", required=True)
        if region not in regions:
            raise SeedError(vobj.line_of("region"), f"{vobj.where}.region '{region}' is not a configured region")
        vpcep_id = vobj.text("vpcep_id", required=True, pattern=private_access.VPCEP_ID_RE,
                             rule=private_access.VPCEP_ID_RULE)
        description = vobj.text("description", default="", pattern=private_access.DESCRIPTION_RE,
                                rule=private_access.DESCRIPTION_RULE)
        vobj.done()
        vpceps.append(VpcepSpec(vobj.line, region, vpcep_id, description))
    _unique([(f"{v.region}/{v.vpcep_id}", v.line) for v in vpceps], "VPC endpoint")
    switches: dict[str, tuple[bool, int]] = {}
    pa = obj.get("private_access", _Map)
    if pa is not None:
        for region, value in pa.items():
            pline = pa.lines[region]
            if region not in regions:
                raise SeedError(pline, f"{where}.private_access: '{region}' is not a configured region")
            if not isinstance(value, bool):
                raise SeedError(pline, f"{where}.private_access.{region} must be on or off")
            switches[region] = (value, pline)
    account = AccountSpec(obj.line, name, obj.text("id", pattern=ID_RE, rule=ID_RULE), owner, groups, users,
                          creation, creators, projects, vpceps, switches)
    obj.done()
    return account


# ---------------------------------------------------------------------------------------------
# applying


@dataclass
class Report:
    changes: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.changes.append(what)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _principal(account_id: str, account_name: str, user_id: str, user_name: str, *, owner: bool = False,
               region: str | None = None) -> Principal:
    """The identity a step of the seed acts as (the account owner, or a project's creator)."""
    return Principal(
        account_id=account_id, account_name=account_name, user_id=user_id, user_name=user_name,
        is_owner=owner, is_admin=owner, project_id=None, project_name=region, method="seed",
    )


async def _at(line: int, what: str, work):
    """Run a step; a refusal by the service rules becomes a SeedError at ``line``."""
    try:
        return await work
    except ApiError as exc:
        raise SeedError(line, f"{what}: {exc.message}") from None
    except (ValueError, iam.AccountExists) as exc:
        raise SeedError(line, f"{what}: {exc}") from None


async def apply_seed(rt: Runtime, seed: Seed, report: Report | None = None) -> Report:
    report = report or Report()
    for account in seed.accounts:
        await _apply_account(rt, account, report)
    return report


async def apply_text(rt: Runtime, text: str, report: Report | None = None) -> Report:
    return await apply_seed(rt, parse_seed(text, rt.settings), report)


async def _one(rt: Runtime, query):
    async with rt.store.read() as conn:
        return (await conn.execute(query)).first()


async def _all(rt: Runtime, query):
    async with rt.store.read() as conn:
        return (await conn.execute(query)).all()


async def _apply_account(rt: Runtime, spec: AccountSpec, report: Report) -> None:
    a, u = t.accounts, t.users
    row = await _one(rt, select(a.c.id).where(a.c.name == spec.name))
    label = f"account {spec.name}"
    if row is None:
        if spec.id and await _one(rt, select(a.c.id).where(a.c.id == spec.id)):
            raise SeedError(spec.line, f"{label}: id {spec.id} belongs to another account")
        if spec.owner.id and await _one(rt, select(u.c.id).where(u.c.id == spec.owner.id)):
            raise SeedError(spec.owner.line, f"{label}: user id {spec.owner.id} is in use")
        created = await _at(spec.line, f"creating {label}", iam.create_account(
            rt, spec.name, spec.owner.name, spec.owner.password, account_id=spec.id, user_id=spec.owner.id))
        account_id, owner_id = created.account_id, created.user_id
        report.add(f"created {label} with owner {spec.owner.name}")
        owner = _principal(account_id, spec.name, owner_id, spec.owner.name, owner=True)
        if spec.owner.keys:  # the file names the owner's keys: drop the one made with the account
            await _at(spec.line, f"{label}: removing the generated access key",
                      keys.delete_permanent(rt, owner, created.access))
    else:
        account_id = row.id
        if spec.id and spec.id != account_id:
            raise SeedError(spec.line, f"{label} exists with id {account_id}, not {spec.id}")
        owner_row = await _one(rt, select(u.c.id, u.c.name).where(u.c.account_id == account_id, u.c.is_owner.is_(True)))
        if owner_row.name != spec.owner.name or (spec.owner.id and spec.owner.id != owner_row.id):
            raise SeedError(spec.owner.line, f"{label}: the owner is '{owner_row.name}' ({owner_row.id})")
        owner_id = owner_row.id
        owner = _principal(account_id, spec.name, owner_id, spec.owner.name, owner=True)
        await _sync_user_fields(rt, owner, owner_id, spec.owner, report, spec.name)
    ctx = _Account(rt, spec, account_id, owner, report)
    await ctx.groups()
    user_ids = {spec.owner.name: owner_id}
    for user in spec.users:
        user_ids[user.name] = await ctx.user(user, report)
        await ctx.user_groups(user, user_ids[user.name])
    for user in [spec.owner, *spec.users]:
        await ctx.access_keys(user, user_ids[user.name])
    await ctx.creators(user_ids)
    for project in spec.projects:
        await ctx.project(project, user_ids)
    await ctx.vpceps()


async def _sync_user_fields(rt: Runtime, owner: Principal, user_id: str, spec: UserSpec, report: Report,
                            label: str) -> None:
    """Bring an existing user's attributes and password to what the file says."""
    row = await _one(rt, select(t.users).where(t.users.c.id == user_id))
    changes: dict[str, Any] = {}
    if not spec.owner:
        wanted = {"enabled": spec.enabled, "email": spec.email, "description": spec.description,
                  "access_mode": spec.access_mode}
        changes = {k: v for k, v in wanted.items() if v is not None and getattr(row, k) != v}
    if spec.password is not None and not await verify_password(row.password_hash, spec.password):
        changes["password"] = spec.password
    if changes:
        await _at(spec.line, f"updating user {spec.name}", iam.update_user(rt, owner, user_id, changes))
        report.add(f"updated user {label}/{spec.name}: {', '.join(sorted(changes))}")


@dataclass
class _Account:
    rt: Runtime
    spec: AccountSpec
    account_id: str
    owner: Principal
    report: Report

    @property
    def label(self) -> str:
        return self.spec.name

    async def groups(self) -> None:
        g = t.groups
        for group in self.spec.groups:
            row = await _one(self.rt, select(g).where(g.c.account_id == self.account_id, g.c.name == group.name))
            if row is None:
                await _at(group.line, f"creating group {group.name}", iam.create_group(
                    self.rt, self.owner, {"group": {"name": group.name, "description": group.description}}))
                self.report.add(f"created group {self.label}/{group.name}")
            elif row.description != group.description:
                await _at(group.line, f"updating group {group.name}", iam.update_group(
                    self.rt, self.owner, row.id, {"group": {"description": group.description}}))
                self.report.add(f"updated group {self.label}/{group.name}: description")

    async def user(self, spec: UserSpec, report: Report) -> str:
        u = t.users
        row = await _one(self.rt, select(u.c.id).where(u.c.account_id == self.account_id, u.c.name == spec.name))
        if row is None:
            if spec.id and await _one(self.rt, select(u.c.id).where(u.c.id == spec.id)):
                raise SeedError(spec.line, f"user {spec.name}: id {spec.id} is in use")
            body: dict[str, Any] = {"name": spec.name, "domain_id": self.account_id, "enabled": spec.enabled}
            for key in ("password", "email", "description", "access_mode"):
                if getattr(spec, key) is not None:
                    body[key] = getattr(spec, key)
            created = await _at(spec.line, f"creating user {spec.name}",
                                iam.create_user(self.rt, self.owner, body, user_id=spec.id))
            report.add(f"created user {self.label}/{spec.name}")
            return created.id
        if spec.id and spec.id != row.id:
            raise SeedError(spec.line, f"user {spec.name} exists with id {row.id}, not {spec.id}")
        await _sync_user_fields(self.rt, self.owner, row.id, spec, report, self.label)
        return row.id

    async def user_groups(self, spec: UserSpec, user_id: str) -> None:
        if spec.groups is None:
            return
        g, gm = t.groups, t.group_members
        groups = {r.name: r.id for r in await _all(self.rt, select(g.c.name, g.c.id).where(g.c.account_id == self.account_id))}
        held = {r.name for r in await _all(self.rt, select(g.c.name).join(gm, gm.c.group_id == g.c.id).where(gm.c.user_id == user_id))}
        wanted = {name for name, _ in spec.groups}
        for name, line in spec.groups:
            if name not in held:
                await _at(line, f"adding {spec.name} to group {name}",
                          iam.add_group_member(self.rt, self.owner, groups[name], user_id))
                self.report.add(f"added {self.label}/{spec.name} to group {name}")
        for name in sorted(held - wanted):
            await _at(spec.line, f"removing {spec.name} from group {name}",
                      iam.remove_group_member(self.rt, self.owner, groups[name], user_id))
            self.report.add(f"removed {self.label}/{spec.name} from group {name}")

    async def access_keys(self, spec: UserSpec, user_id: str) -> None:
        k = t.access_keys
        for key in spec.keys:
            what = f"access key {key.access} of {spec.name}"
            row = await _one(self.rt, select(k).where(k.c.access == key.access))
            if row is not None and (row.user_id != user_id or row.temporary):
                raise SeedError(key.line, f"{what}: the access key id belongs to another user")
            if row is not None and self.rt.vault.open(row.secret_enc) != key.secret:
                await _at(key.line, what, keys.delete_permanent(self.rt, self.owner, key.access))
                row = None
            if row is None:
                count = len(await _all(self.rt, select(k.c.access).where(
                    k.c.user_id == user_id, k.c.temporary.is_(False))))
                if count >= keys.MAX_PERMANENT_KEYS:
                    raise SeedError(key.line, f"{what}: {spec.name} has {count} access keys already, the most a "
                                              "user may have; delete one first")
                await _at(key.line, what, keys.import_permanent(
                    self.rt, self.owner, user_id, key.access, key.secret,
                    description=key.description, status=key.status))
                self.report.add(f"set {what}")
                continue
            changes = {}
            if row.status != key.status:
                changes["status"] = key.status
            if row.description != key.description:
                changes["description"] = key.description
            if changes:
                await _at(key.line, what, keys.update_permanent(
                    self.rt, self.owner, key.access, {"credential": changes}))
                self.report.add(f"updated {what}: {', '.join(sorted(changes))}")

    async def creators(self, user_ids: dict[str, str]) -> None:
        spec = self.spec
        if spec.project_creation is None and spec.project_creators is None:
            return
        current = await role_admin.show_creators(self.rt, None, self.account_id)
        body: dict[str, Any] = {}
        if spec.project_creation is not None and spec.project_creation != current["project_creation"]:
            body["project_creation"] = spec.project_creation
        if spec.project_creators is not None:
            wanted = sorted({user_ids[name] for name, _ in spec.project_creators})
            if wanted != current["project_creators"]:
                body["project_creators"] = wanted
        if body:
            await _at(spec.line, "setting the project creators",
                      role_admin.update_creators(self.rt, None, self.account_id, body))
            self.report.add(f"updated {self.label}: {', '.join(sorted(body))}")

    async def project(self, spec: ProjectSpec, user_ids: dict[str, str]) -> None:
        p = t.codearts_projects
        label = f"project {self.label}/{spec.name}"
        row = await _one(self.rt, select(p).where(p.c.account_id == self.account_id, p.c.name == spec.name))
        if row is None:
            if spec.id and await _one(self.rt, select(p.c.id).where(p.c.id == spec.id)):
                raise SeedError(spec.line, f"{label}: id {spec.id} is in use")
            creator = _principal(self.account_id, self.label, user_ids[spec.creator], spec.creator,
                                 owner=spec.creator == self.spec.owner.name, region=spec.region)
            is_admin = await _one(self.rt, select(t.group_members.c.user_id).join(
                t.groups, t.groups.c.id == t.group_members.c.group_id).where(
                t.group_members.c.user_id == user_ids[spec.creator], t.groups.c.name == ADMIN_GROUP,
                t.groups.c.builtin.is_(True)))
            if is_admin is not None:
                creator = replace(creator, is_admin=True)
            body = {"project_name": spec.name, "project_type": spec.type, "description": spec.description}
            created = await _at(spec.line, f"creating {label} as {spec.creator}",
                                codearts.create_project(self.rt, creator, body, project_id=spec.id))
            pid = created["project_id"]
            self.report.add(f"created {label}")
        else:
            pid = row.id
            if spec.id and spec.id != pid:
                raise SeedError(spec.line, f"{label} exists with id {pid}, not {spec.id}")
            if row.creator_id != user_ids[spec.creator]:
                raise SeedError(spec.line, f"{label} was created by another user than '{spec.creator}'")
            if row.description != spec.description:
                await _at(spec.line, label, codearts.update_project(
                    self.rt, self.owner, pid, {"project_name": spec.name, "description": spec.description}))
                self.report.add(f"updated {label}: description")
        custom = await self._roles(spec, pid, label)
        await self._members(spec, pid, label, user_ids, custom)
        await self._build_tasks(spec, pid, label, user_ids, custom)

    async def _build_tasks(self, spec: ProjectSpec, pid: str, label: str, user_ids: dict[str, str],
                           custom: dict[str, str]) -> None:
        if not spec.build_tasks:
            return
        build_ids = {r["role_id"]: r["build_role_id"] for r in (await role_admin.list_roles(self.rt, None, pid))["roles"]}
        for task in spec.build_tasks:
            who = _principal(self.account_id, self.label, user_ids[task.creator], task.creator,
                             owner=task.creator == self.spec.owner.name, region=spec.region)
            async with self.rt.store.read() as conn:
                loaded = await tasks.load(conn, task.id)
            if loaded is not None and loaded.job.project_id != pid:
                raise SeedError(task.line, f"build task {task.id} belongs to another project")
            if loaded is None or loaded.task.follows_project != task.follows_project:
                await _at(task.line, f"build task {task.id}", tasks.apply_project_permission(
                    self.rt, who, {"job_id": task.id, "project_id": pid, "project_switch": task.follows_project}))
                self.report.add(f"{'made build task' if loaded is None else 'switched build task'} {task.id} of "
                                f"{label} {'to follow the project' if task.follows_project else 'to its own matrix'}")
            if task.follows_project or not task.rows:
                continue
            shown = await _at(task.line, f"build task {task.id}", tasks.show_job_role_permission(self.rt, who, task.id))
            have = {row["role_id"]: row for row in shown["result"]}
            rows = []
            for name, cells in task.rows.items():
                role_id = R.BY_KEY[name].role_id if name in R.BY_KEY else custom[name]
                changed = {flag: value for flag, value in cells.items() if have[build_ids[role_id]][flag] != value}
                if changed:
                    rows.append({"devuc_role_id": role_id, **changed})
            if rows:
                await _at(task.line, f"setting the matrix of build task {task.id}", tasks.batch_update_job_role_permission(
                    self.rt, who, {"project_id": pid, "job_ids": [task.id], "permissions": rows}))
                self.report.add(f"set the matrix of build task {task.id} of {label}")

    async def _roles(self, spec: ProjectSpec, pid: str, label: str) -> dict[str, str]:
        listed = await role_admin.list_roles(self.rt, None, pid)
        by_name = {r["name"]: r for r in listed["roles"] if r["type"] == "custom"}
        for role in spec.roles:
            current = by_name.get(role.name)
            if current is None:
                current = await _at(role.line, f"creating role {role.name}",
                                    role_admin.create_role(self.rt, None, pid, {"name": role.name}))
                by_name[role.name] = current
                self.report.add(f"created role {role.name} in {label}")
            have = {f"{s}.{n}": v for s, cells in current["permissions"].items() for n, v in cells.items()}
            changed = {k: v for k, v in role.cells.items() if have[k] != v}
            if changed:
                nested: dict[str, dict[str, bool]] = {}
                for key, value in changed.items():
                    service, name = key.split(".", 1)
                    nested.setdefault(service, {})[name] = value
                await _at(role.line, f"setting the permissions of role {role.name}", role_admin.update_role_matrix(
                    self.rt, None, pid, current["role_id"], {"permissions": nested}))
                self.report.add(f"set {', '.join(sorted(changed))} of role {role.name} in {label}")
        return {name: r["role_id"] for name, r in by_name.items()}

    async def _members(self, spec: ProjectSpec, pid: str, label: str, user_ids: dict[str, str],
                       custom: dict[str, str]) -> None:
        members = [m for m in spec.members if m.user != spec.creator]  # the creator is in already
        wanted_of = {
            m.user: {R.BY_KEY[name].role_id if name in R.BY_KEY else custom[name] for name, _ in m.roles}
            for m in members
        }
        async with self.rt.store.read() as conn:
            held_of = await codearts.roles_of(conn, pid, [user_ids[m.user] for m in members])
        newcomers = [m for m in members if not held_of[user_ids[m.user]]]
        for start in range(0, len(newcomers), codearts.BATCH_MAX):
            batch = newcomers[start:start + codearts.BATCH_MAX]
            # In one go, each with its first role when ProjectMan has a number for it (the
            # participant role otherwise); the exact roles are set below.
            users = [{"user_id": user_ids[m.user], "role_id": self._pm_number(m, custom)} for m in batch]
            await _at(batch[0].line, f"adding members to {label}",
                      codearts.batch_add_members(self.rt, self.owner, pid, {"users": users}))
            async with self.rt.store.read() as conn:
                held_of.update(await codearts.roles_of(conn, pid, [user_ids[m.user] for m in batch]))
            for m in batch:
                if not held_of[user_ids[m.user]]:
                    raise SeedError(m.line, f"{m.user} could not be added to {label}: a disabled user cannot be")
                self.report.add(f"added {m.user} to {label}")
        for member in members:
            user_id = user_ids[member.user]
            wanted, held = wanted_of[member.user], held_of[user_id]
            if held != wanted:
                await _at(member.line, f"setting the roles of {member.user}", role_admin.set_member_roles(
                    self.rt, None, pid, user_id, {"role_ids": sorted(wanted)}))
                self.report.add(f"set the roles of {member.user} in {label}: "
                                f"{', '.join(name for name, _ in member.roles)}")

    @staticmethod
    def _pm_number(member: MemberSpec, custom: dict[str, str]) -> int:
        name = member.roles[0][0]
        system = R.BY_KEY.get(name)
        if system is not None and system.pm_id in R.ASSIGNABLE_PM_IDS:
            return system.pm_id
        return R.PARTICIPANT.pm_id

    async def vpceps(self) -> None:
        current = {(region, r.vpcep_id): r.description
                   for region, r in await private_access.all_records(self.rt, self.account_id)}
        for v in self.spec.vpceps:
            have = current.get((v.region, v.vpcep_id))
            if have == v.description:
                continue
            entry = private_access.VpcepEntry(v.vpcep_id, v.description)
            await _at(v.line, f"VPC endpoint {v.vpcep_id}",
                      private_access.add_records(self.rt, self.account_id, v.region, [entry]))
            self.report.add(f"{'added' if have is None else 'updated'} VPC endpoint {v.region}/{v.vpcep_id} "
                            f"of {self.label}")
        switches = await private_access.switches(self.rt, self.account_id)
        for region, (enabled, line) in self.spec.private_access.items():
            if switches.get(region, True) != enabled:  # no switch row: on
                await _at(line, f"private access in {region}",
                          private_access.set_private_access(self.rt, self.account_id, region, enabled))
                self.report.add(f"switched private access {'on' if enabled else 'off'} in {region} "
                                f"for {self.label}")


def read_seed_file(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(0, f"cannot read the file: {exc.__class__.__name__}: {exc}") from None

