"""CodeArts projects and members (ProjectMan v4, spec/projectman.md §3) and the CodeArts Build
project-level permission answers (§4.1, §4.2, §4.7; the task-level ones are in tasks.py).

Rules only: every function takes the :class:`~devuc.runtime.Runtime`, the calling
:class:`~devuc.iam.identity.Principal` and plain values, and never sees an HTTP request. Who may
do what is decided by :func:`devuc.codearts.permissions.evaluate` on data read in the same
transaction, so a change made on any node is seen by the next request on every node.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import case, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import authz, metrics
from ..errors import ApiError
from ..iam.identity import Principal, new_id
from ..runtime import Runtime
from ..store import tables as t
from ..store.db import now_us
from . import permissions as P
from . import roles as R
from .inputs import (
    DOMAIN_ID_RE,
    JOB_ID_RE,
    PROJECT_ID_RE,
    USER_ID_RE,
    Body,
    invalid,
    missing,
    project_id as parse_project_id,
    query_int,
    query_text,
)

log = logging.getLogger("devuc.codearts")

PROJECT_TYPES = ("scrum", "normal", "xboard", "basic", "phoenix", "ipd")
IPD_TEMPLATES = (10001, 10002, 10003)
NAME_MAX = 128
DESCRIPTION_MAX = 1000
SOURCE_MAX = 64
NICK_NAME_MAX = 128
BATCH_MAX = 50
INT32_MAX = 2**31 - 1
SEQUENCE_DEFAULTS = {"project_num_id": 1000001, "user_num_id": 5001}

PM_BAD = "PM.00000001"
PM_GONE = "PM.02152005"
PM_DENIED = "PM.02174103"
PM_NOT_MEMBER = "PM.02150010"
PM_DELETE_FAILED = "PM.02150301"
PM_LOCKED = "PM.02150302"
PM_NO_ROLE = "PM.02150303"
CB_BAD = "CB.00060200"
CB_BAD_JOB = "CB.00060201"
CB_NOT_FOUND = "CB.00060214"


@dataclass(frozen=True)
class Codes:
    """The codes one API family answers for bad input, an unknown (or hidden) project and a
    refused action."""

    bad: str
    not_found: str
    denied: str
    gone: str  # the not-found message, with {id}

    def not_found_error(self, project_id: str) -> ApiError:
        return ApiError(self.not_found, self.gone.format(id=project_id))


PM = Codes(PM_BAD, PM_GONE, PM_DENIED, "The project '{id}' does not exist or has been deleted.")
CB = Codes(CB_BAD, CB_NOT_FOUND, CB_BAD, "The CodeArts project '{id}' was not found.")
UC = Codes("UC.00011002", "UC.00011037", "UC.00011003", "Project not found: '{id}'.")


def ms(us: int | None) -> int | None:
    return None if us is None else us // 1000


# ---------------------------------------------------------------------------------------------
# storage helpers


def _insert(conn: AsyncConnection, table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


async def insert_ignore(conn: AsyncConnection, table, rows: dict | list[dict]) -> None:
    """Insert, leaving rows whose key exists already untouched (safe under concurrency)."""
    if not rows:
        return
    await conn.execute(_insert(conn, table).values(rows).on_conflict_do_nothing())


async def upsert(conn: AsyncConnection, table, rows: list[dict], keys: list[str], columns: list[str]) -> None:
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in columns})
    await conn.execute(stmt, rows)


async def next_number(conn: AsyncConnection, name: str) -> int:
    """The next value of a deployment-wide counter (row-locked on PostgreSQL, and SQLite write
    transactions are serial)."""
    seq = t.codearts_sequences
    for _ in range(2):
        row = (
            await conn.execute(
                update(seq)
                .where(seq.c.name == name)
                .values(next_value=seq.c.next_value + 1)
                .returning(seq.c.next_value)
            )
        ).first()
        if row is not None:
            value = row[0] - 1
            if value > INT32_MAX:
                raise ApiError("PM.02175000", f"The numeric id space '{name}' is exhausted.")
            return value
        await insert_ignore(conn, seq, {"name": name, "next_value": SEQUENCE_DEFAULTS[name]})
    raise ApiError("PM.02175000")


async def set_sequence(rt: Runtime, name: str, value: int) -> int:
    """Move a counter forward (the configurable start of spec/projectman.md §2.4); it never moves
    back below a number already handed out."""
    if name not in SEQUENCE_DEFAULTS:
        raise ValueError(f"unknown sequence {name!r}; known: {', '.join(SEQUENCE_DEFAULTS)}")
    if not 1 <= value <= INT32_MAX:
        raise ValueError(f"value must be from 1 to {INT32_MAX}")
    seq = t.codearts_sequences
    async with rt.store.write() as conn:
        await next_number(conn, name)  # makes sure the row exists (and locks it)
        used = (
            await conn.execute(
                select(func.max(t.codearts_projects.c.num_id))
                if name == "project_num_id"
                else select(func.max(t.codearts_users.c.num_id))
            )
        ).scalar()
        floor = (used or 0) + 1
        if value < floor:
            raise ValueError(f"{name} has handed out numbers up to {floor - 1}; choose at least {floor}")
        await conn.execute(update(seq).where(seq.c.name == name).values(next_value=value))
    return value


async def ensure_codearts_user(conn: AsyncConnection, user_id: str, now: int) -> None:
    """Give a user their CodeArts record (numeric id) the first time CodeArts sees them."""
    cu = t.codearts_users
    if (await conn.execute(select(cu.c.num_id).where(cu.c.user_id == user_id))).first():
        return
    number = await next_number(conn, "user_num_id")
    await insert_ignore(
        conn,
        cu,
        {"user_id": user_id, "num_id": number, "nick_name": None, "created_us": now, "updated_us": now},
    )


async def member_roles(conn: AsyncConnection, project_id: str, user_id: str) -> frozenset[str]:
    mr = t.codearts_member_roles
    rows = await conn.execute(
        select(mr.c.role_id).where(mr.c.project_id == project_id, mr.c.user_id == user_id)
    )
    return frozenset(r.role_id for r in rows)


async def roles_of(conn: AsyncConnection, project_id: str, user_ids: Iterable[str]) -> dict[str, set[str]]:
    ids = list(user_ids)
    out: dict[str, set[str]] = {u: set() for u in ids}
    if not ids:
        return out
    mr = t.codearts_member_roles
    rows = await conn.execute(
        select(mr.c.user_id, mr.c.role_id).where(mr.c.project_id == project_id, mr.c.user_id.in_(ids))
    )
    for row in rows:
        out[row.user_id].add(row.role_id)
    return out


async def matrix_cells(
    conn: AsyncConnection, project_id: str, roles: Iterable[str] | None = None
) -> dict[str, dict[str, bool]]:
    """Stored cells of the project's matrix (of ``roles`` only, when given)."""
    rp = t.codearts_role_permissions
    query = select(rp.c.role_id, rp.c.permission, rp.c.granted).where(rp.c.project_id == project_id)
    if roles is not None:
        query = query.where(rp.c.role_id.in_(list(roles)))
    cells: dict[str, dict[str, bool]] = {}
    for row in await conn.execute(query):
        cells.setdefault(row.role_id, {})[row.permission] = bool(row.granted)
    return cells


async def custom_roles(conn: AsyncConnection, project_id: str) -> dict[str, Any]:
    cr = t.codearts_roles
    rows = await conn.execute(
        select(cr).where(cr.c.project_id == project_id).order_by(cr.c.num_id)
    )
    return {row.id: row for row in rows}


async def tenant_settings(conn: AsyncConnection, account_id: str) -> P.TenantSettings:
    ts, pc = t.codearts_tenant_settings, t.codearts_project_creators
    mode = (
        await conn.execute(select(ts.c.project_creation).where(ts.c.account_id == account_id))
    ).scalar()
    creators = await conn.execute(select(pc.c.user_id).where(pc.c.account_id == account_id))
    return P.TenantSettings(mode or P.CREATION_SELECTED, frozenset(r.user_id for r in creators))


# ---------------------------------------------------------------------------------------------
# one project as seen by the caller


@dataclass(frozen=True)
class Access:
    project: Any
    subject: P.Subject
    cells: dict[str, dict[str, bool]]
    customs: dict[str, Any]  # custom roles by devuc id, in creation order

    def decide(self, check: P.Check) -> P.Decision:
        return P.evaluate(self.subject, self.cells, P.TenantSettings(), check)

    def role_ids(self) -> list[str]:
        return [r.role_id for r in R.SYSTEM_ROLES] + list(self.customs)

    def has_role(self, role_id: str) -> bool:
        return role_id in R.BY_ID or role_id in self.customs

    def custom_num(self, role_id: str) -> int | None:
        row = self.customs.get(role_id)
        return row.num_id if row is not None else None

    def pm_role(self, pm_id: int) -> str | None:
        """The devuc role a ProjectMan integer names in this project (None: no such role)."""
        if pm_id in R.ASSIGNABLE_PM_IDS:
            return R.BY_PM_ID[pm_id].role_id
        for role_id, row in self.customs.items():
            if row.num_id == pm_id:
                return role_id
        return None

    def pm_id(self, role_id: str) -> int | None:
        system = R.BY_ID.get(role_id)
        return system.pm_id if system else self.custom_num(role_id)

    def build_id(self, role_id: str) -> int | None:
        system = R.BY_ID.get(role_id)
        return system.build_id if system else self.custom_num(role_id)

    def by_build_id(self, build_id: int) -> str | None:
        """The devuc role a CodeArts Build integer names in this project (None: no such role;
        the task creator's -3 is no role)."""
        system = R.BY_BUILD_ID.get(build_id)
        if system is not None:
            return system.role_id
        return next((role_id for role_id, row in self.customs.items() if row.num_id == build_id), None)

    def name(self, role_id: str) -> str | None:
        system = R.BY_ID.get(role_id)
        if system:
            return system.name
        row = self.customs.get(role_id)
        return row.name if row is not None else None

    def role_code(self, role_id: str) -> str:
        """A role's code: a system role's key (``project_admin``), ``custom_<number>`` otherwise."""
        system = R.BY_ID.get(role_id)
        return system.key if system else f"custom_{self.custom_num(role_id)}"

    def build_name(self, role_id: str) -> str | None:
        system = R.BY_ID.get(role_id)
        return system.build_role_name if system else self.name(role_id)

    def primary(self, held: Iterable[str]) -> str | None:
        """The role ProjectMan reports for a member: the best rank among roles that have a v4
        integer, ties to the smallest integer (projectman.md §5.1); roles without one only when
        the member holds nothing else."""
        held = [r for r in held if self.has_role(r)]
        numbered = [r for r in held if self.pm_id(r) is not None]
        pool = numbered or held
        if not pool:
            return None
        return min(pool, key=lambda r: (R.rank(r), self.pm_id(r) or 0, R.report_key(r, self.custom_num(r))))

    def reported(self, held: Iterable[str]) -> list[str]:
        """Roles in the order of codearts-uc.md §5.3, then custom roles by number."""
        return sorted(
            (r for r in held if self.has_role(r)), key=lambda r: R.report_key(r, self.custom_num(r))
        )


def _tenant_admin(caller: Principal | None, account_id: str) -> bool:
    return caller is None or (caller.can_administer and caller.account_id == account_id)


async def load_access(
    conn: AsyncConnection,
    caller: Principal | None,
    project_id: str,
    codes: Codes,
    *,
    all_cells: bool = False,
    lock: bool = False,
) -> Access:
    """The project and the caller's standing in it. ``caller`` None is the local operator (CLI).
    An unknown project, and one of another account the caller is not a member of, are both
    answered ``codes.not_found``: a stranger learns nothing. The matrix cells loaded are those
    of the caller's roles (all of them with ``all_cells``). ``lock``: writers take the project
    row's lock first, so changes to one project's members and roles happen one at a time on
    PostgreSQL as they do on SQLite."""
    p = t.codearts_projects
    query = select(p).where(p.c.id == project_id)
    project = (await conn.execute(query.with_for_update() if lock else query)).first()
    if project is None:
        raise codes.not_found_error(project_id)
    user_id = caller.user_id if caller is not None else ""
    held = await member_roles(conn, project_id, user_id) if caller is not None else frozenset()
    admin = _tenant_admin(caller, project.account_id)
    if not held and not admin and caller is not None and caller.account_id != project.account_id:
        # Tenant isolation, in every enforcement mode (docs/enforcement.md). Answered and counted
        # exactly like a project that does not exist (no refusal record, no decision metric), so
        # nothing observable tells a stranger the id is taken.
        raise codes.not_found_error(project_id)
    return Access(
        project,
        P.Subject(user_id, held, admin),
        await matrix_cells(conn, project_id, None if all_cells else held),
        await custom_roles(conn, project_id),
    )


def refuse(decision: P.Decision, code: str, what: str) -> None:
    """Refuse what ``decision`` does not allow. The enforcement mode decides whether an
    authorization refusal stands (devuc/authz.py); a ``locked`` one is an integrity rule (the
    creator keeps their role) and stands in every mode."""
    if decision.allowed:
        return
    message = f"No permission to {what}."
    if decision.reason == "locked":
        raise authz.always(code, f"locked: {what}", message)
    authz.refuse(code, f"{decision.reason}: {what}", message)


# ---------------------------------------------------------------------------------------------
# JSON shapes


async def _creators(conn: AsyncConnection, creator_ids: set[str]) -> dict[str, Any]:
    if not creator_ids:
        return {}
    u, cu, a = t.users, t.codearts_users, t.accounts
    rows = await conn.execute(
        select(u.c.id, u.c.name, a.c.id.label("account_id"), a.c.name.label("account_name"),
               cu.c.num_id, cu.c.nick_name)
        .join_from(u, a, u.c.account_id == a.c.id)
        .outerjoin(cu, cu.c.user_id == u.c.id)
        .where(u.c.id.in_(creator_ids))
    )
    return {r.id: r for r in rows}


async def _account_names(conn: AsyncConnection, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await conn.execute(select(t.accounts.c.id, t.accounts.c.name).where(t.accounts.c.id.in_(ids)))
    return {r.id: r.name for r in rows}


def _creator_json(project, creators: dict[str, Any], accounts: dict[str, str]) -> dict:
    row = creators.get(project.creator_id)
    return {
        "user_num_id": row.num_id if row is not None else None,
        "user_id": project.creator_id,
        "user_name": row.name if row is not None else None,
        "domain_id": project.account_id,
        "domain_name": accounts.get(project.account_id),
        "nick_name": (row.nick_name or row.name) if row is not None else None,
    }


async def _project_items(conn: AsyncConnection, rows: Sequence) -> list[dict]:
    creators = await _creators(conn, {r.creator_id for r in rows})
    accounts = await _account_names(conn, {r.account_id for r in rows})
    return [
        {
            "project_num_id": r.num_id,
            "project_id": r.id,
            "project_name": r.name,
            "description": r.description,
            "created_time": ms(r.created_us),
            "updated_time": ms(r.updated_us),
            "project_type": r.project_type,
            "creator": _creator_json(r, creators, accounts),
        }
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------
# projects


def _parse_new_project(body: Any) -> dict:
    b = Body(body, PM_BAD)
    name = b.string("project_name", required=True, min_len=1, max_len=NAME_MAX, trim=True)
    project_type = b.string("project_type", required=True)
    if project_type not in PROJECT_TYPES:
        raise invalid(PM_BAD, "project_type", f"must be one of {', '.join(PROJECT_TYPES)}")
    description = b.string("description", max_len=DESCRIPTION_MAX) or ""
    source = b.string("source", max_len=SOURCE_MAX) or ""
    if any(not (ch.isprintable() or ch in " \t") for ch in source):
        raise invalid(PM_BAD, "source", "may contain letters, digits, spaces and punctuation only")
    enterprise_id = b.string("enterprise_id", min_len=1, max_len=64) or "0"
    if any(not (ch.isalnum() or ch in "-_") for ch in enterprise_id):
        raise invalid(PM_BAD, "enterprise_id", "may contain letters, digits, '-' and '_' only")
    template_id = None
    if project_type == "ipd":
        template_id = b.integer("template_id", required=True)
        if template_id not in IPD_TEMPLATES:
            raise invalid(PM_BAD, "template_id", "must be 10001, 10002 or 10003 for ipd projects")
    return {
        "name": name,
        "project_type": project_type,
        "description": description,
        "source": source,
        "enterprise_id": enterprise_id,
        "template_id": template_id,
    }


def _name_taken(name: str) -> ApiError:
    return invalid(PM_BAD, "project_name", f"a project named '{name}' exists already in this account")


async def create_project(rt: Runtime, caller: Principal, body: Any, *, project_id: str | None = None) -> dict:
    """``project_id``: a fixed id for the new project (seed files); a fresh one when None."""
    fields = _parse_new_project(body)
    now = now_us()
    project_id = project_id or new_id()
    p = t.codearts_projects
    try:
        async with rt.store.write() as conn:
            tenant = await tenant_settings(conn, caller.account_id)
            subject = P.Subject(caller.user_id, frozenset(), caller.can_administer)
            decision = P.evaluate(subject, {}, tenant, P.Check(P.PROJECT_CREATE))
            refuse(decision, PM_DENIED, "create projects in this account")
            clash = await conn.execute(
                select(p.c.id).where(p.c.account_id == caller.account_id, p.c.name == fields["name"])
            )
            if clash.first() is not None:
                raise _name_taken(fields["name"])
            number = await next_number(conn, "project_num_id")
            await conn.execute(
                insert(p).values(
                    id=project_id,
                    num_id=number,
                    account_id=caller.account_id,
                    region=caller.project_name or "",
                    creator_id=caller.user_id,
                    archived=False,
                    next_role_num=R.FIRST_CUSTOM_NUM,
                    created_us=now,
                    updated_us=now,
                    **fields,
                )
            )
            await ensure_codearts_user(conn, caller.user_id, now)
            await _add_members(conn, project_id, [(caller.user_id, R.PROJECT_ADMIN.role_id)], now)
            user_num = (
                await conn.execute(
                    select(t.codearts_users.c.num_id).where(t.codearts_users.c.user_id == caller.user_id)
                )
            ).scalar_one()
    except IntegrityError as exc:
        raise _name_taken(fields["name"]) from exc
    return {
        "project_num_id": number,
        "project_id": project_id,
        "project_name": fields["name"],
        "description": fields["description"],
        "project_type": fields["project_type"],
        "user_num_id": user_num,
    }


SORT_FIELDS = {"name": t.codearts_projects.c.name, "created_on": t.codearts_projects.c.created_us}
QUERY_TYPES = ("domain_projects", "absent")


@dataclass(frozen=True)
class ProjectQuery:
    """The list-projects query values as received (strings; None when absent)."""

    offset: str | None = None
    limit: str | None = None
    search: str | None = None
    project_type: str | None = None
    sort: str | None = None
    archive: str | None = None
    query_type: str | None = None


def _order(sort: str | None):
    p = t.codearts_projects
    if not sort:
        return [p.c.created_us.desc(), p.c.num_id.asc()]
    field_name, _, direction = sort.partition(":")
    if field_name not in SORT_FIELDS or direction not in ("asc", "desc"):
        raise invalid(PM_BAD, "sort", "must be name or created_on, a colon, then asc or desc")
    column = SORT_FIELDS[field_name]
    return [column.asc() if direction == "asc" else column.desc(), p.c.num_id.asc()]


async def list_projects(rt: Runtime, caller: Principal, q: ProjectQuery, *, limit_max: int = 1000) -> dict:
    offset = query_int(q.offset, "offset", PM_BAD, 0, 10000, 0)
    limit = query_int(q.limit, "limit", PM_BAD, 1, limit_max, 10)
    p, m = t.codearts_projects, t.codearts_members
    order = _order(q.sort)
    member = exists().where(m.c.project_id == p.c.id, m.c.user_id == caller.user_id)
    query = select(p)
    if q.query_type is None:
        query = query.where(member)
    elif q.query_type == "domain_projects":
        query = query.where(p.c.account_id == caller.account_id)
    elif q.query_type == "absent":
        query = query.where(p.c.account_id == caller.account_id, ~member)
    else:
        raise invalid(PM_BAD, "query_type", "must be domain_projects or absent")
    if q.project_type is not None:
        if q.project_type not in PROJECT_TYPES:
            raise invalid(PM_BAD, "project_type", f"must be one of {', '.join(PROJECT_TYPES)}")
        query = query.where(p.c.project_type == q.project_type)
    if q.archive is not None:
        if q.archive not in ("true", "false"):
            raise invalid(PM_BAD, "archive", "must be true or false")
        query = query.where(p.c.archived.is_(q.archive == "true"))
    if query_text(q.search, "search", PM_BAD):
        needle = q.search.lower()
        query = query.where(
            or_(
                func.lower(p.c.name).contains(needle, autoescape=True),
                func.lower(p.c.description).contains(needle, autoescape=True),
            )
        )
    async with rt.store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = (await conn.execute(query.order_by(*order).offset(offset).limit(limit))).all()
        return {"projects": await _project_items(conn, rows), "total": total}


async def show_project(rt: Runtime, caller: Principal, project_id: str) -> dict:
    pid = parse_project_id(project_id, PM_BAD)
    async with rt.store.read() as conn:
        access = await load_access(conn, caller, pid, PM)
        refuse(access.decide(P.Check(P.PROJECT_VIEW)), PM_DENIED, "see this project: only its members may")
        r = access.project
        creators = await _creators(conn, {r.creator_id})
        accounts = await _account_names(conn, {r.account_id})
    return {
        "project": {
            "project_num_id": r.num_id,
            "project_id": r.id,
            "name": r.name,
            "created_on": ms(r.created_us),
            "updated_on": ms(r.updated_us),
            "project_type": r.project_type,
            "archive": 0 if r.archived else 1,
            "enterprise_id": r.enterprise_id,
            "project_code": None,
            "creator": _creator_json(r, creators, accounts),
        }
    }


async def update_project(rt: Runtime, caller: Principal, project_id: str, body: Any) -> None:
    pid = parse_project_id(project_id, PM_BAD)
    b = Body(body, PM_BAD)
    name = b.string("project_name", required=True, min_len=1, max_len=NAME_MAX, trim=True)
    description = b.string("description", max_len=DESCRIPTION_MAX)
    p = t.codearts_projects
    try:
        async with rt.store.write() as conn:
            access = await load_access(conn, caller, pid, PM, lock=True)
            refuse(access.decide(P.Check("devuc.project_edit")), PM_DENIED, "edit this project")
            clash = await conn.execute(
                select(p.c.id).where(
                    p.c.account_id == access.project.account_id, p.c.name == name, p.c.id != pid
                )
            )
            if clash.first() is not None:
                raise _name_taken(name)
            values: dict[str, Any] = {"name": name, "updated_us": now_us()}
            if description is not None:
                values["description"] = description
            await conn.execute(update(p).where(p.c.id == pid).values(**values))
    except IntegrityError as exc:
        raise _name_taken(name) from exc


async def delete_project(rt: Runtime, caller: Principal, project_id: str) -> None:
    pid = parse_project_id(project_id, PM_BAD)
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, PM, lock=True)
        refuse(
            access.decide(P.Check(P.PROJECT_DELETE)),
            PM_DENIED,
            "delete this project: only its creator and the account's administrators may",
        )
        for table in (t.codearts_member_roles, t.codearts_members, t.codearts_role_permissions, t.codearts_roles):
            await conn.execute(delete(table).where(table.c.project_id == pid))
        await conn.execute(delete(t.codearts_projects).where(t.codearts_projects.c.id == pid))


async def check_project_name(rt: Runtime, caller: Principal, body: Any) -> dict:
    name = Body(body, PM_BAD).string("project_name", required=True, min_len=1, max_len=NAME_MAX, trim=True)
    p = t.codearts_projects
    async with rt.store.read() as conn:
        found = await conn.execute(
            select(p.c.id).where(p.c.account_id == caller.account_id, p.c.name == name)
        )
        return {"exist": found.first() is not None}


# ---------------------------------------------------------------------------------------------
# members


async def _add_members(conn: AsyncConnection, project_id: str, grants: list[tuple[str, str]], now: int) -> None:
    if not grants:
        return
    await insert_ignore(
        conn, t.codearts_members, [{"project_id": project_id, "user_id": u, "joined_us": now} for u, _ in grants]
    )
    await insert_ignore(
        conn,
        t.codearts_member_roles,
        [{"project_id": project_id, "user_id": u, "role_id": r} for u, r in grants],
    )


async def _members_among(conn: AsyncConnection, project_id: str, user_ids: Iterable[str]) -> set[str]:
    ids = list(user_ids)
    if not ids:
        return set()
    m = t.codearts_members
    rows = await conn.execute(select(m.c.user_id).where(m.c.project_id == project_id, m.c.user_id.in_(ids)))
    return {r.user_id for r in rows}


def _require_member_manager(access: Access) -> None:
    refuse(access.decide(P.Check(P.MEMBERS_MANAGE)), PM_DENIED, "manage the members of this project")


def _grant_role(access: Access, pm_id: int) -> str:
    """The role a ProjectMan integer grants, or the documented refusal."""
    if pm_id == R.PROJECT_ADMIN.pm_id:
        raise authz.always(PM_LOCKED, "integrity: nobody is given the project administrator role",
                           "The project administrator role (-1) cannot be granted.")
    role = access.pm_role(pm_id)
    if role is None:
        raise ApiError(PM_NO_ROLE, f"The role {pm_id} does not exist in this project.")
    return role


async def add_member(rt: Runtime, caller: Principal, project_id: str, body: Any) -> None:
    pid = parse_project_id(project_id, PM_BAD)
    b = Body(body, PM_BAD)
    user_id = b.string("user_id", required=True, pattern=USER_ID_RE, pattern_text="must be 32 lowercase letters and digits")
    domain_id = b.string("domain_id", required=True, pattern=DOMAIN_ID_RE, pattern_text="must be 32 letters and digits").lower()
    domain_name = b.string("domain_name", max_len=64)
    pm_role = b.integer("role_id")
    pm_role = R.PARTICIPANT.pm_id if pm_role is None else pm_role
    now = now_us()
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, PM, lock=True)
        _require_member_manager(access)
        role = _grant_role(access, pm_role)
        refuse(
            access.decide(P.Check(P.MEMBERS_MANAGE, frozenset({role}))),
            PM_DENIED,
            f"grant the role {pm_role}: it is not below your own role",
        )
        u, a = t.users, t.accounts
        target = (
            await conn.execute(
                select(u.c.id, u.c.account_id, u.c.enabled, a.c.name.label("account_name"), a.c.enabled.label("account_enabled"))
                .join_from(u, a, u.c.account_id == a.c.id)
                .where(u.c.id == user_id)
            )
        ).first()
        if domain_id != access.project.account_id:
            account_name = (
                await conn.execute(select(a.c.name).where(a.c.id == domain_id, a.c.enabled.is_(True)))
            ).scalar()
            if account_name is None:
                raise invalid(PM_BAD, "domain_id", "no such account")
            if domain_name is None:
                raise missing(PM_BAD, "domain_name")
            if domain_name != account_name:
                raise invalid(PM_BAD, "domain_name", "is not the name of the account domain_id names")
        if target is None or target.account_id != domain_id:
            raise invalid(PM_BAD, "user_id", "no such user in the account domain_id names")
        if not target.enabled or not target.account_enabled:
            raise invalid(PM_BAD, "user_id", "the user is disabled")
        if await _members_among(conn, pid, [user_id]):
            return  # already a member: nothing changes (spec/projectman.md Q2)
        await ensure_codearts_user(conn, user_id, now)
        await _add_members(conn, pid, [(user_id, role)], now)


async def batch_add_members(rt: Runtime, caller: Principal, project_id: str, body: Any) -> None:
    pid = parse_project_id(project_id, PM_BAD)
    b = Body(body, PM_BAD)
    items = b.array("users", required=True, min_items=1, max_items=BATCH_MAX)
    wanted: dict[str, int | None] = {}
    for i, item in enumerate(items):
        entry = Body(item, PM_BAD, f"users[{i}]")
        user_id = entry.string("user_id", required=True)
        pm_role = entry.integer("role_id")
        key = user_id.lower()
        if USER_ID_RE.match(key) and key not in wanted:  # malformed ids are skipped
            wanted[key] = pm_role
    now = now_us()
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, PM, lock=True)
        _require_member_manager(access)
        u, a = t.users, t.accounts
        valid = {
            r.id
            for r in await conn.execute(
                select(u.c.id)
                .join_from(u, a, u.c.account_id == a.c.id)
                .where(
                    u.c.id.in_(list(wanted)),
                    u.c.account_id == access.project.account_id,
                    u.c.enabled.is_(True),
                    a.c.enabled.is_(True),
                )
            )
        }
        present = await _members_among(conn, pid, valid)
        grants = []
        for user_id, pm_role in wanted.items():
            if user_id not in valid or user_id in present:
                continue
            role = access.pm_role(pm_role) if pm_role is not None else None
            decision = access.decide(P.Check(P.MEMBERS_MANAGE, frozenset({role}))) if role else P.OK
            if not decision.allowed and authz.denied(
                PM_DENIED, f"{decision.reason}: grant the role {pm_role} to {user_id} (given participant instead)"
            ):
                role = None
            if role is None:
                role = R.PARTICIPANT.role_id
            grants.append((user_id, role))
        for user_id, _ in grants:
            await ensure_codearts_user(conn, user_id, now)
        await _add_members(conn, pid, grants, now)


async def _member_rows(conn: AsyncConnection, access: Access, first: int = 0, size: int | None = None):
    """Members with their user and account records: the creator first, then by join time."""
    m, u, a, cu = t.codearts_members, t.users, t.accounts, t.codearts_users
    creator_first = case((m.c.user_id == access.project.creator_id, 0), else_=1)
    query = (
        select(
            m.c.user_id, u.c.name, u.c.enabled, u.c.account_id,
            a.c.name.label("account_name"), a.c.enabled.label("account_enabled"),
            cu.c.num_id, cu.c.nick_name,
        )
        .join_from(m, u, m.c.user_id == u.c.id)
        .join(a, u.c.account_id == a.c.id)
        .outerjoin(cu, cu.c.user_id == m.c.user_id)
        .where(m.c.project_id == access.project.id)
        .order_by(creator_first, m.c.joined_us, cu.c.num_id, m.c.user_id)
        .offset(first)
    )
    return (await conn.execute(query if size is None else query.limit(size))).all()


async def list_members(rt: Runtime, caller: Principal, project_id: str, offset: str | None, limit: str | None) -> dict:
    pid = parse_project_id(project_id, PM_BAD)
    first = query_int(offset, "offset", PM_BAD, 0, 10000, 0)
    size = query_int(limit, "limit", PM_BAD, 1, 1000, 10)
    m = t.codearts_members
    async with rt.store.read() as conn:
        access = await load_access(conn, caller, pid, PM)
        refuse(access.decide(P.Check(P.PROJECT_VIEW)), PM_DENIED, "list the members: only members may")
        total = (
            await conn.execute(select(func.count()).select_from(m).where(m.c.project_id == pid))
        ).scalar_one()
        rows = await _member_rows(conn, access, first, size)
        held = await roles_of(conn, pid, [r.user_id for r in rows])
    members = []
    for r in rows:
        role = access.primary(held[r.user_id])
        members.append(
            {
                "domain_id": r.account_id,
                "domain_name": r.account_name,
                "user_id": r.user_id,
                "user_name": r.name,
                "user_num_id": r.num_id,
                "role_id": access.pm_id(role) if role else None,
                "role_name": access.name(role) if role else None,
                "nick_name": r.nick_name or r.name,
                "user_type": "User",
                "forbidden": 0 if r.enabled and r.account_enabled else 1,
            }
        )
    return {"members": members, "total": total}


async def list_project_users(rt: Runtime, caller: Principal, project_id: str) -> dict:
    """ListProjectUsers (projectman.md §3.13, the IPD member list): every member with all of
    their roles, comma-joined: the 32-character role ids, the names (Build's, as the page's
    example: 项目管理员 for the administrator) and the codes (a system role's key,
    ``custom_<number>`` for a custom role), in the order of codearts-uc.md §5.3."""
    pid = parse_project_id(project_id, PM_BAD)
    async with rt.store.read() as conn:
        access = await load_access(conn, caller, pid, PM)
        refuse(access.decide(P.Check(P.PROJECT_VIEW)), PM_DENIED, "list the members: only members may")
        rows = await _member_rows(conn, access)
        held = await roles_of(conn, pid, [r.user_id for r in rows])
    users = []
    for r in rows:
        roles = access.reported(held[r.user_id])
        users.append({
            "user_id": r.user_id,
            "user_num_id": r.num_id,
            "user_name": r.name,
            "domain_id": r.account_id,
            "domain_name": r.account_name,
            "nick_name": r.nick_name or r.name,
            "role_id": ",".join(roles),
            "role_name": ",".join(access.build_name(role) or "" for role in roles),
            "role_code": ",".join(access.role_code(role) for role in roles),
        })
    return {"status": "success", "message": None, "result": users}


def _user_ids(b: Body, key: str) -> list[str]:
    items = b.array(key, required=True, min_items=1, max_items=BATCH_MAX)
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not PROJECT_ID_RE.match(item):
            raise invalid(PM_BAD, f"{key}[{i}]", "must be a user id of 32 letters and digits")
        if item.lower() not in out:
            out.append(item.lower())
    return out


async def batch_delete_members(rt: Runtime, caller: Principal, project_id: str, body: Any) -> None:
    pid = parse_project_id(project_id, PM_BAD)
    user_ids = _user_ids(Body(body, PM_BAD), "user_ids")
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, PM, lock=True)
        others = [u for u in user_ids if u != caller.user_id]
        if others:
            _require_member_manager(access)
        held = await roles_of(conn, pid, await _members_among(conn, pid, user_ids))
        if any(R.PROJECT_ADMIN.role_id in roles for roles in held.values()):
            raise authz.always(PM_DELETE_FAILED, "integrity: the project keeps its creator",
                               "The project creator cannot be removed from the project.")
        if others:
            other_roles = frozenset(r for u, roles in held.items() if u != caller.user_id for r in roles)
            refuse(
                access.decide(P.Check(P.MEMBERS_MANAGE, other_roles)),
                PM_DENIED,
                "remove members whose role is not below your own",
            )
        if caller.user_id in held:
            refuse(access.decide(P.Check(P.MEMBERS_LEAVE)), PM_DELETE_FAILED, "leave this project")
        if held:
            m = t.codearts_members
            await conn.execute(delete(t.codearts_member_roles).where(
                t.codearts_member_roles.c.project_id == pid, t.codearts_member_roles.c.user_id.in_(list(held))
            ))
            await conn.execute(delete(m).where(m.c.project_id == pid, m.c.user_id.in_(list(held))))


async def update_members_role(rt: Runtime, caller: Principal, project_id: str, body: Any) -> None:
    pid = parse_project_id(project_id, PM_BAD)
    b = Body(body, PM_BAD)
    pm_role = b.integer("role_id", required=True)
    user_ids = _user_ids(b, "user_ids")
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, PM, lock=True)
        _require_member_manager(access)
        role = _grant_role(access, pm_role)
        present = await _members_among(conn, pid, user_ids)
        strangers = [u for u in user_ids if u not in present]
        if strangers:
            raise ApiError(PM_NOT_MEMBER, f"The user '{strangers[0]}' is not a member of the project; add the user first.")
        held = await roles_of(conn, pid, user_ids)
        if any(R.PROJECT_ADMIN.role_id in roles for roles in held.values()):
            raise authz.always(PM_LOCKED, "integrity: the creator keeps their role",
                               "The project creator's role cannot be changed.")
        changing = {u: roles for u, roles in held.items() if roles != {role}}
        if not changing:
            return
        concerned = frozenset({role}).union(*changing.values())
        refuse(
            access.decide(P.Check(P.MEMBERS_MANAGE, concerned)),
            PM_DENIED,
            f"set the role {pm_role} for these members: a role concerned is not below your own",
        )
        await _replace_roles(conn, pid, {u: {role} for u in changing})


async def _replace_roles(conn: AsyncConnection, project_id: str, new: dict[str, set[str]]) -> None:
    mr = t.codearts_member_roles
    await conn.execute(delete(mr).where(mr.c.project_id == project_id, mr.c.user_id.in_(list(new))))
    await insert_ignore(
        conn, mr, [{"project_id": project_id, "user_id": u, "role_id": r} for u, rs in new.items() for r in rs]
    )


async def quit_project(rt: Runtime, caller: Principal, project_id: str) -> None:
    pid = parse_project_id(project_id, PM_BAD)
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, PM, lock=True)
        decision = access.decide(P.Check(P.MEMBERS_LEAVE))
        if decision.reason == "not_member" or not access.subject.is_member:
            raise ApiError(PM_NOT_MEMBER, "You are not a member of this project.")
        refuse(decision, PM_DELETE_FAILED, "leave this project: its creator cannot")
        m = t.codearts_members
        await conn.execute(delete(t.codearts_member_roles).where(
            t.codearts_member_roles.c.project_id == pid, t.codearts_member_roles.c.user_id == caller.user_id
        ))
        await conn.execute(delete(m).where(m.c.project_id == pid, m.c.user_id == caller.user_id))


async def show_user_role(rt: Runtime, caller: Principal, project_id: str) -> dict:
    pid = parse_project_id(project_id, PM_BAD)
    async with rt.store.read() as conn:
        access = await load_access(conn, caller, pid, PM)
    if not access.subject.is_member:
        raise ApiError(PM_NOT_MEMBER, "You are not a member of this project.")
    role = access.primary(access.subject.roles)
    return {"user_role": access.pm_id(role) if role else None}


async def list_not_added(rt: Runtime, caller: Principal, offset: str | None, limit: str | None) -> dict:
    return await list_projects(
        rt, caller, ProjectQuery(offset=offset, limit=limit, query_type="absent"), limit_max=100
    )


# ---------------------------------------------------------------------------------------------
# the current user


async def _user_record(conn: AsyncConnection, user_id: str):
    u, a, cu = t.users, t.accounts, t.codearts_users
    return (
        await conn.execute(
            select(u.c.id, u.c.name, u.c.account_id, a.c.name.label("account_name"),
                   cu.c.num_id, cu.c.nick_name, cu.c.created_us, cu.c.updated_us)
            .join_from(u, a, u.c.account_id == a.c.id)
            .outerjoin(cu, cu.c.user_id == u.c.id)
            .where(u.c.id == user_id)
        )
    ).first()


async def show_current_user(rt: Runtime, caller: Principal) -> dict:
    async with rt.store.read() as conn:
        row = await _user_record(conn, caller.user_id)
    if row is None or row.num_id is None:
        async with rt.store.write() as conn:
            await ensure_codearts_user(conn, caller.user_id, now_us())
            row = await _user_record(conn, caller.user_id)
    return {
        "domain_id": row.account_id,
        "domain_name": row.account_name,
        "user_num_id": row.num_id,
        "user_id": row.id,
        "user_name": row.name,
        "nick_name": row.nick_name or row.name,
        "created_time": ms(row.created_us),
        "updated_time": ms(row.updated_us),
        "user_type": "User",
    }


def _nick_name(b: Body, key: str = "nick_name") -> str:
    return b.string(key, required=True, min_len=1, max_len=NICK_NAME_MAX, trim=True)


async def _set_nick_names(conn: AsyncConnection, names: dict[str, str], now: int) -> None:
    cu = t.codearts_users
    for user_id, nick in names.items():
        await ensure_codearts_user(conn, user_id, now)
        await conn.execute(update(cu).where(cu.c.user_id == user_id).values(nick_name=nick, updated_us=now))


async def update_nick_name(rt: Runtime, caller: Principal, body: Any) -> None:
    nick = _nick_name(Body(body, PM_BAD))
    async with rt.store.write() as conn:
        await _set_nick_names(conn, {caller.user_id: nick}, now_us())


async def update_child_nick_names(rt: Runtime, caller: Principal, body: Any) -> None:
    items = Body(body, PM_BAD).array("users", required=True, min_items=1, max_items=100)
    names: dict[str, str] = {}
    for i, item in enumerate(items):
        entry = Body(item, PM_BAD, f"users[{i}]")
        user_id = entry.string("user_id", required=True, pattern=USER_ID_RE,
                               pattern_text="must be 32 lowercase letters and digits")
        names[user_id] = _nick_name(entry)
    if not caller.can_administer:
        authz.refuse(PM_DENIED, "not an account administrator: set other users' nicknames",
                     "No permission to set other users' nicknames: Tenant Administrator only.")
    u = t.users
    async with rt.store.write() as conn:
        found = {
            r.id for r in await conn.execute(
                select(u.c.id).where(u.c.id.in_(list(names)), u.c.account_id == caller.account_id)
            )
        }
        for i, user_id in enumerate(names):
            if user_id not in found:
                raise invalid(PM_BAD, f"users[{i}].user_id", "no such user in your account")
        await _set_nick_names(conn, names, now_us())


# ---------------------------------------------------------------------------------------------
# CodeArts Build: the caller's permissions, the project's default matrix


def build_project_id(value: str | None) -> str:
    if value is None or value == "":
        raise missing(CB_BAD, "project_id")
    return parse_project_id(value, CB_BAD, strict=True)


async def show_project_permission(rt: Runtime, caller: Principal, project_id: str | None) -> bytes:
    """The hot path of a permission service, as the JSON text of the answer: answered from the
    node's cache, rendered once per entry, while the store generation is unchanged (any change
    to members, roles or matrices moves it on)."""
    pid = build_project_id(project_id)
    generation = await rt.fresh_generation()
    key = ("build-permission", caller.account_id, caller.user_id, caller.can_administer, pid)
    entry = rt.cache.get(key)
    if entry is None:
        answer = await _project_permission(rt, caller, pid)
        # The decision, for metrics: allowed when the caller holds any Build permission there.
        held = any(answer["result"][f"{name}_permission"] for name in R.BUILD_PERMISSIONS)
        entry = (orjson.dumps(answer), "allowed" if held else "denied")
        rt.cache.put(key, entry, generation)
    metrics.decision("build", entry[1])
    return entry[0]


async def _project_permission(rt: Runtime, caller: Principal, pid: str) -> dict:
    async with rt.store.read() as conn:
        access = await load_access(conn, caller, pid, CB)
    flags = P.build_permissions(access.subject, access.cells)
    held = access.reported(access.subject.roles)
    ids = [str(access.build_id(r)) for r in held]
    names = [access.build_name(r) for r in held]
    result = {"project_id": pid}
    result.update({f"{name}_permission": flags[name] for name in R.BUILD_PERMISSIONS})
    result.update(
        {
            "role_id": ids[0] if ids else None,
            "role_name": names[0] if names else None,
            "role_ids": ids,
            "role_names": names,
        }
    )
    return {"result": result, "error": None, "status": "success"}


def build_rows(access: Access) -> list[dict]:
    """The project-level Build matrix, one row per role (spec/projectman.md §4.2)."""
    rows = []
    order = [r.role_id for r in R.BUILD_ROW_ORDER] + list(access.customs)
    for role_id in order:
        row = R.effective_row(role_id, access.cells.get(role_id))
        item: dict[str, Any] = {"role_id": access.build_id(role_id), "role_name": access.build_name(role_id)}
        item.update({flag: row[f"build.{name}"] for flag, name in R.BUILD_TASK_FLAGS})
        rows.append(item)
    return rows


async def check_job_internal(rt: Runtime, caller: Principal) -> dict:
    """CheckJobInternal (projectman.md §4.7): whether the tenant's private access is in force
    (allow-listed VPC endpoints, switch on) in the region of the request; for a request without
    one (a domain-scoped token), in any region. The same decision the enforcement makes."""
    from .privateaccess.service import authorization

    decision = await authorization(rt, caller)
    return {"result": decision.config, "error": None, "status": "success"}


async def show_default_project_permission(
    rt: Runtime, caller: Principal, project_id: str | None, job_id: str | None
) -> dict:
    pid = build_project_id(project_id)
    if job_id is None or job_id == "":
        raise missing(CB_BAD, "job_id")
    if not JOB_ID_RE.match(job_id):
        raise ApiError(CB_BAD_JOB, "Invalid parameter 'job_id': must be 32 letters and digits.")
    async with rt.store.read() as conn:
        access = await load_access(conn, caller, pid, CB, all_cells=True)
    visible = access.decide(P.Check(P.PROJECT_VIEW)).allowed or not authz.denied(
        PM_DENIED, "not_member: see the project's Build matrix (answered with no rows)", project=pid
    )
    return {"result": build_rows(access) if visible else [], "error": None, "status": "success"}
