"""`devuc codearts ...`: operator verbs for CodeArts roles, permission matrices, members' roles,
the tenant's project-creator setting and the numeric-id counters.

The operator works on the database directly (like `devuc bootstrap`) with the rights of an
account administrator in every account; the rules are the same service functions the HTTP
routes call. Register with ``app.add_typer(codearts_app, name="codearts")``; the module also
runs on its own (``python -m devuc.codearts.cli``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..opcli import run as run_operator
from ..ops.codearts import role_app

codearts_app = typer.Typer(help="CodeArts roles, permissions and project creators.", no_args_is_help=True)
# `devuc codearts roles` is `devuc role` (devuc/ops/codearts.py): one implementation, two names.
codearts_app.add_typer(role_app, name="roles")

err = Console(stderr=True)
out = Console()

DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="Data folder (SQLite file, master key). [DEVUC_DATA_DIR]")
]
DatabaseUrl = Annotated[
    Optional[str], typer.Option("--database-url", help="SQLAlchemy URL. [DEVUC_DATABASE_URL]")
]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="TOML configuration file. [DEVUC_CONFIG]")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _run(work, config: Path | None, data_dir: Path | None, database_url: str | None, *, as_json: bool = False):
    """Run ``work(runtime)`` against the configured store (devuc/opcli.py: one error line on
    stderr and the documented exit status; with ``as_json`` also the JSON error document)."""
    return run_operator(work, config, data_dir, database_url, as_json=as_json)


def _flags(permissions: dict) -> str:
    return " ".join(
        f"{service}.{name}" for service, cells in permissions.items() for name, on in cells.items() if on
    ) or "-"


def _print_roles(roles: list[dict], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"roles": roles}, ensure_ascii=False) + "\n")
        return
    table = Table(title="roles")
    for column in ("role_id", "name", "type", "v4", "build", "locked", "granted"):
        table.add_column(column)
    for r in roles:
        table.add_row(
            r["role_id"], r["name"], r["type"], str(r["projectman_role_id"]), str(r["build_role_id"]),
            ",".join(r["locked"]) or "-", _flags(r["permissions"]),
        )
    out.print(table)


@codearts_app.command("member-roles")
def member_roles(
    project_id: Annotated[str, typer.Argument(help="CodeArts project id.")],
    user_id: Annotated[str, typer.Argument(help="The member's IAM user id.")],
    role_ids: Annotated[Optional[list[str]], typer.Argument(help="Roles to hold (none: show).")] = None,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Show a member's roles, or give them exactly the roles listed."""
    from . import role_admin

    if role_ids:
        work = lambda rt: role_admin.set_member_roles(rt, None, project_id, user_id, {"role_ids": role_ids})  # noqa: E731
    else:
        work = lambda rt: role_admin.member_roles(rt, None, project_id, user_id)  # noqa: E731
    answer = _run(work, config, data_dir, database_url, as_json=as_json)
    _print_roles(answer["roles"], as_json)


@codearts_app.command("creators")
def creators(
    account_id: Annotated[str, typer.Argument(help="Account (domain) id.")],
    mode: Annotated[Optional[str], typer.Option("--mode", help="all | selected")] = None,
    users: Annotated[Optional[list[str]], typer.Option("--user", help="A user allowed to create projects (repeat).")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Select nobody (owner and administrators still may).")] = False,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
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
    answer = _run(work, config, data_dir, database_url, as_json=as_json)
    if as_json:
        sys.stdout.write(json.dumps(answer) + "\n")
        return
    out.print(f"project creation: {answer['project_creation']}")
    for user_id in answer["project_creators"]:
        out.print(f"  {user_id}")


@codearts_app.command("sequence")
def sequence(
    name: Annotated[str, typer.Argument(help="project_num_id or user_num_id")],
    value: Annotated[int, typer.Argument(help="The next number to hand out.")],
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Set where project_num_id / user_num_id numbering continues (never below one used)."""
    from .service import set_sequence

    _run(lambda rt: set_sequence(rt, name, value), config, data_dir, database_url)
    out.print(f"{name} continues at {value}")


def explain_command(
    user: Annotated[str, typer.Argument(help="The user: IAM user id or name.")],
    project: Annotated[str, typer.Argument(help="The CodeArts project: id or name.")],
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Why USER may or may not do each thing in PROJECT: roles, matrix cells, tenant settings.
    Registered as `devuc explain`."""
    from . import explain

    async def work(rt):
        project_id = await explain.find_project(rt, project)
        user_id = await explain.find_user(rt, user, project_id)
        return await explain.explain_permissions(rt, None, project_id, user_id)

    answer = _run(work, config, data_dir, database_url)
    if as_json:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
        return
    who = answer["user"]
    roles = ", ".join(r["name"] or r["role_id"] for r in who["roles"]) or "not a member"
    out.print(f"user {who['user_name']} ({who['user_id']}) in project {answer['project_name']} "
              f"({answer['project_id']}): {roles}")
    if who["tenant_admin"]:
        out.print(f"account administrator ({', '.join(who['tenant_admin_via'])})")
    tenant = answer["tenant"]
    out.print(f"project creation: {tenant['project_creation']}"
              + (" (selected creator)" if tenant["selected_creator"] else ""))
    out.print(f"private access: {tenant['private_access']['detail']}")
    table = Table(title="permissions")
    for column in ("permission", "granted", "why"):
        table.add_column(column)
    for row in explain.as_table_rows(answer):
        table.add_row(*row)
    out.print(table)


if __name__ == "__main__":
    codearts_app()
