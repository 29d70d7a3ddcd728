"""The ``devuc`` command: serve, bootstrap, db, keys and developer tools."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .codearts.cli import codearts_app, explain_command
from .codearts.privateaccess.cli import app as vpcep_app
from .config import SETTINGS_ENV, ConfigError, Settings
from .runtime import with_runtime
from .opcli import EPILOG as OPERATOR_EPILOG
from .opcli import command
from .ops import register as register_operator_verbs

app = typer.Typer(
    help="devuc: self-hosted IAM and CodeArts User Center.", no_args_is_help=True, epilog=OPERATOR_EPILOG
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Token signing keys.", no_args_is_help=True)
dev_app = typer.Typer(help="Developer tools.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(dev_app, name="dev")
app.add_typer(vpcep_app, name="vpcep")
app.add_typer(codearts_app, name="codearts")
command(app, "explain")(explain_command)
register_operator_verbs(app)  # account, user, group, key, project, member, role (devuc/ops/)

err = Console(stderr=True)
out = Console()

FIRST_ACCOUNT = "devuc"
FIRST_USER = "admin"
CREDENTIALS_FILE = "credentials.json"

DataDir = Annotated[
    Optional[Path], typer.Option("--data-dir", help="Data folder (SQLite file, master key). [DEVUC_DATA_DIR]")
]
DatabaseUrl = Annotated[
    Optional[str],
    typer.Option("--database-url", help="SQLAlchemy URL, e.g. postgresql+asyncpg://... [DEVUC_DATABASE_URL]"),
]
ConfigFile = Annotated[
    Optional[Path], typer.Option("--config", help="TOML configuration file. [DEVUC_CONFIG]")
]


def _settings(config: Path | None, **overrides) -> Settings:
    # Everything devuc writes (database, master key, credentials) is for its owner's eyes only.
    os.umask(0o077)
    try:
        return Settings.load(config, **overrides)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _migrate(settings: Settings) -> None:
    from .store.migrate import upgrade

    upgrade(settings.effective_database_url)


def _write_credentials(settings: Settings, data: dict) -> Path:
    path = settings.data_dir / CREDENTIALS_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(path, 0o600)
    return path


async def _prepare(settings: Settings) -> dict | None:
    """Start-up work done once, before the workers start: token keys, region projects, and on
    the very first start the first account. Returns that account's credentials, if created."""
    from .iam import service

    async def work(rt):
        await rt.keyring.fernet()
        await service.ensure_region_projects(rt)
        if await service.has_accounts(rt):
            return None
        try:
            created = await service.create_account(rt, FIRST_ACCOUNT, FIRST_USER)
        except service.AccountExists:  # another node got there first
            return None
        return created.as_dict()

    return await with_runtime(settings, work)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Address to bind. [DEVUC_HOST]")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port. [DEVUC_PORT]")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes. [DEVUC_WORKERS]")] = None,
    enforcement: Annotated[
        Optional[str],
        typer.Option(help="Authorization refusals: enforce, log (let through, logged) or off. [DEVUC_ENFORCEMENT]"),
    ] = None,
    dev: Annotated[
        bool, typer.Option("--dev", help="Developer mode: dev dataset, fixed credentials (docs/dev-mode.md). [DEVUC_DEV]")
    ] = False,
    seed: Annotated[
        Optional[Path], typer.Option("--seed", help="Apply this seed file at start (docs/dev-mode.md). [DEVUC_SEED_FILE]")
    ] = None,
    access_log: Annotated[
        Optional[bool],
        typer.Option("--access-log/--no-access-log",
                     help="JSON access log on stderr (docs/observability.md); on in dev mode. [DEVUC_ACCESS_LOG]"),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Run the service (applies migrations first)."""
    from .dev.cli import settings_for_start, start_seeding

    settings = _settings(
        config, host=host, port=port, workers=workers, data_dir=data_dir, database_url=database_url,
        enforcement=enforcement, dev=dev or None, seed_file=seed, access_log=access_log,
    )
    settings, data_dir_chosen = settings_for_start(settings)
    _migrate(settings)
    first = seeding = None
    if settings.dev or settings.seed_file:
        seeding = start_seeding(settings, data_dir_chosen)  # overlaps the app's import below
    else:
        first = asyncio.run(_prepare(settings))
    import uvicorn

    if settings.workers == 1:
        # Served by this process: imported now, while a seeding thread may still be at work.
        # Several workers each import it themselves, and this process only supervises them.
        from . import app as _served_app  # noqa: F401

    if seeding is not None:
        print(seeding(), flush=True)  # unwrapped: credentials to paste
    if first:
        path = _write_credentials(settings, first)
        out.print("[bold]First start: created the first account. Keep these credentials:[/]")
        out.print_json(json.dumps(first))
        out.print(f"(also written to {path}, readable by its owner only)")
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    from .metrics import clear, folder_of

    clear(folder_of(settings))  # the workers' metrics snapshots of an earlier run
    # Fewer malloc arenas keep worker processes (spawned with this environment) small.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    out.print(f"devuc listening on http://{settings.host}:{settings.port} (enforcement: {settings.enforcement})")
    uvicorn.run(
        "devuc.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,  # devuc writes its own (devuc/accesslog.py): one access log only
        server_header=False,
        # PROXY protocol v2 from trusted proxies; plain HTTP otherwise (devuc/proxy_protocol.py)
        http="devuc.proxy_protocol:ProxyProtocolHttp",
        # uvloop; with several workers, each accepts one connection at a time (devuc/serving.py)
        loop="devuc.serving:new_event_loop",
    )


@app.command()
def bootstrap(
    account: Annotated[str, typer.Option(help="Account (domain) name.")],
    user: Annotated[str, typer.Option(help="Name of the account's owner user.")],
    password: Annotated[
        Optional[str], typer.Option(help="Owner password (generated when not given).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Create an account with its owner, admin group, region projects and an access key."""
    from .iam import service

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    _migrate(settings)
    try:
        created = asyncio.run(
            with_runtime(settings, lambda rt: service.create_account(rt, account, user, password))
        )
    except service.AccountExists:
        err.print(f"[red]error:[/] an account named {account!r} exists already; nothing was changed")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    data = created.as_dict()
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    table = Table(title=f"account {account}", show_header=False)
    for key, value in data.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    out.print(table)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Apply pending migrations."""
    from .store.migrate import current

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    _migrate(settings)
    out.print(f"database at revision {current(settings.effective_database_url)}")


@db_app.command("current")
def db_current(data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Show the database's schema revision."""
    from .store.migrate import current

    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    out.print(current(settings.effective_database_url) or "empty (no migrations applied)")


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None, database_url: DatabaseUrl = None, config: ConfigFile = None) -> None:
    """Start signing tokens with a new key; tokens signed earlier stay valid until they expire."""
    settings = _settings(config, data_dir=data_dir, database_url=database_url)
    _migrate(settings)
    count = asyncio.run(with_runtime(settings, lambda rt: rt.keyring.rotate()))
    out.print(f"token keys rotated; {count} key(s) in the ring")


AUDIT_COLUMNS = ("time", "outcome", "status", "action", "target", "account_id", "user_id", "source", "reason")


@app.command()
def audit(
    account: Annotated[Optional[str], typer.Option(help="Account id or name.")] = None,
    user: Annotated[Optional[str], typer.Option(help="User id.")] = None,
    action: Annotated[Optional[str], typer.Option(help="Part of 'METHOD /route'.")] = None,
    outcome: Annotated[Optional[str], typer.Option(help="ok, denied, failed or let_through.")] = None,
    since: Annotated[Optional[str], typer.Option(help="ISO time, e.g. 2030-01-01T00:00:00Z.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Most recent N records.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """List the audit trail (mutating calls and denied requests), newest first."""
    from datetime import datetime

    from .audit import AuditFilter, event_json, list_events
    from .opcli import Op, bad_input, table
    from .ops import lookup

    op = Op(as_json, data_dir, database_url, config)
    if outcome is not None and outcome not in ("ok", "denied", "failed", "let_through"):
        raise op.fail(bad_input("--outcome must be ok, denied, failed or let_through"))
    try:
        since_us = int(datetime.fromisoformat(since).timestamp() * 1e6) if since else None
    except ValueError:
        raise op.fail(bad_input(f"--since: not an ISO time: {since!r}")) from None

    async def work(rt):
        account_id = (await lookup.account(rt, account)).id if account else None
        query = AuditFilter(account_id, user, action, outcome, since_us, limit)
        return [event_json(row) for row in await list_events(rt, query)]

    events = op.run(work)
    if as_json:
        for event in events:
            sys.stdout.write(json.dumps(event) + "\n")
        return
    # Targets are paths callers chose: cells are escaped, so no recorded request can restyle the table.
    out.print(table(f"audit trail ({len(events)} most recent)", AUDIT_COLUMNS, events))


from .dev.cli import seed as _seed_command  # noqa: E402

app.command("seed")(_seed_command)


@dev_app.command("check-signing")
def check_signing(path: Annotated[Path, typer.Argument(help="A signing-vectors JSON file.")]) -> None:
    """Check devuc's signature verifier against a file of signed requests."""
    from .iam.signing_vectors import check_file

    raise typer.Exit(check_file(str(path)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
