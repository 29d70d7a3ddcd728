"""CodeArts Build task matrices (spec/projectman.md §4.3-4.6): a task's role matrix, the caller's
permissions on a task, changing a task's matrix (in batch or one cell), and the switch that makes a
task follow its project's matrix.

Build tasks are not otherwise modelled (projectman.md §4). A task becomes known with the first
write that names it together with a project (the batch update or the switch): that write binds it
to the project for good and makes its caller the task's creator, whose row (-3) is locked. A new
task gets its own matrix, a copy of the project's Build matrix at that moment, unless the write
asks it to follow the project (``project_switch: true``). Changing a task's matrix needs
``is_manager`` on the task (on the project's matrix for a task not known yet); values sent for the
locked rows (-3, and the project administrator's -1) are ignored. docs/codearts-choices.md has the
choices where the pages are silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import authz
from ..errors import ApiError
from ..iam.identity import Principal
from ..runtime import Runtime
from ..store import tables as t
from ..store.db import now_us
from . import permissions as P
from . import roles as R
from .inputs import JOB_ID_RE, Body, invalid, missing
from .service import CB, CB_BAD, CB_BAD_JOB, CB_NOT_FOUND, Access, build_project_id, insert_ignore, load_access

FLAGS: tuple[tuple[str, str], ...] = R.BUILD_TASK_FLAGS  # (is_modify, modify), ...
FLAG_NAMES: dict[str, str] = dict(FLAGS)
JOBS_PER_BATCH = 100
ROWS_PER_BATCH = len(R.SYSTEM_ROLES) + R.MAX_CUSTOM_ROLES + 1  # every role, and the creator's row
INT32 = 2**31 - 1
_ROLE_NUMBER = re.compile(r"^-?[0-9]{1,10}$")
DONE = {"status": "success", "error": None, "result": None}


@dataclass(frozen=True)
class Loaded:
    job: Any  # the codearts_build_jobs row
    rows: dict[str, Any]  # the task's own rows by devuc role id
    task: P.Task


def _job_id(value: Any, name: str = "job_id") -> str:
    if value is None or value == "":
        raise missing(CB_BAD, name)
    if not isinstance(value, str) or not JOB_ID_RE.match(value):
        raise ApiError(CB_BAD_JOB, f"Invalid parameter '{name}': must be 32 letters and digits.")
    return value


def _unknown(job_id: str) -> ApiError:
    return ApiError(CB_BAD_JOB, f"Invalid task ID: no build task '{job_id}' is known here.")


def _time(us: int) -> str:
    """ISO-8601 with milliseconds and the UTC offset, as the pages' second example."""
    return datetime.fromtimestamp(us / 1_000_000, timezone.utc).isoformat(timespec="milliseconds")


async def load(conn: AsyncConnection, job_id: str) -> Loaded | None:
    j, jr = t.codearts_build_jobs, t.codearts_build_job_roles
    job = (await conn.execute(select(j).where(j.c.id == job_id))).first()
    if job is None:
        return None
    rows = {r.role_id: r for r in await conn.execute(select(jr).where(jr.c.job_id == job_id))}
    own = {role: {name: bool(getattr(r, flag)) for flag, name in FLAGS} for role, r in rows.items()}
    return Loaded(job, rows, P.Task(job.creator_id, bool(job.follows_project), own))


async def _task_access(
    conn: AsyncConnection, caller: Principal | None, project_id: str, job_id: str, *, lock: bool = False
) -> Access:
    """The task's project as the caller sees it; a project the caller may not know of is
    answered as an unknown task, so the task id tells a stranger nothing."""
    try:
        return await load_access(conn, caller, project_id, CB, all_cells=True, lock=lock)
    except ApiError as exc:
        if exc.code == CB_NOT_FOUND:
            raise _unknown(job_id) from None
        raise


def _in_project(loaded: Loaded | None, project_id: str, job_id: str) -> None:
    if loaded is not None and loaded.job.project_id != project_id:
        raise _unknown(job_id)


def _require_manager(access: Access, loaded: Loaded | None, job_id: str) -> None:
    task = loaded.task if loaded is not None else P.Task(creator_id="")  # not known yet: the project's matrix
    decision = P.evaluate(access.subject, access.cells, P.TenantSettings(), P.Check("task.manager"), task)
    if not decision.allowed:
        authz.refuse(CB_BAD, f"{decision.reason}: manage the permissions of build task {job_id}",
                     "No permission to manage the permissions of this task.", status=403,
                     project=access.project.id, job=job_id)


def _reported_role(access: Access, task: P.Task) -> int | None:
    """The role a task answer names: the project administrator, else the task's creator (-3),
    else the caller's first role in the order of codearts-uc.md §5.3."""
    held = access.reported(access.subject.roles)
    if R.PROJECT_ADMIN.role_id in held:
        return R.PROJECT_ADMIN.build_id
    if P.is_task_creator(access.subject, task):
        return R.TASK_CREATOR_BUILD_ID
    return access.build_id(held[0]) if held else None


# ---------------------------------------------------------------------------------------------
# reads


async def show_job_role_permission(rt: Runtime, caller: Principal, job_id: str | None) -> dict:
    """ShowJobRolePermission (§4.3): every role's row of the task's matrix, the creator's first."""
    jid = _job_id(job_id)
    async with rt.store.read() as conn:
        loaded = await load(conn, jid)
        if loaded is None:
            raise _unknown(jid)
        access = await _task_access(conn, caller, loaded.job.project_id, jid)
    visible = access.decide(P.Check(P.PROJECT_VIEW)).allowed or not authz.denied(
        CB_BAD, "not_member: see a build task's matrix (answered with no rows)", status=403,
        project=access.project.id, job=jid,
    )
    return {"result": _matrix_rows(access, loaded) if visible else [], "error": None, "status": "success"}


def _matrix_rows(access: Access, loaded: Loaded) -> list[dict]:
    job, task = loaded.job, loaded.task
    creator = {"id": 0, "role_id": R.TASK_CREATOR_BUILD_ID, "role_name": None, "job_id": job.id}
    creator.update({flag: True for flag, _ in FLAGS})
    creator.update({"create_time": _time(job.created_us), "last_update_time": _time(job.updated_us), "count": 0})
    out = [creator]
    for role_id in [r.role_id for r in R.BUILD_ROW_ORDER] + list(access.customs):
        values = P.task_row(role_id, access.cells, task)
        stored = loaded.rows.get(role_id) if P.task_row_source(role_id, task) == "task" else None
        item: dict[str, Any] = {
            "id": stored.id if stored is not None else 0,
            "role_id": access.build_id(role_id),
            "role_name": access.build_name(role_id),
            "job_id": job.id,
        }
        item.update({flag: values[name] for flag, name in FLAGS})
        item.update({
            "create_time": _time((stored or job).created_us),
            "last_update_time": _time((stored or job).updated_us),
            "count": 0,
        })
        out.append(item)
    return out


async def show_project_job_permission(
    rt: Runtime, caller: Principal, project_id: str | None, job_id: str | None
) -> dict:
    """ShowProjectJobPermission (§4.4): the caller's seven permissions on one task of a project."""
    pid = build_project_id(project_id)
    jid = _job_id(job_id)
    async with rt.store.read() as conn:
        access = await load_access(conn, caller, pid, CB)
        loaded = await load(conn, jid)
    if loaded is None:
        raise _unknown(jid)
    _in_project(loaded, pid, jid)
    flags = P.task_permissions(access.subject, access.cells, loaded.task)
    result: dict[str, Any] = {"role_id": _reported_role(access, loaded.task), "job_id": jid}
    result.update({flag: flags[name] for flag, name in FLAGS})
    result.update({
        "create_time": _time(loaded.job.created_us),
        "last_update_time": _time(loaded.job.updated_us),
        "count": 0,
    })
    return {"result": result, "error": None, "status": "success"}


# ---------------------------------------------------------------------------------------------
# writes


def _role_of(access: Access, raw: Any, name: str) -> str | None:
    """The devuc role a Build ``role_id`` names (an integer, or its decimal string); None for
    the task creator's -3, which is no role."""
    if isinstance(raw, str) and _ROLE_NUMBER.match(raw.strip()):
        raw = int(raw.strip())
    if not isinstance(raw, int) or isinstance(raw, bool) or not -INT32 - 1 <= raw <= INT32:
        raise invalid(CB_BAD, name, "must be a Build role id (an integer)")
    if raw == R.TASK_CREATOR_BUILD_ID:
        return None
    role = access.by_build_id(raw)
    if role is None:
        raise invalid(CB_BAD, name, f"no role {raw} in this project")
    return role


def _parse_rows(items: list, access: Access) -> dict[str, dict[str, bool]]:
    """The ``permissions`` rows of a batch update: role -> the cells sent. Rows are matched by
    ``role_id`` (or ``devuc_role_id`` alone); the locked rows are read and then left out."""
    changes: dict[str, dict[str, bool]] = {}
    for i, raw in enumerate(items):
        path = f"permissions[{i}]"
        row = Body(raw, CB_BAD, path)
        row.integer("id", low=-INT32 - 1, high=INT32)
        row.integer("count", low=-INT32 - 1, high=INT32)
        row.string("role_name", max_len=256)
        named = row.string("devuc_role_id", max_len=36)
        devuc_id = None
        if named is not None:
            devuc_id = R.normalize_role_id(named)
            if devuc_id is None or not access.has_role(devuc_id):
                raise invalid(CB_BAD, f"{path}.devuc_role_id", "must be the id of a role of this project "
                              "(32 characters, or 36 with dashes)")
        cells = {name: value for flag, name in FLAGS if (value := row.boolean(flag)) is not None}
        if row.has("role_id"):
            role = _role_of(access, row.data["role_id"], f"{path}.role_id")
            if devuc_id is not None and role != devuc_id:
                raise invalid(CB_BAD, f"{path}.devuc_role_id", "names another role than role_id")
        elif devuc_id is not None:
            role = devuc_id
        else:
            raise missing(CB_BAD, f"{path}.role_id")
        if role is None or R.is_locked(role, "build"):
            continue  # the creator's and the project administrator's rows: ignored
        changes.setdefault(role, {}).update(cells)
    return changes


async def _bind(conn: AsyncConnection, access: Access, caller: Principal | None, job_id: str, now: int) -> Loaded:
    """Make a task known, bound to ``access``'s project, the caller its creator. It starts out
    following the project; the write that made it known then decides (a matrix of its own is
    the project's, copied)."""
    creator = caller.user_id if caller is not None else access.project.creator_id
    await insert_ignore(conn, t.codearts_build_jobs, {
        "id": job_id, "project_id": access.project.id, "creator_id": creator,
        "follows_project": True, "created_us": now, "updated_us": now,
    })
    loaded = await load(conn, job_id)
    if loaded is None or loaded.job.project_id != access.project.id:  # bound elsewhere meanwhile
        raise _unknown(job_id)
    return loaded


async def _follow_project(conn: AsyncConnection, loaded: Loaded, now: int) -> None:
    """The task uses the project's matrix from now on; its own rows go."""
    j, jr = t.codearts_build_jobs, t.codearts_build_job_roles
    await conn.execute(delete(jr).where(jr.c.job_id == loaded.job.id))
    await conn.execute(update(j).where(j.c.id == loaded.job.id).values(follows_project=True, updated_us=now))


async def _own_matrix(conn: AsyncConnection, access: Access, loaded: Loaded,
                      changes: dict[str, dict[str, bool]], now: int) -> None:
    """The task keeps a matrix of its own: a copy of the project's (when it followed the
    project until now), with ``changes`` applied."""
    j, jr = t.codearts_build_jobs, t.codearts_build_job_roles
    task = loaded.task
    rows = {} if task.follows_project else loaded.rows
    if task.follows_project:
        await conn.execute(delete(jr).where(jr.c.job_id == loaded.job.id))
    wanted = set(changes)
    if task.follows_project:
        wanted |= {role for role in access.role_ids() if not R.is_locked(role, "build")}
    order = [r.role_id for r in R.BUILD_ROW_ORDER] + list(access.customs)
    new_rows = []  # one multi-row insert: a copy is a row per role, up to 500 custom roles
    for role in [r for r in order if r in wanted]:
        values = P.task_row(role, access.cells, task)
        values.update(changes.get(role, {}))
        flags = {flag: values[name] for flag, name in FLAGS}
        stored = rows.get(role)
        if stored is None:
            new_rows.append({"job_id": loaded.job.id, "role_id": role, "created_us": now, "updated_us": now, **flags})
        elif any(bool(getattr(stored, flag)) != value for flag, value in flags.items()):
            await conn.execute(update(jr).where(jr.c.id == stored.id).values(updated_us=now, **flags))
    if new_rows:
        await conn.execute(jr.insert(), new_rows)
    await conn.execute(update(j).where(j.c.id == loaded.job.id).values(follows_project=False, updated_us=now))


async def batch_update_job_role_permission(rt: Runtime, caller: Principal, body: Any) -> dict:
    """BatchUpdateJobRolePermission (§4.5): the same rows on several tasks of one project, all
    or nothing; ``project_switch: true`` makes them follow the project instead."""
    b = Body(body, CB_BAD)
    pid = build_project_id(b.string("project_id", required=True))
    items = b.array("job_ids", required=True, min_items=1, max_items=JOBS_PER_BATCH)
    job_ids = list(dict.fromkeys(_job_id(v, f"job_ids[{i}]") for i, v in enumerate(items)))
    follow = b.boolean("project_switch") is True
    rows = b.array("permissions", required=not follow, max_items=ROWS_PER_BATCH)
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, CB, all_cells=True, lock=True)
        changes = {} if follow else _parse_rows(rows or [], access)
        tasks: list[tuple[str, Loaded | None]] = []
        for jid in job_ids:
            loaded = await load(conn, jid)
            _in_project(loaded, pid, jid)
            tasks.append((jid, loaded))
        for jid, loaded in tasks:
            _require_manager(access, loaded, jid)
        now = now_us()
        for jid, loaded in tasks:
            loaded = loaded or await _bind(conn, access, caller, jid, now)
            if follow:
                await _follow_project(conn, loaded, now)
            else:
                await _own_matrix(conn, access, loaded, changes, now)
    return DONE


async def update_simple_job_role_permission(rt: Runtime, caller: Principal, body: Any) -> dict:
    """UpdateSimpleJobRolePermission (§4.5): one cell of one known task's matrix."""
    b = Body(body, CB_BAD)
    jid = _job_id(b.data.get("job_id"))
    if not b.has("role_id"):
        raise missing(CB_BAD, "role_id")
    flag = b.string("permission_name", required=True)
    if flag not in FLAG_NAMES:
        raise invalid(CB_BAD, "permission_name", f"must be one of {', '.join(FLAG_NAMES)}")
    value = b.boolean("permission_value")
    async with rt.store.write() as conn:
        loaded = await load(conn, jid)
        if loaded is None:
            raise _unknown(jid)  # no project named: a task is made known by the batch call or the switch
        access = await _task_access(conn, caller, loaded.job.project_id, jid, lock=True)
        role = _role_of(access, b.data["role_id"], "role_id")
        _require_manager(access, loaded, jid)
        if role is not None and not R.is_locked(role, "build"):
            changes = {role: {FLAG_NAMES[flag]: True if value is None else value}}
            await _own_matrix(conn, access, loaded, changes, now_us())
    return DONE


async def apply_project_permission(rt: Runtime, caller: Principal, body: Any) -> dict:
    """ApplyProjectPermission (§4.6): ``true`` makes the task follow the project's matrix;
    ``false`` gives it a matrix of its own, a copy of the project's (kept as is when it has one)."""
    b = Body(body, CB_BAD)
    jid = _job_id(b.data.get("job_id"))
    pid = build_project_id(b.string("project_id", required=True))
    follow = b.boolean("project_switch", required=True)
    async with rt.store.write() as conn:
        access = await load_access(conn, caller, pid, CB, all_cells=True, lock=True)
        loaded = await load(conn, jid)
        _in_project(loaded, pid, jid)
        _require_manager(access, loaded, jid)
        now = now_us()
        loaded = loaded or await _bind(conn, access, caller, jid, now)
        if follow:
            await _follow_project(conn, loaded, now)
        elif loaded.task.follows_project:
            await _own_matrix(conn, access, loaded, {}, now)
    return DONE
