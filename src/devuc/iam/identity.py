"""Who is calling: the Principal, and how a token becomes one.

``principal.py`` (the HTTP dependency) turns request headers into a :class:`Principal` using the
functions here; services receive the Principal and never read headers.
"""

from __future__ import annotations

import functools
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, and_, bindparam, exists, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store import tables as t
from ..store.db import now_us
from .tokens import TokenPayload

ADMIN_GROUP = "admin"
ADMIN_ROLE = "te_admin"


@dataclass(frozen=True)
class Principal:
    account_id: str
    account_name: str
    user_id: str
    user_name: str
    is_owner: bool
    is_admin: bool  # member of the account's built-in admin group (Tenant Administrator)
    project_id: str | None  # None: domain (account) scope
    project_name: str | None
    method: str  # "token" or "aksk"
    expires_us: int | None = None
    audit_id: str | None = None  # token principals
    access_key: str | None = None  # signed-request principals
    vpc_endpoint: str | None = None

    @property
    def can_administer(self) -> bool:
        """The account owner and Tenant Administrators manage everything in their account."""
        return self.is_owner or self.is_admin

    @property
    def roles(self) -> tuple[str, ...]:
        return (ADMIN_ROLE,) if self.can_administer else ()


@dataclass(frozen=True)
class TokenState:
    """A decoded token and what the store says about it now."""

    payload: TokenPayload
    status: str  # "valid" | "expired" | "revoked"
    principal: Principal | None  # None when the user, account or project is gone


# ---------------------------------------------------------------------------------------------
# identifiers and time formats


def new_id() -> str:
    return secrets.token_hex(16)


_AK_ALPHABET = string.ascii_uppercase + string.digits
_SK_ALPHABET = string.ascii_letters + string.digits


def new_access_key() -> str:
    return "".join(secrets.choice(_AK_ALPHABET) for _ in range(20))


def new_secret_key() -> str:
    return "".join(secrets.choice(_SK_ALPHABET) for _ in range(40))


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def iso_z(us: int) -> str:
    """``2030-01-04T09:05:22.701000Z``: token and credential times."""
    return _dt(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_plain(us: int) -> str:
    """``2030-01-06T08:05:16.000000``: the create-user ``create_time``."""
    return _dt(us).strftime("%Y-%m-%dT%H:%M:%S.%f")


def show_time(us: int | None) -> str | None:
    """``2020-07-08 02:19:03.0``: the show-user times (one fraction digit), or None."""
    if us is None:
        return None
    d = _dt(us)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + str(d.microsecond // 100_000)


# ---------------------------------------------------------------------------------------------
# principals


def _admin_member(user_id_col):
    return exists().where(
        and_(
            t.group_members.c.user_id == user_id_col,
            t.group_members.c.group_id == t.groups.c.id,
            t.groups.c.builtin.is_(True),
            t.groups.c.name == ADMIN_GROUP,
        )
    )


@functools.cache
def _principal_query(scoped: bool) -> Select:
    """What a principal is made of, for a user of an account and, if ``scoped``, a project:
    built once, run with bound values (the hot paths' cache misses and every login run it)."""
    project_name = (
        select(t.region_projects.c.name)
        .where(
            t.region_projects.c.id == bindparam("project_id"),
            t.region_projects.c.account_id == bindparam("account_id"),
            t.region_projects.c.enabled.is_(True),
        )
        .scalar_subquery()
        if scoped
        else literal(None)
    )
    return (
        select(
            t.users.c.name,
            t.users.c.is_owner,
            t.users.c.tokens_valid_after_us,
            t.accounts.c.name.label("account_name"),
            _admin_member(t.users.c.id).label("is_admin"),
            project_name.label("project_name"),
        )
        .join_from(t.users, t.accounts, t.users.c.account_id == t.accounts.c.id)
        .where(
            t.users.c.id == bindparam("user_id"),
            t.users.c.account_id == bindparam("account_id"),
            t.users.c.enabled.is_(True),
            t.accounts.c.enabled.is_(True),
        )
    )


async def load_principal(
    conn: AsyncConnection,
    user_id: str,
    account_id: str,
    project_id: str | None,
    *,
    method: str,
    **extra,
) -> tuple[Principal | None, int]:
    """The principal for an enabled user of an enabled account (None otherwise), and the user's
    token cut-off time (tokens issued before it are revoked)."""
    values = {"user_id": user_id, "account_id": account_id}
    if project_id:
        values["project_id"] = project_id
    row = (await conn.execute(_principal_query(bool(project_id)), values)).first()
    if row is None or (project_id and row.project_name is None):
        return None, 0
    principal = Principal(
        account_id=account_id,
        account_name=row.account_name,
        user_id=user_id,
        user_name=row.name,
        is_owner=bool(row.is_owner),
        is_admin=bool(row.is_admin),
        project_id=project_id,
        project_name=row.project_name,
        method=method,
        **extra,
    )
    return principal, row.tokens_valid_after_us


_REVOKED = select(t.token_revocations.c.audit_id).where(
    t.token_revocations.c.audit_id == bindparam("audit_id")
)


async def token_state(conn: AsyncConnection, payload: TokenPayload) -> TokenState:
    principal, valid_after = await load_principal(
        conn,
        payload.user_id,
        payload.account_id,
        payload.project_id,
        method="token",
        expires_us=payload.expires_us,
        audit_id=payload.audit_id,
    )
    revoked = (await conn.execute(_REVOKED, {"audit_id": payload.audit_id})).first() is not None
    if principal is None or revoked or payload.issued_us < valid_after:
        status = "revoked"
    elif payload.expires_us <= now_us():
        status = "expired"
    else:
        status = "valid"
    return TokenState(payload, status, principal)
