"""devuc extensions: project roles and their permission matrices, members holding several
roles, and the tenant's project-creator setting (spec/codearts-uc.md §5.2-§5.6).

These are not cloud APIs; they are what the console does in the cloud. They answer the User
Center's ``UC.*`` codes. ``caller`` None is the local operator (the CLI), who administers every
account. Rules are decided by :func:`devuc.codearts.permissions.evaluate`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import authz
from ..errors import ApiError
from ..iam.identity import Principal, new_id
from ..runtime import Runtime
from ..store import tables as t
from ..store.db import now_us
from . import permissions as P
from . import roles as R
from .inputs import USER_ID_RE, Body, invalid, missing
from .inputs import project_id as parse_project_id
from .service import UC, Access, insert_ignore, load_access, matrix_cells, tenant_settings, upsert
from .service import member_roles as stored_roles

UC_BAD = "UC.00011002"
UC_DENIED = "UC.00011003"
UC_IN_USE = "UC.00011004"
UC_EXISTS = "UC.00011009"
UC_TOO_MANY = "UC.00011016"
UC_TYPE_MISMATCH = "UC.00011042"
UC_ROLE_LOCKED = "UC.00011043"
UC_NOT_MEMBER = "UC.00011059"
UC_ADMIN_ROLE = "UC.00011071"
UC_BAD_NAME = "UC.00011180"
UC_BAD_USER = "UC.00011181"
UC_NO_ROLE = "UC.00011189"
MAX_ROLES_PER_MEMBER = 20


def deny(decision: P.Decision, what: str) -> None:
    """Refuse what ``decision`` does not allow: ``locked`` (an integrity rule) in every mode,
    the rest as the enforcement mode says (devuc/authz.py)."""
    if decision.allowed:
        return
    if decision.reason == "locked":
        raise authz.always(UC_ROLE_LOCKED, f"locked: {what}", f"Not authorized to modify this role: {what} is locked.")
    if decision.reason == "rank":
        authz.refuse(UC_ROLE_LOCKED, f"rank: {what}",
                     f"Not authorized to modify this role: {what} is not below your own role.")
        return
    authz.refuse(UC_DENIED, f"{decision.reason}: {what}", f"No permission to {what}.")


def _role_id(value: str, access: Access, name: str = "role_id") -> str:
    role_id = R.normalize_role_id(value) if isinstance(value, str) else None
    if role_id is None:
        raise invalid(UC_BAD, name, "must be a 32-character role id")
    if not access.has_role(role_id):
        raise ApiError(UC_NO_ROLE, f"Role not found: '{value}' is not a role of this project.")
    return role_id


def permissions_json(row) -> dict:
    """A matrix row as the extensions show it: ``{"build": {"create": true, ...}, "devuc": {...}}``."""
    return {service: {name: row[f"{service}.{name}"] for name in names} for service, names in R.SERVICES.items()}


def role_json(access: Access, role_id: str) -> dict:
    system = R.BY_ID.get(role_id)
    row = R.effective_row(role_id, access.cells.get(role_id))
    return {
        "role_id": role_id,
        "name": access.name(role_id),
        "name_en": system.name_en if system else None,
        "type": "system" if system else "custom",
        "projectman_role_id": access.pm_id(role_id),
        "build_role_id": access.build_id(role_id),
        "rank": R.rank(role_id),
        "locked": [s for s in R.SERVICES if R.is_locked(role_id, s)],
        "permissions": permissions_json(row),
    }


def catalogue() -> dict:
    """The system roles with their ids in every scheme (no project needed)."""
    return {
        "roles": [
            {
                "role_id": r.role_id,
                "name": r.name,
                "name_en": r.name_en,
                "build_role_name": r.build_role_name,
                "projectman_role_id": r.pm_id,
                "build_role_id": r.build_id,
                "rank": r.rank,
                "locked": [s for s in R.SERVICES if R.is_locked(r.role_id, s)],
                "default_permissions": permissions_json(r.defaults),
            }
            for r in R.SYSTEM_ROLES
        ]
    }


async def _viewer_access(conn: AsyncConnection, caller: Principal | None, project_id: str) -> Access:
    access = await load_access(conn, caller, parse_project_id(project_id, UC_BAD), UC, all_cells=True)
    deny(access.decide(P.Check(P.PROJECT_VIEW)), "see this project: only its members may")
    return access


async def list_roles(rt: Runtime, caller: Principal | None, project_id: str) -> dict:
    async with rt.store.read() as conn:
        access = await _viewer_access(conn, caller, project_id)
    return {"roles": [role_json(access, r) for r in access.role_ids()]}


async def show_role(rt: Runtime, caller: Principal | None, project_id: str, role_id: str) -> dict:
    async with rt.store.read() as conn:
        access = await _viewer_access(conn, caller, project_id)
    return role_json(access, _role_id(role_id, access))


def _role_name(b: Body) -> str:
    name = b.string("name", required=True, trim=True)
    problem = R.role_name_problem(name)
    if problem:
        raise ApiError(UC_BAD_NAME, f"Invalid role name: 'name' {problem}.")
    return name


async def add_custom_role(
    conn: AsyncConnection, access: Access, name: str, cells: dict[str, bool], now: int
) -> tuple[Access, str]:
    """Create a custom role with ``cells`` in ``access``'s project, whose row the caller has
    locked (``load_access(lock=True)``), so numbering and the quota are exact. Returns the access
    with the new role in it, and the role's id."""
    p, cr = t.codearts_projects, t.codearts_roles
    pid = access.project.id
    number = (
        await conn.execute(
            update(p).where(p.c.id == pid).values(next_role_num=p.c.next_role_num + 1)
            .returning(p.c.next_role_num)
        )
    ).scalar_one() - 1
    count = (await conn.execute(select(func.count()).where(cr.c.project_id == pid))).scalar_one()
    if count >= R.MAX_CUSTOM_ROLES:
        raise ApiError(UC_TOO_MANY, f"Too many custom roles: at most {R.MAX_CUSTOM_ROLES} per project.")
    if (await conn.execute(select(cr.c.id).where(cr.c.project_id == pid, cr.c.name == name))).first():
        raise _name_taken(name)
    role_id = new_id()
    await conn.execute(
        insert(cr).values(id=role_id, project_id=pid, num_id=number, name=name, created_us=now, updated_us=now)
    )
    await store_cells(conn, pid, {role_id: cells})
    new_row = (await conn.execute(select(cr).where(cr.c.id == role_id))).one()
    grown = Access(access.project, access.subject, {**access.cells, role_id: dict(cells)},
                   {**access.customs, role_id: new_row})
    return grown, role_id


def _name_taken(name: str) -> ApiError:
    return ApiError(UC_EXISTS, f"Data already exists: a role named '{name}' is in this project.")


async def create_role(rt: Runtime, caller: Principal | None, project_id: str, body: Any) -> dict:
    b = Body(body, UC_BAD)
    name = _role_name(b)
    source = b.object("copy_from")
    source_project = source_role = None
    if source is not None:
        source_project = parse_project_id(
            source.string("project_id", required=True), UC_BAD
        )
        source_role = source.string("role_id", required=True)
    pid = parse_project_id(project_id, UC_BAD)
    try:
        async with rt.store.write() as conn:
            access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
            deny(access.decide(P.Check(P.ROLES_MANAGE)), "manage the roles of this project")
            cells: dict[str, bool] = {}
            if source_project is not None:
                origin = access if source_project == pid else await load_access(conn, caller, source_project, UC, all_cells=True)
                deny(origin.decide(P.Check(P.PROJECT_VIEW)), "copy a role of a project you are not a member of")
                if origin.project.project_type != access.project.project_type:
                    raise ApiError(
                        UC_TYPE_MISMATCH,
                        "Project type and template type do not match: roles are copied only between "
                        f"projects of the same type ({origin.project.project_type} vs {access.project.project_type}).",
                    )
                copied = _role_id(source_role, origin, "copy_from.role_id")
                cells = R.effective_row(copied, origin.cells.get(copied))
            access, role_id = await add_custom_role(conn, access, name, cells, now_us())
    except IntegrityError as exc:
        raise _name_taken(name) from exc
    return role_json(access, role_id)


async def rename_role(rt: Runtime, caller: Principal | None, project_id: str, role_id: str, body: Any) -> dict:
    name = _role_name(Body(body, UC_BAD))
    pid = parse_project_id(project_id, UC_BAD)
    cr = t.codearts_roles
    try:
        async with rt.store.write() as conn:
            access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
            target = _role_id(role_id, access)
            if R.is_system(target):
                raise authz.always(UC_ROLE_LOCKED, "integrity: system roles keep their names",
                                   "Not authorized to modify this role: system roles cannot be renamed.")
            deny(access.decide(P.Check(P.ROLES_MANAGE, frozenset({target}))), "rename this role")
            clash = await conn.execute(select(cr.c.id).where(cr.c.project_id == pid, cr.c.name == name, cr.c.id != target))
            if clash.first():
                raise _name_taken(name)
            await conn.execute(update(cr).where(cr.c.id == target).values(name=name, updated_us=now_us()))
            access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
    except IntegrityError as exc:
        raise _name_taken(name) from exc
    return role_json(access, target)


async def delete_role(rt: Runtime, caller: Principal | None, project_id: str, role_id: str) -> None:
    pid = parse_project_id(project_id, UC_BAD)
    mr, cr, rp = t.codearts_member_roles, t.codearts_roles, t.codearts_role_permissions
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
        target = _role_id(role_id, access)
        if R.is_system(target):
            raise authz.always(UC_ROLE_LOCKED, "integrity: system roles cannot be deleted",
                               "Not authorized to modify this role: system roles cannot be deleted.")
        deny(access.decide(P.Check(P.ROLES_MANAGE, frozenset({target}))), "delete this role")
        holders = (
            await conn.execute(select(func.count()).where(mr.c.project_id == pid, mr.c.role_id == target))
        ).scalar_one()
        if holders:
            raise ApiError(UC_IN_USE, f"Data currently in use: {holders} member(s) hold this role; give them another role first.")
        await conn.execute(delete(rp).where(rp.c.project_id == pid, rp.c.role_id == target))
        jobs = select(t.codearts_build_jobs.c.id).where(t.codearts_build_jobs.c.project_id == pid)
        jr = t.codearts_build_job_roles
        await conn.execute(delete(jr).where(jr.c.role_id == target, jr.c.job_id.in_(jobs)))
        await conn.execute(delete(cr).where(cr.c.id == target))


# ---------------------------------------------------------------------------------------------
# matrices


def parse_cells(b: Body | None, name: str) -> dict[str, bool]:
    """``{"build": {"create": true, ...}, "devuc": {...}}`` into ``{"build.create": True, ...}``."""
    if b is None:
        raise missing(UC_BAD, name)
    cells: dict[str, bool] = {}
    for service, value in b.data.items():
        if service not in R.SERVICES:
            raise invalid(UC_BAD, f"{name}.{service}", f"unknown service; known: {', '.join(R.SERVICES)}")
        if value is None:
            continue
        inner = Body(value, UC_BAD, f"{name}.{service}")
        for permission in inner.data:
            if permission not in R.SERVICES[service]:
                raise invalid(
                    UC_BAD, f"{name}.{service}.{permission}",
                    f"unknown permission; known: {', '.join(R.SERVICES[service])}",
                )
            flag = inner.boolean(permission)
            if flag is not None:
                cells[f"{service}.{permission}"] = flag
    return cells


def _parse_matrix_update(body: Any) -> list[tuple[str, str, dict[str, bool]]]:
    b = Body(body, UC_BAD)
    items = b.array("roles", required=True, min_items=1, max_items=R.MAX_CUSTOM_ROLES + len(R.SYSTEM_ROLES))
    out = []
    for i, item in enumerate(items):
        entry = Body(item, UC_BAD, f"roles[{i}]")
        role = entry.string("role_id", required=True)
        out.append((f"roles[{i}].role_id", role, parse_cells(entry.object("permissions"), f"roles[{i}].permissions")))
    return out


async def store_cells(conn: AsyncConnection, project_id: str, cells: dict[str, dict[str, bool]]) -> None:
    rows = [
        {"project_id": project_id, "role_id": role_id, "permission": key, "granted": value}
        for role_id, row in cells.items()
        for key, value in row.items()
    ]
    await upsert(conn, t.codearts_role_permissions, rows, ["project_id", "role_id", "permission"], ["granted"])


def changed_cells(access: Access, role_id: str, cells: dict[str, bool]) -> dict[str, bool]:
    """The cells of ``cells`` that differ from the role's effective row (a cell given its
    current value is no change)."""
    current = R.effective_row(role_id, access.cells.get(role_id))
    return {k: v for k, v in cells.items() if current[k] != v}


async def store_changes(conn: AsyncConnection, access: Access, changes: dict[str, dict[str, bool]]) -> None:
    """Store changed cells, each role's change allowed by the rank and lock rules first."""
    for role_id, changed in changes.items():
        services = frozenset(k.split(".", 1)[0] for k in changed)
        label = f"the {'/'.join(sorted(services))} permissions of role {access.name(role_id)}"
        deny(access.decide(P.Check(P.ROLES_MANAGE, frozenset({role_id}), services)), f"change {label}")
    await store_cells(conn, access.project.id, changes)


async def update_matrix(rt: Runtime, caller: Principal | None, project_id: str, body: Any) -> dict:
    """Change cells of one or more roles, all or nothing. A cell given its current value is not a
    change (so a whole matrix read back and sent again is accepted, locked rows included)."""
    updates = _parse_matrix_update(body)
    pid = parse_project_id(project_id, UC_BAD)
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
        deny(access.decide(P.Check(P.ROLES_MANAGE)), "set the role permissions of this project")
        changes: dict[str, dict[str, bool]] = {}
        for name, raw, cells in updates:
            role_id = _role_id(raw, access, name)
            changed = changed_cells(access, role_id, cells)
            if changed:
                changes.setdefault(role_id, {}).update(changed)
        await store_changes(conn, access, changes)
        access = Access(access.project, access.subject, await matrix_cells(conn, pid), access.customs)
    return {"roles": [role_json(access, r) for r in access.role_ids()]}


async def update_role_matrix(
    rt: Runtime, caller: Principal | None, project_id: str, role_id: str, body: Any
) -> dict:
    cells = Body(body, UC_BAD).object("permissions", required=True)
    wanted = R.normalize_role_id(role_id)
    if wanted is None:
        raise invalid(UC_BAD, "role_id", "must be a 32-character role id")
    answer = await update_matrix(
        rt, caller, project_id, {"roles": [{"role_id": wanted, "permissions": cells.data}]}
    )
    return next(r for r in answer["roles"] if r["role_id"] == wanted)


# ---------------------------------------------------------------------------------------------
# members holding several roles


async def member_roles(rt: Runtime, caller: Principal | None, project_id: str, user_id: str) -> dict:
    async with rt.store.read() as conn:
        access = await _viewer_access(conn, caller, project_id)
        held = await _held(conn, access, user_id)
    return {"user_id": user_id, "roles": [role_json(access, r) for r in access.reported(held)]}


async def _held(conn: AsyncConnection, access: Access, user_id: str) -> frozenset[str]:
    if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
        raise invalid(UC_BAD, "user_id", "must be 32 lowercase letters and digits")
    held = await stored_roles(conn, access.project.id, user_id)
    if not held:
        raise ApiError(UC_NOT_MEMBER, f"The user '{user_id}' is not a member of this project.")
    return held


async def set_member_roles(
    rt: Runtime, caller: Principal | None, project_id: str, user_id: str, body: Any
) -> dict:
    items = Body(body, UC_BAD).array("role_ids", required=True, min_items=1, max_items=MAX_ROLES_PER_MEMBER)
    pid = parse_project_id(project_id, UC_BAD)
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
        deny(access.decide(P.Check(P.MEMBERS_MANAGE)), "manage the members of this project")
        wanted = frozenset(_role_id(v, access, f"role_ids[{i}]") for i, v in enumerate(items))
        held = await _held(conn, access, user_id)
        if wanted != held:
            admin = R.PROJECT_ADMIN.role_id
            if admin in wanted or admin in held:
                raise authz.always(
                    UC_ADMIN_ROLE,
                    "integrity: the creator keeps the project administrator role, nobody else gets it",
                    "Not permitted to set project administrator: the creator keeps exactly that role "
                    "and nobody else can be given it.",
                )
            deny(
                access.decide(P.Check(P.MEMBERS_MANAGE, wanted | held)),
                "change this member's roles: a role concerned is not below your own",
            )
            mr = t.codearts_member_roles
            await conn.execute(delete(mr).where(mr.c.project_id == pid, mr.c.user_id == user_id))
            await insert_ignore(conn, mr, [{"project_id": pid, "user_id": user_id, "role_id": r} for r in wanted])
    return {"user_id": user_id, "roles": [role_json(access, r) for r in access.reported(wanted)]}


# ---------------------------------------------------------------------------------------------
# the tenant's project-creator setting


def _settings_json(account_id: str, settings: P.TenantSettings) -> dict:
    return {
        "domain_id": account_id,
        "project_creation": settings.project_creation,
        "project_creators": sorted(settings.project_creators),
    }


def _tenant_admin_only(caller: Principal | None, account_id: str) -> None:
    message = "No permission: only the account owner and Tenant Administrators may."
    if caller is None:
        return
    if caller.account_id != account_id:
        raise authz.always(UC_DENIED, "tenant isolation: another account's setting", message)
    if not caller.can_administer:
        authz.refuse(UC_DENIED, "not the account owner or a Tenant Administrator", message)


async def show_creators(rt: Runtime, caller: Principal | None, account_id: str) -> dict:
    _tenant_admin_only(caller, account_id)
    async with rt.store.read() as conn:
        return _settings_json(account_id, await tenant_settings(conn, account_id))


async def update_creators(rt: Runtime, caller: Principal | None, account_id: str, body: Any) -> dict:
    b = Body(body, UC_BAD)
    mode = b.string("project_creation")
    if mode is not None and mode not in P.CREATION_MODES:
        raise invalid(UC_BAD, "project_creation", "must be all or selected")
    users = b.array("project_creators", max_items=10_000)
    chosen: list[str] | None = None
    if users is not None:
        chosen = []
        for i, value in enumerate(users):
            if not isinstance(value, str) or not USER_ID_RE.match(value):
                raise invalid(UC_BAD, f"project_creators[{i}]", "must be a user id of 32 lowercase letters and digits")
            if value not in chosen:
                chosen.append(value)
    _tenant_admin_only(caller, account_id)
    ts, pc, u = t.codearts_tenant_settings, t.codearts_project_creators, t.users
    now = now_us()
    async with rt.store.write() as conn:
        if (await conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == account_id))).first() is None:
            raise ApiError("UC.00011005", f"Not found: no account '{account_id}'.")
        if chosen is not None:
            found = {
                r.id for r in await conn.execute(
                    select(u.c.id).where(u.c.id.in_(chosen), u.c.account_id == account_id)
                )
            }
            for i, user_id in enumerate(chosen):
                if user_id not in found:
                    raise ApiError(UC_BAD_USER, f"Invalid user: project_creators[{i}] '{user_id}' is not a user of this account.")
            await conn.execute(delete(pc).where(pc.c.account_id == account_id))
            await insert_ignore(conn, pc, [{"account_id": account_id, "user_id": x} for x in chosen])
        if mode is not None:
            await upsert(
                conn, ts, [{"account_id": account_id, "project_creation": mode, "updated_us": now}],
                ["account_id"], ["project_creation", "updated_us"],
            )
        settings = await tenant_settings(conn, account_id)
    return _settings_json(account_id, settings)
