"""The CodeArts role catalogue and the default permission matrices (pure data, no I/O).

Every role has three identities (spec/codearts-uc.md §5.3, spec/projectman.md §5):

* ``role_id``: the 32-character User Center (devuc) id; the key used in storage and by the devuc
  extension routes. For the system roles it is the Build API example's UUID without its dashes;
* ``pm_id``: the ProjectMan v4 integer (-1, 3..11), or None where no integer is published;
* ``build_id``: the CodeArts Build integer (-1, 0, 3..8, 1001, 1002, 1015, ...).

Custom roles are defined per project; their ProjectMan and Build integer is the same number,
allocated from 500 upward in creation order (:data:`FIRST_CUSTOM_NUM`).

A permission matrix row maps ``"<service>.<permission>"`` keys to booleans. Two services are
modelled: ``build`` (CodeArts Build, codearts-uc.md §5.6 table (b) plus the Group column) and
``devuc`` (the general project settings: edit the project, set members, set role permissions;
codearts-uc.md §5.4).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# permission vocabulary

BUILD_PERMISSIONS: tuple[str, ...] = (
    "create",
    "modify",
    "group",
    "delete",
    "view",
    "execute",
    "copy",
    "forbidden",
    "manager",
)
GENERAL_PERMISSIONS: tuple[str, ...] = ("project_edit", "member_manage", "role_manage")
SERVICES: dict[str, tuple[str, ...]] = {"build": BUILD_PERMISSIONS, "devuc": GENERAL_PERMISSIONS}
PERMISSION_KEYS: tuple[str, ...] = tuple(
    f"{service}.{name}" for service, names in SERVICES.items() for name in names
)

# The task-matrix flags of the Build default-permission answer (no create / group there).
BUILD_TASK_FLAGS: tuple[tuple[str, str], ...] = (
    ("is_modify", "modify"),
    ("is_delete", "delete"),
    ("is_view", "view"),
    ("is_execute", "execute"),
    ("is_copy", "copy"),
    ("is_forbidden", "forbidden"),
    ("is_manager", "manager"),
)

Row = Mapping[str, bool]


def _row(build: Iterable[str] = (), devuc: Iterable[str] = ()) -> dict[str, bool]:
    build, devuc = set(build), set(devuc)
    row = {f"build.{p}": p in build for p in BUILD_PERMISSIONS}
    row.update({f"devuc.{p}": p in devuc for p in GENERAL_PERMISSIONS})
    return row


_ALL_BUILD = BUILD_PERMISSIONS
_DEVELOPER_BUILD = ("create", "modify", "group", "delete", "view", "execute", "copy", "forbidden")

# ---------------------------------------------------------------------------------------------
# the system roles


@dataclass(frozen=True)
class SystemRole:
    key: str
    role_id: str  # 32-character devuc id
    pm_id: int | None  # ProjectMan v4 integer; None: not published, never emitted on v4
    build_id: int
    name: str  # Chinese display name (ProjectMan member lists; Build except for -1)
    name_en: str
    rank: int  # the rank rule of projectman.md §5.1: smaller acts on larger
    defaults: Mapping[str, bool]
    build_name: str | None = None  # Build role_name when it differs from ``name``

    @property
    def build_role_name(self) -> str:
        return self.build_name or self.name


ORDINARY_RANK = 4
CUSTOM_RANK = ORDINARY_RANK

PROJECT_ADMIN = SystemRole(
    "project_admin", "35dfe4e18bc84f239d540afe381761cb", -1, -1, "项目创建者",
    "Project administrator", 1, _row(_ALL_BUILD, GENERAL_PERMISSIONS), build_name="项目管理员",
)
PROJECT_MANAGER = SystemRole(
    "project_manager", "f7cac73b54404f8ca5d0818c23e1df21", 3, 3, "项目经理",
    "Project manager", 2, _row(_ALL_BUILD, GENERAL_PERMISSIONS),
)
DEVELOPER = SystemRole(
    "developer", "eb344656dbab466b91a787262c44e5e5", 4, 4, "开发人员",
    "Developer", ORDINARY_RANK, _row(_DEVELOPER_BUILD),
)
TEST_MANAGER = SystemRole(
    "test_manager", "64fed7539b584f6795e30dbb66fbe3ae", 5, 5, "测试经理",
    "Test manager", 3, _row(("view",), ("member_manage", "role_manage")),
)
TESTER = SystemRole(
    "tester", "07390899d9f5493dbbf306ae50fe57bb", 6, 6, "测试人员",
    "Tester", ORDINARY_RANK, _row(),
)
PARTICIPANT = SystemRole(
    "participant", "9df2e034bbba437e8b26819155f2697d", 7, 7, "参与者",
    "Participant", ORDINARY_RANK, _row(),
)
VIEWER = SystemRole(
    "viewer", "009eff1be3684187a634a375ce533ebb", 8, 8, "浏览者",
    "Viewer", ORDINARY_RANK, _row(("view",)),
)
OM_MANAGER = SystemRole(
    "om_manager", "1fdd3f2159d94a4cada35b1da5054104", 9, 0, "运维经理",
    "O&M manager", ORDINARY_RANK, _row(),
)
PRODUCT_MANAGER = SystemRole(
    "product_manager", "f9381bb8667811eea4f3fa163ef85d33", 10, 1002, "产品经理",
    "Product manager", ORDINARY_RANK, _row(("view",)),
)
SYSTEM_ENGINEER = SystemRole(
    "system_engineer", "0353fc5f667911eea4f3fa163ef85d33", 11, 1015, "系统工程师",
    "System engineer", ORDINARY_RANK, _row(_DEVELOPER_BUILD),
)
COMMITTER = SystemRole(
    "committer", "06eb0fae667911eea4f3fa163ef85d33", None, 1001, "Committer",
    "Committer", ORDINARY_RANK, _row(_DEVELOPER_BUILD),
)
# No public id in any scheme: the devuc id is uuid5(URL, "devuc:role:cicd_engineer") and the
# Build id the next free number after the published ones (docs/codearts-choices.md).
CICD_ENGINEER = SystemRole(
    "cicd_engineer", "d02f80459d725ec99c4803f525ff1f26", None, 1016, "CI/CD工程师",
    "CI/CD engineer", ORDINARY_RANK, _row(_DEVELOPER_BUILD),
)

# codearts-uc.md §5.3 order: the order in which the Build "caller's permissions" API reports roles.
SYSTEM_ROLES: tuple[SystemRole, ...] = (
    PROJECT_ADMIN,
    PROJECT_MANAGER,
    DEVELOPER,
    TEST_MANAGER,
    TESTER,
    PARTICIPANT,
    VIEWER,
    OM_MANAGER,
    PRODUCT_MANAGER,
    SYSTEM_ENGINEER,
    COMMITTER,
    CICD_ENGINEER,
)
BY_ID: dict[str, SystemRole] = {r.role_id: r for r in SYSTEM_ROLES}
BY_KEY: dict[str, SystemRole] = {r.key: r for r in SYSTEM_ROLES}
BY_PM_ID: dict[int, SystemRole] = {r.pm_id: r for r in SYSTEM_ROLES if r.pm_id is not None}
BY_BUILD_ID: dict[int, SystemRole] = {r.build_id: r for r in SYSTEM_ROLES}
REPORT_ORDER: dict[str, int] = {r.role_id: i for i, r in enumerate(SYSTEM_ROLES)}

# spec/projectman.md §5.2 order of the Build matrix rows (task creator -3 first, no role of its own).
TASK_CREATOR_BUILD_ID = -3
BUILD_ROW_ORDER: tuple[SystemRole, ...] = (
    PROJECT_ADMIN,
    OM_MANAGER,
    PROJECT_MANAGER,
    DEVELOPER,
    TEST_MANAGER,
    TESTER,
    PARTICIPANT,
    VIEWER,
    COMMITTER,
    PRODUCT_MANAGER,
    SYSTEM_ENGINEER,
    CICD_ENGINEER,
)

# ProjectMan v4 integers a caller may name when adding members or changing roles (besides the
# project's custom roles). -1 is listed by the pages but refused (projectman.md Q3).
ASSIGNABLE_PM_IDS: frozenset[int] = frozenset(pm for pm in BY_PM_ID if pm != -1)

FIRST_CUSTOM_NUM = 500
MAX_CUSTOM_ROLES = 500
ROLE_NAME_MAX = 30

# Rows nobody may change: the project administrator's (every service) and, per the general
# settings page, the project manager's general (devuc) permissions (codearts-uc.md §5.4).
LOCKED: frozenset[tuple[str, str]] = frozenset(
    {(PROJECT_ADMIN.role_id, "build"), (PROJECT_ADMIN.role_id, "devuc"), (PROJECT_MANAGER.role_id, "devuc")}
)

RESERVED_NAMES: frozenset[str] = frozenset(
    {r.name for r in SYSTEM_ROLES}
    | {r.name_en for r in SYSTEM_ROLES}
    | {r.build_role_name for r in SYSTEM_ROLES}
    | {"项目管理员", "Project creator", "project_admin", "te_admin"}
)
RESERVED_NAMES_FOLDED: frozenset[str] = frozenset(n.casefold() for n in RESERVED_NAMES)


def is_system(role_id: str) -> bool:
    return role_id in BY_ID


def is_locked(role_id: str, service: str) -> bool:
    return (role_id, service) in LOCKED


def rank(role_id: str) -> int:
    role = BY_ID.get(role_id)
    return role.rank if role else CUSTOM_RANK


def default_row(role_id: str) -> dict[str, bool]:
    """A role's matrix before any change: the catalogue's defaults; all false for custom roles."""
    role = BY_ID.get(role_id)
    return dict(role.defaults) if role else _row()


def effective_row(role_id: str, stored: Mapping[str, bool] | None) -> dict[str, bool]:
    """Defaults overlaid with the stored cells; locked services always keep their defaults."""
    row = default_row(role_id)
    for key, value in (stored or {}).items():
        service = key.split(".", 1)[0]
        if key in row and not is_locked(role_id, service):
            row[key] = bool(value)
    return row


# ---------------------------------------------------------------------------------------------
# identifiers and names

_ROLE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_DASHED_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalize_role_id(value: str) -> str | None:
    """The 32-character form of a devuc role id (the dashed 36-character form is accepted), or
    None when ``value`` is neither."""
    lowered = value.strip().lower()
    if _ROLE_ID_RE.match(lowered):
        return lowered
    if _DASHED_RE.match(lowered):
        return lowered.replace("-", "")
    return None


_NAME_PUNCTUATION = set(" ()[]-_~.&<>{}")


def role_name_problem(name: str) -> str | None:
    """Why ``name`` (already trimmed) cannot name a custom role, or None if it can."""
    if not 1 <= len(name) <= ROLE_NAME_MAX:
        return f"must be 1 to {ROLE_NAME_MAX} characters"
    for ch in name:
        if ch in _NAME_PUNCTUATION or ch.isdigit() and ch.isascii():
            continue
        if ch.isalpha() or unicodedata.category(ch) == "Lo":
            continue
        return "may contain only letters, digits, spaces and ( ) [ ] - _ ~ . & < > { }"
    if name.casefold() in RESERVED_NAMES_FOLDED:
        return "must not be the name of a system role"
    return None


def report_key(role_id: str, custom_num: int | None) -> tuple[int, int]:
    """Sort key for reporting roles: system roles in §5.3 order, then custom roles by number."""
    if role_id in REPORT_ORDER:
        return (0, REPORT_ORDER[role_id])
    return (1, custom_num or 0)
