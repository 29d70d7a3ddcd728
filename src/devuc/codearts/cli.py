"""`devuc codearts ...`: operator verbs for CodeArts roles, permission matrices, members' roles,
the tenant's project-creator setting and the numeric-id counters.

The operator works on the database directly (like `devuc bootstrap`) with the rights of an
account administrator in every account; the rules are the same service functions the HTTP
routes call. Register with ``app.add_typer(codearts_app, name="codearts")``; the module also
runs on its own (``python -m devuc.codearts.cli``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..config import ConfigError, Settings

codearts_app = typer.Typer(help="CodeArts roles, permissions and project creators.", no_args_is_help=True)
roles_app = typer.Typer(help="Project roles and their permission matrix.", no_args_is_help=True)
codearts_app.add_typer(roles_app, name="roles")

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


def _run(work, config: Path | None, data_dir: Path | None, database_url: str | None):
    """Run ``work(runtime)`` against the configured store; errors become a message and exit 2."""
    from ..errors import ApiError
    from ..runtime import Runtime
    from ..store.migrate import upgrade

    try:
        settings = Settings.load(config, data_dir=data_dir, database_url=database_url)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    upgrade(settings.effective_database_url)

    async def main():
        rt = Runtime.open(settings)
        try:
            return await work(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(main())
    except ApiError as exc:
        err.print(f"[red]error:[/] {exc.code}: {exc.message}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


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


def _parse_cells(assignments: list[str]) -> dict:
    """``build.create=true devuc.member_manage=off`` into the nested body of the matrix update."""
    cells: dict[str, dict[str, bool]] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        service, dot, name = key.partition(".")
        lowered = value.strip().lower()
        if not sep or not dot or lowered not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
            raise typer.BadParameter(f"{item!r}: expected SERVICE.PERMISSION=true|false")
        cells.setdefault(service, {})[name] = lowered in ("true", "on", "1", "yes")
    return cells


@roles_app.command("catalogue")
def roles_catalogue(as_json: AsJson = False) -> None:
    """The system roles and their ids (devuc, ProjectMan v4, CodeArts Build)."""
    from .role_admin import catalogue

    roles = catalogue()["roles"]
    if as_json:
        sys.stdout.write(json.dumps({"roles": roles}, ensure_ascii=False) + "\n")
        return
    table = Table(title="system roles")
    for column in ("role_id", "name", "name_en", "v4", "build", "rank"):
        table.add_column(column)
    for r in roles:
        table.add_row(r["role_id"], r["name"], r["name_en"], str(r["projectman_role_id"]),
                      str(r["build_role_id"]), str(r["rank"]))
    out.print(table)


@roles_app.command("list")
def roles_list(
    project_id: Annotated[str, typer.Argument(help="CodeArts project id.")],
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """A project's roles with their permission matrix."""
    from . import role_admin

    answer = _run(lambda rt: role_admin.list_roles(rt, None, project_id), config, data_dir, database_url)
    _print_roles(answer["roles"], as_json)


@roles_app.command("create")
def roles_create(
    project_id: Annotated[str, typer.Argument(help="CodeArts project id.")],
    name: Annotated[str, typer.Argument(help="Role name (1-30 characters).")],
    copy_project: Annotated[Optional[str], typer.Option("--copy-project", help="Copy from a role of this project.")] = None,
    copy_role: Annotated[Optional[str], typer.Option("--copy-role", help="Copy this role's permissions.")] = None,
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Create a custom role (all permissions off, or a copy of another role's)."""
    from . import role_admin

    body: dict = {"name": name}
    if copy_role:
        body["copy_from"] = {"project_id": copy_project or project_id, "role_id": copy_role}
    role = _run(lambda rt: role_admin.create_role(rt, None, project_id, body), config, data_dir, database_url)
    _print_roles([role], as_json)


@roles_app.command("rename")
def roles_rename(
    project_id: Annotated[str, typer.Argument(help="CodeArts project id.")],
    role_id: Annotated[str, typer.Argument(help="Custom role id.")],
    name: Annotated[str, typer.Argument(help="New name.")],
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Rename a custom role."""
    from . import role_admin

    role = _run(lambda rt: role_admin.rename_role(rt, None, project_id, role_id, {"name": name}),
                config, data_dir, database_url)
    _print_roles([role], as_json)


@roles_app.command("delete")
def roles_delete(
    project_id: Annotated[str, typer.Argument(help="CodeArts project id.")],
    role_id: Annotated[str, typer.Argument(help="Custom role id.")],
    data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Delete a custom role that no member holds."""
    from . import role_admin

    _run(lambda rt: role_admin.delete_role(rt, None, project_id, role_id), config, data_dir, database_url)
    out.print(f"role {role_id} deleted")


@roles_app.command("set")
def roles_set(
    project_id: Annotated[str, typer.Argument(help="CodeArts project id.")],
    role_id: Annotated[str, typer.Argument(help="Role id (32 characters).")],
    cells: Annotated[list[str], typer.Argument(help="SERVICE.PERMISSION=true|false, e.g. build.execute=true")],
    as_json: AsJson = False, data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None,
) -> None:
    """Change cells of a role's permission matrix (locked rows cannot change)."""
    from . import role_admin

    body = {"permissions": _parse_cells(cells)}
    role = _run(lambda rt: role_admin.update_role_matrix(rt, None, project_id, role_id, body),
                config, data_dir, database_url)
    _print_roles([role], as_json)


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
    answer = _run(work, config, data_dir, database_url)
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
    answer = _run(work, config, data_dir, database_url)
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


if __name__ == "__main__":
    codearts_app()
