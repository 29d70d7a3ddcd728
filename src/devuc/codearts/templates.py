"""Permission templates (spec/codearts-uc.md §5.5; a devuc extension): a project's roles and
their permission matrix saved under a name, changed on their own, and applied to other projects
of the same type.

A template belongs to an account. It is made from a project (one template per project), holds
every system role and the project's custom roles (by name) with their effective cells, and keeps
them as they were: later changes to the project do not reach the template, and changes to the
template do not reach projects that used it. At most :data:`PER_REGION` per account and region
(the region of the project it was made from). The owner and Tenant Administrators of the account
make, change and delete templates; every user of the account may read them; applying one to a
project takes the right to set that project's role permissions, with the rank rule on every role
whose cells change, as the matrix update does. Codes: the User Center's template rows
(``UC.00011038``-``UC.00011042``).
"""

from __future__ import annotations

import json
import unicodedata
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
from .inputs import Body, invalid
from .inputs import project_id as parse_project_id
from .role_admin import (
    UC_BAD,
    UC_DENIED,
    UC_TYPE_MISMATCH,
    add_custom_role,
    changed_cells,
    deny,
    parse_cells,
    permissions_json,
    role_json,
    store_changes,
)
from .service import UC, Access, load_access, ms

UC_NO_TEMPLATE = "UC.00011038"
UC_PROJECT_HAS_TEMPLATE = "UC.00011039"
UC_TOO_MANY_TEMPLATES = "UC.00011040"
UC_TEMPLATE_NAME_TAKEN = "UC.00011041"
UC_ROLE_LOCKED = "UC.00011043"
UC_NO_ROLE = "UC.00011189"

PER_REGION = 20
NAME_MAX = 64
DESCRIPTION_MAX = 256
_DESCRIPTION_PUNCTUATION = set(" ,.()[]")


# --- input ------------------------------------------------------------------------------------


def _name(b: Body, *, required: bool) -> str | None:
    name = b.string("name", required=required, min_len=1, max_len=NAME_MAX, trim=True)
    if name is not None and not all(ch.isalpha() or ch.isdigit() and ch.isascii() for ch in name):
        raise invalid(UC_BAD, "name", "may contain only letters and digits")
    return name


def _description(b: Body) -> str | None:
    text = b.string("description", max_len=DESCRIPTION_MAX)
    if text is not None and not all(
        ch.isalpha() or (ch.isdigit() and ch.isascii()) or ch in _DESCRIPTION_PUNCTUATION
        or unicodedata.category(ch) == "Po" and not ch.isascii()
        for ch in text
    ):
        raise invalid(UC_BAD, "description", "may contain only letters, digits, spaces and , . ( ) [ ]")
    return text


def _template_id(value: str) -> str:
    if not isinstance(value, str) or len(value) != 32 or not value.isalnum() or not value.isascii():
        raise invalid(UC_BAD, "template_id", "must be 32 letters and digits")
    return value.lower()


# --- the stored shape -------------------------------------------------------------------------
# content: {"roles": [{"role_id": <devuc id>, "name": <custom role name> | null, "cells": {...}}]}
# System roles keep their catalogue ids; custom roles get ids of the template's own.


def _snapshot(access: Access) -> dict:
    return {"roles": [
        {"role_id": role_id, "name": None if R.is_system(role_id) else access.name(role_id),
         "cells": R.effective_row(role_id, access.cells.get(role_id))}
        for role_id in access.role_ids()
    ]}


def _roles(row) -> list[dict]:
    return json.loads(row.content)["roles"]


def _role_json(role: dict) -> dict:
    system = R.BY_ID.get(role["role_id"])
    cells = {**R.default_row(role["role_id"]), **role["cells"]}
    return {
        "role_id": role["role_id"],
        "name": system.name if system else role["name"],
        "type": "system" if system else "custom",
        "locked": [s for s in R.SERVICES if R.is_locked(role["role_id"], s)],
        "permissions": permissions_json(cells),
    }


def template_json(row, *, with_roles: bool = True) -> dict:
    answer = {
        "template_id": row.id,
        "name": row.name,
        "description": row.description,
        "project_type": row.project_type,
        "region": row.region,
        "domain_id": row.account_id,
        "source_project_id": row.source_project_id,
        "created_by": row.created_by,
        "created_time": ms(row.created_us),
        "updated_time": ms(row.updated_us),
    }
    if with_roles:
        answer["roles"] = [_role_json(role) for role in _roles(row)]
    return answer


# --- who may ----------------------------------------------------------------------------------


def _require_admin(caller: Principal | None, account_id: str, what: str) -> None:
    if caller is None or (caller.can_administer and caller.account_id == account_id):
        return
    authz.refuse(UC_DENIED, f"not an account administrator: {what}",
                 f"No permission to {what}: only the account owner and Tenant Administrators may.")


async def _load(conn: AsyncConnection, caller: Principal | None, template_id: str, *, lock: bool = False):
    """A template the caller's account holds; any other is not found (another account's too)."""
    pt = t.codearts_permission_templates
    query = select(pt).where(pt.c.id == _template_id(template_id))
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None or (caller is not None and row.account_id != caller.account_id):
        raise ApiError(UC_NO_TEMPLATE, f"Permission template not found: '{template_id}'.")
    return row


# --- the API ----------------------------------------------------------------------------------


async def create_template(rt: Runtime, caller: Principal | None, body: Any) -> dict:
    b = Body(body, UC_BAD)
    name = _name(b, required=True)
    description = _description(b) or ""
    pid = parse_project_id(b.string("project_id", required=True), UC_BAD)
    pt = t.codearts_permission_templates
    now = now_us()
    try:
        async with rt.store.write(affects_auth=False) as conn:
            access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
            project = access.project
            _require_admin(caller, project.account_id, "make a permission template")
            # the account's row lock: the per-region count is exact on every node
            await conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == project.account_id).with_for_update())
            if (await conn.execute(select(pt.c.id).where(pt.c.source_project_id == pid))).first():
                raise ApiError(UC_PROJECT_HAS_TEMPLATE, "Template already created with this project: a project "
                               "makes one template.")
            if (await conn.execute(select(pt.c.id).where(pt.c.account_id == project.account_id,
                                                         pt.c.name == name))).first():
                raise _name_taken(name)
            count = (await conn.execute(select(func.count()).where(
                pt.c.account_id == project.account_id, pt.c.region == project.region))).scalar_one()
            if count >= PER_REGION:
                raise ApiError(UC_TOO_MANY_TEMPLATES, f"Too many templates under your tenant: at most {PER_REGION} "
                               "per region.")
            snapshot = _snapshot(access)
            for role in snapshot["roles"]:
                if role["name"] is not None:
                    role["role_id"] = new_id()  # the template's own id for its copy of a custom role
            template_id = new_id()
            await conn.execute(insert(pt).values(
                id=template_id, account_id=project.account_id, region=project.region, name=name,
                description=description, project_type=project.project_type, source_project_id=pid,
                content=json.dumps(snapshot, ensure_ascii=False), created_by=caller.user_id if caller else "",
                created_us=now, updated_us=now,
            ))
            row = (await conn.execute(select(pt).where(pt.c.id == template_id))).one()
    except IntegrityError as exc:  # a concurrent maker with the same name or project
        raise _name_taken(name) from exc
    return template_json(row)


def _name_taken(name: str) -> ApiError:
    return ApiError(UC_TEMPLATE_NAME_TAKEN, f"Project template name already exists: '{name}'.")


async def list_templates(
    rt: Runtime, caller: Principal | None, project_type: str | None = None, *, account_id: str | None = None
) -> dict:
    """The caller's account's templates (``caller`` None, the operator: every account's, or
    ``account_id``'s), oldest first."""
    pt = t.codearts_permission_templates
    query = select(pt).order_by(pt.c.created_us, pt.c.id)
    account_id = caller.account_id if caller is not None else account_id
    if account_id is not None:
        query = query.where(pt.c.account_id == account_id)
    if project_type:
        query = query.where(pt.c.project_type == project_type)
    async with rt.store.read() as conn:
        rows = (await conn.execute(query)).all()
    return {"templates": [template_json(r, with_roles=False) for r in rows], "total": len(rows)}


async def show_template(rt: Runtime, caller: Principal | None, template_id: str) -> dict:
    async with rt.store.read() as conn:
        return template_json(await _load(conn, caller, template_id))


async def update_template(rt: Runtime, caller: Principal | None, template_id: str, body: Any) -> dict:
    b = Body(body, UC_BAD)
    name, description = _name(b, required=False), _description(b)
    pt = t.codearts_permission_templates
    try:
        async with rt.store.write(affects_auth=False) as conn:
            row = await _load(conn, caller, template_id, lock=True)
            _require_admin(caller, row.account_id, "change a permission template")
            if name is not None and name != row.name and (await conn.execute(select(pt.c.id).where(
                    pt.c.account_id == row.account_id, pt.c.name == name))).first():
                raise _name_taken(name)
            changes = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
            if changes:
                await conn.execute(update(pt).where(pt.c.id == row.id).values(updated_us=now_us(), **changes))
            row = (await conn.execute(select(pt).where(pt.c.id == row.id))).one()
    except IntegrityError as exc:
        raise _name_taken(name or "") from exc
    return template_json(row)


async def update_template_role(
    rt: Runtime, caller: Principal | None, template_id: str, role_id: str, body: Any
) -> dict:
    """Change one role's cells in the template; locked rows keep theirs (a cell sent with its
    current value is no change, as in the project's matrix)."""
    cells = parse_cells(Body(body, UC_BAD).object("permissions", required=True), "permissions")
    wanted = R.normalize_role_id(role_id)
    if wanted is None:
        raise invalid(UC_BAD, "role_id", "must be a 32-character role id")
    pt = t.codearts_permission_templates
    async with rt.store.write(affects_auth=False) as conn:
        row = await _load(conn, caller, template_id, lock=True)
        _require_admin(caller, row.account_id, "change a permission template")
        content = json.loads(row.content)
        role = next((r for r in content["roles"] if r["role_id"] == wanted), None)
        if role is None:
            raise ApiError(UC_NO_ROLE, f"Role not found: '{role_id}' is not a role of this template.")
        current = {**R.default_row(wanted), **role["cells"]}
        changed = {k: v for k, v in cells.items() if current[k] != v}
        locked = sorted({k.split(".", 1)[0] for k in changed if R.is_locked(wanted, k.split(".", 1)[0])})
        if locked:
            raise authz.always(UC_ROLE_LOCKED, "locked: a locked row of a template",
                               f"Not authorized to modify this role: its {'/'.join(locked)} row is locked.")
        if changed:
            role["cells"] = {**current, **changed}
            await conn.execute(update(pt).where(pt.c.id == row.id).values(
                content=json.dumps(content, ensure_ascii=False), updated_us=now_us()))
    return _role_json(role)


async def delete_template(rt: Runtime, caller: Principal | None, template_id: str) -> None:
    pt = t.codearts_permission_templates
    async with rt.store.write(affects_auth=False) as conn:
        row = await _load(conn, caller, template_id, lock=True)
        _require_admin(caller, row.account_id, "delete a permission template")
        await conn.execute(delete(pt).where(pt.c.id == row.id))


async def apply_template(rt: Runtime, caller: Principal | None, project_id: str, body: Any) -> dict:
    """Give a project the template's roles and cells: custom roles it lacks (by name) are made;
    roles it has and the template lacks are left as they are; members keep their roles. All or
    nothing."""
    template_id = Body(body, UC_BAD).string("template_id", required=True)
    pid = parse_project_id(project_id, UC_BAD)
    now = now_us()
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, UC, all_cells=True, lock=True)
        deny(access.decide(P.Check(P.ROLES_MANAGE)), "set the role permissions of this project")
        row = await _load(conn, caller, template_id)
        if row.account_id != access.project.account_id:  # a guest member's own account's template
            raise ApiError(UC_NO_TEMPLATE, f"Permission template not found: '{template_id}'.")
        if row.project_type != access.project.project_type:
            raise ApiError(UC_TYPE_MISMATCH, "Project type and template type do not match: "
                           f"the template is for {row.project_type} projects, this project is {access.project.project_type}.")
        by_name = {access.name(r): r for r in access.customs}
        changes: dict[str, dict[str, bool]] = {}
        for role in _roles(row):
            target = role["role_id"] if R.is_system(role["role_id"]) else by_name.get(role["name"])
            if target is None:
                access, _ = await add_custom_role(conn, access, role["name"], role["cells"], now)
                continue
            unlocked = {k: bool(v) for k, v in role["cells"].items() if not R.is_locked(target, k.split(".", 1)[0])}
            changed = changed_cells(access, target, unlocked)
            if changed:
                changes[target] = changed
        await store_changes(conn, access, changes)
        access = await load_access(conn, caller, pid, UC, all_cells=True)
    return {"template_id": row.id, "roles": [role_json(access, r) for r in access.role_ids()]}
