"""`devuc codearts ...`: operator verbs for CodeArts roles, permission matrices, members' roles,
the tenant's project-creator setting and the numeric-id counters.

The operator works on the database directly (like `devuc bootstrap`) with the rights of an
account administrator in every account; the rules are the same service functions the HTTP
routes call. Register with ``app.add_typer(codearts_app, name="codearts")``; the module also
runs on its own (``python -m devuc.codearts.cli``).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Group
from rich.text import Text

from ..opcli import EPILOG, Op, command, not_found, record, table
from ..ops import lookup
from ..ops.codearts import InAccount, ProjectRef, matrix_table, role_app, roles_table

codearts_app = typer.Typer(
    help="CodeArts roles, permissions and project creators.", no_args_is_help=True, epilog=EPILOG
)
# `devuc codearts roles` is `devuc role` (devuc/ops/codearts.py): one implementation, two names.
codearts_app.add_typer(role_app, name="roles")
templates_app = typer.Typer(
    help="Permission templates: a project's roles and matrix, saved and given to other projects.",
    no_args_is_help=True, epilog=EPILOG,
)
codearts_app.add_typer(templates_app, name="templates")
TemplateRef = Annotated[str, typer.Argument(help="Template id.")]
TEMPLATE_COLUMNS = ("template_id", "name", "project_type", "region", "domain_id", "source_project_id", "description")
TEMPLATE_LIST_COLUMNS = ("template_id", "name", "project_type", "region")

@command(codearts_app, "member-roles")
def member_roles(
    op: Op,
    project_id: Annotated[str, typer.Argument(help="CodeArts project id.")],
    user_id: Annotated[str, typer.Argument(help="The member's IAM user id.")],
    role_ids: Annotated[Optional[list[str]], typer.Argument(help="Roles to hold (none: show).")] = None,
) -> None:
    """Show a member's roles, or give them exactly the roles listed."""
    from . import role_admin

    if role_ids:
        work = lambda rt: role_admin.set_member_roles(rt, None, project_id, user_id, {"role_ids": role_ids})  # noqa: E731
    else:
        work = lambda rt: role_admin.member_roles(rt, None, project_id, user_id)  # noqa: E731
    roles = op.run(work)["roles"]
    op.emit({"roles": roles}, lambda: roles_table(roles))


@command(codearts_app, "creators")
def creators(
    op: Op,
    account_id: Annotated[str, typer.Argument(help="Account (domain) id.")],
    mode: Annotated[Optional[str], typer.Option("--mode", help="all | selected")] = None,
    users: Annotated[Optional[list[str]], typer.Option("--user", help="A user allowed to create projects (repeat).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Select nobody (owner and administrators still may).")] = False,
) -> None:
    """Show or set who may create CodeArts projects in an account."""
    from . import role_admin

    body: dict = {}
    if mode is not None:
        body["project_creation"] = mode
    if users or clear:
        body["project_creators"] = list(users or [])
    if body:
        work = lambda rt: role_admin.update_creators(rt, None, account_id, body)  # noqa: E731
    else:
        work = lambda rt: role_admin.show_creators(rt, None, account_id)  # noqa: E731
    answer = op.run(work)
    lines = [f"project creation: {answer['project_creation']}"] + [f"  {u}" for u in answer["project_creators"]]
    op.emit(answer, lambda: "\n".join(lines))


@command(codearts_app, "sequence")
def sequence(
    op: Op,
    name: Annotated[str, typer.Argument(help="project_num_id or user_num_id")],
    value: Annotated[int, typer.Argument(help="The next number to hand out.")],
) -> None:
    """Set where project_num_id / user_num_id numbering continues (never below one used)."""
    from .service import set_sequence

    op.run(lambda rt: set_sequence(rt, name, value))
    op.emit({"sequence": name, "next": value}, lambda: f"{name} continues at {value}")


def _template_view(template: dict) -> Group:
    head = record(f"template {template['name']}", template, TEMPLATE_COLUMNS)
    return Group(head, matrix_table(template["roles"], "roles"))


@command(templates_app, "list")
def templates_list(
    op: Op,
    account: Annotated[Optional[str], typer.Option("--account", "-a", help="Only this account's (name or id).")] = None,
) -> None:
    """The permission templates (of every account, or of one)."""
    from . import templates

    async def work(rt):
        account_id = (await lookup.account(rt, account)).id if account else None
        return await templates.list_templates(rt, None, account_id=account_id)

    answer = op.run(work)
    op.emit(answer, lambda: table("permission templates", TEMPLATE_LIST_COLUMNS, answer["templates"]))


@command(templates_app, "show")
def templates_show(op: Op, template_id: TemplateRef) -> None:
    """One template with its roles and their permissions."""
    from . import templates

    answer = op.run(lambda rt: templates.show_template(rt, None, template_id))
    op.emit(answer, lambda: _template_view(answer))


@command(templates_app, "make")
def templates_make(
    op: Op,
    project: ProjectRef,
    name: Annotated[str, typer.Argument(help="The template's name: letters and digits, unique in the account.")],
    account: InAccount = None,
    description: Annotated[str, typer.Option("--description", help="At most 256 characters.")] = "",
) -> None:
    """Save PROJECT's roles and permission matrix as a template named NAME."""
    from . import templates

    async def work(rt):
        pid, _ = await lookup.project(rt, project, account)
        return await templates.create_template(rt, None, {"name": name, "project_id": pid,
                                                          "description": description})

    answer = op.run(work)
    op.emit(answer, lambda: _template_view(answer))


@command(templates_app, "apply")
def templates_apply(
    op: Op,
    template_id: TemplateRef,
    project: ProjectRef,
    account: InAccount = None,
) -> None:
    """Give PROJECT the template's roles and permissions (same project type; all or nothing)."""
    from . import templates

    async def work(rt):
        pid, _ = await lookup.project(rt, project, account)
        return await templates.apply_template(rt, None, pid, {"template_id": template_id})

    answer = op.run(work)
    op.emit(answer, lambda: roles_table(answer["roles"]))


@command(templates_app, "delete")
def templates_delete(op: Op, template_id: TemplateRef) -> None:
    """Delete a template (projects that used it keep their roles)."""
    from . import templates

    op.run(lambda rt: templates.delete_template(rt, None, template_id))
    op.emit({"deleted": template_id}, lambda: f"deleted template {template_id}")


def explain_command(
    op: Op,
    user: Annotated[str, typer.Argument(help="The user: IAM user id or name.")],
    project: Annotated[str, typer.Argument(help="The CodeArts project: id or name.")],
    job: Annotated[str | None, typer.Option("--job", help="Also explain the permissions on this build task (its id).")] = None,
) -> None:
    """Why USER may or may not do each thing in PROJECT (and on one build task with --job): roles,
    matrix cells, tenant settings. Registered as `devuc explain`."""
    from . import explain

    async def work(rt):
        try:
            project_id = await explain.find_project(rt, project)
        except LookupError as exc:
            raise not_found("PM.02152005", str(exc)) from None
        try:
            user_id = await explain.find_user(rt, user, project_id)
        except LookupError as exc:
            raise not_found("IAM.0004", str(exc)) from None
        return await explain.explain_permissions(rt, None, project_id, user_id, job)

    answer = op.run(work)

    def render() -> Group:
        who, tenant = answer["user"], answer["tenant"]
        roles = ", ".join(r["name"] or r["role_id"] for r in who["roles"]) or "not a member"
        lines = [
            f"user {who['user_name']} ({who['user_id']}) in project {answer['project_name']} "
            f"({answer['project_id']}): {roles}"
        ]
        if who["tenant_admin"]:
            lines.append(f"account administrator ({', '.join(who['tenant_admin_via'])})")
        lines.append(f"project creation: {tenant['project_creation']}"
                     + (" (selected creator)" if tenant["selected_creator"] else ""))
        lines.append(f"private access: {tenant['private_access']['detail']}")
        rows = [dict(zip(("permission", "granted", "why"), row)) for row in explain.as_table_rows(answer)]
        return Group(*(Text(line) for line in lines), table("permissions", ("permission", "granted", "why"), rows))

    op.emit(answer, render)


if __name__ == "__main__":
    codearts_app()
