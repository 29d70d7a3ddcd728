"""`devuc seed FILE`, and the start-up work of `devuc serve --dev` / `--seed FILE`.

Exit codes of `devuc seed`: 0 applied (or nothing to change), 2 the file is wrong (``FILE:LINE:
what is wrong``), 1 any other failure (the database cannot be reached, ...).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ..config import ConfigError, Settings
from ..runtime import with_runtime
from .seed import Report, SeedError, apply_text, parse_seed, read_seed_file

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DEV_SEED_NAME = "dev-seed.yaml"
DEV_DATA_PREFIX = "devuc-dev-"


def dev_seed_text() -> str:
    return resources.files("devuc.dev").joinpath(DEV_SEED_NAME).read_text(encoding="utf-8")


def dev_seed_source() -> str:
    return str(resources.files("devuc.dev").joinpath(DEV_SEED_NAME))


def fresh_dev_data_dir() -> Path:
    """Where a dev server keeps its data unless told: a new temporary folder (a dev server starts
    clean; the folder is left for a look afterwards and is named in the banner)."""
    return Path(tempfile.mkdtemp(prefix=DEV_DATA_PREFIX))


def seed(
    file: Annotated[Path, typer.Argument(help="The seed file (YAML, docs/dev-mode.md).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: Annotated[
        Optional[Path], typer.Option("--data-dir", help="Data folder (SQLite file, master key). [DEVUC_DATA_DIR]")
    ] = None,
    database_url: Annotated[
        Optional[str], typer.Option("--database-url", help="SQLAlchemy URL. [DEVUC_DATABASE_URL]")
    ] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML configuration file. [DEVUC_CONFIG]")] = None,
) -> None:
    """Apply a seed file: accounts, users, groups, access keys, CodeArts projects, members, roles
    and VPC endpoints. Applying the same file again changes nothing."""
    import os

    os.umask(0o077)
    try:
        settings = Settings.load(config, data_dir=data_dir, database_url=database_url)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    source = str(file)
    try:
        text = read_seed_file(file)
        parse_seed(text, settings)  # every problem of the file before anything is opened
    except SeedError as exc:
        err.print(exc.render(source), markup=False, highlight=False)
        raise typer.Exit(2) from None
    try:
        from ..store.migrate import upgrade

        upgrade(settings.effective_database_url)

        async def work(rt):
            await rt.keyring.fernet()
            return await apply_text(rt, text)

        report: Report = asyncio.run(with_runtime(settings, work))
    except SeedError as exc:
        err.print(exc.render(source), markup=False, highlight=False)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - the CLI's last word: say what, exit 1
        err.print(f"{source}: not applied: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                  markup=False, highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps({"changed": report.changed, "changes": report.changes}) + "\n")
        return
    if not report.changed:
        out.print(f"{source}: nothing to change (the store already matches the file)", markup=False)
        return
    for change in report.changes:
        out.print(f"  {change}", markup=False, highlight=False)
    out.print(f"{source}: applied, {len(report.changes)} change(s)", markup=False)


async def prepare_seeded(settings: Settings, text: str, source: str) -> Report:
    """Start-up of a seeded server, before its workers start: token keys, region projects, the
    seed, then the start snapshot that "reset to seed" restores."""
    from ..iam import service
    from . import state

    async def work(rt):
        await rt.keyring.fernet()
        report = await apply_text(rt, text)
        await service.ensure_region_projects(rt)
        await state.save_start_snapshot(rt)
        return report

    try:
        return await with_runtime(settings, work)
    except SeedError as exc:
        err.print(exc.render(source), markup=False, highlight=False)
        raise typer.Exit(2) from None


def dev_banner(settings: Settings, data_dir_chosen: bool) -> str:
    """What `devuc serve --dev` prints: dev mode, where the data is, and the credentials."""
    seed = parse_seed(dev_seed_text(), settings) if settings.seed_file is None else None
    lines = [
        "",
        "=" * 78,
        f"  devuc DEV MODE on http://{settings.host}:{settings.port}  (plain HTTP, loopback only)",
        f"  data: {settings.data_dir.resolve()}{'' if data_dir_chosen else '  (a fresh temporary folder)'}",
        "  state routes open to all: POST /_devuc/reset, GET|POST /_devuc/snapshot",
        f"  regions: {', '.join(r.id for r in settings.regions)}",
    ]
    if seed is None:
        lines.append(f"  seed: {settings.seed_file}")
    else:
        lines.append("  FIXED, PUBLIC development credentials (docs/dev-mode.md):")
        for account in seed.accounts:
            lines.append(f"  account {account.name}  id {account.id or '-'}")
            for user in [account.owner, *account.users]:
                key = user.keys[0] if user.keys else None
                lines.append(
                    f"    {user.name:<21} password {user.password or '-':<15} "
                    f"AK {key.access if key else '-'}  SK {key.secret if key else '-'}"
                )
            for project in account.projects:
                lines.append(f"  CodeArts project {project.name}  id {project.id or '-'}  region {project.region}")
                lines += [f"    build task {task.id}  created by {task.creator}" for task in project.build_tasks]
    lines.append("=" * 78)
    return "\n".join(lines)


def settings_for_start(settings: Settings) -> tuple[Settings, bool]:
    """Dev mode: loopback only, and a fresh temporary data folder unless one was given (on the
    command line, in the environment or in the config file). Returns the settings and whether the
    data folder was chosen by the user."""
    import ipaddress

    chosen = "data_dir" in settings.model_fields_set
    if not settings.dev:
        return settings, chosen
    try:
        loopback = settings.host == "localhost" or ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        err.print(f"[red]error:[/] dev mode serves the loopback interface only, not {settings.host}")
        raise typer.Exit(2)
    if not chosen:
        settings = settings.model_copy(update={"data_dir": fresh_dev_data_dir()})
    return settings, chosen


def seeded_start(settings: Settings, data_dir_chosen: bool) -> str:
    """Apply the seed of a `--dev` / `--seed` start; returns what to print."""
    if settings.seed_file is not None:
        source = str(settings.seed_file)
        try:
            text = read_seed_file(settings.seed_file)
        except SeedError as exc:
            err.print(exc.render(source), markup=False, highlight=False)
            raise typer.Exit(2) from None
    else:
        text, source = dev_seed_text(), dev_seed_source()
    report = asyncio.run(prepare_seeded(settings, text, source))
    summary = f"seed {source}: {len(report.changes)} change(s)" if report.changed else f"seed {source}: unchanged"
    if settings.dev:
        return dev_banner(settings, data_dir_chosen) + "\n" + summary
    return summary


def start_seeding(settings: Settings, data_dir_chosen: bool):
    """Run :func:`seeded_start` in a thread of its own and return a function that waits for it
    and gives what to print (or raises what it raised). Meanwhile the caller loads the HTTP app:
    password hashing and the store's I/O leave the interpreter free, so the two overlap and a dev
    server answers sooner."""
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["text"] = seeded_start(settings, data_dir_chosen)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as is
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="devuc-seed", daemon=True)
    thread.start()

    def wait() -> str:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["text"]

    return wait
