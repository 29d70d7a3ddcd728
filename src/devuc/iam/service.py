"""Identity rules: accounts, password tokens, region projects, users and user groups.

Functions here take the :class:`~devuc.runtime.Runtime`, the calling
:class:`~devuc.iam.identity.Principal` and plain values; they never see an HTTP request.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import authz
from ..errors import ApiError, field_error
from ..runtime import Runtime
from ..store import tables as t
from ..store.db import now_us
from ..validation import field, object_at
from .identity import (
    ADMIN_GROUP,
    Principal,
    TokenState,
    iso_plain,
    iso_z,
    new_access_key,
    new_id,
    new_secret_key,
    show_time,
    token_state,
)
from .passwords import check_password, generate_password, hash_password, rehashed, verify_password
from .tokens import new_payload

log = logging.getLogger("devuc.iam")

USER_NAME_RE = re.compile(r"^[A-Za-z_.\-][A-Za-z0-9 _.\-]{0,63}\Z")
ACCOUNT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}\Z")
GROUP_NAME_RE = re.compile(r"^[^\x00-\x1f]{1,64}\Z")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\Z")
DESCRIPTION_FORBIDDEN = set("@#%&<>\\$^*")
ACCESS_MODES = ("default", "programmatic", "console")


class AccountExists(Exception):
    pass


def require_admin(principal: Principal) -> None:
    if not principal.can_administer:
        authz.refuse("IAM.0002", "not the account owner or a Tenant Administrator")


# ---------------------------------------------------------------------------------------------
# accounts


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    account_name: str
    user_id: str
    user_name: str
    password: str
    access: str
    secret: str
    projects: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "account_name": self.account_name,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "password": self.password,
            "access": self.access,
            "secret": self.secret,
            "projects": self.projects,
        }


def check_account_name(name: str) -> str:
    if not ACCOUNT_NAME_RE.match(name):
        raise ValueError(
            "account name: 1-64 characters, letters, digits, '-' and '_', starting with a letter"
        )
    return name


async def create_account(
    rt: Runtime,
    account_name: str,
    user_name: str,
    password: str | None = None,
    *,
    account_id: str | None = None,
    user_id: str | None = None,
) -> NewAccount:
    """An account with its owner, the built-in admin group, one region project per configured
    region and one permanent access key. Raises AccountExists or ValueError (bad input).
    ``account_id`` / ``user_id``: fixed ids for the account and its owner (seed files)."""
    check_account_name(account_name)
    if not USER_NAME_RE.match(user_name):
        raise ValueError("user name: 1-64 characters, letters, digits, space, '-', '_' and '.'")
    if password is None:
        password = generate_password()
    else:
        try:
            check_password(password, user_name=user_name, min_length=rt.settings.password_min_length)
        except ApiError as exc:
            raise ValueError(exc.message) from exc
    password_hash = await hash_password(password)
    now = now_us()
    account_id, user_id, group_id = account_id or new_id(), user_id or new_id(), new_id()
    access, secret = new_access_key(), new_secret_key()
    projects = {region: new_id() for region in rt.region_ids}
    try:
        async with rt.store.write() as conn:
            exists = await conn.execute(
                select(t.accounts.c.id).where(t.accounts.c.name == account_name)
            )
            if exists.first() is not None:
                raise AccountExists(account_name)
            await conn.execute(
                insert(t.accounts).values(
                    id=account_id, name=account_name, enabled=True, description="", created_us=now
                )
            )
            await conn.execute(
                insert(t.users).values(
                    id=user_id,
                    account_id=account_id,
                    name=user_name,
                    password_hash=password_hash,
                    is_owner=True,
                    created_us=now,
                    pwd_created_us=now,
                    tokens_valid_after_us=0,
                    locked_until_us=0,
                )
            )
            await conn.execute(
                insert(t.groups).values(
                    id=group_id,
                    account_id=account_id,
                    name=ADMIN_GROUP,
                    description="Tenant Administrator",
                    builtin=True,
                    created_us=now,
                )
            )
            await conn.execute(insert(t.group_members).values(group_id=group_id, user_id=user_id))
            await _insert_region_projects(conn, account_id, projects)
            await conn.execute(
                insert(t.access_keys).values(
                    access=access,
                    user_id=user_id,
                    account_id=account_id,
                    secret_enc=rt.vault.seal(secret),
                    status="active",
                    description="created with the account",
                    created_us=now,
                )
            )
    except IntegrityError as exc:  # a concurrent creator won the unique name
        raise AccountExists(account_name) from exc
    log.info("account created: account_id=%s user_id=%s", account_id, user_id)
    return NewAccount(account_id, account_name, user_id, user_name, password, access, secret, projects)


async def _insert_region_projects(
    conn: AsyncConnection, account_id: str, projects: dict[str, str]
) -> None:
    if projects:
        await conn.execute(
            insert(t.region_projects),
            [
                {
                    "id": pid,
                    "account_id": account_id,
                    "name": region,
                    "parent_id": account_id,
                    "enabled": True,
                    "description": "",
                }
                for region, pid in projects.items()
            ],
        )


async def ensure_region_projects(rt: Runtime) -> int:
    """Give every account a project for each configured region it lacks (regions added to the
    configuration after the account was created). Returns how many were created."""
    created = 0
    async with rt.store.write() as conn:
        have = (
            await conn.execute(select(t.region_projects.c.account_id, t.region_projects.c.name))
        ).all()
        existing = {(r.account_id, r.name) for r in have}
        account_ids = (await conn.execute(select(t.accounts.c.id))).scalars().all()
        for account_id in account_ids:
            missing = {r: new_id() for r in rt.region_ids if (account_id, r) not in existing}
            await _insert_region_projects(conn, account_id, missing)
            created += len(missing)
    return created


async def has_accounts(rt: Runtime) -> bool:
    async with rt.store.read() as conn:
        return (await conn.execute(select(t.accounts.c.id).limit(1))).first() is not None


# ---------------------------------------------------------------------------------------------
# tokens


@dataclass(frozen=True)
class PasswordLogin:
    user_name: str | None
    user_id: str | None
    password: str
    domain_name: str | None
    domain_id: str | None
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    project_domain_name: str | None
    scope_domain_id: str | None
    scope_domain_name: str | None


def parse_password_login(body: Any) -> PasswordLogin:
    """Read a POST /v3/auth/tokens body (spec/iam.md §3.1)."""
    miss, bad = "IAM.0072", "IAM.0011"
    identity = object_at(body, "auth.identity", missing=miss, invalid=bad)
    methods = field(identity, "methods", "auth.identity", list, missing=miss, invalid=bad)
    if methods != ["password"]:
        raise ApiError(
            "IAM.0007",
            "Invalid parameter 'auth.identity.methods': only [\"password\"] is supported.",
        )
    password_obj = field(identity, "password", "auth.identity", dict, missing=miss, invalid=bad)
    user = field(password_obj, "user", "auth.identity.password", dict, missing=miss, invalid=bad)
    up = "auth.identity.password.user"
    user_id = field(user, "id", up, str, missing=None, invalid=bad)
    user_name = field(user, "name", up, str, missing=None if user_id else miss, invalid=bad)
    password = field(user, "password", up, str, missing=miss, invalid=bad)
    domain = field(user, "domain", up, dict, missing=None if user_id else miss, invalid=bad) or {}
    domain_id = field(domain, "id", f"{up}.domain", str, missing=None, invalid=bad)
    domain_name = field(domain, "name", f"{up}.domain", str, missing=None, invalid=bad)
    if not user_id and not (domain_id or domain_name):
        raise ApiError(miss, f"Missing parameter '{up}.domain.name'.")

    auth = body["auth"]
    scope_path = "auth.scope" if auth.get("scope") is not None else "scope"
    scope = (auth.get("scope") if scope_path == "auth.scope" else body.get("scope")) or {}
    if not isinstance(scope, dict):
        raise ApiError(bad, f"Invalid parameter '{scope_path}': must be an object.")
    project = field(scope, "project", scope_path, dict, missing=None, invalid=bad) or {}
    pp = f"{scope_path}.project"
    project_domain = field(project, "domain", pp, dict, missing=None, invalid=bad) or {}
    scope_domain = field(scope, "domain", scope_path, dict, missing=None, invalid=bad) or {}
    return PasswordLogin(
        user_name=user_name,
        user_id=user_id,
        password=password,
        domain_name=domain_name,
        domain_id=domain_id,
        project_id=field(project, "id", pp, str, missing=None, invalid=bad),
        project_name=field(project, "name", pp, str, missing=None, invalid=bad),
        project_domain_id=field(project_domain, "id", f"{pp}.domain", str, missing=None, invalid=bad),
        project_domain_name=field(
            project_domain, "name", f"{pp}.domain", str, missing=None, invalid=bad
        ),
        scope_domain_id=field(
            scope_domain, "id", f"{scope_path}.domain", str, missing=None, invalid=bad
        ),
        scope_domain_name=field(
            scope_domain, "name", f"{scope_path}.domain", str, missing=None, invalid=bad
        ),
    )


@functools.cache
def _login_user_query(by: str, domain_id: bool, domain_name: bool) -> Select:
    """The user a password login names, ``by`` "id", "name" or "owner" (the account owner named
    by the account's name), within the account named by id and/or name when given. Built once
    per shape, run with bound values."""
    cols = (
        t.users.c.id,
        t.users.c.name,
        t.users.c.account_id,
        t.users.c.password_hash,
        t.users.c.enabled,
        t.users.c.access_mode,
        t.users.c.locked_until_us,
        t.accounts.c.name.label("account_name"),
        t.accounts.c.enabled.label("account_enabled"),
        exists()
        .where(t.login_failures.c.user_id == t.users.c.id)
        .label("has_failures"),
    )
    where = {
        "id": [t.users.c.id == bindparam("user")],
        "name": [t.users.c.name == bindparam("user")],
        "owner": [t.users.c.is_owner.is_(True), t.accounts.c.name == bindparam("user")],
    }[by]
    if domain_id:
        where.append(t.accounts.c.id == bindparam("domain_id"))
    if domain_name:
        where.append(t.accounts.c.name == bindparam("domain_name"))
    return (
        select(*cols)
        .join_from(t.users, t.accounts, t.users.c.account_id == t.accounts.c.id)
        .where(*where)
    )


async def _find_login_user(conn: AsyncConnection, login: PasswordLogin):
    domain = {"domain_id": login.domain_id, "domain_name": login.domain_name}
    shape = (bool(login.domain_id), bool(login.domain_name))

    async def first(by: str, user: str):
        return (await conn.execute(_login_user_query(by, *shape), {"user": user, **domain})).first()

    if login.user_id:
        return await first("id", login.user_id)
    # The account owner may also sign in with the account name (spec/iam.md §3.1).
    return await first("name", login.user_name) or await first("owner", login.user_name)


_SCOPE_PROJECT = {
    by: select(t.region_projects.c.id).where(
        t.region_projects.c.account_id == bindparam("account_id"),
        t.region_projects.c.enabled.is_(True),
        column == bindparam("value"),
    )
    for by, column in (("id", t.region_projects.c.id), ("name", t.region_projects.c.name))
}


async def _resolve_scope(conn: AsyncConnection, login: PasswordLogin, account_id: str, account_name: str):
    """The project id of a project scope, or None for domain scope; 401 when not allowed."""
    denied = ApiError("IAM.0001", "The scope is not allowed for this user.")
    if login.project_id or login.project_name:
        if login.project_domain_id and login.project_domain_id != account_id:
            raise denied
        if login.project_domain_name and login.project_domain_name != account_name:
            raise denied
        by, value = ("id", login.project_id) if login.project_id else ("name", login.project_name)
        project_id = (
            await conn.execute(_SCOPE_PROJECT[by], {"account_id": account_id, "value": value})
        ).scalar()
        if project_id is None:
            raise denied
        return project_id
    if login.scope_domain_id and login.scope_domain_id != account_id:
        raise denied
    if login.scope_domain_name and login.scope_domain_name != account_name:
        raise denied
    return None


_FORGET_FAILURES = delete(t.login_failures).where(t.login_failures.c.user_id == bindparam("user_id"))
_LOGGED_IN = (
    update(t.users)
    .where(t.users.c.id == bindparam("user_id"))
    .values(last_login_us=bindparam("now"), last_pwd_auth_us=bindparam("now"))
)
_REHASHED = (
    update(t.users)
    .where(t.users.c.id == bindparam("user_id"), t.users.c.password_hash == bindparam("old"))
    .values(password_hash=bindparam("new"))
)


async def issue_password_token(rt: Runtime, login: PasswordLogin) -> tuple[str, TokenState]:
    settings = rt.settings
    unauthorized = ApiError("IAM.0001", "The username or password is wrong.")
    async with rt.store.read() as conn:
        user = await _find_login_user(conn, login)
    now = now_us()
    if user is None or not user.account_enabled:
        await verify_password(None, login.password)  # same cost as a real check
        raise unauthorized
    if user.locked_until_us > now:
        raise ApiError("IAM.0061", "Account locked.")
    if not await verify_password(user.password_hash, login.password):
        await _record_login_failure(rt, user.id)
        raise unauthorized
    if not user.enabled:
        raise ApiError("IAM.0082")
    if user.access_mode == "console":
        raise ApiError("IAM.0081")
    new_hash = await rehashed(user.password_hash, login.password)
    # The reads first, outside the write transaction: on SQLite they run on the event loop's own
    # connection, while each statement of a write is a hand-off to the driver's thread.
    async with rt.store.read() as conn:
        project_id = await _resolve_scope(conn, login, user.account_id, user.account_name)
        payload = new_payload(user.id, user.account_id, project_id, settings.token_ttl_seconds)
        state = await token_state(conn, payload)
    async with rt.store.write(affects_auth=False, small=True) as conn:  # last login time only
        if user.has_failures:
            await conn.execute(_FORGET_FAILURES, {"user_id": user.id})
        await conn.execute(_LOGGED_IN, {"user_id": user.id, "now": now})
        if new_hash is not None:  # unless the password has changed since it was read
            await conn.execute(
                _REHASHED, {"user_id": user.id, "old": user.password_hash, "new": new_hash}
            )
    token = await rt.keyring.issue(payload)
    return token, state


async def _record_login_failure(rt: Runtime, user_id: str) -> None:
    settings = rt.settings
    now = now_us()
    window_start = now - settings.login_failure_window_minutes * 60_000_000
    async with rt.store.write(affects_auth=False, small=True) as conn:  # password login only
        await conn.execute(insert(t.login_failures).values(user_id=user_id, at_us=now))
        await conn.execute(
            delete(t.login_failures).where(
                t.login_failures.c.user_id == user_id, t.login_failures.c.at_us < window_start
            )
        )
        failures = (
            await conn.execute(
                select(func.count()).where(t.login_failures.c.user_id == user_id)
            )
        ).scalar_one()
        if failures >= settings.login_failed_times:
            await conn.execute(
                update(t.users)
                .where(t.users.c.id == user_id)
                .values(locked_until_us=now + settings.lockout_minutes * 60_000_000)
            )
            await conn.execute(delete(t.login_failures).where(t.login_failures.c.user_id == user_id))
            log.warning(
                "user locked after %d failed password logins: user_id=%s", failures, user_id
            )


async def read_token(rt: Runtime, token: str) -> TokenState | None:
    """The current state of a token string, or None when it is not a token of ours. What the
    store says about a token is cached per node until the store generation moves on."""
    generation = await rt.fresh_generation()
    state = rt.cache.get(("token", token))
    if state is None:
        payload = await rt.keyring.open(token)
        if payload is None:
            return None
        async with rt.store.read() as conn:
            state = await token_state(conn, payload)
        rt.cache.put(("token", token), state, generation)
    if state.status == "valid" and state.payload.expires_us <= now_us():
        return replace(state, status="expired")
    return state


def token_body(state: TokenState, nocatalog: bool, base_url: str, regions: list[str]) -> dict:
    payload, who = state.payload, state.principal
    assert who is not None
    domain = {"id": who.account_id, "name": who.account_name}
    body: dict[str, Any] = {
        "methods": list(payload.methods),
        "issued_at": iso_z(payload.issued_us),
        "expires_at": iso_z(payload.expires_us),
        "user": {
            "id": who.user_id,
            "name": who.user_name,
            "password_expires_at": "",
            "domain": domain,
        },
        "roles": [{"id": "0", "name": name} for name in who.roles],
        "catalog": [] if nocatalog else _catalog(base_url, regions),
    }
    if who.project_id:
        body["project"] = {"id": who.project_id, "name": who.project_name, "domain": domain}
    else:
        body["domain"] = domain
    return body


def _catalog(base_url: str, regions: list[str]) -> list[dict]:
    """The service catalogue of a token: IAM (global) and devuc (every configured region).
    Built once per base URL and region list; its ids are stable."""
    return _catalog_for(base_url, tuple(regions))


@functools.lru_cache(maxsize=16)
def _catalog_for(base_url: str, regions: tuple[str, ...]) -> list[dict]:
    def stable_id(*parts: str) -> str:
        return hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()

    def service(kind: str, region_list: tuple[str, ...]) -> dict:
        return {
            "type": kind,
            "id": stable_id(kind),
            "name": kind,
            "endpoints": [
                {
                    "id": stable_id(kind, region),
                    "interface": "public",
                    "region": region,
                    "region_id": region,
                    "url": base_url,
                }
                for region in region_list
            ],
        }

    return [service("iam", ("*",)), service("devuc", regions)]


def check_subject_access(caller: Principal, subject: TokenState) -> None:
    who = subject.principal
    if who is None or who.account_id != caller.account_id:
        raise authz.always("IAM.0002", "tenant isolation: the token is not of the caller's account")
    if who.user_id != caller.user_id and not caller.can_administer:
        authz.refuse("IAM.0002", "another user's token, and not an account administrator")


async def revoke_token(rt: Runtime, caller: Principal, subject_token: str) -> None:
    state = await read_token(rt, subject_token)
    if state is None or state.status == "revoked":
        raise ApiError("IAM.0004", "The token does not exist or has been revoked.")
    check_subject_access(caller, state)
    now = now_us()
    async with rt.store.write() as conn:
        await conn.execute(delete(t.token_revocations).where(t.token_revocations.c.expires_us < now))
        exists = await conn.execute(
            select(t.token_revocations.c.audit_id).where(
                t.token_revocations.c.audit_id == state.payload.audit_id
            )
        )
        if exists.first() is None:
            await conn.execute(
                insert(t.token_revocations).values(
                    audit_id=state.payload.audit_id, expires_us=state.payload.expires_us
                )
            )


# ---------------------------------------------------------------------------------------------
# region projects and the caller's domain


def project_json(row, base_url: str, *, self_only: bool = False) -> dict:
    links = {"self": f"{base_url}/v3/projects/{row.id}"}
    if not self_only:
        links.update(previous=None, next=None)
    return {
        "id": row.id,
        "name": row.name,
        "domain_id": row.account_id,
        "parent_id": row.parent_id,
        "enabled": bool(row.enabled),
        "is_domain": False,
        "description": row.description,
        "links": links,
    }


async def list_projects(
    rt: Runtime,
    caller: Principal,
    *,
    domain_id: str | None = None,
    name: str | None = None,
    parent_id: str | None = None,
    enabled: bool | None = None,
    page: int | None = None,
    per_page: int | None = None,
):
    if domain_id is not None and domain_id != caller.account_id:
        return []
    query = (
        select(t.region_projects)
        .where(t.region_projects.c.account_id == caller.account_id)
        .order_by(t.region_projects.c.name)
    )
    if name is not None:
        query = query.where(t.region_projects.c.name == name)
    if parent_id is not None:
        query = query.where(t.region_projects.c.parent_id == parent_id)
    if enabled is not None:
        query = query.where(t.region_projects.c.enabled.is_(enabled))
    if page is not None and per_page is not None:
        query = query.limit(per_page).offset((page - 1) * per_page)
    async with rt.store.read() as conn:
        return (await conn.execute(query)).all()


async def account_row(rt: Runtime, account_id: str):
    async with rt.store.read() as conn:
        return (await conn.execute(select(t.accounts).where(t.accounts.c.id == account_id))).one()


# ---------------------------------------------------------------------------------------------
# users


def _check_description(value: Any, code: str, name: str) -> str:
    if not isinstance(value, str):
        raise field_error(code, name, "must be a string")
    if len(value) > 255 or DESCRIPTION_FORBIDDEN & set(value):
        raise field_error(
            code, name, "at most 255 characters, none of @ # % & < > \\ $ ^ *"
        )
    return value


@dataclass
class UserFields:
    """Validated user attributes from a create or update body (None: not given)."""

    name: str | None = None
    password: str | None = None
    email: str | None = None
    areacode: str | None = None
    phone: str | None = None
    enabled: bool | None = None
    pwd_status: bool | None = None
    access_mode: str | None = None
    description: str | None = None
    xuser_type: str | None = None
    xuser_id: str | None = None


def parse_user_fields(
    user: dict,
    *,
    creating: bool,
    min_password: int,
    current_name: str = "",
    current_email: str = "",
    current_phone: str = "",
) -> UserFields:
    bad = "IAM.0011"
    if creating:
        for member in ("name", "domain_id"):
            if user.get(member) is None:
                raise ApiError("1100", f"Missing parameter 'user.{member}'.")
        if not isinstance(user["domain_id"], str):
            raise field_error(bad, "user.domain_id", "must be a string")
    out = UserFields()
    name = user.get("name")
    if name is not None:
        if not isinstance(name, str) or not USER_NAME_RE.match(name) or name.endswith(" "):
            raise field_error(
                "1101",
                "user.name",
                "1-64 characters: letters, digits, space, '-', '_', '.'; not starting with a digit "
                "or a space",
            )
        out.name = name
    email = user.get("email")
    if email is not None:
        if not isinstance(email, str) or (email and (len(email) > 255 or not EMAIL_RE.match(email))):
            raise field_error("1102", "user.email", "not a valid email address of at most 255 characters")
        out.email = email
    areacode, phone = user.get("areacode"), user.get("phone")
    if phone is not None:
        if not isinstance(phone, str) or len(phone) > 32 or (phone and not phone.isdigit()):
            raise field_error("1104", "user.phone", "digits only, at most 32")
        out.phone = phone
    if areacode is not None:
        if not isinstance(areacode, str) or len(areacode) > 16 or (areacode and not areacode.isdigit()):
            raise field_error("1104", "user.areacode", "digits only, at most 16")
        out.areacode = areacode
    if bool(out.phone) != bool(out.areacode) and (creating or (phone is not None or areacode is not None)):
        raise ApiError("1106", "Parameters 'user.areacode' and 'user.phone' must be given together.")
    for flag in ("enabled", "pwd_status"):
        value = user.get(flag)
        if value is not None and not isinstance(value, bool):
            raise field_error(bad, f"user.{flag}", "must be a boolean")
        setattr(out, flag, value)
    mode = user.get("access_mode")
    if mode is not None:
        if mode not in ACCESS_MODES:
            raise field_error("1120", "user.access_mode", "must be default, programmatic or console")
        out.access_mode = mode
    if user.get("description") is not None:
        out.description = _check_description(user["description"], "1117", "user.description")
    xtype, xid = user.get("xuser_type"), user.get("xuser_id")
    if (xtype is None) != (xid is None):
        raise ApiError("1100", "Parameters 'user.xuser_type' and 'user.xuser_id' must be given together.")
    if xtype is not None:
        if xtype != "TenantIdp":
            raise field_error(bad, "user.xuser_type", "only TenantIdp is accepted")
        if not isinstance(xid, str) or not 1 <= len(xid) <= 128:
            raise field_error(bad, "user.xuser_id", "1-128 characters")
        out.xuser_type, out.xuser_id = xtype, xid
    if user.get("password") is not None:
        out.password = check_password(
            user["password"],
            user_name=out.name or current_name,
            min_length=min_password,
            email=current_email if out.email is None else out.email,
            phone=current_phone if out.phone is None else out.phone,
            weak_code="1118",
            field="user.password",
        )
    return out


def user_json(row, *, for_create: bool) -> dict:
    body = {
        "id": row.id,
        "name": row.name,
        "domain_id": row.account_id,
        "enabled": bool(row.enabled),
        "email": row.email,
        "areacode": row.areacode,
        "phone": row.phone,
        "description": row.description,
        "pwd_status": bool(row.pwd_status),
        "access_mode": row.access_mode,
        "is_domain_owner": bool(row.is_owner),
        "xuser_id": row.xuser_id,
        "xuser_type": row.xuser_type,
    }
    if for_create:
        body.update(
            xdomain_id="",
            xdomain_type="",
            status=None,
            create_time=iso_plain(row.created_us),
            password_expires_at=None,
            default_project_id=None,
        )
    return body


def _pwd_strength(row) -> str:
    return "None" if not row.password_hash else "High"


def user_detail_json(row, base_url: str) -> dict:
    body = user_json(row, for_create=False)
    body.update(
        pwd_strength=_pwd_strength(row),
        create_time=show_time(row.created_us),
        update_time=show_time(row.updated_us),
        last_login_time=show_time(row.last_login_us),
        last_pwd_auth_time=show_time(row.last_pwd_auth_us),
        pwd_create_time=show_time(row.pwd_created_us),
        modify_pwd_time=show_time(row.pwd_created_us),
        links={"self": f"{base_url}/v3.0/OS-USER/users/{row.id}", "previous": None, "next": None},
    )
    return body


def user_list_json(row, base_url: str) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "domain_id": row.account_id,
        "enabled": bool(row.enabled),
        "description": row.description,
        "password_expires_at": None,
        "pwd_status": bool(row.pwd_status),
        "pwd_strength": "high" if row.password_hash else "low",
        "last_project_id": None,
        "access_mode": row.access_mode,
        "links": {"self": f"{base_url}/v3/users/{row.id}", "previous": None, "next": None},
    }


async def _lock_account(conn: AsyncConnection, account_id: str) -> None:
    """Serialise user writes of one account, so that checks of the quota and of unique contacts
    hold under concurrent requests. PostgreSQL: FOR NO KEY UPDATE on the account row, which
    leaves foreign-key checks of other inserts alone; SQLite writers are serial already."""
    await conn.execute(
        select(t.accounts.c.id)
        .where(t.accounts.c.id == account_id)
        .with_for_update(key_share=True)
    )


async def _check_unique_contacts(conn, account_id: str, fields: UserFields, exclude: str | None) -> None:
    checks = (
        (t.users.c.name, fields.name, "1109", "user.name"),
        (t.users.c.email, fields.email, "1110", "user.email"),
        (t.users.c.phone, fields.phone, "1111", "user.phone"),
    )
    for column, value, code, name in checks:
        if not value:
            continue
        query = select(t.users.c.id).where(t.users.c.account_id == account_id, column == value)
        if exclude:
            query = query.where(t.users.c.id != exclude)
        if (await conn.execute(query)).first() is not None:
            raise field_error(code, name, "already used by another user of the account")


async def create_user(rt: Runtime, caller: Principal, user: Any, *, user_id: str | None = None):
    """``user_id``: a fixed id for the new user (seed files); a fresh one when None."""
    if not isinstance(user, dict):
        raise ApiError("1100", "Missing parameter 'user'.")
    fields = parse_user_fields(user, creating=True, min_password=rt.settings.password_min_length)
    domain_id = user["domain_id"]
    if domain_id != caller.account_id:
        raise authz.always("IAM.0002", "tenant isolation: domain_id is not the caller's account")
    require_admin(caller)
    password_hash = await hash_password(fields.password) if fields.password else None
    now = now_us()
    user_id = user_id or new_id()
    try:
        async with rt.store.write() as conn:
            await _lock_account(conn, domain_id)
            count = (
                await conn.execute(select(func.count()).where(t.users.c.account_id == domain_id))
            ).scalar_one()
            if count >= rt.settings.max_users_per_account:
                raise ApiError(
                    "1115",
                    f"The number of IAM users has reached the maximum allowed "
                    f"({rt.settings.max_users_per_account}).",
                )
            await _check_unique_contacts(conn, domain_id, fields, None)
            await conn.execute(
                insert(t.users).values(
                    id=user_id,
                    account_id=domain_id,
                    name=fields.name,
                    password_hash=password_hash,
                    email=fields.email or "",
                    areacode=fields.areacode or "",
                    phone=fields.phone or "",
                    enabled=True if fields.enabled is None else fields.enabled,
                    pwd_status=bool(fields.password) if fields.pwd_status is None else fields.pwd_status,
                    access_mode=fields.access_mode or "default",
                    description=fields.description or "",
                    is_owner=False,
                    xuser_type=fields.xuser_type or "",
                    xuser_id=fields.xuser_id or "",
                    created_us=now,
                    pwd_created_us=now if password_hash else None,
                    tokens_valid_after_us=0,
                    locked_until_us=0,
                )
            )
            return (await conn.execute(select(t.users).where(t.users.c.id == user_id))).one()
    except IntegrityError as exc:
        raise field_error("1109", "user.name", "already used by another user of the account") from exc


async def update_user(rt: Runtime, caller: Principal, user_id: str, user: Any):
    if not isinstance(user, dict) or not user:
        raise ApiError("1100", "Missing parameter 'user'.")
    async with rt.store.read() as conn:
        current = await _user_in_account(conn, caller, user_id)
    require_admin(caller)
    fields = parse_user_fields(
        user,
        creating=False,
        min_password=rt.settings.password_min_length,
        current_name=current.name,
        current_email=current.email,
        current_phone=current.phone,
    )
    if current.is_owner and (fields.enabled is False or fields.access_mode == "console"):
        raise authz.always("IAM.0002", "integrity: the account owner stays enabled",
                           "The account owner cannot be disabled or limited to console.")
    values: dict[str, Any] = {
        k: v
        for k, v in vars(fields).items()
        if v is not None and k != "password"
    }
    now = now_us()
    values["updated_us"] = now
    if fields.password:
        if current.password_hash and await verify_password(current.password_hash, fields.password):
            raise _same_password()
        values["password_hash"] = await hash_password(fields.password)
        values["pwd_created_us"] = now
    if fields.password or fields.enabled is False:
        values["tokens_valid_after_us"] = now  # revoke every token issued so far
    try:
        async with rt.store.write() as conn:
            await _lock_account(conn, caller.account_id)
            await _check_unique_contacts(conn, caller.account_id, fields, user_id)
            await conn.execute(update(t.users).where(t.users.c.id == user_id).values(**values))
            return (await conn.execute(select(t.users).where(t.users.c.id == user_id))).one()
    except IntegrityError as exc:
        raise field_error("1109", "user.name", "already used by another user of the account") from exc


def _same_password() -> ApiError:
    """The password policy keeps one password of history (spec/iam.md §4.2): a new password
    must differ from the current one."""
    return ApiError("1108", "Invalid parameter 'user.password': must differ from the current password.")


async def change_own_password(rt: Runtime, caller: Principal, user_id: str, body: Any) -> None:
    """POST /v3/users/{user_id}/password: a user changes its own password."""
    user = object_at(body, "user", missing="IAM.0072", invalid="IAM.0011")
    new = field(user, "password", "user", str, missing="IAM.0072", invalid="IAM.0011")
    original = field(user, "original_password", "user", str, missing="IAM.0072", invalid="IAM.0011")
    if user_id != caller.user_id:
        authz.refuse("IAM.0002", "a user changes only their own password")
    async with rt.store.read() as conn:
        row = await _user_in_account(conn, caller, user_id)
    check_password(
        new,
        user_name=row.name,
        min_length=rt.settings.password_min_length,
        email=row.email,
        phone=row.phone,
        code="IAM.0073",
        field="user.password",
    )
    if not await verify_password(row.password_hash, original):
        raise ApiError("IAM.0001", "The original password is wrong.")
    if new == original:
        raise _same_password()
    now = now_us()
    new_hash = await hash_password(new)
    async with rt.store.write() as conn:
        await conn.execute(
            update(t.users)
            .where(t.users.c.id == user_id)
            .values(
                password_hash=new_hash,
                pwd_created_us=now,
                pwd_status=False,
                updated_us=now,
                tokens_valid_after_us=now,
            )
        )


async def delete_user(rt: Runtime, caller: Principal, user_id: str) -> None:
    async with rt.store.write() as conn:
        row = await _user_in_account(conn, caller, user_id)
        require_admin(caller)
        if row.is_owner:
            raise authz.always("IAM.0002", "integrity: the account owner cannot be deleted",
                               "The account owner cannot be deleted.")
        await conn.execute(delete(t.users).where(t.users.c.id == user_id))


async def _user_in_account(conn: AsyncConnection, caller: Principal, user_id: str):
    row = (
        await conn.execute(
            select(t.users).where(t.users.c.id == user_id, t.users.c.account_id == caller.account_id)
        )
    ).first()
    if row is None:
        raise ApiError("IAM.0004", "The user does not exist.")
    return row


async def show_user(rt: Runtime, caller: Principal, user_id: str):
    async with rt.store.read() as conn:
        row = await _user_in_account(conn, caller, user_id)
    if user_id != caller.user_id:
        require_admin(caller)
    return row


_PWD_FILTER_RE = re.compile(r"^(lt|lte|gt|gte|eq|neq):(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)\Z")


def _valid_pwd_filter(value: str) -> bool:
    match = _PWD_FILTER_RE.match(value)
    if match is None:
        return False
    try:
        datetime.strptime(match.group(2), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


async def list_users(
    rt: Runtime,
    caller: Principal,
    *,
    domain_id: str | None,
    enabled: bool | None,
    name: str | None,
    password_expires_at: str | None,
):
    require_admin(caller)
    if password_expires_at is not None and not _valid_pwd_filter(password_expires_at):
        raise field_error(
            "IAM.0007", "password_expires_at", "expected {op}:{YYYY-MM-DDTHH:MM:SSZ}"
        )
    if (domain_id is not None and domain_id != caller.account_id) or password_expires_at:
        # Passwords never expire here, so no user matches a password-expiry filter.
        return []
    query = select(t.users).where(t.users.c.account_id == caller.account_id).order_by(t.users.c.name)
    if enabled is not None:
        query = query.where(t.users.c.enabled.is_(enabled))
    if name is not None:
        query = query.where(t.users.c.name == name)
    async with rt.store.read() as conn:
        return (await conn.execute(query)).all()


# ---------------------------------------------------------------------------------------------
# user groups


def group_json(row, base_url: str) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "domain_id": row.account_id,
        "description": row.description,
        "create_time": row.created_us // 1000,
        "links": {"self": f"{base_url}/v3/groups/{row.id}"},
    }


def _group_fields(group: dict, *, creating: bool) -> dict:
    values: dict[str, Any] = {}
    name = group.get("name")
    if name is not None or creating:
        if not isinstance(name, str) or not GROUP_NAME_RE.match(name) or not name.strip():
            raise field_error("IAM.0073", "group.name", "1-64 characters, no control characters")
        values["name"] = name
    if group.get("description") is not None:
        values["description"] = _check_description(group["description"], "IAM.0073", "group.description")
    return values


async def _group_in_account(conn: AsyncConnection, caller: Principal, group_id: str):
    row = (
        await conn.execute(
            select(t.groups).where(t.groups.c.id == group_id, t.groups.c.account_id == caller.account_id)
        )
    ).first()
    if row is None:
        raise ApiError("IAM.0004", "The group does not exist.")
    return row


async def list_groups(rt: Runtime, caller: Principal, *, domain_id: str | None, name: str | None):
    require_admin(caller)
    if domain_id is not None and domain_id != caller.account_id:
        return []
    query = select(t.groups).where(t.groups.c.account_id == caller.account_id).order_by(t.groups.c.name)
    if name is not None:
        query = query.where(t.groups.c.name == name)
    async with rt.store.read() as conn:
        return (await conn.execute(query)).all()


async def create_group(rt: Runtime, caller: Principal, body: Any):
    group = object_at(body, "group", missing="IAM.0072", invalid="IAM.0011")
    values = _group_fields(group, creating=True)
    domain_id = group.get("domain_id")
    if domain_id is not None and domain_id != caller.account_id:
        raise authz.always("IAM.0002", "tenant isolation: domain_id is not the caller's account")
    require_admin(caller)
    group_id = new_id()
    try:
        async with rt.store.write() as conn:
            await conn.execute(
                insert(t.groups).values(
                    id=group_id,
                    account_id=caller.account_id,
                    builtin=False,
                    created_us=now_us(),
                    description=values.get("description", ""),
                    name=values["name"],
                )
            )
            return await _group_in_account(conn, caller, group_id)
    except IntegrityError as exc:
        raise ApiError("IAM.0005", "A group with this name already exists.") from exc


async def show_group(rt: Runtime, caller: Principal, group_id: str):
    async with rt.store.read() as conn:
        row = await _group_in_account(conn, caller, group_id)
    require_admin(caller)
    return row


async def update_group(rt: Runtime, caller: Principal, group_id: str, body: Any):
    group = object_at(body, "group", missing="IAM.0072", invalid="IAM.0011")
    values = _group_fields(group, creating=False)
    if group.get("domain_id") not in (None, caller.account_id):
        raise field_error("IAM.0073", "group.domain_id", "a group cannot move to another account")
    try:
        async with rt.store.write() as conn:
            row = await _group_in_account(conn, caller, group_id)
            require_admin(caller)
            if row.builtin and values.get("name", row.name) != row.name:
                raise authz.always("IAM.0002", "integrity: the admin group keeps its name",
                                   "The built-in admin group cannot be renamed.")
            if values:
                await conn.execute(update(t.groups).where(t.groups.c.id == group_id).values(**values))
            return await _group_in_account(conn, caller, group_id)
    except IntegrityError as exc:
        raise ApiError("IAM.0005", "A group with this name already exists.") from exc


async def delete_group(rt: Runtime, caller: Principal, group_id: str) -> None:
    async with rt.store.write() as conn:
        row = await _group_in_account(conn, caller, group_id)
        require_admin(caller)
        if row.builtin:
            raise authz.always("IAM.0002", "integrity: the admin group cannot be deleted",
                               "The built-in admin group cannot be deleted.")
        await conn.execute(delete(t.groups).where(t.groups.c.id == group_id))


async def _membership(conn, caller: Principal, group_id: str, user_id: str) -> bool:
    await _group_in_account(conn, caller, group_id)
    require_admin(caller)
    await _user_in_account(conn, caller, user_id)
    row = await conn.execute(
        select(t.group_members.c.user_id).where(
            t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id
        )
    )
    return row.first() is not None


async def add_group_member(rt: Runtime, caller: Principal, group_id: str, user_id: str) -> None:
    async with rt.store.write() as conn:
        if await _membership(conn, caller, group_id, user_id):
            return
        try:
            async with conn.begin_nested():
                await conn.execute(insert(t.group_members).values(group_id=group_id, user_id=user_id))
        except IntegrityError:
            pass  # another node added the same user in the meantime: a member, as asked


async def check_group_member(rt: Runtime, caller: Principal, group_id: str, user_id: str) -> None:
    async with rt.store.read() as conn:
        if not await _membership(conn, caller, group_id, user_id):
            raise ApiError("IAM.0004", "The user is not a member of the group.")


async def remove_group_member(rt: Runtime, caller: Principal, group_id: str, user_id: str) -> None:
    async with rt.store.write() as conn:
        if not await _membership(conn, caller, group_id, user_id):
            raise ApiError("IAM.0004", "The user is not a member of the group.")
        await conn.execute(
            delete(t.group_members).where(
                and_(t.group_members.c.group_id == group_id, t.group_members.c.user_id == user_id)
            )
        )


async def list_group_members(rt: Runtime, caller: Principal, group_id: str):
    async with rt.store.read() as conn:
        await _group_in_account(conn, caller, group_id)
        require_admin(caller)
        return (
            await conn.execute(
                select(t.users)
                .join(t.group_members, t.group_members.c.user_id == t.users.c.id)
                .where(t.group_members.c.group_id == group_id)
                .order_by(t.users.c.name)
            )
        ).all()

