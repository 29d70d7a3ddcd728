"""Why may a user do what they may in a CodeArts project (a devuc extension, and `devuc explain`).

For every permission of the Build permission answer, the project's role matrix permissions, the
project-level actions and, when a build task is named, the seven permissions on that task, :func:`explain_permissions` answers granted or denied and the facts
behind it: which of the member's roles grants it through which matrix cell (role, resource,
action; default, changed or locked), or which tenant setting (the account owner or admin group,
the project-creator setting). It is :func:`devuc.codearts.permissions.explain`, the same code
path as ``evaluate``, applied to data read here, so the explanation and the answers the other
APIs give cannot disagree. The account's private access, which applies to every request of its
users and not to one permission, is reported beside them.

Who may ask: the user themselves, or the account owner and Tenant Administrators of the
project's account (``caller`` None: the local operator).
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import authz
from ..errors import ApiError
from ..iam.identity import ADMIN_GROUP, Principal
from ..runtime import Runtime
from ..store import tables as t
from . import permissions as P
from . import roles as R
from . import tasks
from .inputs import JOB_ID_RE, PROJECT_ID_RE, USER_ID_RE, invalid, missing
from .inputs import project_id as parse_project_id
from .privateaccess.decision import in_force
from .privateaccess.service import load_policies, offered_regions
from .service import UC, load_access, member_roles, tenant_settings

UC_BAD = "UC.00011002"
UC_DENIED = "UC.00011003"
UC_BAD_USER = "UC.00011181"

# Build permissions first (what the Build permission answer says), then the general settings
# rows of the matrix, then the project-level actions.
EXPLAINED: tuple[str, ...] = (
    *R.PERMISSION_KEYS,
    P.PROJECT_VIEW,
    P.PROJECT_CREATE,
    P.PROJECT_DELETE,
    P.MEMBERS_MANAGE,
    P.MEMBERS_LEAVE,
    P.ROLES_MANAGE,
)


# --- the answer's shape (OpenAPI) --------------------------------------------------------------


class ExplainedRole(BaseModel):
    role_id: str
    name: str | None


class ExplainedUser(BaseModel):
    user_id: str
    user_name: str
    domain_id: str
    enabled: bool
    member: bool
    roles: list[ExplainedRole]
    tenant_admin: bool
    tenant_admin_via: list[str]


class ExplainReason(BaseModel):
    kind: str
    grants: bool
    detail: str
    role_id: str | None = None
    role_name: str | None = None
    resource: str | None = None
    action: str | None = None
    source: str | None = None


class ExplainedPermission(BaseModel):
    permission: str
    granted: bool
    decision: str
    build_field: str | None = None
    reasons: list[ExplainReason]


class PrivateAccessRegion(BaseModel):
    region: str
    vpc_endpoints: int
    switched_on: bool
    in_force: bool


class PrivateAccessNote(BaseModel):
    in_force: bool
    detail: str
    regions: list[PrivateAccessRegion]


class TenantNote(BaseModel):
    project_creation: str
    selected_creator: bool
    private_access: PrivateAccessNote


class ExplainAnswer(BaseModel):
    project_id: str
    project_name: str
    job_id: str | None = Field(None, description="The build task asked about (its task.* permissions follow "
                                                 "the project's)")
    domain_id: str
    user: ExplainedUser
    tenant: TenantNote
    permissions: list[ExplainedPermission]


# --- the service -------------------------------------------------------------------------------


async def _user(conn: AsyncConnection, user_id: str):
    u, a, g, gm = t.users, t.accounts, t.groups, t.group_members
    in_admin_group = exists().where(
        and_(gm.c.user_id == u.c.id, gm.c.group_id == g.c.id, g.c.account_id == u.c.account_id,
             g.c.builtin.is_(True), g.c.name == ADMIN_GROUP)
    )
    return (
        await conn.execute(
            select(u.c.id, u.c.name, u.c.account_id, u.c.is_owner, u.c.enabled,
                   a.c.enabled.label("account_enabled"), in_admin_group.label("in_admin_group"))
            .join_from(u, a, u.c.account_id == a.c.id)
            .where(u.c.id == user_id)
        )
    ).first()


def _user_id(value: str | None) -> str:
    if value is None or value == "":
        raise missing(UC_BAD, "user_id")
    if not USER_ID_RE.match(value):
        raise invalid(UC_BAD, "user_id", "must be 32 lowercase letters and digits")
    return value


def _reason_json(reason: P.Reason, names: dict[str, str | None]) -> dict:
    return {
        "kind": reason.kind,
        "grants": reason.grants,
        "detail": reason.detail,
        "role_id": reason.role,
        "role_name": names.get(reason.role) if reason.role else None,
        "resource": reason.resource,
        "action": reason.action,
        "source": reason.source,
    }


def _permission_json(explanation: P.Explanation, names: dict[str, str | None]) -> dict:
    key = explanation.check.action
    service, _, name = key.partition(".")
    field = {"build": f"{name}_permission", "task": f"is_{name}"}.get(service)
    return {
        "permission": key,
        "granted": explanation.decision.allowed,
        "decision": explanation.decision.reason,
        "build_field": field,
        "reasons": [_reason_json(r, names) for r in explanation.reasons],
    }


async def explain_permissions(
    rt: Runtime, caller: Principal | None, project_id: str, user_id: str | None, job_id: str | None = None
) -> dict:
    pid = parse_project_id(project_id, UC_BAD)
    uid = _user_id(user_id)
    if job_id is not None and not JOB_ID_RE.match(job_id):
        raise invalid(UC_BAD, "job_id", "must be 32 letters and digits")
    async with rt.store.read() as conn:
        # the caller's own standing first: a project of another account they are not in is
        # "not found" in every enforcement mode (tenant isolation)
        access = await load_access(conn, caller, pid, UC, all_cells=True)
        project = access.project
        if caller is not None and caller.user_id != uid and not (
            caller.can_administer and caller.account_id == project.account_id
        ):
            authz.refuse(
                UC_DENIED,
                "explain another user's permissions: not an administrator of the project's account",
                "No permission: only the user themselves and the account owner or Tenant "
                "Administrators of the project's account may see this.",
            )
        user = await _user(conn, uid)
        held = await member_roles(conn, pid, uid) if user is not None else frozenset()
        if user is None or (user.account_id != project.account_id and not held):
            # a user of another account who is not in the project is nobody here
            raise ApiError(UC_BAD_USER, f"Invalid user: '{uid}' is not a user of this project's account or a member.")
        tenant = await tenant_settings(conn, project.account_id)
        task = await tasks.load(conn, job_id) if job_id is not None else None
        if job_id is not None and (task is None or task.job.project_id != pid):
            raise invalid(UC_BAD, "job_id", "no build task of this project has this id")
    # Private access is the user's account's own affair: shown to that account (and the operator)
    # only, never to an administrator of the project's account explaining a guest member.
    shown = caller is None or caller.account_id == user.account_id
    policies = await load_policies(rt, user.account_id) if shown else {}

    via = [name for name, on in (("owner", user.is_owner), ("admin group", user.in_admin_group)) if on]
    admin = bool(via) and user.account_id == project.account_id
    subject = P.Subject(uid, held, admin)
    names = {role: access.name(role) for role in access.role_ids()}
    explanations = [P.explain(subject, access.cells, tenant, P.Check(key)) for key in EXPLAINED]
    if task is not None:
        explanations += [P.explain(subject, access.cells, tenant, P.Check(key), task.task) for key in P.TASK_ACTIONS]

    offered = offered_regions(rt)
    regions = [
        {
            "region": region,
            "vpc_endpoints": len(policy.vpcep_ids),
            "switched_on": policy.switched_on,
            "in_force": in_force(policy) and (offered is None or region in offered),
        }
        for region, policy in sorted(policies.items())
    ]
    enforced = [r["region"] for r in regions if r["in_force"]]
    return {
        "project_id": pid,
        "project_name": project.name,
        "job_id": job_id,
        "domain_id": project.account_id,
        "user": {
            "user_id": uid,
            "user_name": user.name,
            "domain_id": user.account_id,
            "enabled": bool(user.enabled and user.account_enabled),
            "member": bool(held),
            "roles": [{"role_id": r, "name": access.name(r)} for r in access.reported(held)],
            "tenant_admin": admin,
            "tenant_admin_via": via if admin else [],
        },
        "tenant": {
            "project_creation": tenant.project_creation,
            "selected_creator": uid in tenant.project_creators,
            "private_access": {
                "in_force": bool(enforced),
                "detail": (
                    "not shown: the user belongs to another account" if not shown
                    else f"requests of this account's users are let in only through an allow-listed VPC "
                    f"endpoint in {', '.join(enforced)}"
                    if enforced else "not in force: requests are let in from anywhere"
                ),
                "regions": regions,
            },
        },
        "permissions": [_permission_json(e, names) for e in explanations],
    }


# --- the operator's lookups (CLI) --------------------------------------------------------------


async def find_project(rt: Runtime, ref: str) -> str:
    """A project id from an id or a name. LookupError: none; ValueError: a name used in several
    accounts (ambiguous)."""
    p = t.codearts_projects
    condition = p.c.name == ref
    if PROJECT_ID_RE.match(ref):
        condition = or_(condition, p.c.id == ref.lower())
    async with rt.store.read() as conn:
        rows = (await conn.execute(select(p.c.id, p.c.name).where(condition))).all()
    by_id = [r for r in rows if r.id == ref.lower()]
    if by_id:
        return by_id[0].id
    if not rows:
        raise LookupError(f"No CodeArts project named or with id '{ref}'.")
    if len(rows) > 1:
        raise ValueError(f"{len(rows)} projects are named {ref!r}; give the project id")
    return rows[0].id


async def find_user(rt: Runtime, ref: str, project_id: str) -> str:
    """A user id from an id or a name; a name is looked up in the project's account first, then
    among the project's members. LookupError: none; ValueError: several members of that name."""
    u, p, m = t.users, t.codearts_projects, t.codearts_members
    async with rt.store.read() as conn:
        if USER_ID_RE.match(ref) and (await conn.execute(select(u.c.id).where(u.c.id == ref))).first():
            return ref
        account_id = (await conn.execute(select(p.c.account_id).where(p.c.id == project_id))).scalar()
        rows = (
            await conn.execute(select(u.c.id).where(u.c.name == ref, u.c.account_id == account_id))
        ).all()
        if not rows:
            rows = (
                await conn.execute(
                    select(u.c.id).join(m, m.c.user_id == u.c.id).where(u.c.name == ref, m.c.project_id == project_id)
                )
            ).all()
    if not rows:
        raise LookupError(f"No user named or with id '{ref}' in the project's account or among its members.")
    if len(rows) > 1:
        raise ValueError(f"{len(rows)} members are named {ref!r}; give the user id")
    return rows[0].id


def as_table_rows(answer: dict) -> list[tuple[str, str, str]]:
    """(permission, granted, why) lines for a table: each reason that decided, in words."""
    out = []
    for item in answer["permissions"]:
        because = []
        for r in item["reasons"]:
            if r["kind"] == "cell":
                because.append(
                    f"{'+' if r['grants'] else '-'} {r['role_name'] or r['role_id']}: "
                    f"{r['resource']}.{r['action']}={'true' if r['grants'] else 'false'} ({r['source']})"
                )
            else:
                because.append(f"{'+' if r['grants'] else '-'} {r['kind']}: {r['detail']}")
        out.append((item["permission"], "yes" if item["granted"] else "no", "\n".join(because) or "-"))
    return out
