"""The one place that decides who is calling.

:func:`principal` is the FastAPI dependency every authenticated route uses. It accepts an
``X-Auth-Token`` or an AK/SK-signed request (spec/iam.md §2.2, spec/aksk-signing.md) and returns a
:class:`~devuc.iam.identity.Principal`; any failure is an ``APIGW.*`` error (spec/iam.md §5.2).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from fastapi import Request
from sqlalchemy import bindparam, select, update

from .. import metrics
from ..codearts.privateaccess import service as private_access
from ..errors import ApiError
from ..proxy_protocol import trusted_proxies, vpc_endpoint
from ..runtime import Runtime
from ..store import tables as t
from ..store.db import now_us
from . import signing
from .identity import Principal, iso_z, load_principal
from .service import read_token

log = logging.getLogger("devuc.auth")

# Verified in a worker thread: the SM2 primitive is pure Python and takes milliseconds.
SLOW_ALGORITHMS = frozenset({signing.SM2_SM3})
# last_use_time is refreshed at most this often per key, to keep signed calls free of writes.
LAST_USE_RESOLUTION_US = 60_000_000


def runtime(request: Request) -> Runtime:
    # app.state.runtime, read without Starlette's State attribute lookup (every request, often
    # several times).
    return request.scope["app"].state._state["runtime"]


def _unauthorized(detail: str) -> ApiError:
    return ApiError("APIGW.0301", signing.MESSAGE_PREFIX + detail)


def _from_signature_error(exc: signing.SignatureError) -> ApiError:
    return ApiError("APIGW.0301", exc.message)


async def principal(request: Request) -> Principal:
    """Who is calling, admitted by private access (403 ``UC.00011065`` when the account's private
    access does not allow the VPC endpoint the request came through)."""
    return await admitted(request, await authenticated(request))


async def admitted(request: Request, who: Principal) -> Principal:
    """``who``, once private access lets the request through."""
    state = _state(request)
    if not state.get(_CHECKED_KEY):
        scope = request.scope
        await private_access.enforce(runtime(request), who, scope["method"], scope["path"])
        state[_CHECKED_KEY] = True
    return who


# Per request, in the ASGI scope's state (what ``request.state`` wraps; read directly on the hot
# path): the caller once known, and whether private access has let the request through.
_PRINCIPAL_KEY = "principal"
_CHECKED_KEY = "private_access_checked"


def _state(request: Request) -> dict:
    return request.scope.setdefault("state", {})


async def authenticated(request: Request, body_token: str | None = None) -> Principal:
    """Who is calling, with the VPC endpoint the request came through, before private access is
    applied: only the routes that manage or report private access depend on this directly, so an
    administrator cannot lock the account out (spec/codearts-uc.md §6, contract 6).
    ``body_token``: a token carried in the body, used only when no header identifies the caller
    (the deprecated form of the securitytokens call)."""
    state = _state(request)
    cached = state.get(_PRINCIPAL_KEY)
    if cached is not None:
        return cached
    rt = runtime(request)
    # The first of each, as Starlette's Headers.get finds them; the claimed project and domain
    # stripped as signature verification reads header values, for both kinds of caller.
    authorization = auth_token = claimed_project = claimed_domain = None
    for name, value in request.scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"x-auth-token":
            if auth_token is None:
                auth_token = value.decode("latin-1")
        elif name == b"x-project-id":
            if claimed_project is None:
                claimed_project = value.decode("latin-1").strip(" \t")
        elif name == b"x-domain-id" and claimed_domain is None:
            claimed_domain = value.decode("latin-1").strip(" \t")
    if authorization is not None and (
        signing.is_signed_value(authorization) or signing.is_signed(request.headers.items())
    ):
        who = await _from_signature(rt, request, claimed_project, claimed_domain)
    else:
        if auth_token:
            who = await from_token(rt, auth_token)
        elif body_token:
            who = await from_token(rt, body_token)
        else:
            metrics.auth_failure("missing_credentials")
            raise _unauthorized("x-auth-token not found")
        if claimed_project is not None or claimed_domain is not None:
            await _check_token_claims(rt, who, claimed_project, claimed_domain)
    who = _through_endpoint(request, who, rt.settings)
    state[_PRINCIPAL_KEY] = who
    return who


def _through_endpoint(request: Request, who: Principal, settings) -> Principal:
    """``who`` with the VPC endpoint this request came through (None: none, or not believed)."""
    endpoint = vpc_endpoint(
        request.scope, trusted_proxies(tuple(settings.trusted_proxies)), settings.vpcep_header
    )
    return who if endpoint == who.vpc_endpoint else replace(who, vpc_endpoint=endpoint)


def note_caller(request: Request, who: Principal | None) -> None:
    """Name the caller of a request that carried no credential header, once a route has found
    out who it is (a password login): the audit trail records them."""
    if who is not None:
        _state(request)[_PRINCIPAL_KEY] = _through_endpoint(request, who, runtime(request).settings)


async def from_token(rt: Runtime, token: str) -> Principal:
    state = await read_token(rt, token.strip())
    if state is None:
        metrics.auth_failure("token_invalid")
        raise _unauthorized("decrypt token fail")
    if state.status == "revoked":
        metrics.auth_failure("token_revoked")
        raise ApiError("APIGW.0307")
    if state.status == "expired":
        metrics.auth_failure("token_expired")
        raise _unauthorized(f"token expires, expires_at: {iso_z(state.payload.expires_us)}")
    assert state.principal is not None
    return state.principal


def signed_request(request: Request, body: bytes, index: dict[str, list[str]]) -> signing.SignedRequest:
    """The request as signature verification reads it; ``index``: its headers as
    ``signing.index_raw_headers`` indexed them."""
    scope = request.scope
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    return signing.SignedRequest(
        method=scope["method"], target=target.decode("latin-1"), headers=(), body=body, index=index
    )


@dataclass(frozen=True)
class _KeyEntry:
    """What the store says about an access key, with its secrets opened (cached per node)."""

    access: str
    user_id: str
    account_id: str
    status: str
    user_enabled: bool
    access_mode: str
    temporary: bool
    expires_us: int | None
    locked_until_us: int
    failed_signatures: int
    last_use_us: int | None
    secret: str
    security_token: str | None


_UNKNOWN_KEY = "unknown"
# Per node: when this node last wrote a key's last_use_time (the write is throttled).
_last_use_written: dict[str, int] = {}
# Applied shortly after the answer, batched with other keys' (store/deferred.py).
_TOUCH_KEY = (
    update(t.access_keys)
    .where(t.access_keys.c.access == bindparam("key"))
    .values(last_use_us=bindparam("now"))
)


async def _load_key(rt: Runtime, access: str) -> _KeyEntry | str:
    async with rt.store.read() as conn:
        row = (
            await conn.execute(
                select(
                    t.access_keys,
                    t.users.c.enabled.label("user_enabled"),
                    t.users.c.access_mode,
                ).join(t.users, t.users.c.id == t.access_keys.c.user_id)
                .where(t.access_keys.c.access == access)
            )
        ).first()
    if row is None:
        return _UNKNOWN_KEY
    return _KeyEntry(
        access=row.access,
        user_id=row.user_id,
        account_id=row.account_id,
        status=row.status,
        user_enabled=bool(row.user_enabled),
        access_mode=row.access_mode,
        temporary=bool(row.temporary),
        expires_us=row.expires_us,
        locked_until_us=row.locked_until_us,
        failed_signatures=row.failed_signatures,
        last_use_us=row.last_use_us,
        secret=rt.vault.open(row.secret_enc),
        security_token=rt.vault.open(row.security_token_enc) if row.temporary else None,
    )


async def _from_signature(
    rt: Runtime, request: Request, project_id: str | None, domain_id: str | None
) -> Principal:
    """``project_id`` / ``domain_id``: the request's X-Project-Id / X-Domain-Id, if sent."""
    settings = rt.settings
    # Decoded and indexed once, for every use below.
    index = signing.index_raw_headers(request.scope["headers"])
    try:
        auth = signing.parse_authorization_values(index.get("authorization", ()))
    except signing.SignatureError as exc:
        metrics.signature_failure(exc.reason)
        raise _from_signature_error(exc) from exc
    generation = await rt.fresh_generation()
    key = rt.cache.get(("access-key", auth.access))
    if key is None:
        key = await _load_key(rt, auth.access)
        rt.cache.put(("access-key", auth.access), key, generation)
    now = now_us()
    if key == _UNKNOWN_KEY:
        metrics.auth_failure("unknown_key")
        raise _from_signature_error(signing.unknown_access_key(auth.access))
    if key.locked_until_us > now:
        metrics.auth_failure("key_locked")
        raise _unauthorized("AK access failed to reach the limit,forbidden")
    if key.status != "active" or not key.user_enabled:
        metrics.auth_failure("inactive_key")
        raise _from_signature_error(signing.inactive_access_key(auth.access))
    if key.temporary and (key.expires_us or 0) <= now:
        metrics.auth_failure("security_token_expired")
        raise _unauthorized("security token expired")
    if key.access_mode == "console":
        metrics.auth_failure("console_only_key")
        # Refused where the gateway refuses: flat, with the request id, on every path (§5.2).
        raise ApiError("IAM.0081", shape="gateway")

    body = await _body(request, index)
    arguments = (signed_request(request, body, index), auth, key.secret)
    options = {"now": now / 1e6, "max_skew_seconds": settings.signature_max_skew_seconds,
               "security_token": key.security_token}
    try:
        if auth.algorithm in SLOW_ALGORITHMS:
            await asyncio.to_thread(signing.verify, *arguments, **options)
        else:
            signing.verify(*arguments, **options)
    except signing.SignatureError as exc:
        metrics.signature_failure(exc.reason)
        await _signature_failed(rt, auth.access, exc.reason)
        error = _from_signature_error(exc)
        if settings.dev:  # what the server computed, for the client's author (no secret)
            error.extra = signing.debug_view(signed_request(request, body, index), auth)
        raise error from exc

    scope_key = ("signed", key.access, project_id, domain_id)
    who = rt.cache.get(scope_key)
    if who is None:
        async with rt.store.read() as conn:
            who, _ = await load_principal(
                conn,
                key.user_id,
                key.account_id,
                await _signed_project(conn, project_id, domain_id, key.account_id),
                method="aksk",
                access_key=auth.access,
                expires_us=key.expires_us,
            )
        if who is None:
            metrics.auth_failure("inactive_key")
            raise _from_signature_error(signing.inactive_access_key(auth.access))
        rt.cache.put(scope_key, who, generation)
    if key.failed_signatures or _last_use(key) < now - LAST_USE_RESOLUTION_US:
        await _signature_succeeded(rt, key, now)
    return who


async def _body(request: Request, index: dict[str, list[str]]) -> bytes:
    """The body the signature covers: none, without reading the stream, when an HTTP/1 request
    says it has none (no Content-Length or Transfer-Encoding). HTTP/2 frames need no length."""
    if (request.scope.get("http_version") in ("1.0", "1.1")
            and "content-length" not in index and "transfer-encoding" not in index):
        return b""
    return await request.body()


def _last_use(key: _KeyEntry) -> int:
    return max(key.last_use_us or 0, _last_use_written.get(key.access, 0))


async def _signature_succeeded(rt: Runtime, key: _KeyEntry, now: int) -> None:
    """End a run of bad signatures, or bring last_use_time up to within a minute: called only
    when one of the two is due."""
    if key.failed_signatures:
        async with rt.store.write() as conn:  # the cached failure count changes: invalidate
            await conn.execute(
                update(t.access_keys)
                .where(t.access_keys.c.access == key.access)
                .values(failed_signatures=0, last_use_us=now)
            )
    else:
        rt.deferred.set(_TOUCH_KEY, key.access, {"key": key.access, "now": now})
    _last_use_written[key.access] = now


def _scope_forbidden() -> ApiError:
    metrics.auth_failure("scope_forbidden")
    return ApiError("APIGW.0302")


async def _signed_project(
    conn, project_id: str | None, domain_id: str | None, account_id: str
) -> str | None:
    """The project named by X-Project-Id (None if absent); 403 unless it is the key's account's,
    and likewise X-Domain-Id must be the key's account."""
    if domain_id is not None and domain_id != account_id:
        raise _scope_forbidden()
    if project_id is not None and not await _account_has_project(conn, account_id, project_id):
        raise _scope_forbidden()
    return project_id


async def _account_has_project(conn, account_id: str, project_id: str) -> bool:
    found = await conn.execute(
        select(t.region_projects.c.id).where(
            t.region_projects.c.id == project_id,
            t.region_projects.c.account_id == account_id,
            t.region_projects.c.enabled.is_(True),
        )
    )
    return found.first() is not None


async def _check_token_claims(
    rt: Runtime, who: Principal, project_id: str | None, domain_id: str | None
) -> None:
    """A token caller's X-Project-Id / X-Domain-Id, when sent, must name a project of its own
    account and the account itself (spec/iam.md §2.2), as for a signed request; 403 otherwise.
    Neither changes the token's scope."""
    if domain_id is not None and domain_id != who.account_id:
        raise _scope_forbidden()
    if project_id is None or project_id == who.project_id:
        return
    key = ("account-project", who.account_id, project_id)
    generation = await rt.fresh_generation()
    known = rt.cache.get(key)
    if known is None:
        async with rt.store.read() as conn:
            known = await _account_has_project(conn, who.account_id, project_id)
        rt.cache.put(key, known, generation)
    if not known:
        raise _scope_forbidden()


async def _signature_failed(rt: Runtime, access: str, reason: str) -> None:
    """Count a bad signature; past the limit the key is locked for a while."""
    settings = rt.settings
    async with rt.store.write() as conn:
        await conn.execute(
            update(t.access_keys)
            .where(t.access_keys.c.access == access)
            .values(failed_signatures=t.access_keys.c.failed_signatures + 1)
        )
        failures = (
            await conn.execute(
                select(t.access_keys.c.failed_signatures).where(t.access_keys.c.access == access)
            )
        ).scalar()
        if failures is not None and failures > settings.aksk_failures_before_lock:
            await conn.execute(
                update(t.access_keys)
                .where(t.access_keys.c.access == access)
                .values(
                    failed_signatures=0,
                    locked_until_us=now_us() + settings.aksk_lock_minutes * 60_000_000,
                )
            )
            log.warning(
                "access key locked after repeated bad signatures: ak=%s",
                signing.mask_access_key(access),
            )
    log.info("bad signature: ak=%s reason=%s", signing.mask_access_key(access), reason)
