"""``devuc project|member|role``: CodeArts projects, their members and roles, by the rules of
:mod:`devuc.codearts.service` and :mod:`devuc.codearts.role_admin` (the functions the HTTP
routes call). ``devuc codearts roles`` is this module's ``role`` app under another name."""

from enum import Enum
from typing import Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from ..opcli import EPILOG, Op, OpError, bad_input, command, conflict, record, refused, table
from . import lookup

project_app = typer.Typer(help="CodeArts projects.", no_args_is_help=True, epilog=EPILOG)
member_app = typer.Typer(help="Members of a CodeArts project and their roles.", no_args_is_help=True, epilog=EPILOG)
role_app = typer.Typer(help="Project roles and their permission matrix.", no_args_is_help=True, epilog=EPILOG)

ProjectRef = Annotated[str, typer.Argument(help="CodeArts project id (or name, with --account).")]
InAccount = Annotated[Optional[str], typer.Option("--account", "-a", help="Account name or id (to name the project by name).")]
UserRef = Annotated[str, typer.Argument(help="User name or id.")]
RoleRef = Annotated[str, typer.Argument(help="Role id, ProjectMan number (e.g. 4), name, or key (developer).")]
PAGE = 1000


class ProjectType(str, Enum):
    scrum = "scrum"
    normal = "normal"
    xboard = "xboard"
    basic = "basic"
    phoenix = "phoenix"
    ipd = "ipd"


# ---------------------------------------------------------------------------------------------
# projects

PROJECT_COLUMNS = ("project_id", "project_num_id", "project_name", "project_type", "creator", "description")


def _project_row(item: dict) -> dict:
    return item | {"creator": (item.get("creator") or {}).get("user_name")}


@command(project_app, "list")
def project_list(
    op: Op,
    account: Annotated[str, typer.Option("--account", "-a", help="Account name or id.")],
    project_type: Annotated[Optional[ProjectType], typer.Option("--type", help="Only projects of this type.")] = None,
    search: Annotated[Optional[str], typer.Option("--search", help="Part of the name or description.")] = None,
) -> None:
    """The CodeArts projects of an account."""
    from ..codearts import service

    async def work(rt):
        caller = await lookup.account_principal(rt, account)
        found: list[dict] = []
        while True:
            query = service.ProjectQuery(
                offset=str(len(found)), limit=str(PAGE), search=search, query_type="domain_projects",
                project_type=project_type.value if project_type else None, sort="created_on:asc",
            )
            page = await service.list_projects(rt, caller, query, limit_max=PAGE)
            found += page["projects"]
            if not page["projects"] or len(found) >= page["total"]:
                return caller, found, page["total"]

    caller, projects, total = op.run(work)
    op.emit({"projects": projects, "total": total},
            lambda: table(f"CodeArts projects of {caller.account_name}", PROJECT_COLUMNS, map(_project_row, projects)))


async def _show(rt, service, caller, pid) -> dict:
    return (await service.show_project(rt, caller, pid))["project"]


@command(project_app, "show")
def project_show(op: Op, project: ProjectRef, account: InAccount = None) -> None:
    """One CodeArts project."""
    from ..codearts import service

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        return await _show(rt, service, caller, pid)

    data = op.run(work)
    op.emit({"project": data}, lambda: record(f"project {data['name']}", _project_row(data)))


@command(project_app, "create")
def project_create(
    op: Op,
    name: Annotated[str, typer.Argument(help="Project name (unique in the account).")],
    account: Annotated[str, typer.Option("--account", "-a", help="Account name or id.")],
    project_type: Annotated[ProjectType, typer.Option("--type", help="Project type.")] = ProjectType.scrum,
    description: Annotated[Optional[str], typer.Option(help="Description.")] = None,
    creator: Annotated[Optional[str], typer.Option("--creator", help="User who creates it and becomes its administrator (default: the account's owner).")] = None,
    template_id: Annotated[Optional[int], typer.Option("--template-id", help="ipd projects: 10001, 10002 or 10003.")] = None,
) -> None:
    """Create a CodeArts project; its creator is its project administrator (role -1). The
    creator must be allowed to create projects (see `devuc codearts creators`)."""
    from ..codearts import service
    from ..iam.identity import load_principal

    body: dict = {"project_name": name, "project_type": project_type.value}
    if description is not None:
        body["description"] = description
    if template_id is not None:
        body["template_id"] = template_id

    async def work(rt):
        operator = await lookup.account_principal(rt, account)
        if creator is None:
            overview = (await lookup.accounts_overview(rt, operator.account_id))[0]
            uid = overview["owner_id"]
        else:
            uid = await lookup.user_id(rt, operator, creator)
        async with rt.store.read() as conn:
            actor, _ = await load_principal(conn, uid, operator.account_id, None, method="operator")
        if actor is None:
            raise refused("PM.02174103", f"The user '{creator or uid}' is disabled and cannot create projects.")
        if (await service.check_project_name(rt, actor, body))["exist"]:
            raise conflict("PM.00000001", f"A project named '{name.strip()}' exists already in account {operator.account_name}.")
        return await service.create_project(rt, actor, body)

    data = op.run(work)
    op.emit({"project": data}, lambda: record(f"project {data['project_name']}", data))


@command(project_app, "update")
def project_update(
    op: Op,
    project: ProjectRef,
    account: InAccount = None,
    name: Annotated[Optional[str], typer.Option("--name", help="New name.")] = None,
    description: Annotated[Optional[str], typer.Option(help="New description.")] = None,
) -> None:
    """Rename a project or change its description."""
    from ..codearts import service

    if name is None and description is None:
        raise op.fail(bad_input("nothing to change: give --name and/or --description"))

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        current = await _show(rt, service, caller, pid)
        new_name = current["name"] if name is None else name
        if name is not None and new_name.strip() != current["name"]:
            taken = await service.check_project_name(rt, caller, {"project_name": new_name})
            if taken["exist"]:
                raise conflict("PM.00000001", f"A project named '{new_name.strip()}' exists already in this account.")
        body = {"project_name": new_name} | ({"description": description} if description is not None else {})
        await service.update_project(rt, caller, pid, body)
        return await _show(rt, service, caller, pid)

    data = op.run(work)
    op.emit({"project": data}, lambda: record(f"project {data['name']}", _project_row(data)))


@command(project_app, "delete")
def project_delete(op: Op, project: ProjectRef, account: InAccount = None) -> None:
    """Delete a CodeArts project with its members and custom roles."""
    from ..codearts import service

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        await service.delete_project(rt, caller, pid)
        return pid

    pid = op.run(work)
    op.emit({"deleted": {"project_id": pid}}, lambda: f"project {project} ({pid}) deleted")


# ---------------------------------------------------------------------------------------------
# members

MEMBER_COLUMNS = ("user_id", "user_name", "domain_name", "role_id", "role_name", "nick_name", "forbidden")
UserAccount = Annotated[
    Optional[str],
    typer.Option("--user-account", help="The user's account, when it is not the project's (name or id)."),
]


async def _member_user(rt, caller, user: str, user_account: str | None) -> tuple[str, object]:
    """(user id, the user's account principal)."""
    home = caller if user_account is None else await lookup.account_principal(rt, user_account)
    return await lookup.user_id(rt, home, user), home


@command(member_app, "list")
def member_list(op: Op, project: ProjectRef, account: InAccount = None) -> None:
    """The members of a project, the creator first, with the role ProjectMan reports."""
    from ..codearts import service

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        found: list[dict] = []
        while True:
            page = await service.list_members(rt, caller, pid, str(len(found)), str(PAGE))
            found += page["members"]
            if not page["members"] or len(found) >= page["total"]:
                return found, page["total"]

    members, total = op.run(work)
    op.emit({"members": members, "total": total}, lambda: table(f"members of {project}", MEMBER_COLUMNS, members))


def _print_roles_of(op: Op, data: dict, title: str) -> None:
    op.emit(data, lambda: table(title, ("role_id", "name", "type", "projectman_role_id"), data["roles"]))


@command(member_app, "show")
def member_show(op: Op, project: ProjectRef, user: UserRef, account: InAccount = None, user_account: UserAccount = None) -> None:
    """The roles a member holds in a project."""
    from ..codearts import role_admin

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        uid, _ = await _member_user(rt, caller, user, user_account)
        return await role_admin.member_roles(rt, None, pid, uid)

    _print_roles_of(op, op.run(work), f"roles of {user} in {project}")


@command(member_app, "add")
def member_add(
    op: Op,
    project: ProjectRef,
    user: UserRef,
    role: Annotated[str, typer.Option("--role", help="Role to grant (id, ProjectMan number, name or key).")] = "participant",
    account: InAccount = None,
    user_account: UserAccount = None,
) -> None:
    """Add a user to a project with one role (default: participant)."""
    from ..codearts import role_admin, service
    from ..errors import ApiError

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        uid, home = await _member_user(rt, caller, user, user_account)
        try:
            await role_admin.member_roles(rt, None, pid, uid)
        except ApiError as exc:
            if exc.code != role_admin.UC_NOT_MEMBER:
                raise
        else:
            raise conflict("UC.00011033", f"The user '{user}' is already a member of this project.")
        granted = lookup.role_ref((await role_admin.list_roles(rt, None, pid))["roles"], role)
        if granted["projectman_role_id"] is None:
            raise bad_input(f"the role '{role}' has no ProjectMan number; add the member, then `member set-role`")
        body = {"user_id": uid, "domain_id": home.account_id, "domain_name": home.account_name,
                "role_id": granted["projectman_role_id"]}
        await service.add_member(rt, caller, pid, body)
        return await role_admin.member_roles(rt, None, pid, uid)

    _print_roles_of(op, op.run(work), f"{user} added to {project}")


@command(member_app, "remove")
def member_remove(
    op: Op,
    project: ProjectRef,
    users: Annotated[list[str], typer.Argument(help="User names or ids.")],
    account: InAccount = None,
    user_account: UserAccount = None,
) -> None:
    """Remove members from a project (never its creator)."""
    from ..codearts import role_admin, service

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        ids = []
        for user in users:
            uid, _ = await _member_user(rt, caller, user, user_account)
            await role_admin.member_roles(rt, None, pid, uid)  # not a member: not found
            ids.append(uid)
        await service.batch_delete_members(rt, caller, pid, {"user_ids": ids})
        return ids

    ids = op.run(work)
    op.emit({"removed": {"user_ids": ids}}, lambda: f"{len(ids)} member(s) removed from {project}")


@command(member_app, "set-role")
def member_set_role(
    op: Op,
    project: ProjectRef,
    user: UserRef,
    roles: Annotated[list[str], typer.Argument(help="The roles the member holds from now on.")],
    account: InAccount = None,
    user_account: UserAccount = None,
) -> None:
    """Give a member exactly the roles listed (one or several)."""
    from ..codearts import role_admin

    async def work(rt):
        pid, caller = await lookup.project(rt, project, account)
        uid, _ = await _member_user(rt, caller, user, user_account)
        known = (await role_admin.list_roles(rt, None, pid))["roles"]
        role_ids = [lookup.role_ref(known, r)["role_id"] for r in roles]
        return await role_admin.set_member_roles(rt, None, pid, uid, {"role_ids": role_ids})

    _print_roles_of(op, op.run(work), f"roles of {user} in {project}")


# ---------------------------------------------------------------------------------------------
# roles


def _flags(permissions: dict) -> str:
    return " ".join(
        f"{service}.{name}" for service, cells in permissions.items() for name, on in cells.items() if on
    ) or "-"


def roles_table(roles: list[dict], title: str = "roles") -> Table:
    rows = [
        r | {"v4": r["projectman_role_id"], "build": r["build_role_id"],
             "locked": ",".join(r["locked"]) or "-", "granted": _flags(r["permissions"])}
        for r in roles
    ]
    return table(title, ("role_id", "name", "type", "v4", "build", "locked", "granted"), rows)


def matrix_table(roles: list[dict], title: str) -> Table:
    """Roles by permissions; columns are numbered (the caption names them) to fit a terminal."""
    keys = [(s, n) for s, cells in roles[0]["permissions"].items() for n in cells] if roles else []
    grid = Table(title=escape(title), box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    grid.add_column("role", no_wrap=True)
    for number in range(1, len(keys) + 1):
        grid.add_column(str(number), justify="center", no_wrap=True)
    for r in roles:
        marks = []
        for s, n in keys:
            on, locked = r["permissions"][s][n], s in r["locked"]
            marks.append(("X" if locked else "x") if on else ("_" if locked else "."))
        grid.add_row(escape(str(r.get("name_en") or r["name"])), *marks)
    grid.caption = "x granted, . not granted, X/_ locked (cannot change). " + ", ".join(
        f"{i} {s}.{n}" for i, (s, n) in enumerate(keys, 1))
    return grid


def _emit_roles(op: Op, roles: list[dict], render=roles_table) -> None:
    op.emit({"roles": roles}, lambda: render(roles))


async def _project_roles(rt, project: str, account: str | None) -> tuple[str, list[dict]]:
    from ..codearts import role_admin

    pid, _ = await lookup.project(rt, project, account)
    return pid, (await role_admin.list_roles(rt, None, pid))["roles"]


@command(role_app, "catalogue")
def role_catalogue(op: Op) -> None:
    """The system roles and their ids (devuc, ProjectMan v4, CodeArts Build); no store needed."""
    from ..codearts.role_admin import catalogue

    roles = catalogue()["roles"]
    op.emit({"roles": roles}, lambda: table(
        "system roles", ("role_id", "name", "name_en", "v4", "build", "rank"),
        [r | {"v4": r["projectman_role_id"], "build": r["build_role_id"]} for r in roles]))


@command(role_app, "list")
def role_list(op: Op, project: ProjectRef, account: InAccount = None) -> None:
    """A project's roles (system and custom) with the permissions each grants."""
    _, roles = op.run(lambda rt: _project_roles(rt, project, account))
    _emit_roles(op, roles)


@command(role_app, "matrix")
def role_matrix(op: Op, project: ProjectRef, account: InAccount = None) -> None:
    """A project's permission matrix: one row per role, one column per permission."""
    _, roles = op.run(lambda rt: _project_roles(rt, project, account))
    _emit_roles(op, roles, lambda rs: matrix_table(rs, f"permission matrix of {project}"))


@command(role_app, "show")
def role_show(op: Op, project: ProjectRef, role: RoleRef, account: InAccount = None) -> None:
    """One role of a project and its permissions."""

    async def work(rt):
        _, roles = await _project_roles(rt, project, account)
        return lookup.role_ref(roles, role)

    found = op.run(work)
    _emit_roles(op, [found], lambda rs: _role_card(rs[0]))


def _role_card(role: dict) -> Table:
    card = record(f"role {role['name']}", {
        "role_id": role["role_id"], "name": role["name"], "name_en": role.get("name_en"), "type": role["type"],
        "projectman_role_id": role["projectman_role_id"], "build_role_id": role["build_role_id"],
        "rank": role["rank"], "locked": ", ".join(role["locked"]) or "-",
    })
    for service, cells in role["permissions"].items():
        for name, on in cells.items():
            card.add_row(f"{service}.{name}", "granted" if on else "-")
    return card


@command(role_app, "create")
def role_create(
    op: Op,
    project: ProjectRef,
    name: Annotated[str, typer.Argument(help="Role name (1-30 characters).")],
    copy_role: Annotated[Optional[str], typer.Option("--copy-role", help="Copy this role's permissions.")] = None,
    copy_project: Annotated[Optional[str], typer.Option("--copy-project", help="The project of --copy-role (default: this one).")] = None,
    account: InAccount = None,
) -> None:
    """Create a custom role (all permissions off, or a copy of another role's)."""
    from ..codearts import role_admin

    if copy_project and not copy_role:
        raise op.fail(bad_input("--copy-project needs --copy-role"))

    async def work(rt):
        pid, _ = await lookup.project(rt, project, account)
        body: dict = {"name": name}
        if copy_role:
            source, roles = await _project_roles(rt, copy_project or pid, account if not copy_project else None)
            body["copy_from"] = {"project_id": source, "role_id": lookup.role_ref(roles, copy_role)["role_id"]}
        return await role_admin.create_role(rt, None, pid, body)

    _emit_roles(op, [op.run(work)])


@command(role_app, "rename")
def role_rename(
    op: Op, project: ProjectRef, role: RoleRef,
    name: Annotated[str, typer.Argument(help="New name.")], account: InAccount = None,
) -> None:
    """Rename a custom role."""
    from ..codearts import role_admin

    async def work(rt):
        pid, roles = await _project_roles(rt, project, account)
        return await role_admin.rename_role(rt, None, pid, lookup.role_ref(roles, role)["role_id"], {"name": name})

    _emit_roles(op, [op.run(work)])


@command(role_app, "delete")
def role_delete(op: Op, project: ProjectRef, role: RoleRef, account: InAccount = None) -> None:
    """Delete a custom role that no member holds."""
    from ..codearts import role_admin

    async def work(rt):
        pid, roles = await _project_roles(rt, project, account)
        role_id = lookup.role_ref(roles, role)["role_id"]
        await role_admin.delete_role(rt, None, pid, role_id)
        return role_id

    role_id = op.run(work)
    op.emit({"deleted": {"role_id": role_id}}, lambda: f"role {role_id} deleted")


def parse_cells(assignments: list[str]) -> dict:
    """``build.create=true devuc.member_manage=off`` into the nested body of the matrix update."""
    cells: dict[str, dict[str, bool]] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        service, dot, name = key.partition(".")
        lowered = value.strip().lower()
        if not sep or not dot or lowered not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
            raise bad_input(f"{item!r}: expected SERVICE.PERMISSION=true|false")
        cells.setdefault(service, {})[name] = lowered in ("true", "on", "1", "yes")
    return cells


@command(role_app, "set")
def role_set(
    op: Op,
    project: ProjectRef,
    role: RoleRef,
    cells: Annotated[list[str], typer.Argument(help="SERVICE.PERMISSION=true|false, e.g. build.execute=true")],
    account: InAccount = None,
) -> None:
    """Change cells of a role's permission matrix (locked rows cannot change)."""
    from ..codearts import role_admin

    try:
        body = {"permissions": parse_cells(cells)}
    except OpError as exc:
        raise op.fail(exc) from None

    async def work(rt):
        pid, roles = await _project_roles(rt, project, account)
        return await role_admin.update_role_matrix(rt, None, pid, lookup.role_ref(roles, role)["role_id"], body)

    _emit_roles(op, [op.run(work)])
