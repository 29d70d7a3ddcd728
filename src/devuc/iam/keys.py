"""Access keys: permanent AK/SK pairs (at most two per user) and temporary ones with a security
token (spec/iam.md §3.13-3.18). Secrets are sealed under the master key and shown only once."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import authz
from ..errors import ApiError, field_error
from ..runtime import Runtime
from ..store import tables as t
from ..store.db import now_us
from ..validation import field, object_at
from .identity import Principal, iso_z, new_access_key, new_secret_key

MAX_PERMANENT_KEYS = 2
TEMPORARY_SECONDS = (900, 86400)
TEMPORARY_DEFAULT_SECONDS = 900
MAX_POLICY_CHARS = 2048
KEY_STATUSES = ("active", "inactive")
EXPIRED_KEY_RETENTION_US = 86400 * 1_000_000


def key_json(row, *, with_last_use: bool = False) -> dict:
    body = {
        "user_id": row.user_id,
        "access": row.access,
        "status": row.status,
        "create_time": iso_z(row.created_us),
        "description": row.description,
    }
    if with_last_use:
        body["last_use_time"] = iso_z(row.last_use_us or row.created_us)
    return body


def _description(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > 255:
        raise field_error("IAM.0073", name, "a string of at most 255 characters")
    return value


async def _target_user(conn: AsyncConnection, caller: Principal, user_id: str):
    """The user whose keys the caller acts on: itself, or (admins only) a user of its account."""
    if user_id != caller.user_id and not caller.can_administer:
        authz.refuse("IAM.0002", "another user's access keys, and not an account administrator")
    row = (
        await conn.execute(
            select(t.users.c.id, t.users.c.access_mode).where(
                t.users.c.id == user_id, t.users.c.account_id == caller.account_id
            )
        )
    ).first()
    if row is None:
        raise ApiError("IAM.0004", "The user does not exist.")
    return row


async def _own_key(conn: AsyncConnection, caller: Principal, access: str):
    row = (
        await conn.execute(
            select(t.access_keys).where(
                t.access_keys.c.access == access,
                t.access_keys.c.account_id == caller.account_id,
                t.access_keys.c.temporary.is_(False),
            )
        )
    ).first()
    if row is None:
        raise ApiError("IAM.0004", "The access key does not exist.")
    if row.user_id != caller.user_id and not caller.can_administer:
        # Another user's key looks like no key at all to a non-administrator.
        authz.refuse("IAM.0004", "another user's access key, and not an account administrator",
                     "The access key does not exist.")
    return row


async def _credential_changed(conn: AsyncConnection, user_id: str) -> None:
    """Changing a user's access keys ends the tokens issued to that user so far."""
    await conn.execute(
        update(t.users).where(t.users.c.id == user_id).values(tokens_valid_after_us=now_us())
    )


async def create_permanent(rt: Runtime, caller: Principal, body: Any) -> tuple[dict, str]:
    credential = object_at(body, "credential", missing="IAM.0072", invalid="IAM.0011")
    user_id = field(credential, "user_id", "credential", str, missing="IAM.0072", invalid="IAM.0011")
    description = credential.get("description")
    description = "" if description is None else _description(description, "credential.description")
    secret = new_secret_key()
    row = await _add_permanent(rt, caller, user_id, new_access_key(), secret, description, "active")
    return key_json(row), secret


ACCESS_KEY_RE = re.compile(r"[A-Z0-9]{20}")
SECRET_KEY_RE = re.compile(r"[A-Za-z0-9]{40}")


def check_key_pair(access: str, secret: str) -> None:
    """A given AK/SK pair has the shape of the keys this service makes: 20 upper-case letters and
    digits, and 40 letters and digits."""
    if not isinstance(access, str) or not ACCESS_KEY_RE.fullmatch(access):
        raise field_error("IAM.0073", "credential.access", "must be 20 upper-case letters and digits")
    if not isinstance(secret, str) or not SECRET_KEY_RE.fullmatch(secret):
        raise field_error("IAM.0073", "credential.secret", "must be 40 letters and digits")


async def import_permanent(
    rt: Runtime,
    caller: Principal,
    user_id: str,
    access: str,
    secret: str,
    *,
    description: str = "",
    status: str = "active",
) -> dict:
    """A permanent key with a given AK/SK (seed files, fixed development credentials), under the
    same rules as :func:`create_permanent`; an access key id in use anywhere is refused."""
    check_key_pair(access, secret)
    description = _description(description, "credential.description")
    if status not in KEY_STATUSES:
        raise field_error("IAM.0007", "credential.status", "must be active or inactive")
    return key_json(await _add_permanent(rt, caller, user_id, access, secret, description, status))


async def _add_permanent(
    rt: Runtime, caller: Principal, user_id: str, access: str, secret: str, description: str, status: str
):
    """Store a permanent key for ``user_id`` (at most MAX_PERMANENT_KEYS; not for console-only
    users); the user's tokens end. Returns the stored row."""
    async with rt.store.write() as conn:
        user = await _target_user(conn, caller, user_id)
        if user.access_mode == "console":
            raise ApiError("IAM.0081")
        taken = (
            await conn.execute(select(t.access_keys.c.access).where(t.access_keys.c.access == access))
        ).first()
        if taken is not None:
            raise ApiError("IAM.0005", "The access key id is already in use.")
        count = (
            await conn.execute(
                select(func.count()).where(
                    t.access_keys.c.user_id == user_id, t.access_keys.c.temporary.is_(False)
                )
            )
        ).scalar_one()
        if count >= MAX_PERMANENT_KEYS:
            raise ApiError("IAM.1102", "akSkNumExceed")
        await conn.execute(
            insert(t.access_keys).values(
                access=access,
                user_id=user_id,
                account_id=caller.account_id,
                secret_enc=rt.vault.seal(secret),
                status=status,
                description=description,
                created_us=now_us(),
                temporary=False,
            )
        )
        await _credential_changed(conn, user_id)
        return (await conn.execute(select(t.access_keys).where(t.access_keys.c.access == access))).one()


async def list_permanent(rt: Runtime, caller: Principal, user_id: str | None) -> list:
    user_id = user_id or caller.user_id
    async with rt.store.read() as conn:
        await _target_user(conn, caller, user_id)
        return (
            await conn.execute(
                select(t.access_keys)
                .where(t.access_keys.c.user_id == user_id, t.access_keys.c.temporary.is_(False))
                .order_by(t.access_keys.c.created_us)
            )
        ).all()


async def show_permanent(rt: Runtime, caller: Principal, access: str):
    async with rt.store.read() as conn:
        return await _own_key(conn, caller, access)


async def update_permanent(rt: Runtime, caller: Principal, access: str, body: Any):
    credential = object_at(body, "credential", missing="IAM.0072", invalid="IAM.0011")
    unknown = set(credential) - {"status", "description"}
    if unknown or not credential:
        raise ApiError(
            "IAM.0007",
            "Invalid parameter 'credential': give 'status' and/or 'description' only.",
        )
    values: dict[str, Any] = {}
    if "status" in credential:
        if credential["status"] not in KEY_STATUSES:
            raise field_error("IAM.0007", "credential.status", "must be active or inactive")
        values["status"] = credential["status"]
    if "description" in credential:
        values["description"] = _description(credential["description"], "credential.description")
    async with rt.store.write() as conn:
        row = await _own_key(conn, caller, access)
        await conn.execute(update(t.access_keys).where(t.access_keys.c.access == access).values(**values))
        if values.get("status", row.status) != row.status:
            await _credential_changed(conn, row.user_id)
        return (await conn.execute(select(t.access_keys).where(t.access_keys.c.access == access))).one()


async def delete_permanent(rt: Runtime, caller: Principal, access: str) -> None:
    async with rt.store.write() as conn:
        row = await _own_key(conn, caller, access)
        await conn.execute(delete(t.access_keys).where(t.access_keys.c.access == access))
        await _credential_changed(conn, row.user_id)


def parse_temporary_request(body: Any) -> tuple[int, str | None]:
    """(duration in seconds, the deprecated body token id) from a securitytokens request."""
    identity = object_at(body, "auth.identity", missing="IAM.1103", invalid="IAM.1102")
    methods = field(identity, "methods", "auth.identity", list, missing="IAM.1103", invalid="IAM.1102")
    if methods != ["token"]:
        raise ApiError(
            "IAM.0007", "Invalid parameter 'auth.identity.methods': only [\"token\"] is supported."
        )
    token = field(identity, "token", "auth.identity", dict, missing=None, invalid="IAM.1102") or {}
    duration = field(
        token, "duration_seconds", "auth.identity.token", int, missing=None, invalid="IAM.1102"
    )
    if duration is None:
        duration = TEMPORARY_DEFAULT_SECONDS
    low, high = TEMPORARY_SECONDS
    if not low <= duration <= high:
        raise field_error(
            "IAM.1102", "auth.identity.token.duration_seconds", f"must be from {low} to {high}"
        )
    policy = identity.get("policy")
    if policy is not None:
        if not isinstance(policy, dict) or not isinstance(policy.get("Statement", []), list):
            raise field_error("IAM.1102", "auth.identity.policy", "must be a policy object")
        if len(json.dumps(policy, separators=(",", ":"))) > MAX_POLICY_CHARS:
            raise field_error(
                "IAM.1102", "auth.identity.policy", f"at most {MAX_POLICY_CHARS} characters"
            )
    body_token = field(token, "id", "auth.identity.token", str, missing=None, invalid="IAM.1102")
    return duration, body_token


async def create_temporary(rt: Runtime, caller: Principal, duration: int) -> dict:
    access, secret = new_access_key(), new_secret_key()
    security_token = secrets.token_urlsafe(96)
    now = now_us()
    expires = now + duration * 1_000_000
    async with rt.store.write() as conn:
        # Expired temporary keys are kept a day (so their use is answered "expired"), then go.
        await conn.execute(
            delete(t.access_keys).where(
                t.access_keys.c.temporary.is_(True),
                t.access_keys.c.expires_us < now - EXPIRED_KEY_RETENTION_US,
            )
        )
        await conn.execute(
            insert(t.access_keys).values(
                access=access,
                user_id=caller.user_id,
                account_id=caller.account_id,
                secret_enc=rt.vault.seal(secret),
                status="active",
                description="",
                created_us=now,
                temporary=True,
                security_token_enc=rt.vault.seal(security_token),
                expires_us=expires,
            )
        )
    return {
        "access": access,
        "secret": secret,
        "securitytoken": security_token,
        "expires_at": iso_z(expires),
    }
