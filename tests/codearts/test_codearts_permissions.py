"""The permission evaluation function, exhaustively: every role x every permission x every kind
of membership, the rank rule for every caller/target pair, the locked rows, the tenant's
project-creator setting and the union over several roles (spec/codearts-uc.md §5,
spec/projectman.md §3 and §5). No server: evaluate() is pure."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devuc.codearts import permissions as P
from devuc.codearts import roles as R

CUSTOM = "c0ffee00c0ffee00c0ffee00c0ffee00"
CUSTOM2 = "decaf000decaf000decaf000decaf000"

# The expected defaults, written out from the spec tables rather than read from the code:
# codearts-uc.md §5.6 (b) plus the Group column rule, and §5.4 for the general settings.
DEV_LIKE = {"create", "modify", "group", "delete", "view", "execute", "copy", "forbidden"}
ALL_BUILD = DEV_LIKE | {"manager"}
EXPECTED_BUILD = {
    "35dfe4e18bc84f239d540afe381761cb": ALL_BUILD,  # project administrator
    "f7cac73b54404f8ca5d0818c23e1df21": ALL_BUILD,  # project manager
    "f9381bb8667811eea4f3fa163ef85d33": {"view"},  # product manager
    "64fed7539b584f6795e30dbb66fbe3ae": {"view"},  # test manager
    "1fdd3f2159d94a4cada35b1da5054104": set(),  # O&M manager
    "0353fc5f667911eea4f3fa163ef85d33": DEV_LIKE,  # system engineer
    "06eb0fae667911eea4f3fa163ef85d33": DEV_LIKE,  # committer
    "eb344656dbab466b91a787262c44e5e5": DEV_LIKE,  # developer
    "07390899d9f5493dbbf306ae50fe57bb": set(),  # tester
    "9df2e034bbba437e8b26819155f2697d": set(),  # participant
    "009eff1be3684187a634a375ce533ebb": {"view"},  # viewer
    "d02f80459d725ec99c4803f525ff1f26": DEV_LIKE,  # CI/CD engineer (our choice)
    CUSTOM: set(),
    CUSTOM2: set(),
}
ADMIN, PM, TM = "35dfe4e18bc84f239d540afe381761cb", "f7cac73b54404f8ca5d0818c23e1df21", "64fed7539b584f6795e30dbb66fbe3ae"
EXPECTED_GENERAL = {role: set() for role in EXPECTED_BUILD}
EXPECTED_GENERAL.update({
    ADMIN: {"project_edit", "member_manage", "role_manage"},
    PM: {"project_edit", "member_manage", "role_manage"},
    TM: {"member_manage", "role_manage"},
})
EXPECTED_RANK = {role: 4 for role in EXPECTED_BUILD} | {ADMIN: 1, PM: 2, TM: 3}
LOCKED = {(ADMIN, "build"), (ADMIN, "devuc"), (PM, "devuc")}
ROLES = list(EXPECTED_BUILD)
TENANT = P.TenantSettings()


def expected_cell(role: str, key: str) -> bool:
    service, name = key.split(".")
    return name in (EXPECTED_BUILD if service == "build" else EXPECTED_GENERAL)[role]


def decide(subject: P.Subject, action: str, matrix=None, tenant=TENANT, roles=(), services=()) -> P.Decision:
    return P.evaluate(subject, matrix or {}, tenant, P.Check(action, frozenset(roles), frozenset(services)))


def test_catalogue_has_every_role_in_every_scheme():
    assert {r.role_id for r in R.SYSTEM_ROLES} == set(EXPECTED_BUILD) - {CUSTOM, CUSTOM2}
    assert [(r.pm_id, r.build_id) for r in R.SYSTEM_ROLES] == [
        (-1, -1), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 8), (9, 0), (10, 1002), (11, 1015),
        (None, 1001), (None, 1016),
    ]
    for scheme in ("role_id", "build_id", "name", "name_en"):
        values = [getattr(r, scheme) for r in R.SYSTEM_ROLES]
        assert len(set(values)) == len(values), scheme
    assert all(len(r.role_id) == 32 and int(r.role_id, 16) >= 0 for r in R.SYSTEM_ROLES)
    assert R.normalize_role_id("35dfe4e1-8bc8-4f23-9d54-0afe381761cb") == ADMIN
    assert R.normalize_role_id("35DFE4E18BC84F239D540AFE381761CB") == ADMIN
    assert R.normalize_role_id("35dfe4e18bc84f239d540afe381761c") is None
    assert R.PROJECT_ADMIN.build_role_name == "项目管理员" and R.PROJECT_ADMIN.name == "项目创建者"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", R.PERMISSION_KEYS)
def test_every_role_every_permission_every_membership(role, key):
    member = P.Subject("u", frozenset({role}))
    stranger = P.Subject("u")
    admin_outsider = P.Subject("u", tenant_admin=True)
    admin_member = P.Subject("u", frozenset({role}), tenant_admin=True)
    is_build = key.startswith("build.")

    assert decide(member, key).allowed is expected_cell(role, key)
    assert decide(stranger, key) == P.Decision(False, "not_member")
    # Tenant administrators manage every project (general settings) but hold no Build rights
    # unless their roles give them.
    assert decide(admin_outsider, key).allowed is (not is_build)
    assert decide(admin_member, key).allowed is (expected_cell(role, key) if is_build else True)


@pytest.mark.parametrize("role", ROLES)
def test_project_level_actions_for_every_role(role):
    member = P.Subject("u", frozenset({role}))
    assert decide(member, P.PROJECT_VIEW).allowed
    assert decide(member, P.PROJECT_DELETE).allowed is (role == ADMIN)
    assert decide(member, P.MEMBERS_LEAVE) == (P.Decision(False, "locked") if role == ADMIN else P.OK)
    for action in (P.PROJECT_VIEW, P.PROJECT_DELETE, P.MEMBERS_LEAVE, P.MEMBERS_MANAGE, P.ROLES_MANAGE):
        assert decide(P.Subject("u"), action) == P.Decision(False, "not_member")
    admin_outsider = P.Subject("u", tenant_admin=True)
    assert decide(admin_outsider, P.PROJECT_VIEW).allowed and decide(admin_outsider, P.PROJECT_DELETE).allowed
    assert decide(admin_outsider, P.MEMBERS_LEAVE) == P.Decision(False, "not_member")


CALLERS = [(frozenset({r}), False) for r in ROLES] + [(frozenset(), True), (frozenset({CUSTOM}), True)]


@pytest.mark.parametrize("held,tenant_admin", CALLERS)
@pytest.mark.parametrize("target", ROLES)
def test_rank_rule_for_members_every_caller_and_target(held, tenant_admin, target):
    subject = P.Subject("u", held, tenant_admin)
    may_manage = tenant_admin or any("member_manage" in EXPECTED_GENERAL[r] for r in held)
    mine = 1 if tenant_admin else min(EXPECTED_RANK[r] for r in held)
    got = decide(subject, P.MEMBERS_MANAGE, roles={target})
    if not may_manage:
        assert got == P.Decision(False, "denied")
    elif target == ADMIN:
        assert got == P.Decision(False, "locked")
    else:
        assert got.allowed is (EXPECTED_RANK[target] > mine)
        assert got.reason == ("ok" if got.allowed else "rank")
    # With no role named, only the member-management right itself is asked for.
    assert decide(subject, P.MEMBERS_MANAGE).allowed is may_manage


@pytest.mark.parametrize("held,tenant_admin", CALLERS)
@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("service", list(R.SERVICES))
def test_role_matrix_changes_every_caller_target_and_service(held, tenant_admin, target, service):
    subject = P.Subject("u", held, tenant_admin)
    may_manage = tenant_admin or any("role_manage" in EXPECTED_GENERAL[r] for r in held)
    mine = 1 if tenant_admin else min(EXPECTED_RANK[r] for r in held)
    got = decide(subject, P.ROLES_MANAGE, roles={target}, services={service})
    if not may_manage:
        assert got.reason == "denied"
    elif (target, service) in LOCKED:
        assert got == P.Decision(False, "locked")
    else:
        assert got.allowed is (EXPECTED_RANK[target] > mine)


@pytest.mark.parametrize("mode", P.CREATION_MODES)
@pytest.mark.parametrize("selected", [False, True])
@pytest.mark.parametrize("tenant_admin", [False, True])
@pytest.mark.parametrize("held", [frozenset(), frozenset({ADMIN})])
def test_project_creation_setting(mode, selected, tenant_admin, held):
    tenant = P.TenantSettings(mode, frozenset({"u"} if selected else {"someone-else"}))
    got = decide(P.Subject("u", held, tenant_admin), P.PROJECT_CREATE, tenant=tenant)
    assert got.allowed is (tenant_admin or mode == "all" or selected)


@pytest.mark.parametrize("pair", list(itertools.combinations(ROLES, 2)))
def test_two_roles_get_the_union(pair):
    subject = P.Subject("u", frozenset(pair))
    for key in R.PERMISSION_KEYS:
        assert decide(subject, key).allowed is any(expected_cell(r, key) for r in pair)
    flags = P.build_permissions(subject, {})
    assert flags == {n: any(n in EXPECTED_BUILD[r] for r in pair) for n in R.BUILD_PERMISSIONS}


def test_stored_cells_apply_except_on_locked_rows():
    everything_off = {k: False for k in R.PERMISSION_KEYS}
    everything_on = {k: True for k in R.PERMISSION_KEYS}
    matrix = {ADMIN: everything_off, PM: everything_off, CUSTOM: everything_on,
              "009eff1be3684187a634a375ce533ebb": {"build.view": False}}
    assert all(P.build_permissions(P.Subject("u", frozenset({ADMIN})), matrix).values())
    pm = P.Subject("u", frozenset({PM}))
    assert not any(P.build_permissions(pm, matrix).values())  # the PM's Build row is editable
    assert all(decide(pm, f"devuc.{n}", matrix).allowed for n in R.GENERAL_PERMISSIONS)  # locked
    assert all(P.build_permissions(P.Subject("u", frozenset({CUSTOM})), matrix).values())
    assert decide(P.Subject("u", frozenset({CUSTOM})), P.MEMBERS_MANAGE, matrix).allowed
    # a custom role given "set members" still acts only on roles ranked below it: none
    assert decide(P.Subject("u", frozenset({CUSTOM})), P.MEMBERS_MANAGE, matrix, roles={CUSTOM2}).reason == "rank"
    assert not P.build_permissions(P.Subject("u", frozenset({"009eff1be3684187a634a375ce533ebb"})), matrix)["view"]
    # unknown cells and unknown actions are never granted
    assert decide(P.Subject("u", frozenset({CUSTOM})), "build.fly", {CUSTOM: {"build.fly": True}}).reason == "unknown_action"
    assert decide(P.Subject("u", frozenset({ADMIN})), "project.fly").reason == "unknown_action"


role_sets = st.frozensets(st.sampled_from(ROLES), max_size=5)
matrices = st.dictionaries(
    st.sampled_from(ROLES), st.dictionaries(st.sampled_from(R.PERMISSION_KEYS), st.booleans()), max_size=6
)


@settings(max_examples=300, deadline=None)
@given(held=role_sets, matrix=matrices, tenant_admin=st.booleans(), key=st.sampled_from(R.PERMISSION_KEYS))
def test_any_role_set_gets_exactly_the_or_of_its_effective_rows(held, matrix, tenant_admin, key):
    subject = P.Subject("u", held, tenant_admin)

    def cell(role):
        service = key.split(".")[0]
        if (role, service) in LOCKED or key not in matrix.get(role, {}):
            return expected_cell(role, key)
        return matrix[role][key]

    union = any(cell(r) for r in held)
    expected = union or (tenant_admin and key.startswith("devuc."))
    assert decide(subject, key, matrix).allowed is expected
    # the same question always gets the same answer
    assert decide(subject, key, matrix) == decide(subject, key, dict(matrix))


# --- build tasks (spec/projectman.md §4.3-4.6; codearts-uc.md §5.1 "instance > project") ---------

TASK_NAMES = ["modify", "delete", "view", "execute", "copy", "forbidden", "manager"]
task_rows = st.dictionaries(
    st.sampled_from(ROLES), st.dictionaries(st.sampled_from(TASK_NAMES), st.booleans()), max_size=6
)


def decide_task(subject: P.Subject, name: str, task: P.Task, matrix=None) -> P.Decision:
    return P.evaluate(subject, matrix or {}, TENANT, P.Check(f"task.{name}"), task)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", TASK_NAMES)
@pytest.mark.parametrize("follows", [True, False])
def test_every_role_every_task_permission(role, name, follows):
    """A task that follows the project answers with the project's Build cells; one with its own
    matrix with its own rows (here: every cell flipped), except the locked administrator row."""
    flipped = {r: {n: not expected_cell(r, f"build.{n}") for n in TASK_NAMES} for r in ROLES}
    task = P.Task("creator", follows, flipped)
    member = P.Subject("u", frozenset({role}))
    own = expected_cell(role, f"build.{name}") if follows or role == ADMIN else not expected_cell(role, f"build.{name}")
    assert decide_task(member, name, task).allowed is own
    # the task's creator holds everything while a member, whatever their role; nothing once gone
    assert decide_task(P.Subject("creator", frozenset({role})), name, task) == P.OK
    assert decide_task(P.Subject("creator"), name, task) == P.Decision(False, "not_member")
    # no Build rights without a role in the project, tenant administrators included
    assert decide_task(P.Subject("u"), name, task) == P.Decision(False, "not_member")
    assert not decide_task(P.Subject("u", tenant_admin=True), name, task).allowed


def test_task_rows_fall_back_to_the_project_and_questions_need_a_task():
    viewer = "009eff1be3684187a634a375ce533ebb"
    project = {viewer: {"build.execute": True}, CUSTOM: {"build.view": True}}
    task = P.Task("c", False, {viewer: {"execute": False, "copy": True}})
    assert P.task_row(viewer, project, task) == {
        "modify": False, "delete": False, "view": True, "execute": False, "copy": True,
        "forbidden": False, "manager": False}
    # a role the task has no row for (e.g. made after the copy) takes its project cells
    assert P.task_row(CUSTOM, project, task)["view"] and P.task_row_source(CUSTOM, task) == "project"
    assert P.task_row_source(viewer, task) == "task" and P.task_row_source(ADMIN, task) == "locked"
    assert P.task_row(ADMIN, project, P.Task("c", False, {ADMIN: {n: False for n in TASK_NAMES}})) == {
        n: True for n in TASK_NAMES}
    member = P.Subject("u", frozenset({viewer}))
    assert decide_task(member, "fly", task).reason == "unknown_action"
    assert P.evaluate(member, {}, TENANT, P.Check("task.view")).reason == "unknown_action"  # no task given
    assert P.task_permissions(member, project, task) == P.task_row(viewer, project, task)


@settings(max_examples=300, deadline=None)
@given(held=role_sets, matrix=matrices, rows=task_rows, follows=st.booleans(), creator=st.booleans(),
       tenant_admin=st.booleans(), name=st.sampled_from(TASK_NAMES))
def test_any_role_set_on_a_task_gets_the_or_of_its_task_rows(held, matrix, rows, follows, creator, tenant_admin, name):
    subject = P.Subject("u", held, tenant_admin)
    task = P.Task("u" if creator else "someone", follows, rows)

    def cell(role):
        project = (matrix.get(role, {}).get(f"build.{name}", expected_cell(role, f"build.{name}"))
                   if role != ADMIN else True)
        if follows or role == ADMIN or role not in rows:
            return project
        return rows[role].get(name, project)

    expected = bool(held) and (creator or any(cell(r) for r in held))
    assert decide_task(subject, name, task, matrix).allowed is expected
    explained = P.explain(subject, matrix, TENANT, P.Check(f"task.{name}"), task)
    assert explained.decision == decide_task(subject, name, task, matrix)
    assert explained.reasons
