"""``devuc vpcep``: the operator's verbs for private access (spec/codearts-uc.md §4.3, §6).

List, add and remove a tenant's allow-listed VPC endpoints, turn private access on or off per
region (the list is kept), and show the quota. The same service functions as the HTTP API, so the
same rules apply (quota, characters of IDs and descriptions).
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ...errors import ApiError
from ...opcli import EPILOG

app = typer.Typer(
    help="Private access: a tenant's allow-listed VPC endpoints.", no_args_is_help=True, epilog=EPILOG
)
err = Console(stderr=True)
out = Console()

Account = Annotated[str, typer.Option("--account", help="Account (tenant) name or ID.")]
Region = Annotated[str, typer.Option("--region", help="Region ID, e.g. ap-southeast-3.")]
AnyRegion = Annotated[Optional[str], typer.Option("--region", help="Only this region.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data folder. [DEVUC_DATA_DIR]")]
DatabaseUrl = Annotated[
    Optional[str], typer.Option("--database-url", help="SQLAlchemy URL. [DEVUC_DATABASE_URL]")
]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="TOML configuration file. [DEVUC_CONFIG]")]


class Switch(str, Enum):
    on = "on"
    off = "off"


def _run(work, data_dir, database_url, config, as_json: bool = False):
    """Open the store (migrated) and run ``work(rt)`` (devuc/opcli.py: failures become one
    error line and the documented exit status; with ``as_json`` also the JSON error document)."""
    from ...opcli import run

    return run(work, config, data_dir, database_url, as_json=as_json)


async def _account(rt, ref: str) -> tuple[str, str]:
    from . import service

    found = await service.find_account(rt, ref)
    if found is None:
        raise ApiError("UC.00011005", f"Not found. No account named or with ID {ref!r}.")
    return found


def _region(rt, region: str | None) -> str | None:
    from ..inputs import invalid
    from . import service

    if region is not None and region not in rt.region_ids:
        raise invalid(service.INVALID, "region", f"'{region}' is not a region of this service")
    return region


def _emit(data, as_json: bool, table: Table) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        out.print(table)


@app.command("list")
def list_vpceps(
    account: Account,
    region: AnyRegion = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """List a tenant's allow-listed VPC endpoints and whether private access is on, per region."""
    from . import service

    async def work(rt):
        account_id, name = await _account(rt, account)
        only = _region(rt, region)
        records = await service.all_records(rt, account_id, only)
        switches = await service.switches(rt, account_id)
        return account_id, name, records, switches

    account_id, name, records, switches = _run(work, data_dir, database_url, config, as_json)
    regions = sorted({r for r, _ in records} | ({region} if region else set(switches)))
    data = {
        "account_id": account_id,
        "account_name": name,
        "regions": [
            {
                "region": r,
                "private_access": "on" if switches.get(r, True) else "off",
                "vpceps": [rec.as_dict() for reg, rec in records if reg == r],
            }
            for r in regions
        ],
    }
    table = Table(title=f"VPC endpoints of {name} ({account_id})")
    table.add_column("region", no_wrap=True)
    table.add_column("access", no_wrap=True)
    table.add_column("vpcep_id", no_wrap=True, min_width=max([8] + [len(rec.vpcep_id) for _, rec in records]))
    table.add_column("description", overflow="fold")
    for entry in data["regions"]:
        if not entry["vpceps"]:
            table.add_row(entry["region"], entry["private_access"], "-", "")
        for rec in entry["vpceps"]:
            table.add_row(entry["region"], entry["private_access"], rec["vpcep_id"], rec["description"])
    _emit(data, as_json, table)


@app.command("add")
def add_vpcep(
    vpcep_ids: Annotated[list[str], typer.Argument(help="VPC endpoint IDs.")],
    account: Account,
    region: Region,
    description: Annotated[Optional[str], typer.Option(help="Description of every ID given.")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Allow-list VPC endpoints for a tenant in a region (within the quota)."""
    from . import service

    async def work(rt):
        account_id, _ = await _account(rt, account)
        _region(rt, region)
        body = {"vpceps": [{"vpcep_id": v, "description": description} for v in vpcep_ids]}
        _, entries = service.parse_records_body(body)
        return await service.add_records(rt, account_id, region, entries)

    added = _run(work, data_dir, database_url, config, as_json)
    if as_json:
        sys.stdout.write(json.dumps({"region": region, "added": added}) + "\n")
        return
    out.print(f"{added} VPC endpoint(s) added in {region}")


@app.command("remove")
def remove_vpcep(
    vpcep_ids: Annotated[list[str], typer.Argument(help="VPC endpoint IDs.")],
    account: Account,
    region: Region,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Remove VPC endpoints from a tenant's list in a region."""
    from . import service

    async def work(rt):
        account_id, _ = await _account(rt, account)
        _region(rt, region)
        _, entries = service.parse_records_body({"vpceps": [{"vpcep_id": v} for v in vpcep_ids]})
        return await service.delete_records(rt, account_id, region, [e.vpcep_id for e in entries])

    removed = _run(work, data_dir, database_url, config, as_json)
    if as_json:
        sys.stdout.write(json.dumps({"region": region, "removed": removed}) + "\n")
        return
    out.print(f"{removed} VPC endpoint(s) removed in {region}")


@app.command("private-access")
def private_access(
    state: Annotated[Switch, typer.Argument(help="on or off.")],
    account: Account,
    region: Region,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Turn private access on or off for a tenant in a region; the list is kept either way, and
    private access is in force only while the list is not empty."""
    from . import service

    async def work(rt):
        account_id, _ = await _account(rt, account)
        _region(rt, region)
        await service.set_private_access(rt, account_id, region, state is Switch.on)

    _run(work, data_dir, database_url, config, as_json)
    if as_json:
        sys.stdout.write(json.dumps({"region": region, "private_access": state.value}) + "\n")
        return
    out.print(f"private access {state.value} in {region}")


@app.command("quota")
def quota(
    account: Account,
    region: AnyRegion = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    config: ConfigFile = None,
) -> None:
    """Show the VPC endpoint quota (per account and region) and what a tenant uses of it."""
    from . import service

    async def work(rt):
        account_id, name = await _account(rt, account)
        only = _region(rt, region)
        used = await service.usage(rt, account_id)
        return account_id, name, rt.settings.vpcep_quota, used, only

    account_id, name, limit, used, only = _run(work, data_dir, database_url, config, as_json)
    regions = [only] if only else sorted(used)
    data = {
        "account_id": account_id,
        "quota": limit,
        "regions": [{"region": r, "used": used.get(r, 0), "remaining": limit - used.get(r, 0)} for r in regions],
    }
    table = Table(title=f"VPC endpoint quota of {name}: {limit} per region")
    for column in ("region", "used", "remaining"):
        table.add_column(column)
    for entry in data["regions"]:
        table.add_row(entry["region"], str(entry["used"]), str(entry["remaining"]))
    _emit(data, as_json, table)
