"""``devuc vpcep``: the operator's verbs for private access (spec/codearts-uc.md §4.3, §6).

List, add and remove a tenant's allow-listed VPC endpoints, turn private access on or off per
region (the list is kept), and show the quota. The same service functions as the HTTP API, so the
same rules apply (quota, characters of IDs and descriptions); the store options, ``--json``,
error reports and exit statuses are those of every operator verb (:mod:`devuc.opcli`).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ...opcli import EPILOG, Op, command, table

app = typer.Typer(
    help="Private access: a tenant's allow-listed VPC endpoints.", no_args_is_help=True, epilog=EPILOG
)

Account = Annotated[str, typer.Option("--account", help="Account (tenant) name or ID.")]
Region = Annotated[str, typer.Option("--region", help="Region ID, e.g. ap-southeast-3.")]
AnyRegion = Annotated[Optional[str], typer.Option("--region", help="Only this region.")]
VpcepIds = Annotated[list[str], typer.Argument(help="VPC endpoint IDs.")]


class Switch(str, Enum):
    on = "on"
    off = "off"


async def _tenant(rt, account: str, region: str | None) -> tuple[str, str]:
    """The account named (id, name), once ``region`` (if given) is known to be a region here."""
    from ..inputs import invalid
    from ...ops import lookup
    from . import service

    row = await lookup.account(rt, account)
    if region is not None and region not in rt.region_ids:
        raise invalid(service.INVALID, "region", f"'{region}' is not a region of this service")
    return row.id, row.name


@command(app, "list")
def list_vpceps(op: Op, account: Account, region: AnyRegion = None) -> None:
    """List a tenant's allow-listed VPC endpoints and whether private access is on, per region."""
    from . import service

    async def work(rt):
        account_id, name = await _tenant(rt, account, region)
        return account_id, name, await service.all_records(rt, account_id, region), await service.switches(rt, account_id)

    account_id, name, records, switches = op.run(work)
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

    def render() -> Table:
        table = Table(title=escape(f"VPC endpoints of {name} ({account_id})"))
        table.add_column("region", no_wrap=True)
        table.add_column("access", no_wrap=True)
        table.add_column("vpcep_id", no_wrap=True, min_width=max([8] + [len(rec.vpcep_id) for _, rec in records]))
        table.add_column("description", overflow="fold")
        for entry in data["regions"]:
            if not entry["vpceps"]:
                table.add_row(entry["region"], entry["private_access"], "-", "")
            for rec in entry["vpceps"]:
                table.add_row(entry["region"], entry["private_access"], rec["vpcep_id"], escape(rec["description"]))
        return table

    op.emit(data, render)


@command(app, "add")
def add_vpcep(
    op: Op,
    vpcep_ids: VpcepIds,
    account: Account,
    region: Region,
    description: Annotated[Optional[str], typer.Option(help="Description of every ID given.")] = None,
) -> None:
    """Allow-list VPC endpoints for a tenant in a region (within the quota)."""
    from . import service

    async def work(rt):
        account_id, _ = await _tenant(rt, account, region)
        body = {"vpceps": [{"vpcep_id": v, "description": description} for v in vpcep_ids]}
        _, entries = service.parse_records_body(body)
        return await service.add_records(rt, account_id, region, entries)

    added = op.run(work)
    op.emit({"region": region, "added": added}, lambda: f"{added} VPC endpoint(s) added in {region}")


@command(app, "remove")
def remove_vpcep(op: Op, vpcep_ids: VpcepIds, account: Account, region: Region) -> None:
    """Remove VPC endpoints from a tenant's list in a region."""
    from . import service

    async def work(rt):
        account_id, _ = await _tenant(rt, account, region)
        _, entries = service.parse_records_body({"vpceps": [{"vpcep_id": v} for v in vpcep_ids]})
        return await service.delete_records(rt, account_id, region, [e.vpcep_id for e in entries])

    removed = op.run(work)
    op.emit({"region": region, "removed": removed}, lambda: f"{removed} VPC endpoint(s) removed in {region}")


@command(app, "private-access")
def private_access(
    op: Op, state: Annotated[Switch, typer.Argument(help="on or off.")], account: Account, region: Region
) -> None:
    """Turn private access on or off for a tenant in a region; the list is kept either way, and
    private access is in force only while the list is not empty."""
    from . import service

    async def work(rt):
        account_id, _ = await _tenant(rt, account, region)
        await service.set_private_access(rt, account_id, region, state is Switch.on)

    op.run(work)
    op.emit({"region": region, "private_access": state.value}, lambda: f"private access {state.value} in {region}")


@command(app, "quota")
def quota(op: Op, account: Account, region: AnyRegion = None) -> None:
    """Show the VPC endpoint quota (per account and region) and what a tenant uses of it."""
    from . import service

    async def work(rt):
        account_id, name = await _tenant(rt, account, region)
        return account_id, name, rt.settings.vpcep_quota, await service.usage(rt, account_id)

    account_id, name, limit, used = op.run(work)
    regions = [region] if region else sorted(used)
    data = {
        "account_id": account_id,
        "quota": limit,
        "regions": [{"region": r, "used": used.get(r, 0), "remaining": limit - used.get(r, 0)} for r in regions],
    }
    op.emit(data, lambda: table(f"VPC endpoint quota of {name}: {limit} per region",
                                ("region", "used", "remaining"), data["regions"]))
