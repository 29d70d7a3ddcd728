"""Permission evaluation: one pure function, :func:`evaluate`.

Input: who is asking as seen from one CodeArts project (:class:`Subject`: the roles they hold
there, and whether they administer the project's account), the project's stored role matrix
(cells changed from the defaults, per role), the tenant's settings, and the question
(:class:`Check`). Output: a :class:`Decision`. No I/O, no clock, no globals that change: the
same input always gives the same answer, so it is tested exhaustively and may be called anywhere.

Rules (spec/codearts-uc.md §5, spec/projectman.md §3 and §5.1):

* ``project.create``: the account owner and Tenant Administrators always; everyone else when the
  tenant's project-creator setting is ``all``, or when it is ``selected`` and they are selected.
* ``project.view``: members; the account owner and Tenant Administrators of the project's account.
* ``project.delete``: the project administrator (the creator); owner and Tenant Administrators.
* ``devuc.*`` (general settings: edit project, set members, set role permissions): the OR over
  the member's roles of their matrix rows; owner and Tenant Administrators always.
* ``build.*``: the OR over the member's roles; nobody else (a non-member gets all false).
* ``members.manage`` (grant, change or take away ``Check.roles``): needs ``devuc.member_manage``
  and the rank rule: every role concerned must rank strictly below the caller's best role
  (owner and Tenant Administrators rank as the creator), and nobody grants or takes away the
  project administrator role.
* ``members.leave`` (a member removes themself): any member except the project administrator.
* ``roles.manage`` (create custom roles; change ``Check.roles``' cells of ``Check.services``):
  needs ``devuc.role_manage``, the rank rule on every role whose cells change, and no locked
  row (the project administrator's rows, the project manager's general row).

A stored cell of a locked row is ignored: the project administrator always holds everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from . import roles as R

PROJECT_CREATE = "project.create"
PROJECT_VIEW = "project.view"
PROJECT_DELETE = "project.delete"
MEMBERS_MANAGE = "members.manage"
MEMBERS_LEAVE = "members.leave"
ROLES_MANAGE = "roles.manage"

ACTIONS: tuple[str, ...] = (
    PROJECT_CREATE,
    PROJECT_VIEW,
    PROJECT_DELETE,
    MEMBERS_MANAGE,
    MEMBERS_LEAVE,
    ROLES_MANAGE,
    *R.PERMISSION_KEYS,
)

CREATION_ALL = "all"
CREATION_SELECTED = "selected"
CREATION_MODES = (CREATION_ALL, CREATION_SELECTED)

# Stored cells: role id -> {"<service>.<permission>": bool}. Roles without changes may be absent.
Matrix = Mapping[str, Mapping[str, bool]]

NO_RANK = 1_000_000


@dataclass(frozen=True)
class TenantSettings:
    project_creation: str = CREATION_SELECTED
    project_creators: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Subject:
    user_id: str
    roles: frozenset[str] = frozenset()  # devuc role ids held in the project; empty: not a member
    tenant_admin: bool = False  # owner or Tenant Administrator of the project's account

    @property
    def is_member(self) -> bool:
        return bool(self.roles)


@dataclass(frozen=True)
class Check:
    action: str
    roles: frozenset[str] = frozenset()  # roles granted / taken away / whose cells change
    services: frozenset[str] = frozenset()  # roles.manage: services whose cells change


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "ok", "not_member", "denied", "rank", "locked", "unknown_action"


OK = Decision(True, "ok")


def _no(reason: str) -> Decision:
    return Decision(False, reason)


def _holds(subject: Subject, matrix: Matrix, key: str) -> bool:
    return any(R.effective_row(role, matrix.get(role)).get(key, False) for role in subject.roles)


def caller_rank(subject: Subject) -> int:
    if subject.tenant_admin:
        return R.PROJECT_ADMIN.rank
    return min((R.rank(role) for role in subject.roles), default=NO_RANK)


def _rank_allows(subject: Subject, targets: frozenset[str]) -> bool:
    mine = caller_rank(subject)
    return all(R.rank(role) > mine for role in targets)


def evaluate(subject: Subject, matrix: Matrix, tenant: TenantSettings, check: Check) -> Decision:
    """The one decision point for CodeArts project permissions (see the module docstring)."""
    action = check.action
    admin = R.PROJECT_ADMIN.role_id

    if action == PROJECT_CREATE:
        if subject.tenant_admin or tenant.project_creation == CREATION_ALL:
            return OK
        return OK if subject.user_id in tenant.project_creators else _no("denied")

    if not subject.is_member and not subject.tenant_admin:
        return _no("not_member")

    if action == PROJECT_VIEW:
        return OK
    if action == PROJECT_DELETE:
        return OK if subject.tenant_admin or admin in subject.roles else _no("denied")
    if action == MEMBERS_LEAVE:
        if not subject.is_member:
            return _no("not_member")
        return _no("locked") if admin in subject.roles else OK
    if action.startswith("build."):
        if action not in R.PERMISSION_KEYS:
            return _no("unknown_action")
        return OK if _holds(subject, matrix, action) else _no("denied")
    if action.startswith("devuc."):
        if action not in R.PERMISSION_KEYS:
            return _no("unknown_action")
        return OK if subject.tenant_admin or _holds(subject, matrix, action) else _no("denied")
    if action == MEMBERS_MANAGE:
        if not (subject.tenant_admin or _holds(subject, matrix, "devuc.member_manage")):
            return _no("denied")
        if admin in check.roles:
            return _no("locked")
        return OK if _rank_allows(subject, check.roles) else _no("rank")
    if action == ROLES_MANAGE:
        if not (subject.tenant_admin or _holds(subject, matrix, "devuc.role_manage")):
            return _no("denied")
        if any(R.is_locked(role, service) for role in check.roles for service in check.services):
            return _no("locked")
        return OK if _rank_allows(subject, check.roles) else _no("rank")
    return _no("unknown_action")


# ---------------------------------------------------------------------------------------------
# views built on evaluate (still pure)


def build_permissions(subject: Subject, matrix: Matrix) -> dict[str, bool]:
    """The nine Build flags of a subject: each the OR over their roles (all false for non-members)."""
    tenant = TenantSettings()
    return {
        name: evaluate(subject, matrix, tenant, Check(f"build.{name}")).allowed
        for name in R.BUILD_PERMISSIONS
    }


def may_grant(subject: Subject, matrix: Matrix, role_id: str) -> bool:
    tenant = TenantSettings()
    return evaluate(subject, matrix, tenant, Check(MEMBERS_MANAGE, frozenset({role_id}))).allowed
