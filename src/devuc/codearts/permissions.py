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
* ``task.*`` (one build task, given as a :class:`Task`; spec/projectman.md §4.4): the task's
  creator, while a member, holds everything; otherwise the OR over the member's roles of the
  task's rows (:func:`task_row`: the project's Build cells while the task follows the project).
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
from dataclasses import dataclass, field

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

# Build task permissions (spec/projectman.md §4.3-4.6): asked as ``task.<name>`` with a Task.
TASK_PERMISSIONS: tuple[str, ...] = tuple(name for _, name in R.BUILD_TASK_FLAGS)
TASK_ACTIONS: tuple[str, ...] = tuple(f"task.{name}" for name in TASK_PERMISSIONS)

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
class Task:
    """One build task as stored: who created it, whether it follows the project's Build matrix,
    and its own rows (role id -> {task permission: bool}) for when it does not."""

    creator_id: str
    follows_project: bool = True
    rows: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)


def task_row(role_id: str, matrix: Matrix, task: Task) -> dict[str, bool]:
    """A role's seven task permissions. The project administrator's row is locked (everything);
    a task that follows the project, and a role the task has no row for (e.g. a custom role made
    after the task got its own matrix), take the role's project-level Build cells."""
    project = R.effective_row(role_id, matrix.get(role_id))
    values = {name: project[f"build.{name}"] for name in TASK_PERMISSIONS}
    if task_row_source(role_id, task) == "task":
        values.update({name: bool(v) for name, v in task.rows[role_id].items() if name in values})
    return values


def task_row_source(role_id: str, task: Task) -> str:
    """Where :func:`task_row` took a role's values from: ``locked``, ``project`` or ``task``."""
    if R.is_locked(role_id, "build"):
        return "locked"
    return "project" if task.follows_project or role_id not in task.rows else "task"


def is_task_creator(subject: Subject, task: Task) -> bool:
    """The creator's locked row applies only while they are a member of the project."""
    return subject.is_member and subject.user_id == task.creator_id


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "ok", "not_member", "denied", "rank", "locked", "unknown_action"


OK = Decision(True, "ok")


def _no(reason: str) -> Decision:
    return Decision(False, reason)


@dataclass(frozen=True)
class Reason:
    """One fact that speaks for (``grants``) or against a decision. ``kind``:

    * ``tenant_admin``: the subject is the account owner or a Tenant Administrator (a member of
      the account's admin group), who may do this whatever their roles;
    * ``tenant_setting``: the tenant's project-creator setting (``detail`` says which);
    * ``member`` / ``not_member``: membership of the project;
    * ``cell``: the matrix cell (``role``, ``resource``, ``action``) and its value; ``source``
      is ``default`` (the catalogue's), ``changed`` (stored for this project) or ``locked``
      (a locked row: always the default);
    * ``role``: a rule about one role (the project administrator's);
    * ``rank`` / ``locked`` / ``unknown_action``: the rank rule, a locked row or role, an
      action evaluate does not know.
    """

    kind: str
    grants: bool
    detail: str = ""
    role: str | None = None
    resource: str | None = None
    action: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Explanation:
    check: Check
    decision: Decision
    reasons: tuple[Reason, ...]


def _cell_reason(role: str, matrix: Matrix, key: str, value: bool) -> Reason:
    service, _, permission = key.partition(".")
    stored = (matrix.get(role) or {}).get(key)
    if R.is_locked(role, service):
        source = "locked"
    elif stored is not None and bool(stored) != R.default_row(role).get(key, False):
        source = "changed"
    else:
        source = "default"
    return Reason("cell", value, f"{key}={'true' if value else 'false'}", role, service, permission, source)


def _holds(subject: Subject, matrix: Matrix, key: str, why: list[Reason] | None = None) -> bool:
    """Whether any of the subject's roles has ``key``; with ``why``, every role's cell is noted."""
    if why is None:
        return any(R.effective_row(role, matrix.get(role)).get(key, False) for role in subject.roles)
    granted = False
    for role in sorted(subject.roles, key=lambda r: R.report_key(r, None)):
        value = R.effective_row(role, matrix.get(role)).get(key, False)
        why.append(_cell_reason(role, matrix, key, value))
        granted = granted or value
    return granted


def caller_rank(subject: Subject) -> int:
    if subject.tenant_admin:
        return R.PROJECT_ADMIN.rank
    return min((R.rank(role) for role in subject.roles), default=NO_RANK)


def _rank_allows(subject: Subject, targets: frozenset[str], why: list[Reason] | None = None) -> bool:
    mine = caller_rank(subject)
    allowed = all(R.rank(role) > mine for role in targets)
    if why is not None and targets:
        above = sorted(role for role in targets if R.rank(role) <= mine)
        why.append(Reason(
            "rank", allowed,
            f"the user's best rank is {mine}; every role concerned must rank below it (a larger number)"
            + (f"; not below: {', '.join(above)}" if above else ""),
        ))
    return allowed


def evaluate(
    subject: Subject, matrix: Matrix, tenant: TenantSettings, check: Check, task: Task | None = None
) -> Decision:
    """The one decision point for CodeArts project permissions (see the module docstring);
    ``task``: the build task a ``task.*`` check is about."""
    return _decide(subject, matrix, tenant, check, None, task)


def explain(
    subject: Subject, matrix: Matrix, tenant: TenantSettings, check: Check, task: Task | None = None
) -> Explanation:
    """:func:`evaluate`'s decision with the facts it rests on: the same code path, noting why."""
    why: list[Reason] = []
    decision = _decide(subject, matrix, tenant, check, why, task)
    return Explanation(check, decision, tuple(why))


def _admin_reason(why: list[Reason] | None, subject: Subject) -> None:
    if why is not None and subject.tenant_admin:
        why.append(Reason("tenant_admin", True, "the account owner or a Tenant Administrator (admin group)"))


def _decide(
    subject: Subject, matrix: Matrix, tenant: TenantSettings, check: Check, why: list[Reason] | None,
    task: Task | None = None,
) -> Decision:
    """evaluate and explain in one: ``why`` None decides only; a list also collects the reasons.
    Every branch decides the same way either way."""
    action = check.action
    admin = R.PROJECT_ADMIN.role_id

    if action == PROJECT_CREATE:
        if subject.tenant_admin:
            _admin_reason(why, subject)
            return OK
        if tenant.project_creation == CREATION_ALL:
            if why is not None:
                why.append(Reason("tenant_setting", True, "project_creation=all: every user of the account may"))
            return OK
        selected = subject.user_id in tenant.project_creators
        if why is not None:
            why.append(Reason(
                "tenant_setting", selected,
                "project_creation=selected: the user is " + ("" if selected else "not ") + "a selected creator",
            ))
        return OK if selected else _no("denied")

    if not subject.is_member and not subject.tenant_admin:
        if why is not None:
            why.append(Reason("not_member", False, "not a member of the project"))
        return _no("not_member")

    if why is not None and subject.is_member:
        why.append(Reason("member", True, "a member of the project"))
    if action == PROJECT_VIEW:
        _admin_reason(why, subject)
        return OK
    if action == PROJECT_DELETE:
        _admin_reason(why, subject)
        creator = admin in subject.roles
        if why is not None and not subject.tenant_admin:
            why.append(Reason("role", creator, "only the project administrator (its creator) may", role=admin))
        return OK if subject.tenant_admin or creator else _no("denied")
    if action == MEMBERS_LEAVE:
        if not subject.is_member:
            if why is not None:
                why.append(Reason("not_member", False, "not a member of the project"))
            return _no("not_member")
        if admin in subject.roles:
            if why is not None:
                why.append(Reason("locked", False, "the project administrator (creator) cannot leave", role=admin))
            return _no("locked")
        return OK
    if action.startswith("build."):
        if action not in R.PERMISSION_KEYS:
            if why is not None:
                why.append(Reason("unknown_action", False, f"no permission named {action}"))
            return _no("unknown_action")
        if why is not None and not subject.is_member:
            why.append(Reason("not_member", False,
                              "Build permissions come from roles in the project only, even for administrators"))
        return OK if _holds(subject, matrix, action, why) else _no("denied")
    if action.startswith("task."):
        name = action[len("task."):]
        if task is None or name not in TASK_PERMISSIONS:
            if why is not None:
                why.append(Reason("unknown_action", False, f"no task permission named {action}"
                                  + ("" if task else " (or no task given)")))
            return _no("unknown_action")
        if is_task_creator(subject, task):
            if why is not None:
                why.append(Reason("role", True, "the task's creator: every task permission (locked)"))
            return OK
        if why is not None and not subject.is_member:
            why.append(Reason("not_member", False,
                              "task permissions come from roles in the project only, even for administrators"))
        granted = False
        for role in sorted(subject.roles, key=lambda r: R.report_key(r, None)):
            value = task_row(role, matrix, task)[name]
            if why is None and value:
                return OK
            if why is not None:
                why.append(Reason("cell", value, f"{name}={'true' if value else 'false'}", role, "task", name,
                                  task_row_source(role, task)))
            granted = granted or value
        return OK if granted else _no("denied")
    if action.startswith("devuc."):
        if action not in R.PERMISSION_KEYS:
            if why is not None:
                why.append(Reason("unknown_action", False, f"no permission named {action}"))
            return _no("unknown_action")
        _admin_reason(why, subject)
        held = _holds(subject, matrix, action, why) if why is not None or not subject.tenant_admin else False
        return OK if subject.tenant_admin or held else _no("denied")
    if action in (MEMBERS_MANAGE, ROLES_MANAGE):
        key = "devuc.member_manage" if action == MEMBERS_MANAGE else "devuc.role_manage"
        _admin_reason(why, subject)
        held = _holds(subject, matrix, key, why) if why is not None or not subject.tenant_admin else False
        if not (subject.tenant_admin or held):
            return _no("denied")
        if action == MEMBERS_MANAGE:
            if admin in check.roles:
                if why is not None:
                    why.append(Reason("locked", False, "nobody grants or takes away the project administrator role",
                                      role=admin))
                return _no("locked")
        else:
            locked = sorted({(role, service) for role in check.roles for service in check.services
                             if R.is_locked(role, service)})
            if locked:
                if why is not None:
                    for role, service in locked:
                        why.append(Reason("locked", False, f"the {service} row of this role is locked",
                                          role=role, resource=service))
                return _no("locked")
        return OK if _rank_allows(subject, check.roles, why) else _no("rank")
    if why is not None:
        why.append(Reason("unknown_action", False, f"no action named {action}"))
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



def task_permissions(subject: Subject, matrix: Matrix, task: Task) -> dict[str, bool]:
    """The seven task permissions of a subject on one task (all false for non-members)."""
    tenant = TenantSettings()
    return {
        name: evaluate(subject, matrix, tenant, Check(f"task.{name}"), task).allowed
        for name in TASK_PERMISSIONS
    }
