"""Private access rules (spec/codearts-uc.md §3, §4, §6): who may manage a tenant's allow-listed
VPC endpoints, what a valid request says, the records and their quota, the operator's switch, and
the per-request enforcement that feeds :func:`decision.decide`.

No HTTP here: routes hand over plain values and a :class:`Principal`; the CLI calls the same
functions with an account id it resolved itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from ... import authz
from ...errors import ApiError
from ...iam.identity import Principal
from ...runtime import Runtime
from ...store import tables as t
from ...store.db import now_us
from ..inputs import Body, invalid, missing
from .decision import RegionPolicy, VpcData, decide

log = logging.getLogger("devuc.private_access")

BAD_REQUEST = "UC.00011001"
INVALID = "UC.00011002"
NO_PERMISSION = "UC.00011003"
NOT_FOUND = "UC.00011005"
QUOTA_USED_UP = "UC.00011036"
DENIED = "UC.00011065"

# Field rules, exactly as documented (spec/codearts-uc.md §3.3, §3.4, §4.1, §4.2).
REGION_RE = re.compile(r"[A-Za-z0-9-]{1,40}")
ENTERPRISE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
VPCEP_ID_RE = re.compile(r"[0-9a-z-]{1,40}")
VPCEP_IDS_RE = re.compile(r"[0-9a-z,-]{1,1229}")
# Chinese and English letters, digits, space and ( ) [ ] - _ ~ . & ;
DESCRIPTION_RE = re.compile(r"[A-Za-z0-9 ()\[\]\-_~.&;\u4e00-\u9fff]{0,128}")
TASK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")

REGION_RULE = "must be 1 to 40 characters: digits, letters and '-'"
ENTERPRISE_ID_RULE = "must be 1 to 40 characters: digits, letters, '-' and '_'"
VPCEP_ID_RULE = "must be 1 to 40 characters: digits, lower-case letters and '-'"
DESCRIPTION_RULE = (
    "must be 0 to 128 characters: Chinese and English letters, digits, spaces and ()[]-_~.&;"
)

MAX_ENTRIES = 1000  # VPC endpoints in one add or delete request (a devuc limit)
DEFAULT_OFFSET, DEFAULT_LIMIT = 0, 10
SORTS = {"asc": False, "ASC": False, "desc": True, "DESC": True}


@dataclass(frozen=True)
class VpcepEntry:
    vpcep_id: str
    description: str | None  # None: not given


@dataclass(frozen=True)
class ListQuery:
    enterprise_id: str
    vpcep_ids: tuple[str, ...] | None  # None: no filter
    offset: int
    limit: int
    descending: bool


@dataclass(frozen=True)
class Record:
    vpcep_id: str
    description: str

    def as_dict(self) -> dict:
        return {"vpcep_id": self.vpcep_id, "description": self.description}


# ---------------------------------------------------------------------------------------------
# who may call, and the region


def region_of(caller: Principal, region_ids: Iterable[str]) -> str | None:
    """The region of the caller's region project (``cn-north-4`` or a sub-project
    ``cn-north-4_dev``), or None for a domain-scoped caller."""
    if not caller.project_name:
        return None
    name = caller.project_name.split("_", 1)[0]
    return name if name in region_ids else None


def require_manager(caller: Principal) -> None:
    """The VPCEP APIs: a project-scoped token (or a signed request), and the account owner or a
    Tenant Administrator (spec/codearts-uc.md §3.2). Refusals are 401 UC.00011003 (§7)."""
    if caller.method == "token" and caller.project_id is None:
        # what the credential is, not who holds it: refused in every enforcement mode
        raise authz.always(
            NO_PERMISSION,
            "a global (domain-scoped) token on a VPCEP API",
            "No permission. A global (domain-scoped) token is not accepted: use a token scoped "
            "to a region project.",
        )
    if not caller.can_administer:
        authz.refuse(NO_PERMISSION, "not the account owner or a Tenant Administrator: manage VPC endpoints")


def parse_region(value: str | None, caller: Principal, region_ids: list[str]) -> str:
    """The mandatory ``region`` header: documented characters, a region this service serves, and
    the region of the caller's project when the caller has one."""
    if value is None or value == "":
        raise missing(INVALID, "region")
    if not REGION_RE.fullmatch(value):
        raise invalid(INVALID, "region", REGION_RULE)
    if value not in region_ids:
        raise invalid(INVALID, "region", f"'{value}' is not a region of this service")
    own = region_of(caller, region_ids)
    if caller.project_id is not None and own != value:
        raise invalid(
            INVALID, "region",
            f"'{value}' is not the region of the caller's project ({own or caller.project_name})",
        )
    return value


def check_enterprise(caller: Principal, enterprise_id: str | None) -> str:
    """``enterprise_id`` must be the caller's own account; another is refused like a missing
    right, revealing nothing about that tenant (spec §3.4)."""
    if enterprise_id is None:
        return caller.account_id
    if enterprise_id != caller.account_id:
        raise authz.always(NO_PERMISSION, "tenant isolation: enterprise_id is another account")
    return enterprise_id


# ---------------------------------------------------------------------------------------------
# reading requests


def _enterprise_id(value: Any, required: bool) -> str | None:
    if value is None:
        if required:
            raise missing(INVALID, "enterprise_id")
        return None
    if not isinstance(value, str):
        raise invalid(INVALID, "enterprise_id", "must be a string")
    if not ENTERPRISE_ID_RE.fullmatch(value):
        raise invalid(INVALID, "enterprise_id", ENTERPRISE_ID_RULE)
    return value


def parse_list_query(params: Mapping[str, list[str]]) -> ListQuery:
    """The list API's query (spec §4.2). ``params`` maps each name to every value it was given;
    a parameter given twice is refused as ambiguous."""
    values: dict[str, str | None] = {}
    for name in ("enterprise_id", "vpcep_ids", "offset", "limit", "sort"):
        given = params.get(name, [])
        if len(given) > 1:
            raise invalid(INVALID, name, "must be given at most once")
        values[name] = given[0] if given else None

    enterprise_id = _enterprise_id(values["enterprise_id"], required=True)
    assert enterprise_id is not None

    ids: tuple[str, ...] | None = None
    raw_ids = values["vpcep_ids"]
    if raw_ids is not None:
        if not VPCEP_IDS_RE.fullmatch(raw_ids):
            raise invalid(
                INVALID, "vpcep_ids",
                "must be 1 to 1229 characters: digits, lower-case letters, '-' and ','",
            )
        parts = [p for p in raw_ids.split(",") if p]
        if not parts:
            raise invalid(INVALID, "vpcep_ids", "must name at least one VPC endpoint ID")
        for part in parts:
            if not VPCEP_ID_RE.fullmatch(part):
                raise invalid(INVALID, "vpcep_ids", f"each ID {VPCEP_ID_RULE}")
        ids = tuple(dict.fromkeys(parts))

    offset = _query_int(values["offset"], "offset", 0, 9999, DEFAULT_OFFSET)
    limit = _query_int(values["limit"], "limit", 1, 100, DEFAULT_LIMIT)
    sort = values["sort"]
    if sort is not None and sort not in SORTS:
        raise invalid(INVALID, "sort", "must be asc, ASC, desc or DESC")
    return ListQuery(enterprise_id, ids, offset, limit, SORTS.get(sort or "asc", False))


def _query_int(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise invalid(INVALID, name, f"must be an integer from {low} to {high}")
    return int(value)


def parse_records_body(data: Any) -> tuple[str | None, list[VpcepEntry]]:
    """The add/delete body (spec §4.1, §4.3): ``enterprise_id`` (optional) and a non-empty
    ``vpceps`` array whose elements each carry a ``vpcep_id`` and may carry a ``description``.
    A VPC endpoint named twice counts once (the last description given wins)."""
    if not isinstance(data, dict):
        raise ApiError(BAD_REQUEST, "The request body must be a JSON object.")
    body = Body(data, INVALID)
    enterprise_id = _enterprise_id(data.get("enterprise_id"), required=False)
    items = body.array("vpceps", required=True, min_items=1, max_items=MAX_ENTRIES)
    assert items is not None
    entries: dict[str, VpcepEntry] = {}
    for index, item in enumerate(items):
        element = Body(item, INVALID, f"vpceps[{index}]")
        vpcep_id = element.string("vpcep_id", required=True)
        assert vpcep_id is not None
        if not VPCEP_ID_RE.fullmatch(vpcep_id):
            raise invalid(INVALID, element.name("vpcep_id"), VPCEP_ID_RULE)
        description = element.string("description")
        if description is not None and not DESCRIPTION_RE.fullmatch(description):
            raise invalid(INVALID, element.name("description"), DESCRIPTION_RULE)
        previous = entries.pop(vpcep_id, None)
        if description is None and previous is not None:
            description = previous.description
        entries[vpcep_id] = VpcepEntry(vpcep_id, description)
    return enterprise_id, list(entries.values())


def parse_task_id(values: list[str]) -> str | None:
    """The optional ``task_id`` of the decision-record API (every value it was given)."""
    if not values:
        return None
    if len(values) > 1:
        raise invalid(INVALID, "task_id", "must be given at most once")
    value = values[0]
    if not TASK_ID_RE.fullmatch(value):
        raise invalid(INVALID, "task_id", "must be 1 to 32 characters: letters, digits, '-' and '_'")
    return value


# ---------------------------------------------------------------------------------------------
# records


def _records(account_id: str, region: str):
    return and_(t.vpcep_records.c.account_id == account_id, t.vpcep_records.c.region == region)


async def list_records(rt: Runtime, account_id: str, region: str, query: ListQuery) -> tuple[int, list[Record]]:
    """The page of the tenant's records in ``region`` and how many match in all; cached per
    node until the store generation moves on (every change to the records moves it)."""
    generation = await rt.fresh_generation()
    key = ("vpcep-page", account_id, region, query)
    page = rt.cache.get(key)
    if page is None:
        page = await _load_page(rt, account_id, region, query)
        rt.cache.put(key, page, generation)
    return page


async def _load_page(rt: Runtime, account_id: str, region: str, query: ListQuery) -> tuple[int, list[Record]]:
    condition = _records(account_id, region)
    if query.vpcep_ids is not None:
        condition = and_(condition, t.vpcep_records.c.vpcep_id.in_(query.vpcep_ids))
    order = t.vpcep_records.c.vpcep_id
    if not rt.store.is_sqlite:
        order = order.collate("C")  # byte order, as SQLite sorts: the same page on every backend
    async with rt.store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(t.vpcep_records).where(condition))).scalar_one()
        rows = (
            await conn.execute(
                select(t.vpcep_records.c.vpcep_id, t.vpcep_records.c.description)
                .where(condition)
                .order_by(order.desc() if query.descending else order.asc())
                .offset(query.offset)
                .limit(query.limit)
            )
        ).all()
    return total, [Record(r.vpcep_id, r.description) for r in rows]


async def _lock_account(conn, account_id: str) -> None:
    """Serialise writers of one account's records, so the quota holds when several servers add
    at once (FOR UPDATE on PostgreSQL; SQLite's writers are serial already)."""
    await conn.execute(select(t.accounts.c.id).where(t.accounts.c.id == account_id).with_for_update())


async def add_records(rt: Runtime, account_id: str, region: str, entries: list[VpcepEntry]) -> int:
    """Add VPC endpoints to the tenant's list in ``region``; one already listed keeps its place
    and takes the new description if one is given. Beyond the quota nothing is added
    (``UC.00011036``). Returns how many were new."""
    quota = rt.settings.vpcep_quota
    now = now_us()
    async with rt.store.write() as conn:
        await _lock_account(conn, account_id)
        existing = {
            r.vpcep_id: r.description
            for r in (
                await conn.execute(
                    select(t.vpcep_records.c.vpcep_id, t.vpcep_records.c.description).where(
                        _records(account_id, region)
                    )
                )
            ).all()
        }
        new = [e for e in entries if e.vpcep_id not in existing]
        if new and len(existing) + len(new) > quota:  # (a lowered quota still lets descriptions change)
            raise ApiError(
                QUOTA_USED_UP,
                f"Your VPCEP quota has been used up. Region {region} allows {quota} VPC endpoints "
                f"per account: {len(existing)} in use, {len(new)} more requested.",
            )
        if new:
            await conn.execute(
                insert(t.vpcep_records),
                [
                    {
                        "account_id": account_id,
                        "region": region,
                        "vpcep_id": e.vpcep_id,
                        "description": e.description or "",
                        "created_us": now,
                    }
                    for e in new
                ],
            )
        for e in entries:
            if e.vpcep_id in existing and e.description is not None and e.description != existing[e.vpcep_id]:
                await conn.execute(
                    update(t.vpcep_records)
                    .where(_records(account_id, region), t.vpcep_records.c.vpcep_id == e.vpcep_id)
                    .values(description=e.description)
                )
    return len(new)


async def delete_records(rt: Runtime, account_id: str, region: str, vpcep_ids: list[str]) -> int:
    """Remove the named VPC endpoints from the tenant's list in ``region``; those not listed are
    skipped. When none of them is listed: 404 ``UC.00011005``. Returns how many were removed."""
    async with rt.store.write() as conn:
        result = await conn.execute(
            delete(t.vpcep_records).where(
                _records(account_id, region), t.vpcep_records.c.vpcep_id.in_(vpcep_ids)
            )
        )
        removed = result.rowcount
    if not removed:
        raise ApiError(
            NOT_FOUND,
            f"Not found. None of the VPC endpoints is on the account's list in region {region}.",
        )
    return removed


async def usage(rt: Runtime, account_id: str) -> dict[str, int]:
    """How many VPC endpoints the tenant lists, per region that has any."""
    async with rt.store.read() as conn:
        rows = (
            await conn.execute(
                select(t.vpcep_records.c.region, func.count())
                .where(t.vpcep_records.c.account_id == account_id)
                .group_by(t.vpcep_records.c.region)
            )
        ).all()
    return {region: count for region, count in rows}


# ---------------------------------------------------------------------------------------------
# the operator's switch and the policy


async def set_private_access(rt: Runtime, account_id: str, region: str, enabled: bool) -> None:
    """Turn private access on or off for a tenant in a region; the list is kept either way."""
    async with rt.store.write() as conn:
        await _lock_account(conn, account_id)
        await conn.execute(
            delete(t.private_access_switches).where(
                t.private_access_switches.c.account_id == account_id,
                t.private_access_switches.c.region == region,
            )
        )
        await conn.execute(
            insert(t.private_access_switches).values(
                account_id=account_id, region=region, enabled=enabled, updated_us=now_us()
            )
        )


async def load_policies(rt: Runtime, account_id: str, region: str | None = None) -> dict[str, RegionPolicy]:
    """The tenant's private access in each region where it lists VPC endpoints (elsewhere it
    cannot be in force): the list and the operator's switch, in one query."""
    r, s = t.vpcep_records, t.private_access_switches
    query = (
        select(r.c.region, r.c.vpcep_id, s.c.enabled)
        .select_from(r.outerjoin(s, and_(s.c.account_id == r.c.account_id, s.c.region == r.c.region)))
        .where(r.c.account_id == account_id)
    )
    if region is not None:
        query = query.where(r.c.region == region)
    async with rt.store.read() as conn:
        rows = (await conn.execute(query)).all()
    ids: dict[str, set[str]] = {}
    switched_on: dict[str, bool] = {}
    for row in rows:
        ids.setdefault(row.region, set()).add(row.vpcep_id)
        switched_on[row.region] = row.enabled is None or bool(row.enabled)
    return {name: RegionPolicy(frozenset(listed), switched_on[name]) for name, listed in ids.items()}


async def switches(rt: Runtime, account_id: str) -> dict[str, bool]:
    async with rt.store.read() as conn:
        rows = (
            await conn.execute(
                select(t.private_access_switches.c.region, t.private_access_switches.c.enabled).where(
                    t.private_access_switches.c.account_id == account_id
                )
            )
        ).all()
    return {region: bool(enabled) for region, enabled in rows}


def offered_regions(rt: Runtime) -> list[str] | None:
    return rt.settings.private_access_regions or None


async def authorization(rt: Runtime, caller: Principal) -> VpcData:
    """The decision for the caller's request: its tenant, region and VPC endpoint."""
    region = region_of(caller, rt.region_ids)
    # Cached per node until the store generation moves on: every write (records, switches) moves
    # it, so a change is seen by the next request on any node (spec §6, contract 8).
    generation = await rt.fresh_generation()
    key = ("private-access", caller.account_id, region)
    policies = rt.cache.get(key)
    if policies is None:
        policies = await load_policies(rt, caller.account_id, region)
        rt.cache.put(key, policies, generation)
    return decide(caller.account_id, policies, region, caller.vpc_endpoint, offered_regions(rt))


async def enforce(rt: Runtime, caller: Principal, method: str, path: str) -> None:
    """Refuse a request private access does not allow: 403 ``UC.00011065``, nothing changed, and
    a log line (user, account, region, endpoint and request line; never credentials). Like every
    authorization refusal it follows the enforcement mode (devuc/authz.py); ``off`` skips the
    check altogether."""
    if authz.current_mode() == authz.OFF:
        return
    decision = await authorization(rt, caller)
    if decision.allowed:
        return
    authz.refuse(
        DENIED,
        "private access denied: not through a VPC endpoint the account allows",
        account=caller.account_id,
        user=caller.user_id,
        region=region_of(caller, rt.region_ids) or "-",
        vpc_endpoint=caller.vpc_endpoint or "-",
        request=f"{method} {path}",
    )


# ---------------------------------------------------------------------------------------------
# the operator's view (CLI)


async def all_records(rt: Runtime, account_id: str, region: str | None = None) -> list[tuple[str, Record]]:
    """Every record of a tenant, by region then VPC endpoint: (region, record)."""
    query = select(t.vpcep_records.c.region, t.vpcep_records.c.vpcep_id, t.vpcep_records.c.description).where(
        t.vpcep_records.c.account_id == account_id
    )
    if region is not None:
        query = query.where(t.vpcep_records.c.region == region)
    async with rt.store.read() as conn:
        rows = (await conn.execute(query)).all()
    return sorted(((r.region, Record(r.vpcep_id, r.description)) for r in rows), key=lambda x: (x[0], x[1].vpcep_id))
